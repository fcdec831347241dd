package providertest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// GPUModel is one model a GPUNode can serve. Durations are in the node's
// virtual time (see GPUNodeConfig.TimeFactor).
type GPUModel struct {
	// Name is the model name clients send.
	Name string
	// AwakeMB and SleepMB are its memory awake and asleep (vLLM sleep level
	// 1 keeps a residual; Ollama has no sleep).
	AwakeMB, SleepMB int
	// Load, Wake, Sleep and Unload are the transition times.
	Load, Wake, Sleep, Unload time.Duration
	// StepTime + StepPerSeq·b is one decode iteration with b sequences
	// running on the model, multiplied by k^Colocation when k models of
	// the node are busy at once.
	StepTime, StepPerSeq time.Duration
	// PrefillPerToken is the prefill time per prompt token.
	PrefillPerToken time.Duration
	// State is the model's state at start: "awake", "sleeping" or "cold"
	// (the default).
	State string
}

// GPUNodeConfig describes a fake GPU node.
type GPUNodeConfig struct {
	// VRAMMB is the node's accelerator memory, shared by its models.
	VRAMMB int
	Models []GPUModel
	// TimeFactor is how many times faster than real time the node runs:
	// with 10, a 2 s wake takes 200 ms. Default 1.
	TimeFactor float64
	// Colocation is the slowdown exponent φ of busy models sharing the
	// node.
	Colocation float64
}

// GPUNodeStats counts what a GPUNode did.
type GPUNodeStats struct {
	Wakes, Sleeps, Loads, Unloads int
	// Refused counts transitions and requests refused: a wake or load that
	// did not fit in memory, a request to a sleeping vLLM model.
	Refused int
	// Requests counts generation requests answered with a first token.
	Requests int
	// MaxUsedMB is the most memory ever reserved.
	MaxUsedMB int
}

// GPUNode is a fake GPU machine for end-to-end tests of the scheduler: one
// memory budget shared by several models, served both as one Ollama server
// (Ollama: POST /api/chat, /api/generate, /v1/chat/completions; GET
// /api/ps, /api/tags) and as one vLLM server per model (VLLM(name): POST
// /v1/chat/completions, streaming SSE or not; GET /metrics, /is_sleeping;
// POST /sleep?level=N, /wake_up). It honours the memory (a wake or load that
// does not fit fails with 500, after Ollama evicted what it could), the
// transition times, and a decode rate that falls with the batch size and
// the other busy models, all scaled by TimeFactor.
//
// The answer has min_tokens tokens when the body sets it (vLLM's sampling
// parameter: the fake "end of sequence" comes there), else max_tokens (or
// Ollama's options.num_predict), else 16; a stream carries the tokens
// produced during each 10 ms of real time as one event. A vLLM server answers 503 while
// its model is not awake; Ollama loads a model a request names, as Ollama
// does. Servers close with the test.
type GPUNode struct {
	cfg    GPUNodeConfig
	Ollama *httptest.Server
	vllm   map[string]*httptest.Server

	mu     sync.Mutex
	models map[string]*gpuModel
	usedMB int
	stats  GPUNodeStats
}

type gpuModel struct {
	GPUModel
	state    string // awake, sleeping, cold, waking, loading, going_to_sleep, unloading
	running  int
	lastUsed time.Time
	upDone   chan struct{} // closed when the load in progress ends
}

// NewGPUNode starts a fake GPU node.
func NewGPUNode(tb testing.TB, cfg GPUNodeConfig) *GPUNode {
	tb.Helper()
	if cfg.TimeFactor <= 0 {
		cfg.TimeFactor = 1
	}
	n := &GPUNode{cfg: cfg, vllm: map[string]*httptest.Server{}, models: map[string]*gpuModel{}}
	for _, m := range cfg.Models {
		gm := &gpuModel{GPUModel: m, state: "cold"}
		switch m.State {
		case "awake":
			gm.state, n.usedMB = "awake", n.usedMB+m.AwakeMB
		case "sleeping":
			gm.state, n.usedMB = "sleeping", n.usedMB+m.SleepMB
		}
		n.models[m.Name] = gm
	}
	n.stats.MaxUsedMB = n.usedMB
	if n.usedMB > cfg.VRAMMB {
		tb.Fatalf("GPU node: the initial models take %d of %d MB", n.usedMB, cfg.VRAMMB)
	}
	n.Ollama = httptest.NewServer(http.HandlerFunc(n.serveOllama))
	for _, m := range cfg.Models {
		name := m.Name
		n.vllm[name] = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.serveVLLM(name, w, r) }))
	}
	tb.Cleanup(func() {
		n.Ollama.CloseClientConnections()
		n.Ollama.Close()
		for _, s := range n.vllm {
			s.CloseClientConnections()
			s.Close()
		}
	})
	return n
}

