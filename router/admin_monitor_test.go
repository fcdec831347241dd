package router

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/logos-llm/logos/internal/apikey"
	"github.com/logos-llm/logos/monitor/live"
	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite"
)

// monFakeState is a StateReporter with a fixed state.
type monFakeState struct{ st scheduler.State }

func (f monFakeState) State() scheduler.State { return f.st }

// monEnv is a Handler serving the monitoring endpoints over a real SQLite
// store, with the root (admin) key and a plain user's key.
type monEnv struct {
	t        testing.TB
	ctx      context.Context
	st       store.Store
	h        *Handler
	rootKey  string
	aliceKey string
}

// newMonEnv opens a store, bootstraps it, adds the user alice with a key and
// registers the monitoring routes with state (which may be nil).
func newMonEnv(t testing.TB, state scheduler.StateReporter) *monEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "logos.db")})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	_, rootKey, err := Bootstrap(ctx, st, "")
	if err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	u, err := st.CreateUser(ctx, store.User{Username: "alice", Role: store.RoleUser})
	if err != nil {
		t.Fatal(err)
	}
	aliceKey := apikey.Generate("alice-app")
	if _, err := st.CreateProcess(ctx, store.Process{Name: "alice-app", UserID: u.ID, KeyHash: apikey.Hash(aliceKey), KeyPrefix: apikey.Prefix(aliceKey)}); err != nil {
		t.Fatal(err)
	}
	h := New(Config{Store: st, Scheduler: state})
	return &monEnv{t: t, ctx: ctx, st: st, h: h, rootKey: rootKey, aliceKey: aliceKey}
}

// do sends method /logosdb/name with key (if any) as a bearer token and body
// (if not nil) as JSON, and returns the status and decoded JSON body.
func (e *monEnv) do(method, name, key string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd *bytes.Reader
	if s, ok := body.(string); ok {
		rd = bytes.NewReader([]byte(s))
	} else if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	r := httptest.NewRequest(method, "/logosdb/"+name, rd)
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		e.t.Fatalf("%s %s: response is not a JSON object: %v\n%s", method, name, err, w.Body)
	}
	return w.Code, m
}

// monWantError checks an OpenAI-format error response.
func monWantError(t *testing.T, what string, gotStatus int, m map[string]any, status int, message string) {
	t.Helper()
	if gotStatus != status {
		t.Errorf("%s: status %d, want %d (%v)", what, gotStatus, status, m)
		return
	}
	obj, ok := m["error"].(map[string]any)
	if !ok {
		t.Errorf("%s: no error object in %v", what, m)
		return
	}
	if message != "" && obj["message"] != message {
		t.Errorf("%s: message %q, want %q", what, obj["message"], message)
	}
}

// catalog stores an ollama provider "gpu-1", an openai provider "cloud", the
// models "llama" and "gpt", and the deployments llama@gpu-1 and gpt@cloud.
func (e *monEnv) catalog() (gpu, cloud, llama, gpt, depLlama, depGPT int64) {
	e.t.Helper()
	mustID := func(id int64, err error) int64 {
		e.t.Helper()
		if err != nil {
			e.t.Fatal(err)
		}
		return id
	}
	p, err := e.st.CreateProvider(e.ctx, store.Provider{Name: "gpu-1", Kind: store.KindOllama, BaseURL: "http://gpu-1:11434", Privacy: store.PrivacyLocal})
	gpu = mustID(p.ID, err)
	p, err = e.st.CreateProvider(e.ctx, store.Provider{Name: "cloud", Kind: store.KindOpenAI, BaseURL: "https://api.example/v1", Privacy: store.PrivacyCloudInEUByUSProvider})
	cloud = mustID(p.ID, err)
	m, err := e.st.CreateModel(e.ctx, store.Model{Name: "llama", WeightPrivacy: store.PrivacyLocal})
	llama = mustID(m.ID, err)
	m, err = e.st.CreateModel(e.ctx, store.Model{Name: "gpt", WeightPrivacy: store.PrivacyCloudInEUByUSProvider})
	gpt = mustID(m.ID, err)
	d, err := e.st.CreateDeployment(e.ctx, store.Deployment{ModelID: llama, ProviderID: gpu})
	depLlama = mustID(d.ID, err)
	d, err = e.st.CreateDeployment(e.ctx, store.Deployment{ModelID: gpt, ProviderID: cloud})
	depGPT = mustID(d.ID, err)
	return
}

