package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logos-llm/logos/classify"
	"github.com/logos-llm/logos/internal/gcfloor"
	"github.com/logos-llm/logos/providers/providertest"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres/pgtest"
	"github.com/logos-llm/logos/store/sqlite"
)

// lineWriter is a concurrency-safe writer that reports each line it receives.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
}

func newLineWriter() *lineWriter { return &lineWriter{lines: make(chan string, 1024)} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		select {
		case w.lines <- l:
		default:
		}
	}
	return len(p), nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// daemon is a logosd started through run.
type daemon struct {
	url    string
	stderr *lineWriter
	cancel context.CancelFunc
	done   chan error
}

// start runs logosd with args and env until the test ends (or stop).
func start(t *testing.T, args []string, env map[string]string) *daemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := newLineWriter(), newLineWriter()
	d := &daemon{stderr: stderr, cancel: cancel, done: make(chan error, 1)}
	getenv := func(k string) string { return env[k] }
	go func() {
		d.done <- run(ctx, append([]string{"--listen", "127.0.0.1:0"}, args...), getenv, stdout, stderr)
	}()
	select {
	case line := <-stdout.lines:
		_, url, ok := strings.Cut(line, "listening on ")
		if !ok {
			t.Fatalf("unexpected first line %q", line)
		}
		d.url = url
	case err := <-d.done:
		t.Fatalf("logosd exited: %v\n%s", err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("logosd did not start:\n%s", stderr.String())
	}
	t.Cleanup(func() { d.stop(t) })
	return d
}

func (d *daemon) stop(t *testing.T) {
	t.Helper()
	d.cancel()
	select {
	case err, ok := <-d.done:
		if !ok {
			return // stopped by the test already
		}
		if err != nil {
			t.Errorf("logosd: %v\n%s", err, d.stderr.String())
		}
		close(d.done)
	case <-time.After(30 * time.Second):
		t.Error("logosd did not stop")
	}
}

func call(t *testing.T, method, url, key, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func setup(t *testing.T, url string) (int, string) {
	t.Helper()
	status, b := call(t, "POST", url+"/logosdb/setup", "", "")
	var res struct {
		Key string `json:"logos-key"`
	}
	_ = json.Unmarshal(b, &res)
	return status, res.Key
}

func TestRunOnSQLiteSetsUpOnce(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "logos.db")
	d := start(t, []string{"--sqlite-path", db}, nil)

	if s, b := call(t, "GET", d.url+"/healthz", "", ""); s != 200 {
		t.Fatalf("healthz %d %s", s, b)
	}
	if s, b := call(t, "GET", d.url+"/readyz", "", ""); s != 200 {
		t.Fatalf("readyz %d %s", s, b)
	}
	if !strings.Contains(d.stderr.String(), "awaits POST /logosdb/setup") {
		t.Fatalf("no setup hint in the log:\n%s", d.stderr.String())
	}
	status, key := setup(t, d.url)
	if status != 200 || !strings.HasPrefix(key, "lg-root-") {
		t.Fatalf("setup: %d key %q", status, key)
	}
	if status, again := setup(t, d.url); status != 409 || again != "" {
		t.Fatalf("second setup: %d key %q, want 409 and no key", status, again)
	}
	if s, b := call(t, "GET", d.url+"/v1/models", key, ""); s != 200 {
		t.Fatalf("the root key does not work: %d %s", s, b)
	}
	if strings.Contains(d.stderr.String(), key) {
		t.Fatal("the root key was logged")
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("logos.db not created: %v", err)
	}
}

