package lifecycle_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/logos-llm/logos/monitor/lifecycle"
	"github.com/logos-llm/logos/providers/builtin"
	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/store"
)

// An Executor wakes a vLLM model on a provider configured with sleep mode.
func Example() {
	// A vLLM server started with --enable-sleep-mode, reduced to its wake
	// endpoint.
	vllm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("vLLM got", r.Method, r.URL.Path)
	}))
	defer vllm.Close()

	e, err := lifecycle.New(lifecycle.Config{Providers: builtin.Registry(),
		Profiles: map[string]lifecycle.Profile{"qwen": {AwakeMB: 16000, SleepMB: 1000, Wake: 2 * time.Second}}})
	if err != nil {
		panic(err)
	}
	e.Sync(store.Catalog{
		Providers: []store.Provider{{ID: 1, Name: "gpu1", Kind: store.KindOpenAICompatible, BaseURL: vllm.URL + "/v1",
			AdminURL: vllm.URL + "/metrics", SleepMode: true, TotalVRAMMB: 24000}},
		Models:      []store.Model{{ID: 1, Name: "qwen"}},
		Deployments: []store.Deployment{{ID: 7, ModelID: 1, ProviderID: 1}},
	})
	spec, _ := e.Lane(7)
	fmt.Println("node memory:", spec.NodeMB, "awake footprint:", spec.AwakeMB)
	if err := e.Transition(context.Background(), 7, scheduler.TransitionWake, 0); err != nil {
		panic(err)
	}
	fmt.Println("recorded:", e.Records()[0].Action, e.Records()[0].Provider)
	// Output:
	// node memory: 24000 awake footprint: 16000
	// vLLM got POST /wake_up
	// recorded: wake gpu1
}