func TestSchedulerState(t *testing.T) {
	reporter := &monFakeState{}
	e := newMonEnv(t, reporter)
	gpu, cloud, llama, gpt, depLlama, depGPT := e.catalog()
	reporter.st = scheduler.State{
		QueueDepth: 3,
		Deployments: []scheduler.DeploymentState{
			{DeploymentID: depLlama, Active: 2, Capacity: 2, Queued: scheduler.QueueCounts{Low: 1, Normal: 1, High: 1}, Waiting: []string{"req-h", "req-n", "req-l"}},
			{DeploymentID: depGPT, Active: 1, Capacity: 0},
			{DeploymentID: 999, Active: 0, Capacity: 4, Queued: scheduler.QueueCounts{Normal: 1}, Waiting: []string{"req-n"}},
		},
	}
	want := map[string]any{
		"queue_total": 3.0,
		"deployments": map[string]any{
			fmt.Sprint(depLlama): map[string]any{
				"model_id": float64(llama), "model_name": "llama", "provider_id": float64(gpu), "provider_name": "gpu-1",
				"active": 2.0, "max_capacity": 2.0, "queue_depth": 3.0,
				"queue_depth_breakdown": map[string]any{"low": 1.0, "normal": 1.0, "high": 1.0},
				"waiting_request_ids":   []any{"req-h", "req-n", "req-l"},
			},
			fmt.Sprint(depGPT): map[string]any{
				"model_id": float64(gpt), "model_name": "gpt", "provider_id": float64(cloud), "provider_name": "cloud",
				"active": 1.0, "max_capacity": 0.0, "queue_depth": 0.0,
				"queue_depth_breakdown": map[string]any{"low": 0.0, "normal": 0.0, "high": 0.0},
				"waiting_request_ids":   []any{},
			},
			// No longer in the catalogue: zero ids, empty names.
			"999": map[string]any{
				"model_id": 0.0, "model_name": "", "provider_id": 0.0, "provider_name": "",
				"active": 0.0, "max_capacity": 4.0, "queue_depth": 1.0,
				"queue_depth_breakdown": map[string]any{"low": 0.0, "normal": 1.0, "high": 0.0},
				"waiting_request_ids":   []any{"req-n"},
			},
		},
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		status, m := e.do(method, "scheduler_state", e.rootKey, nil)
		if status != http.StatusOK {
			t.Fatalf("%s: status %d: %v", method, status, m)
		}
		if d := cmp.Diff(want, m); d != "" {
			t.Errorf("%s scheduler_state (-want +got):\n%s", method, d)
		}
	}
	// POST with the key in the body.
	status, m := e.do(http.MethodPost, "scheduler_state", "", map[string]any{"logos_key": e.rootKey})
	if status != http.StatusOK {
		t.Fatalf("POST with logos_key: status %d: %v", status, m)
	}
	if d := cmp.Diff(want, m); d != "" {
		t.Errorf("POST with logos_key (-want +got):\n%s", d)
	}
}

func TestSchedulerStateAuth(t *testing.T) {
	e := newMonEnv(t, monFakeState{})
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		status, m := e.do(method, "scheduler_state", "", nil)
		monWantError(t, method+" without key", status, m, http.StatusUnauthorized, "")
		status, m = e.do(method, "scheduler_state", "lg-not-a-key", nil)
		monWantError(t, method+" with an unknown key", status, m, http.StatusUnauthorized, "Invalid Logos key")
		status, m = e.do(method, "scheduler_state", e.aliceKey, nil)
		monWantError(t, method+" as a plain user", status, m, http.StatusForbidden, "Only an admin key may call /logosdb/scheduler_state")
	}
	status, m := e.do(http.MethodPost, "scheduler_state", "", map[string]any{"logos_key": e.aliceKey})
	monWantError(t, "POST as a plain user with logos_key", status, m, http.StatusForbidden, "")

	// An empty state still has its keys.
	status, m = e.do(http.MethodGet, "scheduler_state", e.rootKey, nil)
	if d := cmp.Diff(map[string]any{"queue_total": 0.0, "deployments": map[string]any{}}, m); status != http.StatusOK || d != "" {
		t.Errorf("empty state: status %d (-want +got):\n%s", status, d)
	}
}