// VLLM returns the vLLM server of a model (nil for an unknown one).
func (n *GPUNode) VLLM(model string) *httptest.Server { return n.vllm[model] }

// Stats returns what the node did so far.
func (n *GPUNode) Stats() GPUNodeStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// State returns a model's state: awake, sleeping, cold or a transition.
func (n *GPUNode) State(model string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if m := n.models[model]; m != nil {
		return m.state
	}
	return ""
}

// UsedMB returns the memory reserved now.
func (n *GPUNode) UsedMB() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.usedMB
}

// wait sleeps d of virtual time, or until ctx ends.
func (n *GPUNode) wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(time.Duration(float64(d) / n.cfg.TimeFactor))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (n *GPUNode) reserveLocked(mb int) {
	n.usedMB += mb
	n.stats.MaxUsedMB = max(n.stats.MaxUsedMB, n.usedMB)
}

// errTransition is a transition refused or failed, with an HTTP status.
type errTransition struct {
	status int
	msg    string
}

func (e *errTransition) Error() string { return e.msg }

// wake wakes a sleeping model (vLLM).
func (n *GPUNode) wake(ctx context.Context, name string) error {
	n.mu.Lock()
	m := n.models[name]
	switch {
	case m.state == "awake":
		n.mu.Unlock()
		return nil
	case m.state != "sleeping":
		n.mu.Unlock()
		return &errTransition{http.StatusConflict, "model " + name + " is " + m.state}
	case n.usedMB+m.AwakeMB-m.SleepMB > n.cfg.VRAMMB:
		n.stats.Refused++
		n.mu.Unlock()
		return &errTransition{http.StatusInternalServerError, "CUDA out of memory waking " + name}
	}
	n.reserveLocked(m.AwakeMB - m.SleepMB)
	m.state = "waking"
	n.mu.Unlock()
	err := n.wait(ctx, m.Wake)
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil {
		n.usedMB -= m.AwakeMB - m.SleepMB
		m.state = "sleeping"
		return err
	}
	m.state, m.lastUsed = "awake", time.Now()
	n.stats.Wakes++
	return nil
}

// sleep puts an awake model to sleep (vLLM level 1).
func (n *GPUNode) sleep(ctx context.Context, name string) error {
	n.mu.Lock()
	m := n.models[name]
	switch m.state {
	case "sleeping":
		n.mu.Unlock()
		return nil
	case "awake":
	default:
		n.mu.Unlock()
		return &errTransition{http.StatusConflict, "model " + name + " is " + m.state}
	}
	m.state = "going_to_sleep"
	n.mu.Unlock()
	_ = n.wait(context.WithoutCancel(ctx), m.Sleep) // a sleep, once started, finishes
	n.mu.Lock()
	defer n.mu.Unlock()
	n.usedMB -= m.AwakeMB - m.SleepMB
	m.state = "sleeping"
	n.stats.Sleeps++
	return nil
}

// load loads a model (Ollama), first unloading idle models, least recently
// used first, when it does not fit.
func (n *GPUNode) load(ctx context.Context, name string) error {
	n.mu.Lock()
	m := n.models[name]
	for m.state == "loading" {
		ch := m.upDone
		n.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		n.mu.Lock()
	}
	if m.state == "awake" {
		n.mu.Unlock()
		return nil
	}
	if m.state != "cold" {
		n.mu.Unlock()
		return &errTransition{http.StatusConflict, "model " + name + " is " + m.state}
	}
	if n.usedMB+m.AwakeMB > n.cfg.VRAMMB {
		var idle []*gpuModel
		for _, o := range n.models {
			if o.state == "awake" && o.running == 0 {
				idle = append(idle, o)
			}
		}
		slices.SortFunc(idle, func(a, b *gpuModel) int { return a.lastUsed.Compare(b.lastUsed) })
		for _, o := range idle {
			if n.usedMB+m.AwakeMB <= n.cfg.VRAMMB {
				break
			}
			n.usedMB -= o.AwakeMB
			o.state = "cold"
			n.stats.Unloads++
		}
	}
	if n.usedMB+m.AwakeMB > n.cfg.VRAMMB {
		n.stats.Refused++
		n.mu.Unlock()
		return &errTransition{http.StatusInternalServerError, "model requires more system memory than is available: " + name}
	}
	n.reserveLocked(m.AwakeMB)
	m.state, m.upDone = "loading", make(chan struct{})
	n.mu.Unlock()
	err := n.wait(context.WithoutCancel(ctx), m.Load) // Ollama finishes a load its client left
	n.mu.Lock()
	defer n.mu.Unlock()
	close(m.upDone)
	m.state, m.lastUsed = "awake", time.Now()
	n.stats.Loads++
	return err
}

