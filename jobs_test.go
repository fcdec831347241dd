package logos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logos-llm/logos"
	"github.com/logos-llm/logos/internal/apikey"
	"github.com/logos-llm/logos/providers/builtin"
	"github.com/logos-llm/logos/providers/providertest"
	"github.com/logos-llm/logos/scheduler/fcfs"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres"
	"github.com/logos-llm/logos/store/postgres/pgtest"
)

// onStores runs fn with an env option for each store: SQLite, and
// PostgreSQL when LOGOS_TEST_POSTGRES_URL is set.
func onStores(t *testing.T, fn func(t *testing.T, opt envOption)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, func(*logos.Config) {}) })
	t.Run("postgres", func(t *testing.T) {
		st := openPostgres(t, pgtest.NewMigratedDatabase(t))
		fn(t, func(c *logos.Config) { c.Store = st })
	})
}

func openPostgres(t *testing.T, url string) *postgres.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), postgres.Config{URL: url, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

type jobView struct {
	JobID      int64           `json:"job_id"`
	Status     string          `json:"status"`
	StatusCode *int            `json:"status_code"`
	Result     json.RawMessage `json:"result"`
	Error      *string         `json:"error"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
	ProfileID  int64           `json:"profile_id"`
}

// submit posts a job and returns its id, failing unless it got 202.
func (e *env) submit(path, body string, hdr ...string) int64 {
	e.t.Helper()
	status, h, b := e.do(http.MethodPost, path, body, hdr...)
	if status != http.StatusAccepted {
		e.t.Fatalf("POST %s = %d %s, want 202", path, status, b)
	}
	var out struct {
		JobID     int64  `json:"job_id"`
		StatusURL string `json:"status_url"`
		ProfileID int64  `json:"profile_id"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		e.t.Fatal(err)
	}
	want := fmt.Sprintf("%s/jobs/%d", e.srv.URL, out.JobID)
	if out.JobID <= 0 || out.StatusURL != want || h.Get("Location") != want || out.ProfileID != e.profileID {
		e.t.Fatalf("202 body %s, Location %q; want job_id, status_url and Location %s, profile_id %d", b, h.Get("Location"), want, e.profileID)
	}
	return out.JobID
}

// job returns GET /jobs/{id}, failing unless it got 200.
func (e *env) job(id int64, hdr ...string) jobView {
	e.t.Helper()
	status, _, b := e.do(http.MethodGet, fmt.Sprintf("/jobs/%d", id), "", hdr...)
	if status != http.StatusOK {
		e.t.Fatalf("GET /jobs/%d = %d %s", id, status, b)
	}
	var v jobView
	if err := json.Unmarshal(b, &v); err != nil {
		e.t.Fatal(err)
	}
	return v
}

// await polls a job until it has finished.
func (e *env) await(id int64) jobView {
	e.t.Helper()
	var v jobView
	e.waitFor(fmt.Sprintf("job %d to finish", id), func() bool {
		v = e.job(id)
		return v.Status == "succeeded" || v.Status == "failed" || v.Status == "cancelled"
	})
	return v
}

// jobUsage returns the usage records of a job.
func (e *env) jobUsage(id int64) []store.UsageRecord {
	e.t.Helper()
	var out []store.UsageRecord
	for _, r := range e.usage() {
		if r.ClientRequestID == fmt.Sprintf("job-%d", id) {
			out = append(out, r)
		}
	}
	return out
}

// newKey creates a user with a process, key and profile that may use model.
func (e *env) newKey(name string, modelIDs ...int64) (key string, processID, profileID int64) {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.store.CreateUser(ctx, store.User{Username: name, Role: store.RoleUser})
	if err != nil {
		e.t.Fatal(err)
	}
	key = apikey.Generate(name)
	p, err := e.store.CreateProcess(ctx, store.Process{Name: name, UserID: u.ID, KeyHash: apikey.Hash(key), KeyPrefix: apikey.Prefix(key)})
	if err != nil {
		e.t.Fatal(err)
	}
	prof, err := e.store.CreateProfile(ctx, store.Profile{Name: name, ProcessID: p.ID})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, m := range modelIDs {
		if err := e.store.GrantModel(ctx, prof.ID, m); err != nil {
			e.t.Fatal(err)
		}
	}
	e.reload()
	return key, p.ID, prof.ID
}

