package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres"
	"github.com/logos-llm/logos/store/sqlite"
)

// Target is one system under load.
type Target struct {
	// Name is direct, proxy, logos-sqlite or logos-postgres.
	Name string
	// BaseURL is where the target listens; load goes to
	// BaseURL+"/v1/chat/completions".
	BaseURL string
	// Key is sent as the bearer token.
	Key string
	// PID is the target's process, 0 when it runs inside the harness and
	// has no CPU or memory figures of its own.
	PID int
	// Warmup counts the chat requests sent before the load (to check the
	// configuration); they are part of the requests a usage count is
	// compared with.
	Warmup int

	metricsToken string // bearer token for logosd's /metrics; "" for other targets

	cmd      *exec.Cmd
	exited   chan struct{}
	waitErr  error
	logPath  string
	counter  func(context.Context) (int64, error)
	cleanups []func()
}

// chatURL is the endpoint the load goes to.
func (t *Target) chatURL() string { return t.BaseURL + "/v1/chat/completions" }

// Stop ends the target's process with SIGTERM (logosd drains requests and
// flushes usage), waiting at most timeout before killing it.
func (t *Target) Stop(timeout time.Duration) error {
	if t.cmd == nil {
		return nil
	}
	_ = t.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-t.exited:
	case <-time.After(timeout):
		_ = t.cmd.Process.Kill()
		<-t.exited
		return fmt.Errorf("%s did not stop within %v; killed", t.Name, timeout)
	}
	if t.waitErr != nil {
		return fmt.Errorf("%s exited: %v%s", t.Name, t.waitErr, t.logTail())
	}
	return nil
}

// Close stops the target if it still runs and removes what it left behind.
func (t *Target) Close() {
	if t.cmd != nil {
		select {
		case <-t.exited:
		default:
			_ = t.cmd.Process.Kill()
			<-t.exited
		}
	}
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = nil
}

// CountRecords returns the usage records the target wrote, and false when
// it records none (not Logos). Call it after Stop.
func (t *Target) CountRecords(ctx context.Context) (int64, bool, error) {
	if t.counter == nil {
		return 0, false, nil
	}
	n, err := t.counter(ctx)
	return n, true, err
}

// droppedMetric is the counter of usage records logosd lost, which must stay 0.
const droppedMetric = "logos_usage_records_dropped_total"

// DroppedRecords reads logos_usage_records_dropped_total from the target's
// /metrics, and false when the target has no such metric (not Logos). Call
// it before Stop.
func (t *Target) DroppedRecords(ctx context.Context) (float64, bool, error) {
	if t.metricsToken == "" {
		return 0, false, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.BaseURL+"/metrics", nil)
	if err != nil {
		return 0, true, err
	}
	req.Header.Set("Authorization", "Bearer "+t.metricsToken)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, true, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, true, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	v, err := metricValue(resp.Body, droppedMetric)
	return v, true, err
}

// metricValue returns the value of the unlabelled sample of the counter,
// gauge or untyped metric name in a Prometheus text exposition.
func metricValue(r io.Reader, name string) (float64, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return 0, fmt.Errorf("parsing /metrics: %w", err)
	}
	if fam := fams[name]; fam != nil {
		for _, m := range fam.GetMetric() {
			if len(m.GetLabel()) > 0 {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue(), nil
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), nil
			case m.Untyped != nil:
				return m.GetUntyped().GetValue(), nil
			}
		}
	}
	return 0, fmt.Errorf("/metrics has no %s", name)
}

// logTail returns the end of the child's log, for error messages.
func (t *Target) logTail() string {
	if t.logPath == "" {
		return ""
	}
	data, err := os.ReadFile(t.logPath)
	if err != nil || len(data) == 0 {
		return ""
	}
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return "\n--- " + t.Name + " log ---\n" + string(data)
}