// unload unloads a model (Ollama keep_alive 0).
func (n *GPUNode) unload(ctx context.Context, name string) error {
	n.mu.Lock()
	m := n.models[name]
	if m.state == "cold" {
		n.mu.Unlock()
		return nil
	}
	if m.state != "awake" && m.state != "sleeping" {
		n.mu.Unlock()
		return &errTransition{http.StatusConflict, "model " + name + " is " + m.state}
	}
	held := m.AwakeMB
	if m.state == "sleeping" {
		held = m.SleepMB
	}
	m.state = "unloading"
	n.mu.Unlock()
	_ = n.wait(context.WithoutCancel(ctx), m.Unload)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.usedMB -= held
	m.state = "cold"
	n.stats.Unloads++
	return nil
}

// genRequest is what the node reads of a generation body.
type genRequest struct {
	Model     string            `json:"model"`
	Messages  []json.RawMessage `json:"messages"`
	Prompt    *string           `json:"prompt"`
	Stream    *bool             `json:"stream"`
	MaxTokens int               `json:"max_tokens"`
	MinTokens int               `json:"min_tokens"`
	KeepAlive json.RawMessage   `json:"keep_alive"`
	Options   struct {
		NumPredict int `json:"num_predict"`
	} `json:"options"`
}

func (g *genRequest) outputTokens() int {
	n := cmpOr(g.MaxTokens, g.Options.NumPredict, 16)
	if g.MinTokens > 0 && g.MinTokens < n {
		n = g.MinTokens
	}
	return max(n, 1)
}

func cmpOr(vs ...int) int {
	for _, v := range vs {
		if v > 0 {
			return v
		}
	}
	return 0
}

// promptTokens estimates the prompt as the simulator does: a quarter token
// per character plus 4 per message plus 3.
func (g *genRequest) promptTokens() int {
	chars := 0
	for _, m := range g.Messages {
		var v struct {
			Content string `json:"content"`
		}
		_ = json.Unmarshal(m, &v)
		chars += len(v.Content)
	}
	if g.Prompt != nil {
		chars += len(*g.Prompt)
	}
	return (chars+3)/4 + 4*len(g.Messages) + 3
}

// genTick is how often (real time) a generating request emits the tokens
// produced meanwhile, as one event: time compression multiplies the token
// rate, and one event per token would make the test machine, not the
// modelled GPU, the bottleneck.
const genTick = 10 * time.Millisecond

// generate runs one request on an awake model, calling emit with the
// number of new tokens (the first call is the first token) until out
// tokens were produced or ctx ends.
func (n *GPUNode) generate(ctx context.Context, m *gpuModel, prompt, out int, emit func(k int) error) error {
	n.mu.Lock()
	m.running++
	n.stats.Requests++
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		m.running--
		m.lastUsed = time.Now()
		n.mu.Unlock()
	}()
	if err := n.wait(ctx, time.Duration(prompt)*m.PrefillPerToken+n.step(m)); err != nil {
		return err
	}
	if err := emit(1); err != nil {
		return err
	}
	produced, acc, last := 1, 0.0, time.Now()
	tick := time.NewTicker(genTick)
	defer tick.Stop()
	for produced < out {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			// The wall clock, not the tick's scheduled time, which may
			// precede last.
			now := time.Now()
			acc += float64(max(now.Sub(last), 0)) * n.cfg.TimeFactor / float64(n.step(m))
			last = now
		}
		k := min(int(acc), out-produced)
		if k <= 0 {
			continue
		}
		acc -= float64(k)
		produced += k
		if err := emit(k); err != nil {
			return err
		}
	}
	return nil
}

// step is the model's current decode iteration time.
func (n *GPUNode) step(m *gpuModel) time.Duration {
	n.mu.Lock()
	b, busy := m.running, 0
	for _, o := range n.models {
		if o.running > 0 {
			busy++
		}
	}
	n.mu.Unlock()
	s := float64(m.StepTime + time.Duration(b)*m.StepPerSeq)
	if busy > 1 {
		s *= math.Pow(float64(busy), n.cfg.Colocation)
	}
	return time.Duration(max(s, 1))
}

