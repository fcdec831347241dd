package sim_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/scheduler/baselines"
	"github.com/logos-llm/logos/scheduler/core"
	"github.com/logos-llm/logos/scheduler/logos"
	"github.com/logos-llm/logos/scheduler/sim"
)

func genTrace(t testing.TB, cfg sim.GenConfig) *sim.Trace {
	t.Helper()
	var buf bytes.Buffer
	if err := sim.Generate(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	tr, err := sim.ParseTrace(fmt.Sprintf("gen-%s-%d", cfg.Kind, cfg.Seed), buf.Bytes(), sim.DefaultClasses())
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func profile(t testing.TB) *sim.Profile {
	t.Helper()
	p, err := sim.LoadProfile("logos-2x16")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var policies = map[string]func() core.Policy{
	"fcfs":         func() core.Policy { return baselines.NewFCFS() },
	"round-robin":  func() core.Policy { return baselines.NewRoundRobin() },
	"least-loaded": func() core.Policy { return baselines.NewLeastLoaded() },
	"ettft":        func() core.Policy { return baselines.NewETTFT() },
	"static":       func() core.Policy { return baselines.NewStatic() },
	"logos":        func() core.Policy { return logos.New(logos.Config{}) },
}

// Every scheduler on every kind of generated trace: the run's invariants
// hold (Run fails otherwise), every request ends exactly once and no
// scheduler issues an illegal action.
func TestInvariantsAllSchedulers(t *testing.T) {
	p := profile(t)
	for _, kind := range []string{"explicit-hw3", "explicit-coder3", "eccs"} {
		for _, arr := range []string{"random", "bursty"} {
			tr := genTrace(t, sim.GenConfig{N: 200, Seed: 11, Kind: kind, Arrivals: arr})
			for name, newP := range policies {
				res, err := sim.Run(sim.Config{Profile: p, Trace: tr, Policy: newP(), Seed: 3})
				if err != nil {
					t.Fatalf("%s %s %s: %v", kind, arr, name, err)
				}
				s := sim.Summarize(res)
				if s.Completed+s.Failed != len(tr.Rows) {
					t.Errorf("%s %s %s: %d completed + %d failed of %d", kind, arr, name, s.Completed, s.Failed, len(tr.Rows))
				}
				if s.SchedulerErrors != 0 {
					t.Errorf("%s %s %s: %d scheduler errors", kind, arr, name, s.SchedulerErrors)
				}
				if name != "static" && s.Failed != 0 {
					t.Errorf("%s %s %s: %d failed", kind, arr, name, s.Failed)
				}
			}
		}
	}
}

// The raw-Ollama emulation on Ollama physics serves everything with its
// models loaded once.
func TestOllamaEmulation(t *testing.T) {
	p, err := sim.LoadProfile("ollama-2x16")
	if err != nil {
		t.Fatal(err)
	}
	tr := genTrace(t, sim.GenConfig{N: 100, Seed: 4})
	res, err := sim.Run(sim.Config{Profile: p, Trace: tr, Policy: baselines.NewOllama(), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if s := sim.Summarize(res); s.Failed != 0 || s.SchedulerErrors != 0 || s.Loads != 3 {
		t.Errorf("summary = %+v, want no failures or errors and 3 loads", s)
	}
}

// Same inputs and seed give byte-identical JSON; another seed differs.
func TestDeterministic(t *testing.T) {
	p := profile(t)
	tr := genTrace(t, sim.GenConfig{N: 150, Seed: 5})
	enc := func(name string, seed uint64) []byte {
		res, err := sim.Run(sim.Config{Profile: p, Trace: tr, Policy: policies[name](), Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(sim.Summarize(res))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for name := range policies {
		a, b := enc(name, 1), enc(name, 1)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two runs with seed 1 differ:\n%s\n%s", name, a, b)
		}
	}
	if bytes.Equal(enc("logos", 1), enc("logos", 2)) {
		t.Error("seeds 1 and 2 gave identical results; the seed is not used")
	}
}

func TestParseTrace(t *testing.T) {
	csv := "request_id,arrival_offset,mode,priority,body_json\n" +
		`b-1,2000,batch,low,"{""model"":""m1"",""max_tokens"":100,""messages"":[{""role"":""user"",""content"":""12345678""}]}"` + "\n" +
		`eccs-code_quick-0001,1000,interactive,high,"{""messages"":[{""role"":""system"",""content"":""abc""},{""role"":""user"",""content"":[{""type"":""text"",""text"":""abcde""}]}]}"` + "\n"
	cl := sim.Classes{"code_quick": {{Model: "m1", Weight: 10}, {Model: "m2", Weight: 7}}}
	tr, err := sim.ParseTrace("t", []byte(csv), cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Rows) != 2 || tr.Rows[0].ID != "eccs-code_quick-0001" {
		t.Fatalf("rows not in arrival order: %+v", tr.Rows)
	}
	r := tr.Rows[0]
	// 8 chars → ceil(8/4)=2, + 4·2 messages + 3 = 13
	if r.Class != "code_quick" || len(r.Candidates) != 2 || r.PromptTokens != 13 || r.MaxTokens != sim.DefaultMaxTokens ||
		r.Priority != scheduler.PriorityHigh || !r.Interactive {
		t.Errorf("policy row = %+v", r)
	}
	e := tr.Rows[1]
	if e.Model != "m1" || e.PromptTokens != 2+4+3 || e.MaxTokens != 100 || e.Interactive || e.Priority != scheduler.PriorityLow || e.ArrivalMS != 2000 {
		t.Errorf("explicit row = %+v", e)
	}
	if len(tr.SHA256) != 64 {
		t.Errorf("SHA256 = %q", tr.SHA256)
	}
	for _, bad := range []string{
		"id,arrival,mode,priority,body\n",
		"request_id,arrival_offset,mode,priority,body_json\nx,-1,batch,low,{}\n",
		"request_id,arrival_offset,mode,priority,body_json\nx,1,sometimes,low,{}\n",
		"request_id,arrival_offset,mode,priority,body_json\nx-unknown-1,1,batch,low,{}\n",
	} {
		if _, err := sim.ParseTrace("bad", []byte(bad), cl); !errors.Is(err, sim.ErrBadTrace) {
			t.Errorf("ParseTrace(%q) = %v, want ErrBadTrace", bad, err)
		}
	}
}

func TestClassOf(t *testing.T) {
	for in, want := range map[string]string{"eccs-code_quick-0001": "code_quick", "a-b-c-1": "b-c", "plain": "plain"} {
		if got := sim.ClassOf(in); got != want {
			t.Errorf("ClassOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOutputTokensMean(t *testing.T) {
	for _, ratio := range []float64{0.5, 0.65, 0.9} {
		sum := 0.0
		const n = 20000
		for i := range n {
			o := sim.OutputTokens(fmt.Sprint("r", i), 1000, 7, ratio)
			if o < 1 || o > 1000 {
				t.Fatalf("OutputTokens = %d out of [1, 1000]", o)
			}
			sum += float64(o)
		}
		if mean := sum / n / 1000; math.Abs(mean-ratio) > 0.01 {
			t.Errorf("ratio %v: mean %v", ratio, mean)
		}
	}
	a := sim.OutputTokens("x", 100, 1, 0.65)
	if b := sim.OutputTokens("x", 100, 1, 0.65); a != b {
		t.Errorf("OutputTokens gave %d then %d for the same inputs", a, b)
	}
}

func TestPercentile(t *testing.T) {
	xs := []float64{4, 1, 3, 2}
	for p, want := range map[float64]float64{0: 1, 50: 2.5, 95: 3.85, 100: 4} {
		if got := sim.Percentile(append([]float64(nil), xs...), p); math.Abs(got-want) > 1e-9 {
			t.Errorf("Percentile(%v) = %v, want %v", p, got, want)
		}
	}
	if !math.IsNaN(sim.Percentile(nil, 50)) {
		t.Error("Percentile of nothing is not NaN")
	}
}

// tinyProfile is one 10 GB GPU with two 6 GB models: only one fits awake.
const tinyProfile = `{"name":"tiny","version":1,"colocation_slowdown":1,"nodes":[{"id":"n","engine":"vllm",
"gpus":[{"id":0,"vram_mb":10000}],"gateway_overhead_ms":100,"models":[
{"name":"a","tp":1,"awake_mb":6000,"sleep_residual_mb":1000,"cold_load_s":10,"wake_s":1,"sleep_s":2,"unload_s":1,
 "step_alpha_ms":20,"step_beta_ms_per_seq":1,"prefill_ms_per_tok":0.5,"initial_state":"awake"},
{"name":"b","tp":1,"awake_mb":6000,"sleep_residual_mb":1000,"cold_load_s":10,"wake_s":1,"sleep_s":2,"unload_s":1,
 "step_alpha_ms":20,"step_beta_ms_per_seq":1,"prefill_ms_per_tok":0.5,"initial_state":"sleeping"}]}],"cloud":[]}`

func row(id string, at int64, model string, prompt, maxTok int) sim.Row {
	return sim.Row{ID: id, ArrivalMS: at, Interactive: true, Priority: scheduler.PriorityNormal, Model: model,
		Candidates: []core.Candidate{{Model: model, Weight: 1}}, PromptTokens: prompt, MaxTokens: maxTok}
}

// One request on an awake lane: TTFT is the gateway overhead plus one
// prefill iteration, and every later token takes α + β.
func TestEngineSingleRequest(t *testing.T) {
	p, err := sim.ParseProfile([]byte(tinyProfile))
	if err != nil {
		t.Fatal(err)
	}
	tr := &sim.Trace{Name: "one", SHA256: "x", Rows: []sim.Row{row("r", 0, "a", 100, 11)}}
	res, err := sim.Run(sim.Config{Profile: p, Trace: tr, Policy: baselines.NewFCFS(), CompletionRatio: 1, Tick: -1})
	if err != nil {
		t.Fatal(err)
	}
	o := res.Outcomes[0]
	if o.Output != 11 {
		t.Fatalf("output = %d, want 11 at completion ratio 1", o.Output)
	}
	// 100 ms overhead + (20 + 0.5·100) ms prefill iteration
	if got := o.FirstToken - o.Arrival; got != 170_000 {
		t.Errorf("TTFT = %dµs, want 170000", got)
	}
	// 10 more tokens at 21 ms each
	if got := o.Done - o.FirstToken; got != 210_000 {
		t.Errorf("decode = %dµs, want 210000", got)
	}
}

// badWaker wakes a lane that cannot fit and dispatches to a sleeping lane:
// both are counted as scheduler errors, not simulator failures, and the
// request then times out.
type badWaker struct{}

func (badWaker) Handle(_ time.Time, v *core.View, ev core.Event) []core.Action {
	if ev.Kind != core.Arrival {
		return nil
	}
	return []core.Action{core.WakeLane(1), core.DispatchTo(ev.Req, 1), core.EnqueueReq(ev.Req)}
}

func TestIllegalActionsCounted(t *testing.T) {
	p, err := sim.ParseProfile([]byte(tinyProfile))
	if err != nil {
		t.Fatal(err)
	}
	tr := &sim.Trace{Name: "one", SHA256: "x", Rows: []sim.Row{row("r", 0, "b", 10, 5)}}
	res, err := sim.Run(sim.Config{Profile: p, Trace: tr, Policy: badWaker{}, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	s := sim.Summarize(res)
	if s.SchedulerErrors != 2 || s.Failed != 1 || s.TTFT.Max != 60 {
		t.Errorf("summary = %+v, want 2 scheduler errors and 1 failure entering TTFT at 60 s", s)
	}
}

// A swap on the tiny profile: FCFS sleeps a, then wakes b; VRAM holds.
func TestSwap(t *testing.T) {
	p, err := sim.ParseProfile([]byte(tinyProfile))
	if err != nil {
		t.Fatal(err)
	}
	tr := &sim.Trace{Name: "swap", SHA256: "x", Rows: []sim.Row{row("r1", 0, "a", 10, 20), row("r2", 5, "b", 10, 20)}}
	for name, newP := range policies {
		res, err := sim.Run(sim.Config{Profile: p, Trace: tr, Policy: newP(), CompletionRatio: 1})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		s := sim.Summarize(res)
		if name == "static" {
			continue
		}
		if s.Failed != 0 || s.Sleeps != 1 || s.Wakes != 1 || s.SchedulerErrors != 0 {
			t.Errorf("%s: %+v", name, s)
		}
		// r2 waits for r1 to drain, a to sleep (2 s) and b to wake (1 s).
		if o := res.Outcomes[1]; o.FirstToken-o.Arrival < 3_000_000 {
			t.Errorf("%s: r2 TTFT %dµs is shorter than the swap", name, o.FirstToken-o.Arrival)
		}
	}
}

// Issue item 4: on a single always-warm deployment (no swaps) logos is at
// least as good as fcfs.
func TestLogosMatchesFCFSWithoutSwaps(t *testing.T) {
	p, err := sim.ParseProfile([]byte(strings.Replace(tinyProfile, `"initial_state":"sleeping"`, `"initial_state":"cold"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := sim.Generate(&buf, sim.GenConfig{N: 400, Seed: 2, DurationMS: 120_000}); err != nil {
		t.Fatal(err)
	}
	tr, err := sim.ParseTrace("warm", buf.Bytes(), sim.DefaultClasses())
	if err != nil {
		t.Fatal(err)
	}
	for i := range tr.Rows {
		tr.Rows[i].Model = "a"
		tr.Rows[i].Candidates = []core.Candidate{{Model: "a", Weight: 1}}
	}
	for seed := range uint64(3) {
		var sums [2]sim.Summary
		for i, pol := range []core.Policy{baselines.NewFCFS(), logos.New(logos.Config{})} {
			res, err := sim.Run(sim.Config{Profile: p, Trace: tr, Policy: pol, Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			sums[i] = sim.Summarize(res)
		}
		f, l := sums[0], sums[1]
		if l.Failed != 0 || l.Wakes+l.Loads+l.Sleeps != 0 {
			t.Errorf("seed %d: logos swapped or failed: %+v", seed, l)
		}
		if l.TTFT.P50 > f.TTFT.P50 || l.TTFT.P95 > f.TTFT.P95 || l.TTFTByPriority.High.P95 > f.TTFTByPriority.High.P95 {
			t.Errorf("seed %d: logos TTFT p50/p95/high p95 %.3f/%.3f/%.3f worse than fcfs %.3f/%.3f/%.3f", seed,
				l.TTFT.P50, l.TTFT.P95, l.TTFTByPriority.High.P95, f.TTFT.P50, f.TTFT.P95, f.TTFTByPriority.High.P95)
		}
		if l.TPOT.P95 > 100 {
			t.Errorf("seed %d: logos TPOT p95 %.1f ms over 100", seed, l.TPOT.P95)
		}
	}
}

// The shared traces, when present, parse and run cleanly.
func TestSharedTraces(t *testing.T) {
	files, _ := filepath.Glob("/work/shared/workloads/workload_*.csv")
	if len(files) == 0 {
		t.Skip("shared traces not present")
	}
	p := profile(t)
	for _, f := range files {
		tr, err := sim.ReadTraceFile(f, sim.DefaultClasses())
		if err != nil {
			t.Fatal(err)
		}
		res, err := sim.Run(sim.Config{Profile: p, Trace: tr, Policy: logos.New(logos.Config{}), Seed: 1})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if s := sim.Summarize(res); s.Failed != 0 || s.SchedulerErrors != 0 {
			t.Errorf("%s: %+v", f, s)
		}
	}
}

func TestBuiltinProfiles(t *testing.T) {
	for _, n := range sim.BuiltinProfiles() {
		if _, err := sim.LoadProfile(n); err != nil {
			t.Errorf("LoadProfile(%q) = %v", n, err)
		}
	}
	if _, err := sim.LoadProfile("no-such-profile"); !errors.Is(err, sim.ErrUnknownProfile) {
		t.Errorf("LoadProfile(unknown) = %v", err)
	}
	p := profile(t)
	if p.SHA256() == p.WithSleep(1).SHA256() {
		t.Error("a modified profile has the same hash")
	}
	if _, err := os.Stat("profiles/logos-2x16.json"); err != nil {
		t.Error(err)
	}
}

// BenchmarkRun is one run of logos on a 1,200-request hw3-like trace
// (40 minutes at the hw3-300 rate).
func BenchmarkRun(b *testing.B) {
	p := profile(b)
	tr := genTrace(b, sim.GenConfig{N: 1200, Seed: 1, DurationMS: 2_400_000})
	b.ResetTimer()
	for b.Loop() {
		if _, err := sim.Run(sim.Config{Profile: p, Trace: tr, Policy: logos.New(logos.Config{}), Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// cloudAll sends every request to endpoint 0 and retries a 429 after the
// next arrival or completion.
type cloudAll struct{ retry []*core.Request }

func (c *cloudAll) Handle(_ time.Time, _ *core.View, ev core.Event) []core.Action {
	var acts []core.Action
	switch ev.Kind {
	case core.Arrival:
		acts = append(acts, core.SendToCloud(ev.Req, 0))
	case core.CloudRejected:
		c.retry = append(c.retry, ev.Req)
		return []core.Action{core.TimerAt(time.Time{}, 0)}
	case core.Timeout:
		for i, r := range c.retry {
			if r == ev.Req {
				c.retry = append(c.retry[:i], c.retry[i+1:]...)
				break
			}
		}
	}
	if ev.Kind == core.Complete || ev.Kind == core.Tick {
		for _, r := range c.retry {
			acts = append(acts, core.SendToCloud(r, 0))
		}
		c.retry = c.retry[:0]
	}
	return acts
}

// A cloud endpoint with 6 requests per minute (1 per 10 s sub-window) never
// admits more, answers the rest with 429 and serves them later.
func TestCloudLimits(t *testing.T) {
	p, err := sim.ParseProfile([]byte(strings.Replace(tinyProfile, `"cloud":[]`,
		`"cloud":[{"name":"az","models":["a"],"rpm":6,"tpm":100000,"subwindow_s":10,"decode_tok_s":100}]`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	tr := &sim.Trace{Name: "cloud", SHA256: "x"}
	for i := range 12 {
		tr.Rows = append(tr.Rows, row(fmt.Sprint("c", i), int64(i)*1000, "a", 10, 50))
	}
	res, err := sim.Run(sim.Config{Profile: p, Trace: tr, Policy: &cloudAll{}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.CloudRejections == 0 {
		t.Fatal("no 429s with 12 requests in 12 s against 1 per 10 s")
	}
	var starts []int64
	for _, o := range res.Outcomes {
		if o.Failed || !o.Cloud {
			t.Fatalf("request %s not served by the cloud: %+v", o.Row.ID, o)
		}
		starts = append(starts, o.Dispatch)
	}
	slices.Sort(starts)
	for i := 1; i < len(starts); i++ {
		if starts[i]-starts[i-1] < 10_000_000 {
			t.Fatalf("admissions %d and %d only %dµs apart, sub-window allows one per 10 s", i-1, i, starts[i]-starts[i-1])
		}
	}
}
