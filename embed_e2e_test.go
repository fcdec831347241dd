package logos_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/logos-llm/logos"
	"github.com/logos-llm/logos/providers/builtin"
	"github.com/logos-llm/logos/scheduler/fcfs"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite"
	"github.com/prometheus/client_golang/prometheus"
	openai "github.com/sashabaranov/go-openai"
)

// conceptUpstream is an OpenAI-compatible upstream for the classifier's
// in-process embeddings stage: POST /v1/embeddings answers one vector per
// input in OpenAI's wire format (a tiny "semantic" model: words of poetry
// count on one axis, words of programming on another, anything else a
// little on a third), POST /v1/chat/completions answers a completion
// naming the model it was asked for.
type conceptUpstream struct {
	srv *httptest.Server

	mu         sync.Mutex
	embeddings [][]string // inputs of each embeddings request, in arrival order
	chats      []string   // model of each chat request
	prompts    int        // embeddings requests with one input (a prompt)
	// delay holds every embeddings answer that long (or until the request
	// ends); holdFill holds a request of several inputs (the description
	// fill) until that many prompt requests have arrived.
	delay    time.Duration
	holdFill int
}

var (
	poetryWords = map[string]bool{"sonnet": true, "poem": true, "poems": true, "poetry": true, "verse": true, "lyrics": true, "creative": true, "haiku": true, "rhyme": true}
	codeWords   = map[string]bool{"code": true, "programming": true, "functions": true, "fixes": true, "tests": true, "unit": true, "bug": true, "bugs": true, "python": true, "compile": true}
)

func conceptVector(text string) []float32 {
	v := make([]float32, 3)
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) }) {
		switch {
		case poetryWords[w]:
			v[0]++
		case codeWords[w]:
			v[1]++
		default:
			v[2] += 0.1
		}
	}
	return v
}

func newConceptUpstream(t testing.TB) *conceptUpstream {
	u := &conceptUpstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(func() {
		u.srv.CloseClientConnections()
		u.srv.Close()
	})
	return u
}

func (u *conceptUpstream) serve(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model string          `json:"model"`
		Input json.RawMessage `json:"input"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil {
		http.Error(w, `{"error":{"message":"bad request","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/v1/chat/completions":
		u.mu.Lock()
		u.chats = append(u.chats, req.Model)
		u.mu.Unlock()
		fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1733400000,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"Leaves fall."},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}`, req.Model)
	case "/v1/embeddings":
		var inputs []string
		if json.Unmarshal(req.Input, &inputs) != nil {
			var one string
			if json.Unmarshal(req.Input, &one) != nil {
				http.Error(w, `{"error":{"message":"input must be a string or strings","type":"invalid_request_error"}}`, http.StatusBadRequest)
				return
			}
			inputs = []string{one}
		}
		u.mu.Lock()
		u.embeddings = append(u.embeddings, inputs)
		if len(inputs) == 1 {
			u.prompts++
		}
		delay, hold := u.delay, u.holdFill
		u.mu.Unlock()
		if len(inputs) > 1 && hold > 0 {
			// The description fill waits for every concurrent request's
			// prompt: each of them has joined (or started) the fill
			// before it embeds its prompt.
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) && r.Context().Err() == nil {
				u.mu.Lock()
				n := u.prompts
				u.mu.Unlock()
				if n >= hold {
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		type datum struct {
			Object    string    `json:"object"`
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		out := struct {
			Object string         `json:"object"`
			Data   []datum        `json:"data"`
			Model  string         `json:"model"`
			Usage  map[string]int `json:"usage"`
		}{Object: "list", Model: req.Model, Usage: map[string]int{"prompt_tokens": 4 * len(inputs), "total_tokens": 4 * len(inputs)}}
		for i, in := range inputs {
			out.Data = append(out.Data, datum{Object: "embedding", Index: i, Embedding: conceptVector(in)})
		}
		_ = json.NewEncoder(w).Encode(out)
	default:
		http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`, http.StatusNotFound)
	}
}

