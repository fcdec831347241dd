package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"time"

	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/scheduler/core"
	"github.com/logos-llm/logos/scheduler/sim"
)

type check struct {
	name      string
	got       float64
	lo, hi    float64
	reference string
}

func (c check) ok() bool { return c.got >= c.lo && c.got <= c.hi }

func within(name string, got, want, tol float64, ref string) check {
	return check{name, got, want * (1 - tol), want * (1 + tol), ref}
}

// greedy dispatches every request at once to the first awake lane of its
// first candidate: the engine alone, no scheduler.
type greedy struct{}

func (greedy) Handle(_ time.Time, v *core.View, ev core.Event) []core.Action {
	if ev.Kind != core.Arrival {
		return nil
	}
	for i := range v.Lanes {
		if v.Lanes[i].Model == ev.Req.Candidates[0].Model && v.Lanes[i].Free() {
			return []core.Action{core.DispatchTo(ev.Req, i)}
		}
	}
	return []core.Action{core.EnqueueReq(ev.Req)}
}

// transitions sleeps, wakes, unloads and loads one lane in turn, recording
// how long each took.
type transitions struct {
	lane  int
	step  int
	start time.Time
	took  []time.Duration
}

func (t *transitions) Handle(now time.Time, _ *core.View, ev core.Event) []core.Action {
	switch ev.Kind {
	case core.Arrival:
		t.start = now
		return []core.Action{core.RejectReq(ev.Req, scheduler.ErrClosed), core.SleepLane(t.lane)}
	case core.TransitionDone:
		t.took = append(t.took, now.Sub(t.start))
		t.start = now
		t.step++
		switch t.step {
		case 1:
			return []core.Action{core.WakeLane(t.lane)}
		case 2:
			return []core.Action{core.UnloadLane(t.lane)}
		case 3:
			return []core.Action{core.LoadLane(t.lane)}
		}
	}
	return nil
}

func microProfile() (*sim.Profile, error) {
	p, err := sim.LoadProfile("vllm-microbench")
	if err != nil {
		return nil, err
	}
	p = p.Clone()
	for i := range p.Nodes {
		p.Nodes[i].GatewayOverheadMS = 0
	}
	return p, nil
}

// engineRun runs n simultaneous 100-token-prompt requests of 256 output
// tokens on model and returns decode tok/s (n / TPOT) and the median TTFT.
func engineRun(p *sim.Profile, model string, n int) (tokS, ttft float64, err error) {
	tr := &sim.Trace{Name: "microbench", SHA256: "microbench"}
	for i := range n {
		tr.Rows = append(tr.Rows, sim.Row{ID: fmt.Sprintf("m-%d", i), Interactive: true, Priority: scheduler.PriorityNormal,
			Model: model, Candidates: []core.Candidate{{Model: model, Weight: 1}}, PromptTokens: 100, MaxTokens: 256})
	}
	res, err := sim.Run(sim.Config{Profile: p, Trace: tr, Policy: greedy{}, CompletionRatio: 1, Tick: -1})
	if err != nil {
		return 0, 0, err
	}
	s := sim.Summarize(res)
	return float64(n) / (s.TPOT.P50 / 1000), s.TTFT.P50, nil
}