func TestSchedulerStateUnavailable(t *testing.T) {
	e := newMonEnv(t, nil)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		status, m := e.do(method, "scheduler_state", e.rootKey, nil)
		monWantError(t, method+" without a reporter", status, m, http.StatusServiceUnavailable, "Scheduler state not available")
		// Authentication still comes first.
		status, m = e.do(method, "scheduler_state", e.aliceKey, nil)
		monWantError(t, method+" as a plain user without a reporter", status, m, http.StatusForbidden, "")
	}
}

// monSnap stores a snapshot of provider pid.
func (e *monEnv) snap(pid int64, at time.Time, used int64, ok bool, loaded string) {
	e.t.Helper()
	s := store.ProviderSnapshot{ProviderID: pid, TakenAt: at, VRAMUsedBytes: used, PollSuccess: ok}
	if loaded != "" {
		s.LoadedModels = json.RawMessage(loaded)
		var arr []any
		_ = json.Unmarshal(s.LoadedModels, &arr)
		s.ModelsLoaded = len(arr)
	}
	if !ok {
		s.ErrorMessage = "connection refused"
	}
	if _, err := e.st.InsertProviderSnapshot(e.ctx, s); err != nil {
		e.t.Fatal(err)
	}
}

const mib = 1 << 20

func TestVRAMStats(t *testing.T) {
	e := newMonEnv(t, nil)
	gpu, cloud, _, _, _, _ := e.catalog()
	big, err := e.st.CreateProvider(e.ctx, store.Provider{Name: "gpu-2", Kind: store.KindOllama, BaseURL: "http://gpu-2:11434", Privacy: store.PrivacyLocal, TotalVRAMMB: 48})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.CreateProvider(e.ctx, store.Provider{Name: "idle", Kind: store.KindOllama, BaseURL: "http://idle:11434", Privacy: store.PrivacyLocal}); err != nil {
		t.Fatal(err)
	}
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -2)
	t0 := day.Add(10 * time.Hour)

	// gpu-1 (no configured VRAM): every 5 s from 10:00:00 to 10:02:55, the
	// i-th using i+1 MiB, but for a spike of 100 MiB at 10:00:25 that sets
	// the capacity although no kept point shows it.
	for i := range 36 {
		used := int64(i+1) * mib
		if i == 5 {
			used = 100 * mib
		}
		e.snap(gpu, t0.Add(time.Duration(i)*5*time.Second), used, true, fmt.Sprintf(`[{"name":"m%d"}]`, i))
	}
	// Failed polls, and snapshots of other days, are left out.
	e.snap(gpu, t0.Add(2*time.Minute+58*time.Second), 0, false, "")
	e.snap(gpu, t0.Add(3*time.Minute), 500*mib, false, "")
	e.snap(gpu, day.Add(-time.Second), 7*mib, true, "")
	e.snap(gpu, day.AddDate(0, 0, 1), 7*mib, true, "")
	// gpu-2: 48 MiB configured, one snapshot of 1.5 MiB.
	e.snap(big.ID, day.Add(11*time.Hour+30*time.Minute+10*time.Second), 3*mib/2, true, `[]`)
	// Not an Ollama provider.
	e.snap(cloud, t0, 9*mib, true, "")

	point := func(at time.Time, used, capacity float64, models int, loaded any) map[string]any {
		return map[string]any{
			"timestamp": at.Format(time.RFC3339), "vram_mb": used, "vram_bytes": used * mib, "used_vram_mb": used,
			"remaining_vram_mb": capacity - used, "total_vram_mb": capacity, "models_loaded": float64(models), "loaded_models": loaded,
		}
	}
	want := map[string]any{"providers": []any{
		map[string]any{"provider_id": float64(gpu), "name": "gpu-1", "data": []any{
			point(t0.Add(55*time.Second), 12, 100, 1, []any{map[string]any{"name": "m11"}}),
			point(t0.Add(time.Minute+55*time.Second), 24, 100, 1, []any{map[string]any{"name": "m23"}}),
			point(t0.Add(2*time.Minute+55*time.Second), 36, 100, 1, []any{map[string]any{"name": "m35"}}),
		}},
		map[string]any{"provider_id": float64(big.ID), "name": "gpu-2", "data": []any{
			point(day.Add(11*time.Hour+30*time.Minute+10*time.Second), 1.5, 48, 0, []any{}),
		}},
	}}
	status, m := e.do(http.MethodPost, "get_ollama_vram_stats", e.aliceKey, map[string]any{"day": day.Format(time.DateOnly), "bucket_seconds": 300})
	if status != http.StatusOK {
		t.Fatalf("status %d: %v", status, m)
	}
	if d := cmp.Diff(want, m); d != "" {
		t.Errorf("get_ollama_vram_stats (-want +got):\n%s", d)
	}

	// Today is allowed (clamped to now) but has no data here.
	status, m = e.do(http.MethodPost, "get_ollama_vram_stats", e.rootKey, map[string]any{"day": time.Now().UTC().Format(time.DateOnly)})
	monWantError(t, "day without data", status, m, http.StatusNotFound, "No VRAM data available for the requested day.")
	// Failed polls alone are no data.
	status, m = e.do(http.MethodPost, "get_ollama_vram_stats", e.rootKey, map[string]any{"day": day.AddDate(0, 0, 1).Format(time.DateOnly)})
	if status != http.StatusOK {
		t.Fatalf("next day: status %d: %v", status, m)
	}
	if got := len(m["providers"].([]any)); got != 1 {
		t.Errorf("next day: %d providers, want 1 (gpu-1's midnight snapshot): %v", got, m)
	}
}