func (e *env) jobCount() int {
	e.t.Helper()
	q := e.store.(store.JobQueue)
	js, err := q.ListJobs(context.Background(), store.JobFilter{Limit: 10000})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(js)
}

// TestJobsSubmitPollResult submits chat, embeddings and Responses API jobs,
// polls them and checks the results, the upstream requests and the one usage
// record of each job.
func TestJobsSubmitPollResult(t *testing.T) {
	onStores(t, func(t *testing.T, opt envOption) {
		e := newEnv(t, opt)
		up := providertest.NewOpenAI(t, providertest.Options{Credential: "sk-upstream-secret"})
		e.deploy("team-model", up.Target(), nil)

		chat := e.submit("/jobs/v1/chat/completions", `{"model":"team-model","messages":[{"role":"user","content":"Hi"}],"stream":true,"stream_options":{"include_usage":true},"x_unknown":{"kept":1}}`)
		emb := e.submit("/jobs/openai/embeddings", `{"model":"team-model","input":["hello"]}`, "Logos-Priority", "low")
		resp := e.submit("/jobs/v1/responses", `{"model":"team-model","input":"Hi"}`)

		cases := []struct {
			id     int64
			op     string
			member string
		}{{chat, "chat/completions", "choices"}, {emb, "embeddings", "data"}, {resp, "responses", "output"}}
		for _, c := range cases {
			v := e.await(c.id)
			if v.Status != "succeeded" || v.StatusCode == nil || *v.StatusCode != 200 || v.Error != nil || v.ProfileID != e.profileID {
				t.Fatalf("%s job = %+v, want succeeded 200", c.op, v)
			}
			var result map[string]json.RawMessage
			if err := json.Unmarshal(v.Result, &result); err != nil || len(result[c.member]) == 0 {
				t.Errorf("%s job result %s lacks %q", c.op, v.Result, c.member)
			}
			recs := e.jobUsage(c.id)
			if len(recs) != 1 {
				t.Fatalf("%s job left %d usage records, want 1", c.op, len(recs))
			}
			rec := recs[0]
			if rec.Outcome != store.OutcomeSuccess || rec.StatusCode != 200 || rec.Operation != c.op || rec.ProcessID != e.processID || rec.ProfileID != e.profileID || rec.Stream {
				t.Errorf("%s job usage record = %+v", c.op, rec)
			}
			stored, err := e.store.GetJob(context.Background(), c.id)
			if err != nil || stored.RequestID != rec.RequestID {
				t.Errorf("%s job request id %q, usage record %q (%v)", c.op, stored.RequestID, rec.RequestID, err)
			}
			if bytes.Contains(bytes.ToLower(stored.RequestPayload), []byte(strings.ToLower(e.key))) || bytes.Contains(bytes.ToLower(stored.RequestPayload), []byte("authorization")) {
				t.Errorf("%s job stored a credential: %s", c.op, stored.RequestPayload)
			}
		}
		if rec := e.jobUsage(emb)[0]; rec.Priority != 1 {
			t.Errorf("low-priority job ran at priority %d", rec.Priority)
		}

		// The chat job went upstream with stream off, other fields intact.
		reqs := up.Requests()
		if len(reqs) != 3 {
			t.Fatalf("upstream got %d requests, want 3", len(reqs))
		}
		var chatBody map[string]json.RawMessage
		for _, r := range reqs {
			if strings.HasSuffix(r.Path, "/chat/completions") {
				_ = json.Unmarshal(r.Body, &chatBody)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer sk-upstream-secret" {
				t.Errorf("upstream credential %q", got)
			}
		}
		if string(chatBody["stream"]) != "false" || chatBody["stream_options"] != nil || string(chatBody["x_unknown"]) != `{"kept":1}` {
			t.Errorf("upstream chat body = %s", mapString(chatBody))
		}

		// Listing, newest first, paginated.
		status, _, b := e.do(http.MethodGet, "/jobs?limit=2", "")
		var list struct {
			Data       []jobView `json:"data"`
			HasMore    bool      `json:"has_more"`
			NextBefore int64     `json:"next_before"`
		}
		if err := json.Unmarshal(b, &list); status != 200 || err != nil || len(list.Data) != 2 || list.Data[0].JobID != resp || list.Data[1].JobID != emb || !list.HasMore {
			t.Fatalf("GET /jobs?limit=2 = %d %s", status, b)
		}
		status, _, b = e.do(http.MethodGet, fmt.Sprintf("/jobs?limit=2&before=%d&status=succeeded", list.NextBefore), "")
		list.Data, list.HasMore = nil, false
		if err := json.Unmarshal(b, &list); status != 200 || err != nil || len(list.Data) != 1 || list.Data[0].JobID != chat || list.HasMore {
			t.Fatalf("GET /jobs page 2 = %d %s", status, b)
		}
		if status, _, b := e.do(http.MethodGet, "/jobs?status=done", ""); status != 400 {
			t.Errorf("GET /jobs?status=done = %d %s, want 400", status, b)
		}
	})
}

