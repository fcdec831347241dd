package providertest_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/providers/ollama"
	"github.com/logos-llm/logos/providers/openaicompat"
	"github.com/logos-llm/logos/providers/providertest"
)

// twoModels is a 32,000 MB node where a and b (20,000 MB each) cannot be
// awake together; a is awake, b asleep. 1,000× faster than real time.
func twoModels(t *testing.T) *providertest.GPUNode {
	m := func(name, state string) providertest.GPUModel {
		return providertest.GPUModel{Name: name, AwakeMB: 20000, SleepMB: 1000, Load: 30 * time.Second, Wake: 2 * time.Second,
			Sleep: 5 * time.Second, Unload: time.Second, StepTime: 20 * time.Millisecond, StepPerSeq: time.Millisecond, State: state}
	}
	return providertest.NewGPUNode(t, providertest.GPUNodeConfig{VRAMMB: 32000, TimeFactor: 1000, Models: []providertest.GPUModel{m("a", "awake"), m("b", "sleeping")}})
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestGPUNodeVLLMSleepWakeAndMemory(t *testing.T) {
	n := twoModels(t)
	b := n.VLLM("b").URL
	if st, _ := post(t, b+"/v1/chat/completions", `{"model":"b","messages":[{"role":"user","content":"hi"}]}`); st != http.StatusServiceUnavailable {
		t.Errorf("request to a sleeping model: %d, want 503", st)
	}
	if st, body := post(t, b+"/wake_up", ""); st != http.StatusInternalServerError || !strings.Contains(body, "out of memory") {
		t.Errorf("wake of b beside a: %d %s; want an out-of-memory failure", st, body)
	}
	if st, _ := post(t, n.VLLM("a").URL+"/sleep?level=1", ""); st != http.StatusOK || n.State("a") != "sleeping" {
		t.Fatalf("sleep a: %d, a is %s", st, n.State("a"))
	}
	if st, _ := post(t, b+"/wake_up", ""); st != http.StatusOK || n.State("b") != "awake" {
		t.Fatalf("wake b: %d, b is %s", st, n.State("b"))
	}
	if got := n.UsedMB(); got != 21000 {
		t.Errorf("memory = %d MB, want b awake + a's residual = 21000", got)
	}
	// The poller's view of the node agrees.
	st, err := openaicompat.New().PollState(context.Background(), http.DefaultClient,
		providers.Target{Kind: providers.KindOpenAICompatible}, providers.PollOptions{AdminURL: n.VLLM("a").URL + "/metrics", SleepMode: true})
	if err != nil || !st.QueueKnown || st.Sleep != providers.Asleep {
		t.Errorf("PollState(a) = %+v, %v", st, err)
	}
	s := n.Stats()
	if s.Wakes != 1 || s.Sleeps != 1 || s.Refused != 2 || s.MaxUsedMB > 32000 {
		t.Errorf("stats = %+v", s)
	}
}

func TestGPUNodeStreamsTokens(t *testing.T) {
	n := twoModels(t)
	resp, err := http.Post(n.VLLM("a").URL+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"a","stream":true,"max_tokens":50,"min_tokens":30,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q", ct)
	}
	tokens, done, usage := 0, false, false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.Contains(line, `"content":"tok `):
			tokens += strings.Count(line, "tok ")
		case strings.Contains(line, `"completion_tokens":30`):
			usage = true
		case line == "data: [DONE]":
			done = true
		}
	}
	if tokens != 30 || !done || !usage {
		t.Errorf("tokens %d, usage %v, [DONE] %v; want 30 (min_tokens), true, true", tokens, usage, done)
	}
}

func TestGPUNodeOllamaLoadsAndEvicts(t *testing.T) {
	n := twoModels(t)
	ctx := context.Background()
	tgt := providers.Target{Kind: providers.KindOllama, BaseURL: n.Ollama.URL}
	// b (asleep) is unloaded; a chat to b then loads it, unloading the
	// idle a to make room.
	if err := ollama.New().UnloadModel(ctx, http.DefaultClient, tgt, providers.PollOptions{}, "b"); err != nil {
		t.Fatal(err)
	}
	st, body := post(t, n.Ollama.URL+"/api/chat", `{"model":"b","stream":false,"options":{"num_predict":5},"messages":[{"role":"user","content":"hi"}]}`)
	if st != http.StatusOK || !strings.Contains(body, `"eval_count":5`) {
		t.Fatalf("chat: %d %s", st, body)
	}
	if n.State("a") != "cold" || n.State("b") != "awake" {
		t.Errorf("after the chat a is %s and b %s; want cold and awake", n.State("a"), n.State("b"))
	}
	ps, err := ollama.New().PollState(ctx, http.DefaultClient, tgt, providers.PollOptions{AdminURL: n.Ollama.URL})
	if err != nil || len(ps.Loaded) != 1 || ps.Loaded[0].Name != "b" || ps.VRAMUsedBytes != 20000<<20 || ps.Loaded[0].ExpiresAt.IsZero() {
		t.Errorf("/api/ps = %+v, %v", ps, err)
	}
	if err := ollama.New().LoadModel(ctx, http.DefaultClient, tgt, providers.PollOptions{}, "a", -1); err != nil {
		t.Fatal(err)
	}
	if s := n.Stats(); s.Loads != 2 || s.Unloads != 3 || s.MaxUsedMB > 32000 {
		t.Errorf("stats = %+v; want 2 loads, 3 unloads (b explicitly, a and b evicted)", s)
	}
}