func writeErr(w http.ResponseWriter, status int, openAI bool, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	var b []byte
	if openAI {
		b, _ = json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": "server_error", "code": status}})
	} else {
		b, _ = json.Marshal(map[string]string{"error": msg})
	}
	_, _ = w.Write(b)
}

func transitionStatus(err error) (int, string) {
	if te, ok := err.(*errTransition); ok {
		return te.status, te.msg
	}
	return http.StatusServiceUnavailable, err.Error()
}

// serveVLLM is one model's vLLM server.
func (n *GPUNode) serveVLLM(model string, w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/metrics":
		n.mu.Lock()
		m := n.models[model]
		running, awake := m.running, m.state == "awake"
		n.mu.Unlock()
		kv := 0.0
		if awake {
			kv = math.Min(1, float64(running)/64)
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{model_name=%q} %d\n"+
			"# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{model_name=%q} 0\n"+
			"# TYPE vllm:kv_cache_usage_perc gauge\nvllm:kv_cache_usage_perc{model_name=%q} %g\n", model, running, model, model, kv)
	case r.Method == http.MethodGet && r.URL.Path == "/is_sleeping":
		st := n.State(model)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"is_sleeping":%t}`, st == "sleeping" || st == "going_to_sleep")
	case r.Method == http.MethodPost && r.URL.Path == "/sleep":
		if err := n.sleep(r.Context(), model); err != nil {
			st, msg := transitionStatus(err)
			writeErr(w, st, true, msg)
			return
		}
		w.WriteHeader(http.StatusOK)
	case r.Method == http.MethodPost && r.URL.Path == "/wake_up":
		if err := n.wake(r.Context(), model); err != nil {
			st, msg := transitionStatus(err)
			writeErr(w, st, true, msg)
			return
		}
		w.WriteHeader(http.StatusOK)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/chat/completions":
		var g genRequest
		if err := json.NewDecoder(r.Body).Decode(&g); err != nil {
			writeErr(w, http.StatusBadRequest, true, "invalid JSON body")
			return
		}
		if g.Model != model {
			writeErr(w, http.StatusNotFound, true, fmt.Sprintf("The model `%s` does not exist.", g.Model))
			return
		}
		n.mu.Lock()
		m := n.models[model]
		if m.state != "awake" {
			st := m.state
			n.stats.Refused++
			n.mu.Unlock()
			writeErr(w, http.StatusServiceUnavailable, true, "model "+model+" is "+st)
			return
		}
		n.mu.Unlock()
		n.serveOpenAI(w, r, m, &g)
	default:
		writeErr(w, http.StatusNotFound, true, "not found")
	}
}

// serveOpenAI answers a chat completion, as SSE when the body asks.
func (n *GPUNode) serveOpenAI(w http.ResponseWriter, r *http.Request, m *gpuModel, g *genRequest) {
	prompt, out := g.promptTokens(), g.outputTokens()
	id := "chatcmpl-fake" + strconv.FormatInt(time.Now().UnixNano(), 36)
	usage := fmt.Sprintf(`{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}`, prompt, out, prompt+out)
	stream := g.Stream != nil && *g.Stream
	if !stream {
		if err := n.generate(r.Context(), m, prompt, out, func(int) error { return nil }); err != nil {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%q,"object":"chat.completion","created":%d,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"length"}],"usage":%s}`,
			id, time.Now().Unix(), m.Name, strings.Repeat("tok ", out), usage)
		return
	}
	fl, _ := w.(http.Flusher)
	first := true
	err := n.generate(r.Context(), m, prompt, out, func(k int) error {
		if first {
			w.Header().Set("Content-Type", "text/event-stream")
			first = false
		}
		ev := fmt.Sprintf("data: {\"id\":%q,\"object\":\"chat.completion.chunk\",\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{\"content\":%q},\"finish_reason\":null}]}\n\n", id, m.Name, strings.Repeat("tok ", k))
		if _, err := w.Write([]byte(ev)); err != nil {
			return err
		}
		if fl != nil {
			fl.Flush()
		}
		return nil
	})
	if err != nil {
		return
	}
	fmt.Fprintf(w, "data: {\"id\":%q,\"object\":\"chat.completion.chunk\",\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n", id, m.Name)
	fmt.Fprintf(w, "data: {\"id\":%q,\"object\":\"chat.completion.chunk\",\"model\":%q,\"choices\":[],\"usage\":%s}\n\ndata: [DONE]\n\n", id, m.Name, usage)
}