func mapString(m map[string]json.RawMessage) string {
	b, _ := json.Marshal(m)
	return string(b)
}

// TestJobsRefusedLikeSync refuses bad submissions with the synchronous
// path's status, before anything is stored.
func TestJobsRefusedLikeSync(t *testing.T) {
	e := newEnv(t)
	up := providertest.NewOpenAI(t, providertest.Options{})
	e.deploy("team-model", up.Target(), nil)
	cases := []struct {
		name, body string
		hdr        []string
		status     int
	}{
		{"no key", `{"model":"team-model","messages":[]}`, []string{"Authorization", ""}, 401},
		{"bad key", `{"model":"team-model","messages":[]}`, []string{"Authorization", "Bearer lg-nope"}, 401},
		{"not JSON", `{"model":`, nil, 400},
		{"not an object", `[1]`, nil, 400},
		{"bad model string", `{"model":"logos-v1__bogus=1","messages":[]}`, nil, 400},
		{"unknown policy", `{"messages":[]}`, []string{"policy", "999"}, 404},
		{"unknown model", `{"model":"nope","messages":[]}`, nil, 404},
		{"bad profile", `{"model":"team-model","messages":[]}`, []string{"use-profile", "x"}, 400},
		{"bad queue timeout", `{"model":"team-model","messages":[],"timeout_s":-1}`, nil, 400},
		{"wrong content type", `{"model":"team-model"}`, []string{"Content-Type", "text/html"}, 415},
	}
	for _, c := range cases {
		for _, path := range []string{"/v1/chat/completions", "/jobs/v1/chat/completions"} {
			status, _, b := e.do(http.MethodPost, path, c.body, c.hdr...)
			if status != c.status {
				t.Errorf("%s: POST %s = %d %s, want %d", c.name, path, status, b, c.status)
			}
			var env struct {
				Error struct {
					Message string `json:"message"`
					Type    string `json:"type"`
				} `json:"error"`
			}
			if json.Unmarshal(b, &env) != nil || env.Error.Message == "" {
				t.Errorf("%s: %s answered %s, want an OpenAI-format error", c.name, path, b)
			}
		}
	}
	// An operation the synchronous path does not forward.
	for _, path := range []string{"/v1/fine_tuning/jobs", "/jobs/v1/fine_tuning/jobs"} {
		if status, _, b := e.do(http.MethodPost, path, `{"model":"team-model"}`); status != 404 {
			t.Errorf("POST %s = %d %s, want 404", path, status, b)
		}
	}
	if status, _, _ := e.do(http.MethodGet, "/jobs/v1/chat/completions", ""); status != 405 {
		t.Errorf("GET /jobs/v1/chat/completions = %d, want 405", status)
	}
	if n := e.jobCount(); n != 0 {
		t.Errorf("%d jobs stored after refused submissions", n)
	}
	if len(up.Requests()) != 0 {
		t.Errorf("refused submissions reached the upstream")
	}
}