func (u *conceptUpstream) counts() (embeddings, descriptionFills, chats int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, in := range u.embeddings {
		if len(in) > 1 {
			descriptionFills++
		}
	}
	return len(u.embeddings), descriptionFills, len(u.chats)
}

// embedEnv is a Router whose classifier's similarity stage is the
// embeddings model "embedder" of its own catalogue, set up over /logosdb/*
// only: two chat models with descriptions and tags, and the embeddings
// model, all on one upstream.
type embedEnv struct {
	st       store.Store
	router   *logos.Router
	base     string
	root     string
	callerID int64
	up       *conceptUpstream
	reg      *prometheus.Registry
}

func newEmbedEnv(t testing.TB, up *conceptUpstream, similarityTimeout time.Duration, opts ...func(*logos.Config)) *embedEnv {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "logos.db"), Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	sched, err := fcfs.New(fcfs.Config{Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	cfg := logos.Config{Store: st, Providers: builtin.Registry(), Scheduler: sched, Logger: quietLog,
		UsageFlushInterval: 5 * time.Millisecond, ClassifierEmbeddingsModel: "embedder", Registerer: prometheus.NewRegistry()}
	cfg.ClassifierConfig.SimilarityTimeout = similarityTimeout
	for _, o := range opts {
		o(&cfg)
	}
	r, err := logos.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Close(ctx)
		_ = sched.Close()
	})
	e := &embedEnv{st: st, router: r, base: srv.URL, up: up, reg: cfg.Registerer.(*prometheus.Registry)}
	db := srv.URL + "/logosdb/"
	out := adminPost(t, db+"setup", "", map[string]any{"base_url": up.srv.URL + "/v1", "provider_name": "gpu", "provider_type": "openai"})
	e.root = out["logos-key"].(string)
	prov, profile := adminNum(t, out, "provider-id"), adminNum(t, out, "profile-id")
	e.callerID = adminNum(t, out, "process-id")
	// coder ranks above bard in accuracy and quality, below in latency: the
	// policy stage prefers coder a little, by less than the similarity
	// stage's weight, so the similarity stage decides.
	ids := map[string]int64{}
	for _, m := range []struct {
		name, tags, desc string
		worse            map[string]any
		caller           bool
	}{
		{"bard", "poetry creative", "Creative writing: poems, lyrics and verse.", nil, true},
		{"coder", "code programming", "Write code: write functions, write fixes, write unit tests.", map[string]any{"worse_accuracy": "bard", "worse_quality": "bard"}, true},
		{"embedder", "embeddings", "Text embeddings.", nil, false},
	} {
		body := map[string]any{"name": m.name, "weight_privacy": "LOCAL", "tags": m.tags, "description": m.desc, "parallel": 32}
		for k, v := range m.worse {
			body[k] = ids[v.(string)]
		}
		out := adminPost(t, db+"add_full_model", e.root, body)
		id := adminNum(t, out, "model_id")
		ids[m.name] = id
		adminPost(t, db+"connect_model_provider", e.root, map[string]any{"model_id": id, "provider_id": prov})
		if m.caller {
			adminPost(t, db+"connect_profile_model", e.root, map[string]any{"profile_id": profile, "model_id": id})
		}
	}
	return e
}

// adminPost posts an admin request that must succeed.
func adminPost(t testing.TB, url, key string, body map[string]any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST %s %v: %d %v %v", url, body, resp.StatusCode, out, err)
	}
	return out
}

func adminNum(t testing.TB, m map[string]any, k string) int64 {
	t.Helper()
	v, ok := m[k].(float64)
	if !ok {
		t.Fatalf("answer %v has no number %q", m, k)
	}
	return int64(v)
}

// systemProcess returns the system process the Router created.
func (e *embedEnv) systemProcess(t *testing.T) store.Process {
	t.Helper()
	p, err := e.st.GetProcessByName(t.Context(), logos.SystemProcessName)
	if err != nil {
		t.Fatalf("no system process: %v", err)
	}
	return p
}

