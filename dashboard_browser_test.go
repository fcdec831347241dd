package logos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/logos-llm/logos/providers/providertest"
	"github.com/logos-llm/logos/store"
)

// chromiumSkip is the message of a skipped browser test; .ci/run fails when
// it finds it in the test log.
const chromiumSkip = "chromium not found: install Debian's chromium package (apt-get install -y chromium) or set LOGOS_CHROMIUM to run the dashboard browser tests"

// chromiumPath returns the browser the tests drive: $LOGOS_CHROMIUM, or
// chromium / chromium-browser on PATH.
func chromiumPath() string {
	if p := os.Getenv("LOGOS_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// screenshotDir is where the browser tests write their screenshots:
// $LOGOS_SCREENSHOT_DIR, or a temporary directory of the test.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("LOGOS_SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// dashboardEnv is a running Router with two services' traffic.
type dashboardEnv struct {
	base               string
	root               string // admin key
	alphaKey, betaKey  string // service keys
	alphaPID, betaPID  int64
	alphaIDs, betaIDs  []string // request ids by process
	alphaFullRequestID string
}

// newDashboardEnv serves a Router over SQLite with two upstreams (one
// failing), two services and traffic from both, and waits until every usage
// record is stored. With history it first stores historyRecords usage records
// spread over the last 24 hours (see addHistory), so the time series have
// shape.
func newDashboardEnv(t *testing.T, history bool) *dashboardEnv {
	t.Helper()
	st := openStore(t, "sqlite", "")
	_, base := serve(t, st, bytes.Repeat([]byte{9}, 32))
	good := providertest.NewOpenAI(t, providertest.Options{Credential: "sk-good", HeaderDelay: 15 * time.Millisecond, EventDelay: 3 * time.Millisecond})
	bad := providertest.NewOpenAI(t, providertest.Options{Credential: "sk-bad", Status: 503})
	db := base + "/logosdb/"
	e := &dashboardEnv{base: base}

	out := must(t, db+"setup", "", map[string]any{"base_url": good.URL + "/v1", "provider_name": "openai-main", "provider_type": "openai",
		"api_key": "sk-good", "auth_name": "Authorization", "auth_format": "Bearer {}"})
	e.root = out["logos-key"].(string)
	goodID := num(t, out, "provider-id")
	out = must(t, db+"add_provider", e.root, map[string]any{"provider_name": "openai-flaky", "base_url": bad.URL + "/v1",
		"provider_type": "openai", "api_key": "sk-bad", "auth_name": "Authorization", "auth_format": "Bearer {}"})
	badID := num(t, out, "provider-id")
	model := func(name string, provider int64) int64 {
		id := num(t, must(t, db+"add_full_model", e.root, map[string]any{"name": name, "weight_privacy": "LOCAL", "tags": "chat", "parallel": 4, "description": name}), "model_id")
		must(t, db+"connect_model_provider", e.root, map[string]any{"model_id": id, "provider_id": provider})
		return id
	}
	mini := model("gpt-4o-mini", goodID)
	gpt4o := model("gpt-4o", goodID)
	broken := model("legacy-model", badID)
	service := func(name string) (string, int64) {
		out := must(t, db+"add_service", e.root, map[string]any{"name": name})
		for _, m := range []int64{mini, gpt4o, broken} {
			must(t, db+"connect_profile_model", e.root, map[string]any{"profile_id": num(t, out, "profile-id"), "model_id": m})
		}
		return out["logos-key"].(string), num(t, out, "process-id")
	}
	e.alphaKey, e.alphaPID = service("alpha")
	e.betaKey, e.betaPID = service("beta")
	must(t, db+"set_log", e.root, map[string]any{"process_id": e.alphaPID, "set_log": "FULL"})
	for _, p := range []struct {
		typ  string
		cost float64
	}{{"prompt_tokens", 0.003}, {"completion_tokens", 0.012}} {
		must(t, db+"add_billing", e.root, map[string]any{"type_name": p.typ, "type_cost": p.cost, "valid_from": "2026-01-01T00:00:00Z"})
	}
	must(t, db+"set_budget", e.root, map[string]any{"process_id": e.alphaPID, "limit": "5.00", "currency": "EUR", "period": "month"})
	must(t, db+"set_budget", e.root, map[string]any{"process_id": e.betaPID, "limit": "0.50", "currency": "EUR", "period": "day"})
	if history {
		addHistory(t, st, e.alphaPID, e.betaPID)
	}
	want := liveRecords
	if history {
		want += historyRecords
	}

	chat := func(key, model string, stream bool) {
		body := fmt.Sprintf(`{"model":%q,"stream":%v,"messages":[{"role":"user","content":"Summarise the weather"}]}`, model, stream)
		req, _ := http.NewRequest("POST", base+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for i := range 18 {
		chat(e.alphaKey, []string{"gpt-4o-mini", "gpt-4o", "legacy-model"}[i%3], i%2 == 0)
	}
	for i := range 8 {
		chat(e.betaKey, []string{"gpt-4o", "gpt-4o-mini"}[i%2], i%2 == 1)
	}
	// Wait for the usage writer, then note each process's request ids.
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows := must(t, db+"list_requests", e.root, map[string]any{"limit": 500})["requests"].([]any)
		if len(rows) >= want {
			e.alphaIDs, e.betaIDs = nil, nil
			for _, r := range rows {
				m := r.(map[string]any)
				id := m["request_id"].(string)
				if strings.HasPrefix(id, "hist-") {
					continue
				}
				if int64(m["process_id"].(float64)) == e.alphaPID {
					e.alphaIDs = append(e.alphaIDs, id)
					if m["outcome"] == "success" && e.alphaFullRequestID == "" {
						e.alphaFullRequestID = id
					}
				} else {
					e.betaIDs = append(e.betaIDs, id)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d usage records after 10 s, want %d", len(rows), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return e
}

// The traffic of newDashboardEnv: 18 requests of alpha and 8 of beta through
// Logos, and with history 240 records written to the store directly.
const (
	liveRecords    = 26
	historyRecords = 240
	historyErrors  = 24
)

// addHistory stores historyRecords usage records of alpha and beta, one every
// 6 minutes over the last 24 hours, as the usage writer would have: every
// tenth an upstream error, the others with tokens, cost and a latency that
// varies over the day. They are written to the store because traffic through
// the mock upstream can only happen now, and a time series of one bucket
// shows little.
func addHistory(t *testing.T, st store.Store, alphaPID, betaPID int64) {
	t.Helper()
	start := time.Now().UTC().Add(-24 * time.Hour)
	models := []struct{ model, provider string }{{"gpt-4o-mini", "openai-main"}, {"gpt-4o", "openai-main"}, {"legacy-model", "openai-flaky"}}
	recs := make([]store.UsageRecord, historyRecords)
	for i := range recs {
		at := start.Add(time.Duration(i)*6*time.Minute + time.Minute)
		m := models[i%3]
		pid := alphaPID
		if i%2 == 1 {
			pid = betaPID
		}
		wave := 1 + math.Sin(float64(i)/240*2*math.Pi*2) // two busy periods a day
		ttft := time.Duration(150+200*wave+float64(i%7)*40) * time.Millisecond
		total := ttft + time.Duration(800+900*wave+float64(i%5)*150)*time.Millisecond
		prompt, completion := int64(200+i%9*60), int64(80+int64(wave*150))
		r := store.UsageRecord{
			RequestID: fmt.Sprintf("hist-%03d", i), ProcessID: pid, ModelName: m.model, ProviderName: m.provider,
			Operation: "chat/completions", Stream: i%2 == 0, ReceivedAt: at, ForwardedAt: at.Add(5 * time.Millisecond),
			FirstTokenAt: at.Add(ttft), CompletedAt: at.Add(total), StatusCode: 200, Outcome: store.OutcomeSuccess,
			LogLevel: store.LogBilling, Currency: "EUR",
			Tokens: []store.TokenCount{
				{Type: "prompt_tokens", Count: prompt, CostMicros: prompt * 3},
				{Type: "completion_tokens", Count: completion, CostMicros: completion * 12},
			},
		}
		r.CostMicros = r.Tokens[0].CostMicros + r.Tokens[1].CostMicros
		if i%10 == 0 {
			r.StatusCode, r.Outcome, r.ErrorMessage = 503, store.OutcomeError, "upstream answered 503"
			r.FirstTokenAt, r.Tokens, r.CostMicros, r.Currency = time.Time{}, nil, 0, ""
		}
		recs[i] = r
	}
	if _, err := st.InsertUsage(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
}

// dashboardJobs submits jobs through the job API: three of alpha (the last
// to the failing upstream) and two of beta, and waits until each has
// finished. It returns the job ids by process, oldest first.
func (e *dashboardEnv) dashboardJobs(t *testing.T) (alpha, beta []int64) {
	t.Helper()
	call := func(method, path, key, body string) map[string]any {
		req, _ := http.NewRequest(method, e.base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %v %v", method, path, resp.StatusCode, out, err)
		}
		return out
	}
	submit := func(key, model string) int64 {
		out := call("POST", "/jobs/v1/chat/completions", key, fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"Summarise the weather"}]}`, model))
		id := int64(out["job_id"].(float64))
		deadline := time.Now().Add(10 * time.Second)
		for {
			st := call("GET", fmt.Sprintf("/jobs/%d", id), key, "")["status"]
			if st == "succeeded" || st == "failed" {
				return id
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %d is still %v after 10 s", id, st)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, m := range []string{"gpt-4o-mini", "gpt-4o", "legacy-model"} {
		alpha = append(alpha, submit(e.alphaKey, m))
	}
	for _, m := range []string{"gpt-4o", "gpt-4o-mini"} {
		beta = append(beta, submit(e.betaKey, m))
	}
	return alpha, beta
}

// jobRows returns the job ids of the rows of the jobs page, top to bottom.
func (b *browser) jobRows() []string {
	b.t.Helper()
	return eval[[]string](b, `[...document.querySelectorAll("#page tbody tr[data-id]")].map((tr) => tr.dataset.id)`)
}

// browser is a headless Chromium tab.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		t.Skip(chromiumSkip)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1400, 1000),
		chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	// The bound only stops a hung browser: it covers the traffic the test
	// generates too, and a loaded machine (go test ./... on two cores) needs
	// more than a minute for all of it.
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })
	return &browser{t: t, ctx: ctx, dir: screenshotDir(t)}
}

func (b *browser) run(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

// eval evaluates the JavaScript expression js in the page and returns its
// value.
func eval[T any](b *browser, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// signIn opens the dashboard and signs in with key.
func (b *browser) signIn(base, key string) {
	b.t.Helper()
	b.run(chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible("#key"),
		chromedp.SendKeys("#key", key), chromedp.Click("#signin-form button"),
		chromedp.WaitReady(`#page[data-loaded="overview"]`))
}

// open shows the page of hash and waits until it has loaded.
func (b *browser) open(hash, page string) {
	b.t.Helper()
	js := fmt.Sprintf(`document.querySelector("#page").removeAttribute("data-loaded"); location.hash = %q;`, hash)
	eval[any](b, js)
	b.run(chromedp.WaitReady(fmt.Sprintf(`#page[data-loaded=%q]`, page)))
}

// charts returns the plotted values of every chart on the page, by the id of
// its box.
func (b *browser) charts() map[string]int {
	b.t.Helper()
	return eval[map[string]int](b, `Object.fromEntries([...document.querySelectorAll(".chart-box")].map((box) => {
		const svg = box.querySelector("svg.chart");
		return [box.id, svg ? Number(svg.getAttribute("data-points")) : -1];
	}))`)
}

// text returns the page's visible text.
func (b *browser) text() string {
	b.t.Helper()
	return eval[string](b, `document.querySelector("#page").innerText`)
}

// screenshot writes the whole page to name in the screenshot directory.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, name), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// TestDashboardInBrowser signs in to the dashboard as the admin in headless
// Chromium and checks that every page renders its plots and tables from the
// traffic, then writes screenshots.
func TestDashboardInBrowser(t *testing.T) {
	b := newBrowser(t)
	e := newDashboardEnv(t, true)
	b.signIn(e.base, e.root)

	// Overview: every time series has data.
	got := b.charts()
	for _, id := range []string{"chart-requests", "chart-tokens", "chart-cost", "chart-errors", "chart-ttft", "chart-latency"} {
		if got[id] <= 0 {
			t.Errorf("overview chart %s plots %d values: %v", id, got[id], got)
		}
	}
	for _, id := range []string{"chart-requests", "chart-ttft", "chart-latency"} {
		if got[id] < 24 {
			t.Errorf("overview chart %s plots %d values, want at least one per hour", id, got[id])
		}
	}
	total, err := chromedp.Run(b.ctx, chromedp.Text("#total-requests"))
	if err != nil {
		t.Fatal(err)
	}
	if total != "266" {
		t.Errorf("overview counts %q requests, want 266", total)
	}
	var series []string
	series = eval[[]string](b, `[...document.querySelectorAll("#chart-requests path.series")].map((p) => p.dataset.name)`)
	if len(series) != 3 {
		t.Errorf("requests chart series = %v, want the three models", series)
	}
	// Hovering shows the values under the pointer.
	tip := eval[string](b, `(() => {
		const o = document.querySelector("#chart-requests rect.overlay"), r = o.getBoundingClientRect();
		o.dispatchEvent(new MouseEvent("mousemove", {clientX: r.right - 2, clientY: r.top + 10, bubbles: true}));
		const tip = document.querySelector("#chart-requests .tip");
		return tip.hidden ? "" : tip.innerText;
	})()`)
	if !strings.Contains(tip, "gpt-4o-mini: ") {
		t.Errorf("hover tip = %q, want the value of each model", tip)
	}
	b.screenshot("dashboard-overview.png")

	// Grouping by provider and by day re-plots from the endpoints.
	b.open("#/overview?range=30&bucket=day&group=provider", "overview")
	series = eval[[]string](b, `[...document.querySelectorAll("#chart-requests path.series")].map((p) => p.dataset.name)`)
	if len(series) < 2 || series[0] != "openai-main" || series[1] != "openai-flaky" {
		t.Errorf("grouped by provider: series %v, want openai-main and openai-flaky first", series)
	}

	// Models & providers: catalogue, deployments, the queue sample, and the
	// VRAM chart's empty state.
	b.open("#/models", "models")
	s := b.text()
	for _, want := range []string{"legacy-model", "openai-flaky", "Deployments", "No VRAM snapshots today"} {
		if !strings.Contains(s, want) {
			t.Errorf("models page lacks %q:\n%s", want, s)
		}
	}
	got = b.charts()
	if got["chart-queue"] <= 0 || got["chart-vram-empty"] != 0 {
		t.Errorf("models charts = %v, want a queue sample and an empty VRAM chart", got)
	}
	b.screenshot("dashboard-models.png")

	// Requests: the table pages and sorts; a row opens its record with
	// payloads (alpha logs FULL) and redacted headers.
	b.open("#/requests", "requests")
	rows := eval[int](b, `document.querySelectorAll("#page tbody tr.link").length`)
	info := eval[string](b, `document.querySelector(".page-info").innerText`)
	if rows != 25 || !strings.Contains(info, "Page 1 of 11 · 266 rows") {
		t.Errorf("requests table: %d rows on the page, %q", rows, info)
	}
	firstStatus := eval[[]string](b, `document.querySelector("th[data-key=status_code]").click(); document.querySelector("th[data-key=status_code]").click();
		[...document.querySelectorAll("#page tbody tr.link td:nth-child(6)")].slice(0, 1).map((td) => td.innerText)`)
	if len(firstStatus) != 1 || firstStatus[0] < "500" {
		t.Errorf("sorted by status descending, the first row has %v", firstStatus)
	}
	b.screenshot("dashboard-requests.png")
	b.open("#/requests?outcome=error", "requests")
	rows = eval[int](b, `document.querySelectorAll("#page tbody tr.link").length`)
	info = eval[string](b, `document.querySelector(".page-info").innerText`)
	if rows != 25 || !strings.Contains(info, fmt.Sprintf("%d rows", 6+historyErrors)) {
		t.Errorf("outcome=error shows %d rows, %q; want %d", rows, info, 6+historyErrors)
	}
	b.open("#/requests/"+e.alphaFullRequestID, "requests")
	s = b.text()
	if !strings.Contains(s, "Summarise the weather") || !strings.Contains(s, "[REDACTED]") || strings.Contains(s, e.alphaKey) || strings.Contains(s, "sk-good") {
		t.Errorf("alpha's record lacks its payload or the redaction, or shows a credential:\n%s", s)
	}

	// Spending: budgets against spend, spend per process, prices.
	b.open("#/spending", "spending")
	got = b.charts()
	if got["chart-budgets"] != 4 || got["chart-spend-process"] <= 0 {
		t.Errorf("spending charts = %v, want 2 budgets × (spent, limit) and spend per process", got)
	}
	if s := b.text(); !strings.Contains(s, "completion_tokens") || !strings.Contains(s, "12") {
		t.Errorf("spending page lacks the prices:\n%s", s)
	}
	b.screenshot("dashboard-spending.png")

	// Jobs: every process's jobs for the admin, newest first, with their
	// status; filtered by status; paged by the server.
	alphaJobs, betaJobs := e.dashboardJobs(t)
	ids := func(v ...int64) string { return fmt.Sprint(v) }
	b.open("#/jobs", "jobs")
	if got := "[" + strings.Join(b.jobRows(), " ") + "]"; got != ids(betaJobs[1], betaJobs[0], alphaJobs[2], alphaJobs[1], alphaJobs[0]) {
		t.Errorf("admin's jobs page lists %s, want every job newest first", got)
	}
	s = b.text()
	for _, want := range []string{"succeeded", "failed", "legacy-model", "chat/completions", "Process (key)"} {
		if !strings.Contains(s, want) {
			t.Errorf("jobs page lacks %q:\n%s", want, s)
		}
	}
	if n := eval[string](b, `document.querySelector("#jobs-failed").innerText`); n != "1" {
		t.Errorf("jobs page counts %s failed jobs, want 1", n)
	}
	b.screenshot("dashboard-jobs.png")
	b.open("#/jobs?status=failed", "jobs")
	if got := "[" + strings.Join(b.jobRows(), " ") + "]"; got != ids(alphaJobs[2]) {
		t.Errorf("status=failed lists %s, want alpha's failed job %d", got, alphaJobs[2])
	}
	b.open("#/jobs?limit=2", "jobs")
	if got := "[" + strings.Join(b.jobRows(), " ") + "]"; got != ids(betaJobs[1], betaJobs[0]) {
		t.Errorf("first page of 2 lists %s", got)
	}
	eval[any](b, `document.querySelector("#page").removeAttribute("data-loaded"); document.querySelector("#jobs-older").click();`)
	b.run(chromedp.WaitReady(`#page[data-loaded="jobs"]`))
	if got := "[" + strings.Join(b.jobRows(), " ") + "]"; got != ids(alphaJobs[2], alphaJobs[1]) {
		t.Errorf("the page after Older lists %s", got)
	}

	// Signing out forgets the key.
	b.run(chromedp.Click("#signout"), chromedp.WaitVisible("#key"))
	stored := eval[string](b, `sessionStorage.getItem("logos_key") || ""`)
	if stored != "" {
		t.Error("the key stays in sessionStorage after signing out")
	}
}

// TestDashboardScopingInBrowser signs in with beta's service key: it sees
// only beta's requests, and editing the URL to ask for alpha's process or to
// open one of alpha's records shows the server's refusal, not alpha's data.
func TestDashboardScopingInBrowser(t *testing.T) {
	b := newBrowser(t)
	e := newDashboardEnv(t, false)
	b.signIn(e.base, e.betaKey)

	if got := b.charts(); got["chart-requests"] <= 0 {
		t.Errorf("beta's overview plots nothing: %v", got)
	}
	total, err := chromedp.Run(b.ctx, chromedp.Text("#total-requests"))
	if err != nil {
		t.Fatal(err)
	}
	if total != "8" {
		t.Errorf("beta's overview counts %q requests, want its 8", total)
	}
	b.open("#/requests", "requests")
	ids := eval[[]string](b, `[...document.querySelectorAll("#page tbody tr.link")].map((tr) => tr.dataset.id)`)
	if len(ids) != len(e.betaIDs) {
		t.Errorf("beta sees %d requests, want its %d", len(ids), len(e.betaIDs))
	}
	page := b.text()
	for _, id := range e.alphaIDs {
		if strings.Contains(page, id) {
			t.Fatalf("beta's requests page shows alpha's request %s", id)
		}
	}
	if strings.Contains(page, "Process (key)") {
		t.Error("beta is offered the process filter")
	}

	// Editing the URL: alpha's process.
	for _, hash := range []string{
		fmt.Sprintf("#/requests?process_id=%d", e.alphaPID),
		fmt.Sprintf("#/overview?process_id=%d", e.alphaPID),
	} {
		b.open(hash, strings.Split(strings.TrimPrefix(hash, "#/"), "?")[0])
		s := b.text()
		if !strings.Contains(s, "Only an admin may query another process") {
			t.Errorf("%s: no refusal:\n%s", hash, s)
		}
		for _, id := range e.alphaIDs {
			if strings.Contains(s, id) {
				t.Fatalf("%s shows alpha's request %s", hash, id)
			}
		}
	}
	// Editing the URL: one of alpha's records.
	b.open("#/requests/"+e.alphaFullRequestID, "requests")
	if s := b.text(); !strings.Contains(s, "Request not found") || strings.Contains(s, "Summarise the weather") {
		t.Errorf("beta opening alpha's record:\n%s", s)
	}
	// Deployments and queues are admin-only.
	b.open("#/models", "models")
	if s := b.text(); !strings.Contains(s, "admin keys only") {
		t.Errorf("beta's models page:\n%s", s)
	}
	// beta's budget only.
	b.open("#/spending", "spending")
	if got := b.charts(); got["chart-budgets"] != 2 {
		t.Errorf("beta's budget chart plots %d values, want its one budget (spent, limit)", got["chart-budgets"])
	}
	b.screenshot("dashboard-scoped-requests.png")

	// Jobs: beta's own only; alpha's process by URL is refused.
	alphaJobs, betaJobs := e.dashboardJobs(t)
	b.open("#/jobs", "jobs")
	if got, want := strings.Join(b.jobRows(), " "), fmt.Sprintf("%d %d", betaJobs[1], betaJobs[0]); got != want {
		t.Errorf("beta's jobs page lists %s, want its own %s", got, want)
	}
	if s := b.text(); strings.Contains(s, "Process (key)") || strings.Contains(s, "legacy-model") {
		t.Errorf("beta's jobs page offers the process filter or shows alpha's job:\n%s", s)
	}
	b.open(fmt.Sprintf("#/jobs?process_id=%d", e.alphaPID), "jobs")
	if s := b.text(); !strings.Contains(s, "Only an admin may query another process") {
		t.Errorf("beta asking for alpha's jobs: no refusal:\n%s", s)
	}
	if rows := b.jobRows(); len(rows) != 0 {
		t.Errorf("beta asking for alpha's jobs %v sees rows %v", alphaJobs, rows)
	}
	b.screenshot("dashboard-scoped-jobs.png")

	// The key lives in sessionStorage only.
	local := eval[string](b, `JSON.stringify(localStorage) + document.cookie`)
	if strings.Contains(local, e.betaKey) {
		t.Error("the key is kept beyond the session")
	}
}