// serveOllama is the node's Ollama server.
func (n *GPUNode) serveOllama(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/ps":
		type psModel struct {
			Name      string `json:"name"`
			Model     string `json:"model"`
			Size      int64  `json:"size"`
			SizeVRAM  int64  `json:"size_vram"`
			ExpiresAt string `json:"expires_at"`
		}
		ps := []psModel{}
		n.mu.Lock()
		for _, m := range n.cfg.Models {
			if gm := n.models[m.Name]; gm.state == "awake" {
				b := int64(m.AwakeMB) << 20
				ps = append(ps, psModel{m.Name, m.Name, b, b, time.Now().Add(time.Hour).Format(time.RFC3339Nano)})
			}
		}
		n.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"models": ps})
	case r.Method == http.MethodGet && r.URL.Path == "/api/tags":
		var tags []map[string]string
		for _, m := range n.cfg.Models {
			tags = append(tags, map[string]string{"name": m.Name, "model": m.Name})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"models": tags})
	case r.Method == http.MethodPost && (r.URL.Path == "/api/generate" || r.URL.Path == "/api/chat" || r.URL.Path == "/v1/chat/completions"):
		openAI := r.URL.Path == "/v1/chat/completions"
		var g genRequest
		if err := json.NewDecoder(r.Body).Decode(&g); err != nil {
			writeErr(w, http.StatusBadRequest, openAI, "invalid JSON body")
			return
		}
		n.mu.Lock()
		m := n.models[g.Model]
		n.mu.Unlock()
		if m == nil {
			writeErr(w, http.StatusNotFound, openAI, fmt.Sprintf("model %q not found, try pulling it first", g.Model))
			return
		}
		if !openAI && g.Prompt == nil && len(g.Messages) == 0 {
			// Load or unload only.
			reason := "load"
			var err error
			if ka := strings.TrimSpace(string(g.KeepAlive)); ka == "0" || ka == `"0"` || ka == `"0s"` {
				reason, err = "unload", n.unload(r.Context(), g.Model)
			} else {
				err = n.load(r.Context(), g.Model)
			}
			if err != nil {
				st, msg := transitionStatus(err)
				writeErr(w, st, false, msg)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"model":%q,"created_at":%q,"response":"","done":true,"done_reason":%q}`, g.Model, time.Now().UTC().Format(time.RFC3339Nano), reason)
			return
		}
		if err := n.load(r.Context(), g.Model); err != nil {
			st, msg := transitionStatus(err)
			writeErr(w, st, openAI, msg)
			return
		}
		if openAI {
			n.serveOpenAI(w, r, m, &g)
			return
		}
		n.serveNative(w, r, m, &g)
	default:
		writeErr(w, http.StatusNotFound, false, "404 page not found")
	}
}

// serveNative answers /api/chat or /api/generate in NDJSON (or one object
// with "stream": false).
func (n *GPUNode) serveNative(w http.ResponseWriter, r *http.Request, m *gpuModel, g *genRequest) {
	prompt, out := g.promptTokens(), g.outputTokens()
	chat := r.URL.Path == "/api/chat"
	piece := func(s string) string {
		if chat {
			return fmt.Sprintf(`"message":{"role":"assistant","content":%q}`, s)
		}
		return fmt.Sprintf(`"response":%q`, s)
	}
	final := func(content string) string {
		return fmt.Sprintf(`{"model":%q,"created_at":%q,%s,"done":true,"done_reason":"length","prompt_eval_count":%d,"eval_count":%d}`,
			m.Name, time.Now().UTC().Format(time.RFC3339Nano), piece(content), prompt, out)
	}
	if g.Stream != nil && !*g.Stream {
		if err := n.generate(r.Context(), m, prompt, out, func(int) error { return nil }); err != nil {
			return
		}
		w.Header().Set("Content-Type", contentOllamaJSON)
		_, _ = w.Write([]byte(final(strings.Repeat("tok ", out))))
		return
	}
	fl, _ := w.(http.Flusher)
	first := true
	err := n.generate(r.Context(), m, prompt, out, func(k int) error {
		if first {
			w.Header().Set("Content-Type", contentNDJSON)
			first = false
		}
		line := fmt.Sprintf(`{"model":%q,"created_at":%q,%s,"done":false}`+"\n", m.Name, time.Now().UTC().Format(time.RFC3339Nano), piece(strings.Repeat("tok ", k)))
		if _, err := w.Write([]byte(line)); err != nil {
			return err
		}
		if fl != nil {
			fl.Flush()
		}
		return nil
	})
	if err == nil {
		_, _ = w.Write([]byte(final("") + "\n"))
	}
}