// usage returns the stored records of a process after every request ended.
func (e *embedEnv) usage(t *testing.T, processID int64) []store.UsageRecord {
	t.Helper()
	if err := e.router.FlushUsage(t.Context()); err != nil {
		t.Fatal(err)
	}
	recs, err := e.st.ListUsage(t.Context(), store.UsageFilter{ProcessID: processID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// sonnet is a prompt the lexical stage gives to coder ("write") and the
// embeddings stage to bard (poetry).
const sonnet = `{"messages":[{"role":"user","content":"Write a sonnet about autumn."}]}`

// TestClassifierEmbeddingsThroughCatalogue: a request without a model is
// classified by the embeddings stage, whose calls go through the Router in
// process, as the system process, to the catalogue's embeddings model.
func TestClassifierEmbeddingsThroughCatalogue(t *testing.T) {
	up := newConceptUpstream(t)
	e := newEmbedEnv(t, up, 5*time.Second)
	sys := e.systemProcess(t)
	if sys.ServiceID == 0 || sys.UserID != 0 || sys.KeyPrefix != "" || !sys.RevokedAt.IsZero() {
		t.Fatalf("system process %+v: want a service's active process showing no key", sys)
	}

	s, h, b := postRaw(t, e.base+"/v1/chat/completions", e.root, sonnet)
	if s != 200 || h.Get("X-Logos-Model") != "bard" {
		t.Fatalf("%d model %q: %s", s, h.Get("X-Logos-Model"), b)
	}
	emb, fills, chats := up.counts()
	if emb != 2 || fills != 1 || chats != 1 {
		t.Fatalf("upstream saw %d embeddings requests (%d description fills) and %d chats; want 2, 1, 1", emb, fills, chats)
	}
	// The second request finds the descriptions cached: one call, its prompt.
	if s, h, b = postRaw(t, e.base+"/v1/chat/completions", e.root, sonnet); s != 200 || h.Get("X-Logos-Model") != "bard" {
		t.Fatalf("%d model %q: %s", s, h.Get("X-Logos-Model"), b)
	}
	if emb, fills, chats = up.counts(); emb != 3 || fills != 1 || chats != 2 {
		t.Fatalf("after a second request: %d embeddings requests (%d fills), %d chats; want 3, 1, 2", emb, fills, chats)
	}

	sysRecs := e.usage(t, sys.ID)
	if len(sysRecs) != emb {
		t.Fatalf("%d usage records of the system process for %d embeddings requests", len(sysRecs), emb)
	}
	for _, rec := range sysRecs {
		if rec.Operation != "embeddings" || rec.ModelName != "embedder" || rec.StatusCode != 200 || rec.ClassifiedBy != "" || len(rec.Classification) != 0 {
			t.Fatalf("system record %+v: want a 200 embeddings request to embedder, not classified", rec)
		}
	}
	callerRecs := e.usage(t, e.callerID)
	var classified int
	for _, rec := range callerRecs {
		if rec.Operation == "embeddings" {
			t.Fatalf("an embeddings call was recorded under the caller: %+v", rec)
		}
		if rec.Operation == "chat/completions" {
			classified++
			if rec.ModelName != "bard" || rec.ClassifiedBy != "similarity" || !strings.Contains(string(rec.Classification), `"similarity":"embeddings"`) {
				t.Fatalf("caller record: model %q decided by %q; want bard by similarity (%s)", rec.ModelName, rec.ClassifiedBy, rec.Classification)
			}
		}
	}
	if classified != 2 {
		t.Fatalf("%d chat records of the caller; want 2", classified)
	}

	t.Run("latest_requests and the CSV export show both processes", func(t *testing.T) {
		db := e.base + "/logosdb/"
		for _, tc := range []struct {
			process         int64
			model, operated string
			classifiedBy    string
			n               int
		}{
			{e.callerID, "bard", "chat/completions", "similarity", 2},
			{sys.ID, "embedder", "embeddings", "", emb},
		} {
			out := must(t, db+"latest_requests", e.root, map[string]any{"process_id": tc.process})
			reqs, _ := out["requests"].([]any)
			if len(reqs) != tc.n {
				t.Fatalf("process %d: %d latest requests, want %d: %v", tc.process, len(reqs), tc.n, out)
			}
			for _, r := range reqs {
				m := r.(map[string]any)
				if m["model_name"] != tc.model || m["classified_by"] != tc.classifiedBy {
					t.Fatalf("process %d: latest request %v", tc.process, m)
				}
				if us, _ := m["classification_us"].(float64); (tc.classifiedBy != "") != (us > 0) {
					t.Fatalf("process %d: classification_us %v", tc.process, m["classification_us"])
				}
				// The classification with its candidates and per-stage scores.
				if c, _ := m["classification"].(map[string]any); (tc.classifiedBy != "") != (len(c) > 0) {
					t.Fatalf("process %d: classification %v", tc.process, m["classification"])
				}
			}
			req, _ := http.NewRequest("GET", fmt.Sprintf("%susage_csv?process_id=%d", db, tc.process), nil)
			req.Header.Set("Authorization", "Bearer "+e.root)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := csv.NewReader(resp.Body).ReadAll()
			resp.Body.Close()
			if err != nil || len(rows) != tc.n+1 {
				t.Fatalf("process %d: CSV %v %v", tc.process, rows, err)
			}
			col := map[string]int{}
			for i, h := range rows[0] {
				col[h] = i
			}
			for _, row := range rows[1:] {
				if row[col["operation"]] != tc.operated || row[col["classified_by"]] != tc.classifiedBy || row[col["process_id"]] != fmt.Sprint(tc.process) {
					t.Fatalf("process %d: CSV row %v", tc.process, row)
				}
			}
		}
	})
	t.Run("the system process cannot be called with a key", func(t *testing.T) {
		// Its key was discarded: the only way in is by id, in process.
		for _, key := range []string{"", logos.SystemProcessName, "lg-" + logos.SystemProcessName} {
			if s, _, _ := postRaw(t, e.base+"/v1/embeddings", key, `{"model":"embedder","input":"x"}`); s != http.StatusUnauthorized {
				t.Fatalf("key %q: %d, want 401", key, s)
			}
		}
	})
}

// TestClassifierEmbeddingsConcurrentFillOnce: concurrent requests that miss
// the same descriptions fill them with one embeddings call through the
// Router.
func TestClassifierEmbeddingsConcurrentFillOnce(t *testing.T) {
	const n = 8
	up := newConceptUpstream(t)
	up.holdFill = n
	e := newEmbedEnv(t, up, 10*time.Second)
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", e.base+"/v1/chat/completions", strings.NewReader(sonnet))
			req.Header.Set("Authorization", "Bearer "+e.root)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("X-Logos-Model") != "bard" {
				errs <- fmt.Sprintf("%d %q", resp.StatusCode, resp.Header.Get("X-Logos-Model"))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	emb, fills, chats := up.counts()
	if fills != 1 || emb != n+1 || chats != n {
		t.Fatalf("%d embeddings requests (%d description fills), %d chats; want %d, 1, %d", emb, fills, chats, n+1, n)
	}
	if recs := e.usage(t, e.systemProcess(t).ID); len(recs) != emb {
		t.Fatalf("%d system records for %d embeddings requests", len(recs), emb)
	}
}

// TestClassifierEmbeddingsDeadlineFallsBackToLexical: an embeddings
// deployment slower than the similarity deadline leaves the choice to the
// lexical stage, counted in the fallback metric; the requests it was sent
// still leave their records.
func TestClassifierEmbeddingsDeadlineFallsBackToLexical(t *testing.T) {
	up := newConceptUpstream(t)
	up.delay = 2 * time.Second
	e := newEmbedEnv(t, up, 100*time.Millisecond)
	start := time.Now()
	s, h, b := postRaw(t, e.base+"/v1/chat/completions", e.root, sonnet)
	if s != 200 || h.Get("X-Logos-Model") != "coder" {
		t.Fatalf("%d model %q: %s; want the lexical stage's choice, coder", s, h.Get("X-Logos-Model"), b)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("the request waited %v for the slow embeddings", d)
	}
	if n := counterValue(t, e.reg, "logos_classifier_similarity_fallbacks_total"); n != 1 {
		t.Fatalf("fallbacks counted %v, want 1", n)
	}
	callerRecs := e.usage(t, e.callerID)
	if len(callerRecs) != 1 || !strings.Contains(string(callerRecs[0].Classification), `"similarity":"lexical_fallback"`) {
		t.Fatalf("caller records %+v: want one, classified by the lexical fallback", callerRecs)
	}
	// The prompt's request was cancelled at the deadline, the description
	// fill ran on: each leaves exactly one record of the system process.
	recs := e.usage(t, e.systemProcess(t).ID)
	emb, _, _ := up.counts()
	if len(recs) != emb || emb == 0 {
		t.Fatalf("%d system records for %d embeddings requests", len(recs), emb)
	}
}

// counterValue returns the value of a gathered counter without labels.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// BenchmarkClassifierEmbeddingsInProcess: what classifying a request with
// the embeddings stage through the catalogue costs (descriptions cached:
// one in-process embeddings request to the loopback upstream), against
// the same request naming its model. Requests are sent with the
// in-process client.
func BenchmarkClassifierEmbeddingsInProcess(b *testing.B) {
	up := newConceptUpstream(b)
	e := newEmbedEnv(b, up, 5*time.Second)
	c := e.router.Client(e.root)
	msgs := []openai.ChatCompletionMessage{{Role: "user", Content: "Write a sonnet about autumn."}}
	if _, err := c.CreateChatCompletion(b.Context(), openai.ChatCompletionRequest{Messages: msgs}); err != nil {
		b.Fatal(err) // fills the description cache
	}
	for _, bc := range []struct{ name, model string }{{"named", "bard"}, {"classified", ""}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.CreateChatCompletion(b.Context(), openai.ChatCompletionRequest{Model: bc.model, Messages: msgs}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestClassifiedJobMarksItsOwnRequest: a job without a model is classified
// when it runs, and the classifier's embeddings request is made under the
// job's context. Only the job's own request may mark the job as sent
// upstream: the job's stored request id is its chat record's, not an
// embeddings call's.
func TestClassifiedJobMarksItsOwnRequest(t *testing.T) {
	up := newConceptUpstream(t)
	var marks markCounter
	e := newEmbedEnv(t, up, 5*time.Second, func(c *logos.Config) {
		marks.Store = c.Store.(*sqlite.Store)
		c.Store = &marks
	})
	req, _ := http.NewRequest("POST", e.base+"/jobs/v1/chat/completions", strings.NewReader(sonnet))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.root)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var sub struct {
		JobID int64 `json:"job_id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&sub)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d %v", resp.StatusCode, err)
	}
	var job store.Job
	deadline := time.Now().Add(20 * time.Second)
	for {
		job, err = e.st.GetJob(t.Context(), sub.JobID)
		if err != nil {
			t.Fatal(err)
		}
		if job.Status == store.JobSucceeded || job.Status == store.JobFailed || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if job.Status != store.JobSucceeded {
		t.Fatalf("job %d ended %q", job.ID, job.Status)
	}
	var own string
	for _, r := range e.usage(t, e.callerID) {
		if r.ClientRequestID == fmt.Sprintf("job-%d", job.ID) {
			own = r.RequestID
		}
	}
	if own == "" || job.RequestID != own {
		t.Fatalf("job's request id %q, want its chat record's %q", job.RequestID, own)
	}
	if emb, _, _ := up.counts(); emb == 0 {
		t.Fatalf("no embeddings call: the job was not classified by the embeddings stage")
	}
	if got := marks.marked(); !slices.Equal(got, []string{own}) {
		t.Fatalf("the job was marked sent upstream for requests %q, want only its own %q", got, own)
	}
}

// markCounter is a SQLite store that notes the request ids jobs are marked
// sent upstream with.
type markCounter struct {
	*sqlite.Store
	mu  sync.Mutex
	ids []string
}

func (m *markCounter) MarkJobUpstream(ctx context.Context, id int64, owner, requestID string) (store.Job, error) {
	m.mu.Lock()
	m.ids = append(m.ids, requestID)
	m.mu.Unlock()
	return m.Store.MarkJobUpstream(ctx, id, owner, requestID)
}

func (m *markCounter) marked() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.ids)
}