// TestJobsUpstreamErrorFails stores an upstream 500 as a failed job with
// that status and an OpenAI-format error body.
func TestJobsUpstreamErrorFails(t *testing.T) {
	onStores(t, func(t *testing.T, opt envOption) {
		e := newEnv(t, opt)
		up := providertest.NewOpenAI(t, providertest.Options{Status: 500})
		e.deploy("team-model", up.Target(), nil)
		id := e.submit("/jobs/v1/chat/completions", `{"model":"team-model","messages":[{"role":"user","content":"Hi"}]}`)
		v := e.await(id)
		if v.Status != "failed" || v.StatusCode == nil || *v.StatusCode != 500 || v.Error == nil || *v.Error == "" {
			t.Fatalf("job = %+v, want failed 500 with an error", v)
		}
		var body struct {
			Error struct {
				Message string `json:"message"`
				Type    string `json:"type"`
			} `json:"error"`
		}
		if err := json.Unmarshal(v.Result, &body); err != nil || body.Error.Message == "" || body.Error.Type == "" {
			t.Errorf("failed job result %s, want an OpenAI-format error", v.Result)
		}
		recs := e.jobUsage(id)
		if len(recs) != 1 || recs[0].Outcome != store.OutcomeError || recs[0].StatusCode != 500 {
			t.Errorf("usage records of the failed job = %+v", recs)
		}
		if n := len(up.Requests()); n != 1 {
			t.Errorf("upstream got %d requests, want 1 (no retry)", n)
		}
	})
}

// TestJobsAccess: another process gets 403, the wrong profile gets 403
// naming use-profile, an admin reads every job, unknown ids get 404.
func TestJobsAccess(t *testing.T) {
	onStores(t, func(t *testing.T, opt envOption) {
		e := newEnv(t, opt)
		up := providertest.NewOpenAI(t, providertest.Options{})
		m, _ := e.deploy("team-model", up.Target(), nil)
		otherKey, _, otherProfile := e.newKey("other", m.ID)

		// A job of the other (non-admin) process.
		status, _, b := e.do(http.MethodPost, "/jobs/v1/chat/completions", `{"model":"team-model","messages":[]}`, "Authorization", "Bearer "+otherKey)
		if status != 202 {
			t.Fatalf("submit as other = %d %s", status, b)
		}
		var sub struct {
			JobID     int64 `json:"job_id"`
			ProfileID int64 `json:"profile_id"`
		}
		_ = json.Unmarshal(b, &sub)
		if sub.ProfileID != otherProfile {
			t.Errorf("profile_id %d, want %d", sub.ProfileID, otherProfile)
		}
		// The root key is an admin's: it may read it.
		if v := e.await(sub.JobID); v.JobID != sub.JobID {
			t.Errorf("admin read = %+v", v)
		}
		// The other process may not read root's job.
		mine := e.submit("/jobs/v1/chat/completions", `{"model":"team-model","messages":[]}`)
		status, _, b = e.do(http.MethodGet, fmt.Sprintf("/jobs/%d", mine), "", "Authorization", "Bearer "+otherKey)
		if status != 403 {
			t.Errorf("GET another process's job = %d %s, want 403", status, b)
		}
		if status, _, _ := e.do(http.MethodDelete, fmt.Sprintf("/jobs/%d", mine), "", "Authorization", "Bearer "+otherKey); status != 403 {
			t.Errorf("DELETE another process's job = %d, want 403", status)
		}
		// A second profile of the other process: the job belongs to the first.
		second, err := e.store.CreateProfile(context.Background(), store.Profile{Name: "second", ProcessID: processOf(t, e, otherProfile)})
		if err != nil {
			t.Fatal(err)
		}
		e.reload()
		status, _, b = e.do(http.MethodGet, fmt.Sprintf("/jobs/%d", sub.JobID), "", "Authorization", "Bearer "+otherKey, "use-profile", fmt.Sprint(second.ID))
		if status != 403 || !bytes.Contains(b, []byte("use-profile")) {
			t.Errorf("GET with the wrong profile = %d %s, want 403 naming use-profile", status, b)
		}
		status, _, b = e.do(http.MethodGet, fmt.Sprintf("/jobs/%d", sub.JobID), "", "Authorization", "Bearer "+otherKey, "use-profile", fmt.Sprint(otherProfile))
		if status != 200 {
			t.Errorf("GET with the right profile = %d %s", status, b)
		}
		for _, path := range []string{"/jobs/999999", "/jobs/abc"} {
			if status, _, _ := e.do(http.MethodGet, path, ""); status != 404 {
				t.Errorf("GET %s = %d, want 404", path, status)
			}
		}
		if status, _, _ := e.do(http.MethodGet, fmt.Sprintf("/jobs/%d", mine), "", "Authorization", "Bearer lg-wrong"); status != 401 {
			t.Errorf("GET with a bad key = %d, want 401", status)
		}
		// The other process lists only its own jobs.
		status, _, b = e.do(http.MethodGet, "/jobs", "", "Authorization", "Bearer "+otherKey)
		var list struct {
			Data []jobView `json:"data"`
		}
		if err := json.Unmarshal(b, &list); status != 200 || err != nil || len(list.Data) != 1 || list.Data[0].JobID != sub.JobID {
			t.Errorf("GET /jobs as other = %d %s", status, b)
		}
	})
}