func TestRunBootstrapsFromRootKey(t *testing.T) {
	key := "lg-root-" + strings.Repeat("k", 40)
	d := start(t, []string{"--sqlite-path", filepath.Join(t.TempDir(), "l.db")}, map[string]string{"LOGOS_ROOT_KEY": key})
	if s, b := call(t, "GET", d.url+"/v1/models", key, ""); s != 200 {
		t.Fatalf("models with LOGOS_ROOT_KEY: %d %s", s, b)
	}
	if s, _ := setup(t, d.url); s != 409 {
		t.Fatalf("setup after bootstrap: %d, want 409", s)
	}
	if strings.Contains(d.stderr.String(), key) {
		t.Fatal("the root key was logged")
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	for _, args := range [][]string{{"--nope"}, {"--log-level", "loud"}, {"--shutdown-timeout", "-1s"}, {"--usage-flush-interval", "0s"}, {"--usage-flush-interval", "1h"}, {"--gc-min-heap", "64XB"}, {"--gc-min-heap", "-1"}, {"--gc-min-heap", "99999999TiB"}, {"--max-header-bytes", "10"}, {"--usage-log-max", "0"}, {"--usage-log-sync", "0s"}, {"--snapshot-retention", "-1h"}, {"--snapshot-retention", "a week"}, {"--scheduler", "ettft"}, {"--otel-parent-sampling", "always"}, {"extra"}} {
		err := run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard)
		if err == nil {
			t.Errorf("run(%v) succeeded", args)
		}
	}
	err := run(context.Background(), []string{"--listen", "127.0.0.1:0", "--sqlite-path", filepath.Join(t.TempDir(), "x.db")},
		func(k string) string {
			if k == "LOGOS_ROOT_KEY" {
				return "short"
			}
			return ""
		}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "24") {
		t.Fatalf("a short LOGOS_ROOT_KEY was accepted: %v", err)
	}
}

// TestSnapshotRetentionOption: seven days by default, set by the flag or
// LOGOS_SNAPSHOT_RETENTION, and 0 (forever) becomes logos.Config's negative.
func TestSnapshotRetentionOption(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	for _, c := range []struct {
		args []string
		env  map[string]string
		want time.Duration
	}{
		{nil, nil, 7 * 24 * time.Hour},
		{nil, map[string]string{"LOGOS_SNAPSHOT_RETENTION": "36h"}, 36 * time.Hour},
		{[]string{"--snapshot-retention", "0"}, map[string]string{"LOGOS_SNAPSHOT_RETENTION": "36h"}, -1},
	} {
		o, err := parseOptions(c.args, env(c.env), io.Discard)
		if err != nil || o.retention != c.want {
			t.Errorf("parseOptions(%v, %v): retention %v, %v; want %v", c.args, c.env, o.retention, err, c.want)
		}
	}
}

