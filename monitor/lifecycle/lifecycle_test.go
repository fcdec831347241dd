package lifecycle_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/logos-llm/logos/monitor/lifecycle"
	"github.com/logos-llm/logos/monitor/live"
	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/providers/builtin"
	"github.com/logos-llm/logos/providers/providertest"
	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// node is a fake GPU node of 32 GB with two vLLM models (a and b, asleep)
// and, on its Ollama server, the same two models (cold).
func node(t *testing.T) *providertest.GPUNode {
	t.Helper()
	m := func(name string) providertest.GPUModel {
		return providertest.GPUModel{Name: name, AwakeMB: 20000, SleepMB: 1000, Load: 40 * time.Second, Wake: 2 * time.Second,
			Sleep: 4 * time.Second, Unload: time.Second, StepTime: 20 * time.Millisecond, State: "sleeping"}
	}
	return providertest.NewGPUNode(t, providertest.GPUNodeConfig{VRAMMB: 32000, TimeFactor: 200, Models: []providertest.GPUModel{m("a"), m("b")}})
}

// catalog puts each vLLM server behind one openai_compatible provider with
// sleep mode (deployments 1 and 2) and the Ollama server behind one ollama
// provider (deployments 3 and 4), plus an OpenAI deployment (5).
func catalog(n *providertest.GPUNode) store.Catalog {
	return store.Catalog{
		Providers: []store.Provider{
			{ID: 1, Name: "vllm-a", Kind: store.KindOpenAICompatible, BaseURL: n.VLLM("a").URL + "/v1", AdminURL: n.VLLM("a").URL + "/metrics", SleepMode: true, TotalVRAMMB: 32000},
			{ID: 2, Name: "vllm-b", Kind: store.KindOpenAICompatible, BaseURL: n.VLLM("b").URL + "/v1", AdminURL: n.VLLM("b").URL + "/metrics", SleepMode: true, TotalVRAMMB: 32000},
			{ID: 3, Name: "ollama", Kind: store.KindOllama, BaseURL: n.Ollama.URL, TotalVRAMMB: 32000},
			{ID: 4, Name: "openai", Kind: store.KindOpenAI, BaseURL: "https://api.openai.com/v1"},
		},
		Models: []store.Model{{ID: 1, Name: "a"}, {ID: 2, Name: "b"}},
		Deployments: []store.Deployment{
			{ID: 1, ModelID: 1, ProviderID: 1}, {ID: 2, ModelID: 2, ProviderID: 2},
			{ID: 3, ModelID: 1, ProviderID: 3}, {ID: 4, ModelID: 2, ProviderID: 3},
			{ID: 5, ModelID: 1, ProviderID: 4},
		},
	}
}

