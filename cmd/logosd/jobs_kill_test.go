package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logos-llm/logos/providers/providertest"
)

// childEnv makes the test binary run logosd (TestLogosdChild) instead of
// the tests, so a test can SIGKILL a real logosd process.
const childEnv = "LOGOS_TEST_LOGOSD_CHILD"

// TestLogosdChild is logosd when the test binary is started as a child by
// startJobsChild; otherwise it does nothing.
func TestLogosdChild(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("runs only as a child process of TestJobsSurviveSIGKILL")
	}
	args := strings.Split(os.Getenv(childEnv+"_ARGS"), "\x1f")
	if err := run(context.Background(), args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "logosd:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

type jobsChild struct {
	cmd *exec.Cmd
	url string
}

func startJobsChild(t *testing.T, args []string, env ...string) *jobsChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLogosdChild$", "-test.v=false")
	cmd.Env = append(os.Environ(), append(env, childEnv+"=1", childEnv+"_ARGS="+strings.Join(args, "\x1f"))...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	var mu sync.Mutex
	cmd.Stderr = writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return stderr.Write(p)
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if _, url, ok := strings.Cut(sc.Text(), "listening on "); ok {
				lines <- url
			}
		}
	}()
	select {
	case url := <-lines:
		return &jobsChild{cmd: cmd, url: url}
	case <-time.After(60 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("logosd child did not start:\n%s", stderr.String())
	}
	return nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestJobsSurviveSIGKILL kills logosd with jobs pending and running and
// restarts it: every job ends succeeded or failed, none stays pending or
// running, and none reaches the upstream twice.
func TestJobsSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts logosd processes")
	}
	up := providertest.NewOpenAI(t, providertest.Options{HeaderDelay: 800 * time.Millisecond})
	db := filepath.Join(t.TempDir(), "logos.db")
	key := "lg-root-" + strings.Repeat("k", 40)
	args := []string{"--listen", "127.0.0.1:0", "--sqlite-path", db, "--job-workers", "3", "--job-lease", "1s", "--log-level", "error"}
	env := []string{"LOGOS_ROOT_KEY=" + key}

	c := startJobsChild(t, args, env...)
	seedDeployment(t, db, up)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if s, _ := call(t, "GET", c.url+"/v1/models/m", key, ""); s == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the seeded model never became visible")
		}
		time.Sleep(50 * time.Millisecond)
	}

	const n = 12
	ids := make([]int64, n)
	for i := range ids {
		s, b := call(t, "POST", c.url+"/jobs/v1/chat/completions", key, fmt.Sprintf(`{"model":"m","messages":[{"role":"user","content":"job %d"}]}`, i))
		var out struct {
			JobID int64 `json:"job_id"`
		}
		if err := json.Unmarshal(b, &out); s != 202 || err != nil {
			t.Fatalf("submit = %d %s", s, b)
		}
		ids[i] = out.JobID
	}
	// Kill while the first jobs wait for the upstream and the rest are pending.
	for len(up.Requests()) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("no job reached the upstream")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = c.cmd.Wait()
	sentBeforeKill := len(up.Requests())

	c = startJobsChild(t, args, env...)
	status := map[int64]string{}
	deadline = time.Now().Add(60 * time.Second)
	for {
		done := 0
		for _, id := range ids {
			s, b := call(t, "GET", fmt.Sprintf("%s/jobs/%d", c.url, id), key, "")
			var v struct {
				Status string `json:"status"`
			}
			if err := json.Unmarshal(b, &v); s != 200 || err != nil {
				t.Fatalf("GET job %d = %d %s", id, s, b)
			}
			status[id] = v.Status
			if v.Status == "succeeded" || v.Status == "failed" {
				done++
			}
		}
		if done == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs not finished after the restart: %v", status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	sent := map[string]int{}
	for _, r := range up.Requests() {
		var body struct {
			Messages []struct {
				Content string `json:"content"`
			} `json:"messages"`
		}
		_ = json.Unmarshal(r.Body, &body)
		sent[body.Messages[0].Content]++
	}
	failed := 0
	for i, id := range ids {
		msg := fmt.Sprintf("job %d", i)
		if sent[msg] > 1 {
			t.Errorf("%s reached the upstream %d times", msg, sent[msg])
		}
		if status[id] == "succeeded" && sent[msg] != 1 {
			t.Errorf("%s succeeded but reached the upstream %d times", msg, sent[msg])
		}
		if status[id] == "failed" {
			failed++
		}
	}
	// The jobs sent before the kill are the failed ones: they are not run again.
	if failed != sentBeforeKill {
		t.Errorf("%d jobs failed, want the %d sent before the kill (statuses %v)", failed, sentBeforeKill, status)
	}
	if s, b := call(t, "GET", c.url+"/jobs?status=pending", key, ""); s != 200 || strings.Contains(string(b), `"job_id"`) {
		t.Errorf("pending jobs after the restart: %d %s", s, b)
	}
}