// TestGCMinHeapOptions: the floor defaults to "auto" (sized from the memory
// limits), LOGOS_GC_MIN_HEAP and the flag set it, 0 turns it off, and a set
// GOGC takes precedence.
func TestGCMinHeapOptions(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	for _, c := range []struct {
		args []string
		env  map[string]string
		want uint64
	}{
		{nil, nil, gcfloor.AutoMinHeap(env(nil), os.ReadFile)},
		{nil, map[string]string{"GOMEMLIMIT": "64MiB"}, min(gcfloor.AutoMinHeap(env(nil), os.ReadFile), 16<<20)},
		{[]string{"--gc-min-heap", "auto"}, map[string]string{"LOGOS_GC_MIN_HEAP": "16MiB"}, gcfloor.AutoMinHeap(env(nil), os.ReadFile)},
		{nil, map[string]string{"LOGOS_GC_MIN_HEAP": "16MiB"}, 16 << 20},
		{[]string{"--gc-min-heap", "0"}, map[string]string{"LOGOS_GC_MIN_HEAP": "16MiB"}, 0},
	} {
		o, err := parseOptions(c.args, env(c.env), io.Discard)
		if err != nil || o.gcMinHeap != c.want {
			t.Errorf("parseOptions(%v, %v): gcMinHeap %d, %v; want %d", c.args, c.env, o.gcMinHeap, err, c.want)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if f := startGCFloor(0, env(nil), log); f != nil {
		f.Stop()
		t.Error("a floor of 0 started the GC floor")
	}
	if f := startGCFloor(64<<20, env(map[string]string{"GOGC": "200"}), log); f != nil {
		f.Stop()
		t.Error("the GC floor started although GOGC is set")
	}
	// The kill -9 and outage tests before this one leave much garbage; the
	// floor reads the heap the last collection left live.
	runtime.GC()
	f := startGCFloor(64<<20, env(nil), log)
	if f == nil {
		t.Fatal("the GC floor did not start")
	}
	defer f.Stop()
	if p := f.Percent(); p <= 100 {
		t.Errorf("with this test's small heap the floor set GOGC %d, want above 100", p)
	}
}

// TestDebugListen: --debug-listen serves the profiling endpoints on their own
// address, and the proxy's address does not serve them.
func TestDebugListen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	d := start(t, []string{"--sqlite-path", filepath.Join(t.TempDir(), "logos.db"), "--debug-listen", addr}, nil)
	status, body := call(t, "GET", "http://"+addr+"/debug/pprof/", "", "")
	if status != http.StatusOK || !strings.Contains(string(body), "goroutine") {
		t.Errorf("GET /debug/pprof/ on the debug address = %d %.200s, want 200 with the profile index", status, body)
	}
	if status, _ := call(t, "GET", d.url+"/debug/pprof/", "", ""); status == http.StatusOK {
		t.Errorf("GET /debug/pprof/ on the proxy's address = %d, want it not served", status)
	}
}

// TestRunDrainsOnShutdown: a stream in flight when the signal arrives is
// finished, and its usage record is stored before run returns.
func TestRunDrainsOnShutdown(t *testing.T) {
	db := filepath.Join(t.TempDir(), "logos.db")
	key := "lg-root-" + strings.Repeat("d", 40)
	d := start(t, []string{"--sqlite-path", db}, map[string]string{"LOGOS_ROOT_KEY": key})

	up := providertest.NewOpenAI(t, providertest.Options{EventDelay: 50 * time.Millisecond})
	seedDeployment(t, db, up)
	// Wait for the running logosd to pick up the catalogue change.
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, b := call(t, "GET", d.url+"/v1/models", key, "")
		if s == 200 && strings.Contains(string(b), `"m"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment not visible: %d %s", s, b)
		}
		time.Sleep(50 * time.Millisecond)
	}

	req, _ := http.NewRequest("POST", d.url+"/v1/chat/completions", strings.NewReader(`{"model":"m","stream":true,"messages":[]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	d.cancel() // SIGINT/SIGTERM
	rest, err := io.ReadAll(br)
	if err != nil || !bytes.Contains(rest, []byte("data: [DONE]")) {
		t.Fatalf("in-flight stream cut at shutdown: %v %q", err, rest)
	}
	if err := <-d.done; err != nil {
		t.Fatalf("run: %v", err)
	}
	close(d.done)

	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: db, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := st.CountUsage(context.Background(), store.UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	// Two /v1/models polls at least, and the stream; every one recorded.
	recs, _ := st.ListUsage(context.Background(), store.UsageFilter{})
	if n < 2 || recs[0].Operation != "chat/completions" || recs[0].Outcome != store.OutcomeSuccess {
		t.Fatalf("after shutdown: %d records, newest %+v", n, recs[0])
	}
}

func seedDeployment(t *testing.T, db string, up *providertest.Server) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: db, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	target := up.Target()
	p, err := st.CreateProvider(ctx, store.Provider{Name: "up", Kind: store.KindOpenAI, BaseURL: target.BaseURL})
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

// TestPostgresReplicasStartTogether: two logosd started at the same moment
// against one empty PostgreSQL database both come up on one migrated schema,
// and setup succeeds on exactly one of them.
func TestPostgresReplicasStartTogether(t *testing.T) {
	url := pgtest.NewDatabase(t)
	var wg sync.WaitGroup
	ds := make([]*daemon, 2)
	for i := range ds {
		wg.Add(1)
		// Each replica has its own usage log.
		args := []string{"--database-url", url, "--usage-log", filepath.Join(t.TempDir(), "usage-log")}
		go func() {
			defer wg.Done()
			ds[i] = start(t, args, nil)
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	var statuses []int
	for _, d := range ds {
		if s, b := call(t, "GET", d.url+"/readyz", "", ""); s != 200 {
			t.Fatalf("replica not ready: %d %s", s, b)
		}
		s, _ := setup(t, d.url)
		statuses = append(statuses, s)
	}
	if !(statuses[0] == 200 && statuses[1] == 409) {
		t.Fatalf("setup statuses %v, want [200 409]", statuses)
	}
}

// exampleEnv is what examples/logos.yaml references.
var exampleEnv = map[string]string{
	"OPENAI_API_KEY":        "sk-openai-example",
	"AZURE_OPENAI_API_KEY":  "azure-example",
	"VLLM_API_KEY":          "vllm-example",
	"LOGOS_ADMIN_KEY":       "lg-admin-" + strings.Repeat("a", 40),
	"LOGOS_CODE_REVIEW_KEY": "lg-code-review-" + strings.Repeat("c", 40),
}

func TestCheckValidatesConfig(t *testing.T) {
	var out, errOut bytes.Buffer
	getenv := func(k string) string { return exampleEnv[k] }
	err := run(context.Background(), []string{"--config", "../../examples/logos.yaml", "--check"}, getenv, &out, &errOut)
	if err != nil || !strings.Contains(out.String(), "OK") {
		t.Fatalf("--check of the example: %v\n%s%s", err, out.String(), errOut.String())
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("providers:\n  - name: p\n    kind: openai\n    base_url: https://x/v1\n  - name: q\n    kind: bedrock\n    base_url: https://y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	errOut.Reset()
	err = run(context.Background(), []string{"--config", bad, "--check"}, func(string) string { return "" }, io.Discard, &errOut)
	if err == nil || !strings.Contains(errOut.String(), "line 6") || !strings.Contains(errOut.String(), "kind") {
		t.Fatalf("--check of a bad file: %v\n%s", err, errOut.String())
	}
	if err := run(context.Background(), []string{"--check"}, func(string) string { return "" }, io.Discard, io.Discard); err == nil {
		t.Fatal("--check without --config succeeded")
	}
	errOut.Reset()
	err = run(context.Background(), []string{"--config", "../../examples/logos.yaml", "--check"}, func(string) string { return "" }, io.Discard, &errOut)
	if err == nil || !strings.Contains(errOut.String(), "LOGOS_ADMIN_KEY") || !strings.Contains(errOut.String(), "line ") {
		t.Fatalf("--check with the environment unset: %v\n%s", err, errOut.String())
	}
}

// TestRunAppliesConfigAndReloadsOnSIGHUP starts logosd from a config file:
// keys come from the environment, setup is disabled, and SIGHUP applies an
// edited file without a restart.
func TestRunAppliesConfigAndReloadsOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("../../examples/logos.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "logos.yaml")
	if err := os.WriteFile(cfg, src, 0o600); err != nil {
		t.Fatal(err)
	}
	d := start(t, []string{"--sqlite-path", filepath.Join(dir, "l.db"), "--config", cfg}, exampleEnv)
	key := exampleEnv["LOGOS_CODE_REVIEW_KEY"]
	s, b := call(t, "GET", d.url+"/v1/models", key, "")
	if s != 200 || !strings.Contains(string(b), "qwen2.5-coder-32b") {
		t.Fatalf("models for the config's key: %d %s", s, b)
	}
	if s, _ := setup(t, d.url); s != 403 {
		t.Fatalf("setup on a file-configured instance: %d, want 403", s)
	}
	if strings.Contains(d.stderr.String(), key) || strings.Contains(d.stderr.String(), "sk-openai-example") {
		t.Fatal("a secret was logged")
	}

	edited := strings.Replace(string(src), "models: [qwen2.5-coder-32b, llama3.1:8b]", "models: [qwen2.5-coder-32b, llama3.1:8b, gpt-4o]", 1)
	if edited == string(src) {
		t.Fatal("the example changed; update this test's edit")
	}
	if err := os.WriteFile(cfg, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, b := call(t, "GET", d.url+"/v1/models", key, "")
		if s == 200 && strings.Contains(string(b), `"gpt-4o"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not apply the edited file: %d %s\n%s", s, b, d.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestParseClassifierOptions(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	o, err := parseOptions(nil, env(nil), io.Discard)
	if err != nil || o.classifierWeights != (classify.Balancer{Policy: 3.4, Token: 1.9, Similarity: 1}) || o.embeddingsURL != "" || o.embeddingsModel != "" {
		t.Fatalf("defaults: %+v %v", o, err)
	}
	// A model without a URL: embeddings through the catalogue.
	o, err = parseOptions(nil, env(map[string]string{"LOGOS_CLASSIFIER_EMBEDDINGS_MODEL": "nomic-embed-text"}), io.Discard)
	if err != nil || o.embeddingsModel != "nomic-embed-text" || o.embeddingsURL != "" {
		t.Fatalf("catalogue embeddings: %+v %v", o, err)
	}
	o, err = parseOptions([]string{"--classifier-weights", "1, 1.9, 1", "--classifier-embeddings-url", "http://e/v1/embeddings"}, env(map[string]string{"LOGOS_CLASSIFIER_EMBEDDINGS_TIMEOUT": "1s"}), io.Discard)
	if err != nil || o.classifierWeights != (classify.Balancer{Policy: 1, Token: 1.9, Similarity: 1}) || o.embeddingsURL != "http://e/v1/embeddings" || o.embeddingsTimeout != time.Second {
		t.Fatalf("set: %+v %v", o, err)
	}
	if o, err := parseOptions([]string{"--scheduler-across-models"}, env(nil), io.Discard); err != nil || !o.acrossModels {
		t.Errorf("--scheduler-across-models: %v %v", o.acrossModels, err)
	}
	for _, bad := range []string{"1,2", "a,b,c", "-1,1,1", "0,0,0", "1,2,3,4"} {
		if _, err := parseOptions([]string{"--classifier-weights", bad}, env(nil), io.Discard); err == nil {
			t.Errorf("weights %q accepted", bad)
		}
	}
}

// TestImportEnvOnlyPrefixed: documents imported over the admin API read only
// LOGOS_IMPORT_* variables, never HOME, PGPASSWORD or logosd's own settings.
func TestImportEnvOnlyPrefixed(t *testing.T) {
	env := map[string]string{"HOME": "/root", "PGPASSWORD": "pg", "LOGOS_SECRET_KEY": "k", "LOGOS_IMPORT_OPENAI": "sk"}
	get := importEnv(func(k string) string { return env[k] })
	for name, want := range map[string]string{"HOME": "", "PGPASSWORD": "", "LOGOS_SECRET_KEY": "", "LOGOS_IMPORT_OPENAI": "sk"} {
		if got := get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
}

// exampleConfig copies examples/logos.yaml into a temporary directory.
func exampleConfig(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile("../../examples/logos.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "logos.yaml")
	if err := os.WriteFile(cfg, src, 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestSetupStaysClosedAfterConfig reproduces issue 25 item 4: started with
// --config and restarted on the same database without it, logosd logged
// "store is empty" and POST /logosdb/setup handed a root key to anyone.
func TestSetupStaysClosedAfterConfig(t *testing.T) {
	db := filepath.Join(t.TempDir(), "l.db")
	d := start(t, []string{"--sqlite-path", db, "--config", exampleConfig(t)}, exampleEnv)
	d.stop(t)

	d = start(t, []string{"--sqlite-path", db}, nil)
	if status, key := setup(t, d.url); status != http.StatusConflict || key != "" {
		t.Fatalf("setup after a restart without --config: %d key %q, want 409", status, key)
	}
	if logs := d.stderr.String(); strings.Contains(logs, "store is empty") {
		t.Errorf("a configured store was called empty:\n%s", logs)
	}
	if s, b := call(t, "GET", d.url+"/v1/models", exampleEnv["LOGOS_CODE_REVIEW_KEY"], ""); s != 200 {
		t.Errorf("the config's key after the restart: %d %s", s, b)
	}
}

// TestPostgresSetupClosedOnReplicaWithoutConfig: a second replica started
// without --config on the PostgreSQL database a first one configured from a
// file must not offer setup.
func TestPostgresSetupClosedOnReplicaWithoutConfig(t *testing.T) {
	url := pgtest.NewDatabase(t)
	// Each replica keeps its own usage log.
	start(t, []string{"--database-url", url, "--config", exampleConfig(t), "--usage-log", filepath.Join(t.TempDir(), "log1")}, exampleEnv)
	d := start(t, []string{"--database-url", url, "--usage-log", filepath.Join(t.TempDir(), "log2")}, nil)
	if status, key := setup(t, d.url); status != http.StatusConflict || key != "" {
		t.Fatalf("setup on a replica without --config: %d key %q, want 409", status, key)
	}
	if logs := d.stderr.String(); strings.Contains(logs, "store is empty") {
		t.Errorf("a configured store was called empty:\n%s", logs)
	}
}

// TestSecurityLimitOptions: the connection cap, queue bound, deadlines and
// trusted proxies have defaults, come from LOGOS_* variables and flags, and
// bad values are refused.
func TestSecurityLimitOptions(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	o, err := parseOptions(nil, env(nil), io.Discard)
	if err != nil || o.maxConnections != 10000 || o.maxQueue != 1000 || o.bodyReadTimeout != time.Minute ||
		o.writeTimeout != time.Minute || o.maxQueueTimeout != 10*time.Minute || len(o.trustedProxies) != 0 ||
		o.breakerFails != 5 || o.breakerCoolOff != 30*time.Second {
		t.Fatalf("defaults: %+v %v", o, err)
	}
	o, err = parseOptions([]string{"--max-connections", "5", "--write-timeout", "2m", "--breaker-threshold", "2"}, env(map[string]string{
		"LOGOS_BREAKER_COOL_OFF": "5s",
		"LOGOS_MAX_QUEUE":        "7", "LOGOS_BODY_READ_TIMEOUT": "5s", "LOGOS_MAX_QUEUE_TIMEOUT": "30s",
		"LOGOS_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7,::1",
	}), io.Discard)
	if err != nil || o.maxConnections != 5 || o.maxQueue != 7 || o.bodyReadTimeout != 5*time.Second ||
		o.writeTimeout != 2*time.Minute || o.maxQueueTimeout != 30*time.Second || len(o.trustedProxies) != 3 ||
		o.trustedProxies[1].String() != "192.168.1.7/32" || o.trustedProxies[2].String() != "::1/128" ||
		o.breakerFails != 2 || o.breakerCoolOff != 5*time.Second {
		t.Fatalf("set: %+v %v", o, err)
	}
	for _, args := range [][]string{
		{"--max-connections", "-1"}, {"--max-queue", "x"}, {"--write-timeout", "0"},
		{"--body-read-timeout", "soon"}, {"--trusted-proxies", "10.0.0.0/33"}, {"--trusted-proxies", "proxy.local"},
		{"--breaker-threshold", "0"}, {"--breaker-cool-off", "-1s"},
	} {
		if _, err := parseOptions(args, env(nil), io.Discard); err == nil {
			t.Errorf("parseOptions(%v) accepted", args)
		}
	}
}

// TestHeaderLimit: request headers beyond --max-header-bytes (64 KiB by
// default) get 431 before anything is forwarded; smaller ones pass.
func TestHeaderLimit(t *testing.T) {
	d := start(t, []string{"--sqlite-path", filepath.Join(t.TempDir(), "l.db")}, nil)
	for _, c := range []struct {
		size int
		want int
	}{{50 << 10, http.StatusOK}, {200 << 10, http.StatusRequestHeaderFieldsTooLarge}} {
		req, _ := http.NewRequest("GET", d.url+"/healthz", nil)
		req.Header.Set("X-Big", strings.Repeat("a", c.size))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("a %d-byte header: %d, want %d", c.size, resp.StatusCode, c.want)
		}
	}
}