func processOf(t *testing.T, e *env, profileID int64) int64 {
	t.Helper()
	p, err := e.store.GetProfile(context.Background(), profileID)
	if err != nil {
		t.Fatal(err)
	}
	return p.ProcessID
}

// TestJobsCancel cancels a running job: the upstream call is cancelled and
// the usage record says cancelled.
func TestJobsCancel(t *testing.T) {
	onStores(t, func(t *testing.T, opt envOption) {
		e := newEnv(t, opt)
		cancelled := make(chan struct{}, 1)
		up := providertest.NewOpenAI(t, providertest.Options{HeaderDelay: 30 * time.Second, OnCancel: func(*http.Request) { cancelled <- struct{}{} }})
		e.deploy("team-model", up.Target(), nil)
		id := e.submit("/jobs/v1/chat/completions", `{"model":"team-model","messages":[]}`)
		e.waitFor("the job to reach the upstream", func() bool { return len(up.Requests()) == 1 })
		if v := e.job(id); v.Status != "running" {
			t.Fatalf("job = %+v, want running", v)
		}
		status, _, b := e.do(http.MethodDelete, fmt.Sprintf("/jobs/%d", id), "")
		var v jobView
		if err := json.Unmarshal(b, &v); status != 200 || err != nil || v.Status != "cancelled" {
			t.Fatalf("DELETE = %d %s, want 200 cancelled", status, b)
		}
		select {
		case <-cancelled:
		case <-time.After(10 * time.Second):
			t.Fatal("the upstream call was not cancelled")
		}
		var recs []store.UsageRecord
		e.waitFor("the job's usage record", func() bool { recs = e.jobUsage(id); return len(recs) > 0 })
		if len(recs) != 1 || recs[0].Outcome != store.OutcomeCancelled {
			t.Errorf("usage records = %+v, want one cancelled", recs)
		}
		if v := e.job(id); v.Status != "cancelled" {
			t.Errorf("job after cancel = %+v", v)
		}
		if status, _, _ := e.do(http.MethodDelete, fmt.Sprintf("/jobs/%d", id), ""); status != 409 {
			t.Errorf("second DELETE = %d, want 409", status)
		}
	})
}