// startChild starts cmd, logging its stderr and stdout to logPath, and waits
// (at most 60 s) for the line announcing "listening on http://ADDR" on its
// stdout. It fills in t's process fields and BaseURL.
func startChild(t *Target, cmd *exec.Cmd, logPath string) error {
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	t.logPath = logPath
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return err
	}
	setChildAttrs(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", t.Name, err)
	}
	t.cmd, t.PID, t.exited = cmd, cmd.Process.Pid, make(chan struct{})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if _, a, ok := strings.Cut(line, "listening on http://"); ok && !found {
				found = true
				addr <- strings.TrimSpace(a)
			}
		}
		_, _ = io.Copy(logf, stdout)
		t.waitErr = cmd.Wait()
		logf.Close()
		close(t.exited)
	}()
	select {
	case a := <-addr:
		t.BaseURL = "http://" + a
		return nil
	case <-t.exited:
		return fmt.Errorf("%s exited before listening: %v%s", t.Name, t.waitErr, t.logTail())
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-t.exited
		return fmt.Errorf("%s did not listen within 60 s%s", t.Name, t.logTail())
	}
}

// startProxy runs the harness binary again as a bare httputil.ReverseProxy
// in front of upstream, in its own process so its CPU and memory are
// measured like logosd's.
func startProxy(upstream, tmp string, gc ProxyGC) (*Target, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	t := &Target{Name: "proxy"}
	cmd := exec.Command(exe, serveProxyFlag, upstream, strconv.FormatUint(gc.MinHeap, 10))
	cmd.Env = append(os.Environ(), gc.Env...)
	if err := startChild(t, cmd, filepath.Join(tmp, "proxy.log")); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// LogosOptions configure a logosd target.
type LogosOptions struct {
	Binary   string // the logosd executable
	Upstream string // the mock's base URL
	TmpDir   string
	// PostgresURL, when set, is a server on which a fresh database is
	// created for the run and dropped afterwards; otherwise SQLite is used.
	PostgresURL string
	// Flags are extra logosd command-line arguments.
	Flags []string
	// Env is extra KEY=VALUE environment for logosd (GOMEMLIMIT, GOGC).
	Env []string
}

// parseEnv splits a space-separated list of KEY=VALUE settings.
func parseEnv(s string) ([]string, error) {
	env := strings.Fields(s)
	for _, kv := range env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, fmt.Errorf("environment setting %q is not KEY=VALUE", kv)
		}
	}
	return env, nil
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startLogos starts logosd with a fresh store, configures a model served by
// the mock through the admin API, and checks that one chat request works.
func startLogos(ctx context.Context, name string, o LogosOptions) (t *Target, err error) {
	t = &Target{Name: name, Key: "lg-bench-" + randomHex(16)}
	defer func() {
		if err != nil {
			t.Close()
			t = nil
		}
	}()
	args := []string{"--listen", "127.0.0.1:0", "--log-level", "warn", "--shutdown-timeout", "60s"}
	if o.PostgresURL != "" {
		dbURL, drop, err := createDatabase(ctx, o.PostgresURL)
		if err != nil {
			return t, err
		}
		t.cleanups = append(t.cleanups, drop)
		// The usage log of each target lies in its own directory, never
		// replayed into another target's database.
		args = append(args, "--database-url", dbURL, "--usage-log", filepath.Join(o.TmpDir, name+".usage-log"))
		t.counter = func(ctx context.Context) (int64, error) {
			st, err := postgres.Open(ctx, postgres.Config{URL: dbURL, SkipMigrations: true})
			if err != nil {
				return 0, err
			}
			defer st.Close()
			return st.CountUsage(ctx, store.UsageFilter{})
		}
	} else {
		path := filepath.Join(o.TmpDir, name+".db")
		args = append(args, "--sqlite-path", path)
		t.counter = func(ctx context.Context) (int64, error) {
			st, err := sqlite.Open(ctx, sqlite.Config{Path: path, SkipMigrations: true})
			if err != nil {
				return 0, err
			}
			defer st.Close()
			return st.CountUsage(ctx, store.UsageFilter{})
		}
	}
	args = append(args, o.Flags...)
	cmd := exec.Command(o.Binary, args...)
	cmd.Dir = o.TmpDir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LOGOS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, o.Env...)
	t.metricsToken = randomHex(16)
	cmd.Env = append(cmd.Env, "LOGOS_ROOT_KEY="+t.Key, "LOGOS_METRICS_TOKEN="+t.metricsToken)
	if err := startChild(t, cmd, filepath.Join(o.TmpDir, name+".log")); err != nil {
		return t, err
	}
	if err := waitReady(ctx, t.BaseURL); err != nil {
		return t, fmt.Errorf("%s: %w%s", name, err, t.logTail())
	}
	if err := configureLogos(ctx, t.BaseURL, t.Key, o.Upstream); err != nil {
		return t, fmt.Errorf("%s: %w%s", name, err, t.logTail())
	}
	if err := warmUp(ctx, t); err != nil {
		return t, fmt.Errorf("%s: %w%s", name, err, t.logTail())
	}
	return t, nil
}

