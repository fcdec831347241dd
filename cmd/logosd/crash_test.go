package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logos-llm/logos/providers/providertest"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres"
	"github.com/logos-llm/logos/store/postgres/pgtest"
	"github.com/logos-llm/logos/store/sqlite"
)

// buildLogosd builds this command once per test binary.
var buildLogosd = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "logosd-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "logosd")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// child is logosd running as a separate process.
type child struct {
	cmd    *exec.Cmd
	url    string
	stderr *lineWriter
	exited chan struct{}
}

func startChild(t *testing.T, args []string, env ...string) *child {
	t.Helper()
	bin, err := buildLogosd()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{stderr: newLineWriter(), exited: make(chan struct{})}
	c.cmd = exec.Command(bin, append([]string{"--listen", "127.0.0.1:0", "--log-level", "warn"}, args...)...)
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stderr = c.stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		<-c.exited
	})
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		if s.Scan() {
			line <- s.Text()
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case l := <-line:
		_, url, ok := strings.Cut(l, "listening on ")
		if !ok {
			t.Fatalf("unexpected first line %q", l)
		}
		c.url = url
	case <-c.exited:
		t.Fatalf("logosd exited at start:\n%s", c.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("logosd did not start:\n%s", c.stderr.String())
	}
	return c
}

// stop ends the child with SIGTERM and waits for it.
func (c *child) stop(t *testing.T) {
	t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("logosd did not stop:\n%s", c.stderr.String())
	}
	if code := c.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("logosd exited with %d:\n%s", code, c.stderr.String())
	}
}

// seedStore gives the root process a model "m" served by up.
func seedStore(t *testing.T, st store.Store, up *providertest.Server) {
	t.Helper()
	ctx := context.Background()
	p, err := st.CreateProvider(ctx, store.Provider{Name: "up", Kind: store.KindOpenAI, BaseURL: up.Target().BaseURL})
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.CreateModel(ctx, store.Model{Name: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateDeployment(ctx, store.Deployment{ModelID: m.ID, ProviderID: p.ID}); err != nil {
		t.Fatal(err)
	}
	procs, err := st.ListProcesses(ctx)
	if err != nil || len(procs) == 0 {
		t.Fatal(procs, err)
	}
	profs, err := st.ListProfiles(ctx, procs[0].ID)
	if err != nil || len(profs) == 0 {
		t.Fatal(profs, err)
	}
	if err := st.GrantModel(ctx, profs[0].ID, m.ID); err != nil {
		t.Fatal(err)
	}
}

// waitModel waits until logosd at url serves model "m".
func waitModel(t *testing.T, url, key string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, b := call(t, "GET", url+"/v1/models", key, "")
		if s == 200 && strings.Contains(string(b), `"m"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("model not visible: %d %s", s, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// load sends chat completions from clients goroutines until stop is closed
// and returns the request ids (X-Logos-Request-ID) of the answers with
// status 200, and how many requests failed otherwise.
func load(url, key string, clients int, body string, stop <-chan struct{}) (answered []string, failed int) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", url+"/v1/chat/completions", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := hc.Do(req)
				if err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
					time.Sleep(5 * time.Millisecond)
					continue
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				if err == nil && resp.StatusCode == 200 {
					answered = append(answered, resp.Header.Get("X-Logos-Request-ID"))
				} else {
					failed++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return answered, failed
}

// TestKillDashNineLosesNoUsage runs logosd as a child process under load,
// kills it with SIGKILL mid-load, restarts it and checks that every request
// answered with 200 has its usage record, exactly once, on SQLite and
// PostgreSQL.
func TestKillDashNineLosesNoUsage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds logosd and runs it under load")
	}
	t.Run("sqlite", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "logos.db")
		open := func(t *testing.T) store.Store {
			st, err := sqlite.Open(context.Background(), sqlite.Config{Path: db, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		killUnderLoad(t, []string{"--sqlite-path", db}, open)
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.NewDatabase(t)
		open := func(t *testing.T) store.Store {
			st, err := postgres.Open(context.Background(), postgres.Config{URL: url, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		killUnderLoad(t, []string{"--database-url", url, "--usage-log", filepath.Join(t.TempDir(), "usage-log")}, open)
	})
}

func killUnderLoad(t *testing.T, args []string, open func(t *testing.T) store.Store) {
	key := "lg-root-" + strings.Repeat("k", 40)
	env := "LOGOS_ROOT_KEY=" + key
	up := providertest.NewOpenAI(t, providertest.Options{EventDelay: time.Second})
	c := startChild(t, args, env)
	st := open(t)
	defer st.Close()
	seedStore(t, st, up)
	waitModel(t, c.url, key)

	// Streams that are in flight when the process dies: the fixture's ten
	// events a second apart last 9 s (at 200 ms apart they had ended by the
	// kill now and then).
	streamsStarted := make(chan struct{})
	go func() {
		defer close(streamsStarted)
		for range 3 {
			req, _ := http.NewRequest("POST", c.url+"/v1/chat/completions", strings.NewReader(`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
			req.Header.Set("Authorization", "Bearer "+key)
			go func() {
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
		}
	}()
	<-streamsStarted

	stop := make(chan struct{})
	type result struct {
		answered []string
		failed   int
	}
	res := make(chan result, 1)
	go func() {
		a, f := load(c.url, key, 8, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, stop)
		res <- result{a, f}
	}()
	time.Sleep(2 * time.Second)
	if err := c.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	<-c.exited
	close(stop)
	r := <-res
	t.Logf("answered with 200 before the kill: %d; failed: %d", len(r.answered), r.failed)
	if len(r.answered) < 100 {
		t.Fatalf("only %d requests answered under load:\n%s", len(r.answered), c.stderr.String())
	}
	before, err := st.CountUsage(context.Background(), store.UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}

	c2 := startChild(t, args, env)
	// Wait until the restarted process has stored every answered record.
	want := make(map[string]bool, len(r.answered))
	for _, id := range r.answered {
		want[id] = true
	}
	deadline := time.Now().Add(60 * time.Second)
	var recs []store.UsageRecord
	for {
		recs, err = st.ListUsage(context.Background(), store.UsageFilter{Limit: 1 << 30})
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, rec := range recs {
			if want[rec.RequestID] {
				found++
			}
		}
		if found == len(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart, %d of %d answered requests have a usage record (%d records before the restart)", found, len(want), before)
		}
		time.Sleep(200 * time.Millisecond)
	}
	c2.stop(t)
	recs, err = st.ListUsage(context.Background(), store.UsageFilter{Limit: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var interrupted int
	for _, rec := range recs {
		if seen[rec.RequestID] {
			t.Fatalf("request %s recorded twice", rec.RequestID)
		}
		seen[rec.RequestID] = true
		if want[rec.RequestID] && rec.Outcome != store.OutcomeSuccess {
			t.Errorf("answered request %s recorded as %s", rec.RequestID, rec.Outcome)
		}
		if rec.Outcome == store.OutcomeInterrupted {
			interrupted++
		}
	}
	t.Logf("records: %d stored before the restart, %d after; %d interrupted", before, len(recs), interrupted)
	// The three streams were in flight for over a second when the process
	// died; their markers were written and synced long before.
	if interrupted < 3 {
		t.Errorf("%d interrupted records, want at least the 3 streams in flight", interrupted)
	}
}