func TestVRAMStatsErrors(t *testing.T) {
	e := newMonEnv(t, nil)
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	for _, tc := range []struct {
		what   string
		key    string
		body   any
		status int
		param  string
	}{
		{"no key", "", map[string]any{"day": "2024-01-01"}, http.StatusUnauthorized, ""},
		{"missing day", e.rootKey, map[string]any{}, http.StatusBadRequest, "day"},
		{"no body", e.rootKey, nil, http.StatusBadRequest, "day"},
		{"empty day", e.rootKey, map[string]any{"day": ""}, http.StatusBadRequest, "day"},
		{"not a date", e.rootKey, map[string]any{"day": "yesterday"}, http.StatusBadRequest, "day"},
		{"impossible date", e.rootKey, map[string]any{"day": "2024-02-30"}, http.StatusBadRequest, "day"},
		{"timestamp", e.rootKey, map[string]any{"day": "2024-01-01T00:00:00Z"}, http.StatusBadRequest, "day"},
		{"wrong type", e.rootKey, map[string]any{"day": 20240101}, http.StatusBadRequest, "day"},
		{"future", e.aliceKey, map[string]any{"day": tomorrow}, http.StatusBadRequest, "day"},
		{"not an object", e.rootKey, `["2024-01-01"]`, http.StatusBadRequest, ""},
		{"no data", e.aliceKey, map[string]any{"day": "2024-01-01"}, http.StatusNotFound, ""},
	} {
		status, m := e.do(http.MethodPost, "get_ollama_vram_stats", tc.key, tc.body)
		monWantError(t, tc.what, status, m, tc.status, "")
		if obj, _ := m["error"].(map[string]any); tc.param != "" && obj["param"] != tc.param {
			t.Errorf("%s: param %v, want %q", tc.what, obj["param"], tc.param)
		}
	}
}