func TestVLLMSleepWakeAndOllamaLoadUnload(t *testing.T) {
	n := node(t)
	reg := prometheus.NewRegistry()
	e, err := lifecycle.New(lifecycle.Config{Providers: builtin.Registry(), Registerer: reg,
		Profiles: map[string]lifecycle.Profile{"a": {AwakeMB: 20000, SleepMB: 1000, Wake: 2 * time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	e.Sync(catalog(n))
	if got := e.Deployments(); len(got) != 5 {
		t.Fatalf("Deployments() = %v, want 1..5", got)
	}
	spec, ok := e.Lane(1)
	if !ok || spec.Cloud || spec.NodeMB != 32000 || spec.AwakeMB != 20000 || spec.WakeCost != 2*time.Second || spec.State != scheduler.LaneAwake {
		t.Fatalf("Lane(1) = %+v, %v", spec, ok)
	}
	if s3, _ := e.Lane(3); s3.Node != spec.Node {
		t.Errorf("servers on one host are different nodes: %d, %d", s3.Node, spec.Node)
	}
	if s5, ok := e.Lane(5); !ok || !s5.Cloud {
		t.Errorf("Lane(5) = %+v, %v; want a cloud lane", s5, ok)
	}
	ctx := context.Background()
	if err := e.Transition(ctx, 1, scheduler.TransitionWake, 0); err != nil {
		t.Fatalf("wake: %v", err)
	}
	if got := n.State("a"); got != "awake" {
		t.Fatalf("after wake, a is %s", got)
	}
	if err := e.Transition(ctx, 1, scheduler.TransitionSleep, 1); err != nil || n.State("a") != "sleeping" {
		t.Fatalf("sleep: %v, a is %s", err, n.State("a"))
	}
	if err := e.Transition(ctx, 1, scheduler.TransitionLoad, 0); !errors.Is(err, providers.ErrUnsupported) {
		t.Errorf("load on vLLM: %v, want ErrUnsupported", err)
	}
	if err := e.Transition(ctx, 5, scheduler.TransitionWake, 0); !errors.Is(err, lifecycle.ErrUnknownDeployment) {
		t.Errorf("wake of a cloud deployment: %v", err)
	}
	// Ollama: the fake node's Ollama shares the models' state; unload the
	// sleeping a (frees its residual), then load it.
	if err := e.Transition(ctx, 3, scheduler.TransitionUnload, 0); err != nil || n.State("a") != "cold" {
		t.Fatalf("unload: %v, a is %s", err, n.State("a"))
	}
	if err := e.Transition(ctx, 3, scheduler.TransitionLoad, 0); err != nil || n.State("a") != "awake" {
		t.Fatalf("load: %v, a is %s", err, n.State("a"))
	}
	if got := testutil.ToFloat64(e.TransitionsCounter().WithLabelValues("vllm-a", "wake", "ok")); got != 1 {
		t.Errorf("wake ok counter = %v", got)
	}
	recs := e.Records()
	if len(recs) != 5 || recs[0].Action != "wake" || recs[2].Err == "" || recs[4].Action != "load" || recs[4].Provider != "ollama" {
		t.Errorf("records = %+v", recs)
	}
}

func TestFailedWakeCoolsDown(t *testing.T) {
	n := node(t)
	now := time.Unix(1_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e, err := lifecycle.New(lifecycle.Config{Providers: builtin.Registry(), Now: clock, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	e.Sync(catalog(n))
	ctx := context.Background()
	if err := e.Transition(ctx, 1, scheduler.TransitionWake, 0); err != nil {
		t.Fatal(err)
	}
	// b does not fit beside a (20000 + 20000 > 32000): vLLM runs out of memory.
	if err := e.Transition(ctx, 2, scheduler.TransitionWake, 0); err == nil || errors.Is(err, lifecycle.ErrCoolingDown) {
		t.Fatalf("wake of b beside a: %v, want the server's failure", err)
	}
	if err := e.Transition(ctx, 1, scheduler.TransitionSleep, 1); err != nil {
		t.Fatal(err)
	}
	if err := e.Transition(ctx, 2, scheduler.TransitionWake, 0); !errors.Is(err, lifecycle.ErrCoolingDown) {
		t.Fatalf("wake within the cooldown: %v, want ErrCoolingDown", err)
	}
	if n.State("b") != "sleeping" {
		t.Fatalf("a wake was sent during the cooldown: b is %s", n.State("b"))
	}
	mu.Lock()
	now = now.Add(lifecycle.DefaultWakeCooldown)
	mu.Unlock()
	if err := e.Transition(ctx, 2, scheduler.TransitionWake, 0); err != nil || n.State("b") != "awake" {
		t.Fatalf("wake after the cooldown: %v, b is %s", err, n.State("b"))
	}
	if got := testutil.ToFloat64(e.TransitionsCounter().WithLabelValues("vllm-b", "wake", "cooling_down")); got != 1 {
		t.Errorf("cooling_down counter = %v", got)
	}
}

func TestOneTransitionAtATimePerNode(t *testing.T) {
	n := node(t)
	e, err := lifecycle.New(lifecycle.Config{Providers: builtin.Registry()})
	if err != nil {
		t.Fatal(err)
	}
	e.Sync(catalog(n))
	var wg sync.WaitGroup
	for _, dep := range []int64{3, 4} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = e.Transition(context.Background(), dep, scheduler.TransitionUnload, 0)
		}()
	}
	wg.Wait()
	// Two Ollama unloads of 5 ms each (1 s at factor 200): the second
	// starts when the first has ended.
	recs := e.Records()
	if len(recs) != 2 || recs[0].Err != "" || recs[1].Err != "" || n.State("a") != "cold" || n.State("b") != "cold" {
		t.Fatalf("records = %+v", recs)
	}
	a, b := recs[0], recs[1]
	if b.Started.Before(a.Started.Add(a.Duration)) {
		t.Errorf("transitions of one node overlapped: %+v, %+v", a, b)
	}
}

func TestLaneStateFromTelemetry(t *testing.T) {
	n := node(t)
	src := stateSource{
		1: {State: providers.State{Sleep: providers.Asleep}},
		3: {State: providers.State{LoadedKnown: true, Loaded: []providers.LoadedModel{{Name: "b", SizeVRAM: 5 << 30}}}},
	}
	e, err := lifecycle.New(lifecycle.Config{Providers: builtin.Registry(), State: src})
	if err != nil {
		t.Fatal(err)
	}
	e.Sync(catalog(n))
	for dep, want := range map[int64]string{1: scheduler.LaneSleeping, 2: scheduler.LaneAwake, 3: scheduler.LaneCold, 4: scheduler.LaneAwake} {
		if s, _ := e.Lane(dep); s.State != want {
			t.Errorf("Lane(%d).State = %q, want %q", dep, s.State, want)
		}
	}
	if s, _ := e.Lane(4); s.AwakeMB != 5<<10 {
		t.Errorf("Ollama footprint from /api/ps = %d MB, want %d", s.AwakeMB, 5<<10)
	}
}

type stateSource map[int64]live.ProviderState

func (s stateSource) ProviderState(id int64) (live.ProviderState, bool) {
	st, ok := s[id]
	return st, ok
}