// countingTransport counts the requests a Router sends upstream.
type countingTransport struct {
	n atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// TestJobsTwoRoutersOnePostgres runs 200 jobs on two Routers sharing one
// PostgreSQL database: both run some, and every job runs exactly once.
func TestJobsTwoRoutersOnePostgres(t *testing.T) {
	st := openPostgres(t, pgtest.NewMigratedDatabase(t))
	var mu sync.Mutex
	seen := map[string]int{}
	upstream := providertest.NewOpenAI(t, providertest.Options{HeaderDelay: 50 * time.Millisecond})
	var a, b countingTransport
	e := newEnv(t, func(c *logos.Config) {
		c.Store = st
		c.JobWorkers = 4
		c.HTTPClient = &http.Client{Transport: &a}
	})
	// A second replica; it serves no HTTP here, it only runs jobs. It
	// would not see the model deployed below for an hour: it must catch
	// up with the catalogue the jobs were admitted with.
	sched, err := fcfs.New(fcfs.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := logos.New(logos.Config{
		Store: st, Providers: builtin.Registry(), Scheduler: sched, JobWorkers: 4,
		HTTPClient: &http.Client{Transport: &b}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		CatalogRefreshInterval: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = r2.Close(context.Background())
		_ = sched.Close()
	})
	e.deploy("team-model", upstream.Target(), nil)
	const n = 200
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = e.submit("/jobs/v1/chat/completions", fmt.Sprintf(`{"model":"team-model","messages":[{"role":"user","content":"job %d"}]}`, i))
	}
	for _, id := range ids {
		if v := e.await(id); v.Status != "succeeded" {
			t.Fatalf("job %d = %+v", id, v)
		}
	}
	for _, r := range upstream.Requests() {
		var body struct {
			Messages []struct {
				Content string `json:"content"`
			} `json:"messages"`
		}
		_ = json.Unmarshal(r.Body, &body)
		mu.Lock()
		seen[body.Messages[0].Content]++
		mu.Unlock()
	}
	for i := range n {
		if c := seen[fmt.Sprintf("job %d", i)]; c != 1 {
			t.Errorf("job %d reached the upstream %d times", i, c)
		}
	}
	if a.n.Load()+b.n.Load() != n || a.n.Load() == 0 || b.n.Load() == 0 {
		t.Errorf("routers sent %d and %d requests, want %d in all and some each", a.n.Load(), b.n.Load(), n)
	}
}

// TestJobsResourceMode: a job without a model, or with a logos-v model
// string, is classified like a synchronous request: it runs on the model the
// policy chooses, and its usage record says so.
func TestJobsResourceMode(t *testing.T) {
	onStores(t, func(t *testing.T, opt envOption) {
		e := newEnv(t, opt)
		up := providertest.NewOpenAI(t, providertest.Options{})
		e.deploy("small-local", up.Target(), nil)
		e.deploy("big-cloud", up.Target(), nil)
		ctx := t.Context()
		for name, q := range map[string]int{"small-local": -4, "big-cloud": 4} {
			m, err := e.store.GetModelByName(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			m.WeightQuality = q
			m.Description = map[string]string{"small-local": "small fast chat model", "big-cloud": "large model for deep analysis"}[name]
			if _, err := e.store.UpdateModel(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		e.reload()

		noModel := e.submit("/jobs/v1/chat/completions", `{"messages":[{"role":"system","content":"Analyse deeply."},{"role":"user","content":"Explain this proof."}]}`)
		modelString := e.submit("/jobs/v1/chat/completions", `{"model":"logos-v1","messages":[{"role":"user","content":"Hi"}]}`)
		for _, id := range []int64{noModel, modelString} {
			v := e.await(id)
			if v.Status != "succeeded" || v.StatusCode == nil || *v.StatusCode != 200 {
				t.Fatalf("job %d = %+v, want succeeded 200", id, v)
			}
			recs := e.jobUsage(id)
			if len(recs) != 1 {
				t.Fatalf("job %d left %d usage records, want 1", id, len(recs))
			}
			if recs[0].ModelName != "big-cloud" || len(recs[0].Classification) == 0 {
				t.Errorf("job %d ran on %q with classification %s; want big-cloud, classified", id, recs[0].ModelName, recs[0].Classification)
			}
		}
		for _, r := range up.Requests() {
			if !bytes.Contains(r.Body, []byte(`"model":"big-cloud"`)) {
				t.Errorf("upstream body %s, want the chosen model", r.Body)
			}
		}
		// A bad model string is refused at submission, like a synchronous request.
		status, _, b := e.do(http.MethodPost, "/jobs/v1/chat/completions", `{"model":"logos-v1__bogus=1","messages":[]}`)
		if status != 400 {
			t.Errorf("bad model string: %d %s, want 400", status, b)
		}
	})
}
