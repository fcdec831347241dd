package sim

import (
	"math"
	"slices"

	"github.com/logos-llm/logos/scheduler"
)

// Percentile returns the p-th percentile (0–100) of xs by linear
// interpolation between closest ranks (numpy's default, as the original's
// benchmark computes it); NaN for no values. xs is sorted in place.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	slices.Sort(xs)
	pos := p / 100 * float64(len(xs)-1)
	i := int(math.Floor(pos))
	if i >= len(xs)-1 {
		return xs[len(xs)-1]
	}
	f := pos - float64(i)
	return xs[i] + f*(xs[i+1]-xs[i])
}

// Dist is a latency distribution's summary.
type Dist struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Dist2 is a summary with p50 and p95 only.
type Dist2 struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
}

// ByPriority holds one Dist per priority class.
type ByPriority struct {
	High Dist `json:"high"`
	Mid  Dist `json:"mid"`
	Low  Dist `json:"low"`
}

// Summary is the JSON object `logos-sim run` prints. Field order is part of
// the output format.
type Summary struct {
	Trace           string     `json:"trace"`
	Profile         string     `json:"profile"`
	Scheduler       string     `json:"scheduler"`
	Seed            uint64     `json:"seed"`
	Requests        int        `json:"requests"`
	Completed       int        `json:"completed"`
	Failed          int        `json:"failed"`
	SchedulerErrors int        `json:"scheduler_errors"`
	TTFT            Dist       `json:"ttft_s"`
	TTFTByPriority  ByPriority `json:"ttft_s_by_priority"`
	QueueWait       Dist2      `json:"queue_wait_s"`
	TPOT            Dist2      `json:"tpot_ms"`
	E2E             Dist2      `json:"e2e_s"`
	Makespan        float64    `json:"makespan_s"`
	Wakes           int        `json:"wakes"`
	Loads           int        `json:"loads"`
	Sleeps          int        `json:"sleeps"`
	Unloads         int        `json:"unloads"`
	QualityRegret   float64    `json:"quality_regret"`
	GitCommit       string     `json:"git_commit"`
	TraceSHA256     string     `json:"trace_sha256"`
	ProfileSHA256   string     `json:"profile_sha256"`

	// ModelP95 is each served model's p95 TTFT (failures count for their
	// first candidate), for the fairness ratio; not part of the JSON.
	ModelP95 map[string]float64 `json:"-"`
}

// Fairness returns max/min of the per-model p95 TTFT (1 for one model).
func (s *Summary) Fairness() float64 {
	lo, hi := math.Inf(1), 0.0
	for _, v := range s.ModelP95 {
		lo, hi = min(lo, v), max(hi, v)
	}
	if len(s.ModelP95) == 0 || lo <= 0 {
		return 1
	}
	return hi / lo
}

func r4(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return math.Round(x*1e4) / 1e4
}

func dist(xs []float64) Dist {
	if len(xs) == 0 {
		return Dist{}
	}
	return Dist{P50: r4(Percentile(xs, 50)), P95: r4(Percentile(xs, 95)), P99: r4(Percentile(xs, 99)), Max: r4(Percentile(xs, 100))}
}

func dist2(xs []float64) Dist2 {
	if len(xs) == 0 {
		return Dist2{}
	}
	return Dist2{P50: r4(Percentile(xs, 50)), P95: r4(Percentile(xs, 95))}
}

// Summarize computes the metrics of a run. Failed requests enter TTFT, queue
// wait and e2e at the time they failed; TPOT counts completed requests with
// more than one output token.
func Summarize(res *Result) Summary {
	var s Summary
	var ttft, qw, tpot, e2e []float64
	var byP [3][]float64
	byModel := map[string][]float64{}
	first, last := int64(math.MaxInt64), int64(0)
	regret, routed := 0.0, 0
	for i := range res.Outcomes {
		o := &res.Outcomes[i]
		s.Requests++
		first = min(first, o.Arrival)
		var t float64
		if o.Failed {
			s.Failed++
			t = float64(o.Done-o.Arrival) / 1e6
			qw = append(qw, t)
		} else {
			s.Completed++
			last = max(last, o.Done)
			t = float64(o.FirstToken-o.Arrival) / 1e6
			qw = append(qw, float64(o.Dispatch-o.Arrival)/1e6)
			if o.Output > 1 {
				tpot = append(tpot, float64(o.Done-o.FirstToken)/1e3/float64(o.Output-1))
			}
		}
		ttft = append(ttft, t)
		e2e = append(e2e, float64(o.Done-o.Arrival)/1e6)
		switch o.Row.Priority.Normalize() {
		case scheduler.PriorityHigh:
			byP[0] = append(byP[0], t)
		case scheduler.PriorityLow:
			byP[2] = append(byP[2], t)
		default:
			byP[1] = append(byP[1], t)
		}
		m := o.Model
		if m == "" && len(o.Row.Candidates) > 0 {
			m = o.Row.Candidates[0].Model
		}
		byModel[m] = append(byModel[m], t)
		if o.Row.Model == "" && len(o.Row.Candidates) > 0 {
			routed++
			regret += regretOf(o)
		}
	}
	s.TTFT = dist(ttft)
	s.TTFTByPriority = ByPriority{High: dist(byP[0]), Mid: dist(byP[1]), Low: dist(byP[2])}
	s.QueueWait = dist2(qw)
	s.TPOT = dist2(tpot)
	s.E2E = dist2(e2e)
	if last > 0 {
		s.Makespan = r4(float64(last-first) / 1e6)
	}
	s.SchedulerErrors = res.SchedulerErrors
	s.Wakes, s.Loads, s.Sleeps, s.Unloads = res.Wakes, res.Loads, res.Sleeps, res.Unloads
	if routed > 0 {
		s.QualityRegret = r4(regret / float64(routed))
	}
	s.ModelP95 = make(map[string]float64, len(byModel))
	for m, xs := range byModel {
		s.ModelP95[m] = Percentile(xs, 95)
	}
	return s
}

// regretOf is (w_top − w_served)/span for a policy-routed request, with the
// original's span floor max(spread, 0.2·max|w|, 1); a failed request has the
// worst weight's regret.
func regretOf(o *Outcome) float64 {
	top, lo := math.Inf(-1), math.Inf(1)
	for _, c := range o.Row.Candidates {
		top, lo = max(top, c.Weight), min(lo, c.Weight)
	}
	span := max(top-lo, 0.2*max(math.Abs(top), math.Abs(lo)), 1)
	served := lo
	for _, c := range o.Row.Candidates {
		if !o.Failed && c.Model == o.Model {
			served = c.Weight
		}
	}
	return (top - served) / span
}