// waitReady polls GET /readyz until it answers 200, for at most 30 s.
func waitReady(ctx context.Context, base string) error {
	c := &http.Client{Timeout: 2 * time.Second}
	for range 300 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("not ready after 30 s")
}

// adminCall posts body to /logosdb/<name> with the root key and returns the
// decoded answer.
func adminCall(ctx context.Context, base, key, name string, body map[string]any) (map[string]any, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/logosdb/"+name, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: status %d: %s", name, resp.StatusCode, bytes.TrimSpace(data))
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// configureLogos adds the mock as an OpenAI provider with model bench-model
// and lets the root profile (id 1) use it.
func configureLogos(ctx context.Context, base, key, upstream string) error {
	out, err := adminCall(ctx, base, key, "add_provider", map[string]any{
		"provider_name": "mock", "provider_type": "openai", "base_url": upstream + "/v1",
		"api_key": "sk-bench", "auth_name": "Authorization", "auth_format": "Bearer {}",
	})
	if err != nil {
		return err
	}
	provID, ok := out["provider-id"].(float64)
	if !ok {
		return fmt.Errorf("add_provider answered no provider-id: %v", out)
	}
	if out, err = adminCall(ctx, base, key, "add_model", map[string]any{"name": "bench-model"}); err != nil {
		return err
	}
	modelID, ok := out["model_id"].(float64)
	if !ok {
		return fmt.Errorf("add_model answered no model_id: %v", out)
	}
	if _, err := adminCall(ctx, base, key, "connect_model_provider", map[string]any{"model_id": modelID, "provider_id": provID}); err != nil {
		return err
	}
	_, err = adminCall(ctx, base, key, "connect_profile_model", map[string]any{"profile_id": 1, "model_id": modelID})
	return err
}

// warmUp sends chat requests until one succeeds (at most 50, 5 s), so the
// load starts on a configured gateway. Every request sent is counted.
func warmUp(ctx context.Context, t *Target) error {
	c := &http.Client{Timeout: 10 * time.Second}
	var last error
	for range 50 {
		t.Warmup++
		_, err := doRequest(ctx, c, t.chatURL(), t.Key, chatBody(false), false, time.Now())
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("warm-up request failed: %w", last)
}

// createDatabase creates a fresh database on the server of serverURL and
// returns its URL and a function dropping it.
func createDatabase(ctx context.Context, serverURL string) (string, func(), error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, fmt.Errorf("-postgres-url must be a postgres:// URL")
	}
	name := "logos_bench_" + randomHex(6)
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return "", nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("creating database %s: %w", name, err)
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, serverURL)
		if err != nil {
			fmt.Fprintf(os.Stderr, "logos-bench: dropping %s: %v\n", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "logos-bench: dropping %s: %v\n", name, err)
		}
	}
	db := *u
	db.Path = "/" + name
	return db.String(), drop, nil
}

// buildLogosd compiles ./cmd/logosd of this module into dir.
func buildLogosd(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "logosd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/logos-llm/logos/cmd/logosd")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building logosd: %v\n%s", err, msg)
	}
	return out, nil
}
