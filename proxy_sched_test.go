package logos_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logos-llm/logos/providers/providertest"
	"github.com/logos-llm/logos/store"
)

// TestCapacityPriorityAndQueueTimeout: a deployment with capacity 1 runs one
// request at a time; waiting requests are served by priority; a request whose
// queue timeout passes gets 503 and a timeout record.
func TestCapacityPriorityAndQueueTimeout(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var order []string
	up := providertest.NewOpenAI(t, providertest.Options{HeaderDelay: 500 * time.Millisecond})
	e.deploy("m", up.Target(), func(p *store.Provider, d *store.Deployment) { d.ParallelCapacity = 1 })

	send := func(name, priority string, wg *sync.WaitGroup) {
		defer wg.Done()
		s, _, b := e.do("POST", "/v1/chat/completions", `{"model":"m","user":"`+name+`","messages":[]}`, "Logos-Priority", priority)
		if s != 200 {
			t.Errorf("%s: %d %s", name, s, b)
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go send("first", "low", &wg)
	e.waitFor("the first request upstream", func() bool { return len(up.Requests()) == 1 })
	wg.Add(2)
	go send("low", "low", &wg)
	e.waitFor("one queued request", func() bool { return e.sched.QueueDepth() == 1 })
	go send("high", "high", &wg)
	e.waitFor("two queued requests", func() bool { return e.sched.QueueDepth() == 2 })
	if s, _, b := e.do("GET", "/logosdb/scheduler_state", ""); s != 200 || !strings.Contains(string(b), `"queue_total":2`) || !strings.Contains(string(b), `"active":1`) {
		t.Fatalf("scheduler_state while two wait: %d %s", s, b)
	}
	// This one gives up before a slot frees.
	s, hdr, b := e.do("POST", "/v1/chat/completions", chatBody, "Logos-Queue-Timeout", "0.1")
	_, _, code := errorBody(t, b)
	if s != 503 || code != "queue_timeout" || hdr.Get("Retry-After") == "" {
		t.Fatalf("queue timeout: %d %v %q", s, code, hdr.Get("Retry-After"))
	}
	wg.Wait()

	for _, r := range up.Requests() {
		var body struct {
			User string `json:"user"`
		}
		_ = json.Unmarshal(r.Body, &body)
		mu.Lock()
		order = append(order, body.User)
		mu.Unlock()
	}
	if strings.Join(order, ",") != "first,high,low" {
		t.Fatalf("upstream order %v, want first,high,low", order)
	}
	recs := e.usage()
	var timeouts, queued int
	for _, r := range recs {
		if r.Outcome == store.OutcomeTimeout && r.StatusCode == 503 {
			timeouts++
		}
		if r.QueueWait > 0 && r.Outcome == store.OutcomeSuccess {
			queued++
		}
		if r.Outcome == store.OutcomeSuccess && r.ModelName == "m" && r.Priority == 0 {
			t.Fatalf("priority not recorded: %+v", r)
		}
	}
	if len(recs) != 4 || timeouts != 1 || queued != 2 {
		t.Fatalf("%d records, %d timeouts, %d queued; want 4, 1, 2", len(recs), timeouts, queued)
	}
}

// TestUpstreamBreaksMidStream: bytes already sent cannot become an error
// status, so the SSE stream ends with an error event and [DONE].
func TestUpstreamBreaksMidStream(t *testing.T) {
	e := newEnv(t)
	up := providertest.NewOpenAI(t, providertest.Options{AbortAfter: 3})
	e.deploy("m", up.Target(), nil)
	s, _, b := e.do("POST", "/v1/chat/completions", streamBody)
	if s != 200 {
		t.Fatalf("status %d", s)
	}
	events := bytes.Split(bytes.TrimSpace(b), []byte("\n\n"))
	if len(events) != 5 {
		t.Fatalf("%d events, want 3 relayed + error + [DONE]: %q", len(events), b)
	}
	mustContain(t, events[3], `"error"`)
	if string(events[4]) != "data: [DONE]" {
		t.Fatalf("last event %q", events[4])
	}
	if r := e.lastUsage(); r.Outcome != store.OutcomeError || r.ErrorMessage == "" {
		t.Fatalf("record %+v", r)
	}
}

// TestModelIDsWithSlashesAndColons: /v1/models/{id} takes ids containing '/'
// and ':', and only permitted models are visible.
func TestModelIDsWithSlashesAndColons(t *testing.T) {
	e := newEnv(t)
	up := providertest.NewOllama(t, providertest.Options{})
	e.deploy("meta-llama/Llama-3.1-8B-Instruct:q4_K_M", up.Target(), nil)
	s, _, b := e.do("GET", "/v1/models/meta-llama/Llama-3.1-8B-Instruct:q4_K_M", "")
	if s != 200 {
		t.Fatalf("%d %s", s, b)
	}
	mustContain(t, b, `"id":"meta-llama/Llama-3.1-8B-Instruct:q4_K_M"`)
	if s, _, _ := e.do("GET", "/openai/models/meta-llama/Llama-3.1-8B-Instruct:q4_K_M", ""); s != 200 {
		t.Fatalf("alias: %d", s)
	}

	// A model that exists but is not permitted is as invisible as one that
	// does not exist.
	ctx := t.Context()
	if _, err := e.store.CreateModel(ctx, store.Model{Name: "secret-model"}); err != nil {
		t.Fatal(err)
	}
	e.reload()
	for _, id := range []string{"secret-model", "nope"} {
		s, _, b := e.do("GET", "/v1/models/"+id, "")
		if s != 404 {
			t.Fatalf("%s: %d", id, s)
		}
		errorBody(t, b)
	}
	_, _, b = e.do("GET", "/v1/models", "")
	if bytes.Contains(b, []byte("secret-model")) {
		t.Fatalf("unpermitted model listed: %s", b)
	}
	if s, _, _ := e.do("POST", "/v1/chat/completions", `{"model":"secret-model","messages":[]}`); s != http.StatusNotFound {
		t.Fatalf("unpermitted model callable: %d", s)
	}
}

// TestUsageRecordsArePriced: the cost is computed with the prices valid when
// the request arrived and stored with the record; total_tokens is not charged.
func TestUsageRecordsArePriced(t *testing.T) {
	e := newEnv(t)
	up := providertest.NewOpenAI(t, providertest.Options{})
	m, _ := e.deploy("m", up.Target(), nil)
	ctx := t.Context()
	for name, micros := range map[string]int64{"prompt_tokens": 2_500_000, "completion_tokens": 10_000_000, "total_tokens": 99_000_000} {
		tt, err := e.store.EnsureTokenType(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.CreatePrice(ctx, store.Price{TokenTypeID: tt.ID, ModelID: m.ID, ValidFrom: time.Now().Add(-time.Hour), MicrosPerMillion: micros, Currency: "EUR"}); err != nil {
			t.Fatal(err)
		}
	}
	e.reload()
	if s, _, b := e.do("POST", "/v1/chat/completions", chatBody); s != 200 {
		t.Fatalf("%d %s", s, b)
	}
	r := e.lastUsage()
	tok := tokens(r)
	want := (tok["prompt_tokens"]*2_500_000 + tok["completion_tokens"]*10_000_000 + 500_000) / 1_000_000
	if tok["prompt_tokens"] == 0 || r.Currency != "EUR" || r.CostMicros == 0 || r.CostMicros > want+1 || r.CostMicros < want-1 {
		t.Fatalf("cost %d %s for tokens %v, want about %d EUR micros", r.CostMicros, r.Currency, tok, want)
	}
}

// TestCostInResponses: with Logos-Include-Cost the usage object of a JSON
// answer and the final usage event of a stream carry usage.cost and
// usage.cost_currency; the stream's framing is untouched.
func TestCostInResponses(t *testing.T) {
	e := newEnv(t)
	up := providertest.NewOpenAI(t, providertest.Options{})
	m, _ := e.deploy("m", up.Target(), nil)
	e.priceCompletionTokens(t, m.ID)
	e.reload()

	s, hdr, b := e.do("POST", "/v1/chat/completions", chatBody, "Logos-Include-Cost", "true")
	var resp struct {
		Usage struct {
			CompletionTokens int     `json:"completion_tokens"`
			Cost             float64 `json:"cost"`
			Currency         string  `json:"cost_currency"`
		} `json:"usage"`
	}
	if s != 200 || json.Unmarshal(b, &resp) != nil || resp.Usage.Currency != "EUR" || resp.Usage.Cost != float64(resp.Usage.CompletionTokens)/1000 {
		t.Fatalf("JSON answer with cost: %d %s", s, b)
	}
	if n, _ := strconv.Atoi(hdr.Get("Content-Length")); n != 0 && n != len(b) {
		t.Fatalf("stale Content-Length %d for a %d-byte body", n, len(b))
	}
	if s, _, b := e.do("POST", "/v1/chat/completions", chatBody); s != 200 || bytes.Contains(b, []byte(`"cost"`)) {
		t.Fatalf("cost added without being asked for: %s", b)
	}

	s, _, b = e.do("POST", "/v1/chat/completions", `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[]}`, "Logos-Include-Cost", "true")
	events := bytes.Split(bytes.TrimSpace(b), []byte("\n\n"))
	last := events[len(events)-2] // before [DONE]
	if s != 200 || !bytes.Contains(last, []byte(`"cost_currency":"EUR"`)) || !bytes.HasPrefix(last, []byte("data: ")) {
		t.Fatalf("final usage event %q", last)
	}
	for _, ev := range events[:len(events)-2] {
		if bytes.Contains(ev, []byte(`"cost"`)) {
			t.Fatalf("cost in a non-usage event %q", ev)
		}
	}
}