func cmdValidate(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	dir := fs.String("workloads", "/work/shared/workloads", "folder of the shared traces")
	seeds := fs.String("seeds", "1-5", "seeds for the trace checks")
	if err := fs.Parse(args); err != nil {
		return err
	}
	seedList, err := parseSeeds(*seeds)
	if err != nil {
		return err
	}
	var checks []check
	// 1. Engine microbenchmarks (±15 %).
	mp, err := microProfile()
	if err != nil {
		return err
	}
	for _, c := range []struct {
		model string
		n     int
		want  float64
	}{
		{"deepseek-r1-8b-fp16", 1, 30}, {"deepseek-r1-8b-fp16", 32, 835}, {"deepseek-r1-8b-fp16", 64, 1415},
		{"qwen-32b-awq", 1, 17}, {"qwen-32b-awq", 8, 104}, {"qwen-32b-awq", 32, 264},
	} {
		tok, ttft, err := engineRun(mp, c.model, c.n)
		if err != nil {
			return err
		}
		checks = append(checks, within(fmt.Sprintf("engine %s tok/s @%d", c.model, c.n), tok, c.want, 0.15, "vLLM curve"))
		if c.n == 1 {
			want := map[string]float64{"deepseek-r1-8b-fp16": 0.072, "qwen-32b-awq": 0.43}[c.model]
			checks = append(checks, within(fmt.Sprintf("engine %s TTFT @1 (s)", c.model), ttft, want, 0.15, "vLLM"))
		}
	}
	tp := &transitions{}
	tr := &sim.Trace{Name: "transitions", SHA256: "transitions", Rows: []sim.Row{{ID: "t", Priority: scheduler.PriorityNormal,
		Candidates: []core.Candidate{{Model: "deepseek-r1-8b-fp16", Weight: 1}}, PromptTokens: 1, MaxTokens: 1}}}
	if _, err := sim.Run(sim.Config{Profile: mp, Trace: tr, Policy: tp, Tick: -1}); err != nil {
		return err
	}
	if len(tp.took) == 4 {
		checks = append(checks,
			within("transition sleep L1 FP16 8B (s)", tp.took[0].Seconds(), 10.1, 0.15, "measured"),
			within("transition wake (s)", tp.took[1].Seconds(), 1.8, 0.15, "measured"),
			within("transition cold load (s)", tp.took[3].Seconds(), 57, 0.15, "measured"))
	} else {
		checks = append(checks, check{name: "transitions ran", got: float64(len(tp.took)), lo: 4, hi: 4})
	}
	// 2. ETTFT port on hw3 150/300.
	for _, c := range []struct {
		file             string
		p50, p95, tpot50 float64
	}{
		{"workload_explicit_hw3_even_random_150_10m.csv", 18.7, 66.4, 43.8},
		{"workload_explicit_hw3_even_random_300_10m.csv", 27.6, 70.7, 43.0},
	} {
		tr, p, err := loadInputs(filepath.Join(*dir, c.file), "logos-2x16", "")
		if err != nil {
			return err
		}
		var specs []spec
		for _, sd := range seedList {
			specs = append(specs, spec{trace: tr, profile: p, profName: "logos-2x16", scheduler: "ettft", seed: sd, ratio: 0.65})
		}
		sums, err := runAll(specs)
		if err != nil {
			return err
		}
		med := func(f func(s *sim.Summary) float64) float64 {
			xs := make([]float64, len(sums))
			for i := range sums {
				xs[i] = f(&sums[i])
			}
			return median(xs)
		}
		n := len(tr.Rows)
		checks = append(checks,
			within("ettft "+n3(n)+" TTFT p50 (s)", med(func(s *sim.Summary) float64 { return s.TTFT.P50 }), c.p50, 0.35, "published"),
			within("ettft "+n3(n)+" TTFT p95 (s)", med(func(s *sim.Summary) float64 { return s.TTFT.P95 }), c.p95, 0.35, "published"),
			check{"ettft " + n3(n) + " queue wait p50 (s)", med(func(s *sim.Summary) float64 { return s.QueueWait.P50 }), 5, 15, "published ≈ 9 s"},
			within("ettft "+n3(n)+" TPOT p50 (ms)", med(func(s *sim.Summary) float64 { return s.TPOT.P50 }), c.tpot50, 0.15, "published"),
			check{"ettft " + n3(n) + " cold loads", med(func(s *sim.Summary) float64 { return float64(s.Loads) }), 0, 0, "published"},
			check{"ettft " + n3(n) + " success share", med(func(s *sim.Summary) float64 { return float64(s.Completed) / float64(s.Requests) }), 0.99, 1, "published"},
		)
	}
	// 3. Raw-Ollama emulation on hw3 150/300 with Ollama physics.
	var ollamaP50 [2]float64
	for i, c := range []struct {
		file string
		p50  float64
	}{
		{"workload_explicit_hw3_even_random_150_10m.csv", 31.7},
		{"workload_explicit_hw3_even_random_300_10m.csv", 247},
	} {
		tr, p, err := loadInputs(filepath.Join(*dir, c.file), "ollama-2x16", "")
		if err != nil {
			return err
		}
		var specs []spec
		for _, sd := range seedList {
			specs = append(specs, spec{trace: tr, profile: p, profName: "ollama-2x16", scheduler: "ollama", seed: sd, ratio: 0.65})
		}
		sums, err := runAll(specs)
		if err != nil {
			return err
		}
		p50s, sw := make([]float64, len(sums)), make([]float64, len(sums))
		for j := range sums {
			p50s[j], sw[j] = sums[j].TTFT.P50, float64(sums[j].Loads+sums[j].Wakes)
		}
		ollamaP50[i] = median(p50s)
		n := len(tr.Rows)
		if n == 300 {
			checks = append(checks, within("ollama hw3-300 TTFT p50 (s)", ollamaP50[i], c.p50, 0.35, "published"))
		}
		checks = append(checks, check{fmt.Sprintf("ollama hw3-%d model loads (switches)", n), median(sw), 0, 10, "published 4–6"})
	}
	checks = append(checks, check{"ollama overload between 150 and 300: p50(300)/p50(150)", ollamaP50[1] / max(ollamaP50[0], 1e-9), 3, math.Inf(1), "published 247/31.7"})
	// 4. Metrics: linear-interpolation percentiles.
	checks = append(checks, check{"percentile p95 of 1..10 (linear)", sim.Percentile([]float64{10, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 95), 9.55 - 1e-9, 9.55 + 1e-9, "numpy"})

	failed := 0
	fmt.Fprintln(stdout, "| check | value | accepted range | reference | result |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|")
	for _, c := range checks {
		res := "pass"
		if !c.ok() {
			res = "FAIL"
			failed++
		}
		fmt.Fprintf(stdout, "| %s | %.3f | %s–%s | %s | %s |\n", c.name, c.got, g(c.lo), g(c.hi), c.reference, res)
	}
	fmt.Fprintln(stdout, "\nInvariants (VRAM, awake-only execution, one end per request, cloud limits, monotonic clock) are checked inside every run above; a violation aborts the run.")
	if failed > 0 {
		return fmt.Errorf("%d of %d validation checks failed", failed, len(checks))
	}
	return nil
}

func n3(n int) string { return fmt.Sprintf("hw3-%d", n) }

func g(x float64) string {
	if math.IsInf(x, 1) {
		return "∞"
	}
	if x == math.Trunc(x) {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.3g", x)
}