func TestRequestEventStatsFromSnapshots(t *testing.T) {
	e := newStatsEnv(t)
	ctx := t.Context()
	gpu, err := e.st.CreateProvider(ctx, store.Provider{Name: "gpu", Kind: store.KindOllama, BaseURL: "http://gpu:11434", Privacy: store.PrivacyLocal})
	if err != nil {
		t.Fatal(err)
	}
	vllm, err := e.st.CreateProvider(ctx, store.Provider{Name: "vllm", Kind: store.KindOpenAICompatible, BaseURL: "http://vllm:8000/v1", Privacy: store.PrivacyLocal})
	if err != nil {
		t.Fatal(err)
	}
	snap := func(p int64, at time.Time, vram int64, waiting int) {
		t.Helper()
		s := store.ProviderSnapshot{ProviderID: p, TakenAt: at, VRAMUsedBytes: vram, PollSuccess: true}
		if waiting >= 0 {
			s.QueueKnown, s.WaitingRequests = true, waiting
		}
		if _, err := e.st.InsertProviderSnapshot(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	// Bucket 0 (15 min): gpu averages 2 MiB, vLLM 1 MiB with 4 and 6
	// waiting. Bucket 2: gpu 8 MiB, vLLM 10 waiting.
	snap(gpu.ID, e.day.Add(time.Minute), 1*mib, -1)
	snap(gpu.ID, e.day.Add(2*time.Minute), 3*mib, -1)
	snap(vllm.ID, e.day.Add(3*time.Minute), 1*mib, 4)
	snap(vllm.ID, e.day.Add(4*time.Minute), 1*mib, 6)
	snap(gpu.ID, e.day.Add(31*time.Minute), 8*mib, -1)
	snap(vllm.ID, e.day.Add(32*time.Minute), 0, 10)

	body := map[string]any{"start_date": e.day.Format(time.RFC3339), "end_date": e.day.AddDate(0, 0, 1).Format(time.RFC3339)}
	st := e.ok("request_event_stats", e.rootKey, body)["stats"].(map[string]any)
	series := st["timeSeries"].([]any)
	for i, want := range map[int]float64{0: 3, 1: 0, 2: 8, 95: 0} {
		if got := series[i].(map[string]any)["avgVram"]; got != want {
			t.Errorf("point %d avgVram = %v, want %v MiB", i, got, want)
		}
	}
	want := map[string]any{"avgEnqueueDepth": 7.5, "avgScheduleDepth": 7.5, "p95EnqueueDepth": 10.0, "p95ScheduleDepth": 10.0}
	if d := cmp.Diff(want, st["queueDepth"]); d != "" {
		t.Errorf("queueDepth (-want +got):\n%s", d)
	}
}

// monFakeLive is a LiveState with fixed answers.
type monFakeLive struct {
	states []live.ProviderState
	rl     map[int64]providers.RateLimit
}

func (f monFakeLive) ProviderStates() []live.ProviderState { return f.states }
func (f monFakeLive) RateLimit(id int64) (providers.RateLimit, bool) {
	rl, ok := f.rl[id]
	return rl, ok
}

func TestSchedulerStateLive(t *testing.T) {
	reporter := &monFakeState{}
	e := newMonEnv(t, reporter)
	gpu, cloud, llama, _, depLlama, depGPT := e.catalog()
	vllm, err := e.st.CreateProvider(e.ctx, store.Provider{Name: "vllm", Kind: store.KindOpenAICompatible, BaseURL: "http://vllm:8000/v1", Privacy: store.PrivacyLocal})
	if err != nil {
		t.Fatal(err)
	}
	depVLLM, err := e.st.CreateDeployment(e.ctx, store.Deployment{ModelID: llama, ProviderID: vllm.ID})
	if err != nil {
		t.Fatal(err)
	}
	gpu2, err := e.st.CreateProvider(e.ctx, store.Provider{Name: "gpu-2", Kind: store.KindOllama, BaseURL: "http://gpu-2:11434", Privacy: store.PrivacyLocal})
	if err != nil {
		t.Fatal(err)
	}
	depCold, err := e.st.CreateDeployment(e.ctx, store.Deployment{ModelID: llama, ProviderID: gpu2.ID, UpstreamModel: "llama3:70b"})
	if err != nil {
		t.Fatal(err)
	}
	polled := time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)
	fake := monFakeLive{
		states: []live.ProviderState{
			{ProviderID: gpu, Name: "gpu-1", Kind: store.KindOllama, TotalVRAMBytes: 48 << 30, PolledAt: polled, Polls: 3,
				State: providers.State{LoadedKnown: true, Loaded: []providers.LoadedModel{{Name: "llama:latest", SizeVRAM: 5 << 30}}, VRAMUsedBytes: 5 << 30}},
			{ProviderID: gpu2.ID, Name: "gpu-2", Kind: store.KindOllama, PolledAt: polled, Polls: 1,
				// Listed, but its expiry has passed: cold.
				State: providers.State{LoadedKnown: true, Loaded: []providers.LoadedModel{{Name: "llama3:70b", ExpiresAt: time.Now().Add(-time.Second)}}}},
			{ProviderID: vllm.ID, Name: "vllm", Kind: store.KindOpenAICompatible, PolledAt: polled, Polls: 2,
				State: providers.State{QueueKnown: true, Running: 1, Waiting: 4, Sleep: providers.Asleep}},
		},
		rl: map[int64]providers.RateLimit{depGPT: {LimitRequests: -1, LimitTokens: -1, RemainingRequests: 0, RemainingTokens: -1,
			ResetRequests: time.Now().Add(time.Hour), UpdatedAt: polled}},
	}
	e.h = New(Config{Store: e.st, Scheduler: reporter, Live: fake})
	reporter.st = scheduler.State{Deployments: []scheduler.DeploymentState{
		{DeploymentID: depLlama}, {DeploymentID: depGPT}, {DeploymentID: depVLLM.ID}, {DeploymentID: depCold.ID},
	}}
	status, m := e.do(http.MethodGet, "scheduler_state", e.rootKey, nil)
	if status != http.StatusOK {
		t.Fatalf("status %d: %v", status, m)
	}
	deps := m["deployments"].(map[string]any)
	for id, want := range map[int64]string{depLlama: "warm", depGPT: "cloud", depVLLM.ID: "sleeping", depCold.ID: "cold"} {
		if got := deps[fmt.Sprint(id)].(map[string]any)["lane"]; got != want {
			t.Errorf("deployment %d lane = %v, want %s", id, got, want)
		}
	}
	rl := deps[fmt.Sprint(depGPT)].(map[string]any)["rate_limit"].(map[string]any)
	if rl["limited"] != true || rl["remaining_requests"] != 0.0 || rl["remaining_tokens"] != nil {
		t.Errorf("rate_limit = %v", rl)
	}
	if _, ok := deps[fmt.Sprint(depLlama)].(map[string]any)["rate_limit"]; ok {
		t.Error("a deployment without rate-limit data shows one")
	}
	provs := m["providers"].(map[string]any)
	g := provs[fmt.Sprint(gpu)].(map[string]any)
	if g["vram_used_bytes"] != float64(5<<30) || g["vram_total_bytes"] != float64(48<<30) || g["running_requests"] != nil || g["sleep"] != "unknown" {
		t.Errorf("gpu-1 = %v", g)
	}
	v := provs[fmt.Sprint(vllm.ID)].(map[string]any)
	if v["waiting_requests"] != 4.0 || v["loaded_models"] != nil || v["sleep"] != "asleep" {
		t.Errorf("vllm = %v", v)
	}
	if _, ok := provs[fmt.Sprint(cloud)]; ok {
		t.Error("an unpolled provider is listed")
	}
}

// BenchmarkVRAMStatsDay measures get_ollama_vram_stats over a full day of
// 5-second snapshots of one provider (17,280 rows, the original's
// out-of-memory case): the database keeps one per minute, so the answer
// holds 1,440 points. It reports the answer's size.
func BenchmarkVRAMStatsDay(b *testing.B) {
	e := newMonEnv(b, nil)
	p, err := e.st.CreateProvider(e.ctx, store.Provider{Name: "gpu", Kind: store.KindOllama, BaseURL: "http://gpu:11434", Privacy: store.PrivacyLocal, TotalVRAMMB: 81920})
	if err != nil {
		b.Fatal(err)
	}
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	loaded := json.RawMessage(`[{"name":"llama3:8b","size":5137025024,"size_vram":5137025024,"size_vram_mb":4899.05,"expires_at":"2030-01-01T00:00:00Z"}]`)
	for i := range 17280 {
		if _, err := e.st.InsertProviderSnapshot(e.ctx, store.ProviderSnapshot{ProviderID: p.ID, TakenAt: day.Add(time.Duration(i) * 5 * time.Second),
			ModelsLoaded: 1, VRAMUsedBytes: 5137025024, LoadedModels: loaded, PollSuccess: true}); err != nil {
			b.Fatal(err)
		}
	}
	body, _ := json.Marshal(map[string]any{"day": day.Format(time.DateOnly)})
	var size int
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/logosdb/get_ollama_vram_stats", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.rootKey)
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size), "answer-bytes")
}
