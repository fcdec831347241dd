package sim

import (
	"fmt"
	"math"

	"github.com/logos-llm/logos/scheduler/core"
)

const window = 60_000_000 // µs

// cloudCount returns requests and tokens admitted in (now-span, now].
func (c *cloudRT) count(now, span int64) (reqs, tokens int) {
	for i := len(c.hist) - 1; i >= 0 && c.hist[i].t > now-span; i-- {
		reqs++
		tokens += c.hist[i].tokens
	}
	return reqs, tokens
}

// admits reports whether a request of cost tokens fits the 60 s window and
// the sub-window share of both limits.
func (c *cloudRT) admits(now int64, cost int) bool {
	sub := secs(c.p.SubwindowS)
	frac := float64(sub) / window
	r60, t60 := c.count(now, window)
	rs, ts := c.count(now, sub)
	if c.p.RPM > 0 && (r60+1 > c.p.RPM || float64(rs+1) > math.Ceil(float64(c.p.RPM)*frac)) {
		return false
	}
	if c.p.TPM > 0 && (t60+cost > c.p.TPM || float64(ts+cost) > math.Ceil(float64(c.p.TPM)*frac)) {
		return false
	}
	return true
}

func (s *sim) sendCloud(a *core.Action) {
	if a.Req == nil || a.Endpoint < 0 || a.Endpoint >= len(s.clouds) {
		s.illegal()
		return
	}
	r := &s.reqs[a.Req.Index]
	c := &s.clouds[a.Endpoint]
	served := ""
	for _, m := range c.p.Models {
		if candidate(&r.Request, m) {
			served = m
			break
		}
	}
	if r.disp || r.ended || served == "" {
		s.illegal()
		return
	}
	cost := r.PromptTokens + r.MaxTokens
	if !c.admits(s.now, cost) {
		s.res.CloudRejections++
		s.push(s.now+100_000, evCloud429, int32(a.Req.Index), int32(a.Endpoint), 0)
		return
	}
	// drop history older than the window
	k := 0
	for k < len(c.hist) && c.hist[k].t <= s.now-window {
		k++
	}
	c.hist = append(c.hist[k:], cloudAdmit{t: s.now, tokens: cost})
	r.disp = true
	v := &s.view.Clouds[a.Endpoint]
	v.InFlight++
	o := &s.res.Outcomes[a.Req.Index]
	o.Dispatch, o.Model, o.Cloud = s.now, served, true
	ttft := c.p.TTFTMedianS * math.Exp(c.p.TTFTSigma*s.rng.NormFloat64())
	first := s.now + secs(ttft)
	s.push(first, evCloudFirst, int32(a.Req.Index), int32(a.Endpoint), 0)
	s.push(first+secs(float64(r.out-1)/c.p.DecodeTokS), evCloudDone, int32(a.Req.Index), int32(a.Endpoint), 0)
}

// check verifies the end-of-run invariants.
func (s *sim) check() error {
	for i := range s.res.Outcomes {
		o := &s.res.Outcomes[i]
		if o.Done < o.Arrival {
			return fmt.Errorf("%w: request %s ends at %d before it arrived at %d", ErrInvariant, o.Row.ID, o.Done, o.Arrival)
		}
		if !o.Failed && (o.FirstToken < o.Dispatch || o.Dispatch < o.Arrival || o.Done < o.FirstToken) {
			return fmt.Errorf("%w: request %s times out of order: %+v", ErrInvariant, o.Row.ID, *o)
		}
	}
	for i := range s.clouds {
		c := &s.clouds[i]
		for j := range c.hist {
			if !admitsUpTo(c, j) {
				return fmt.Errorf("%w: cloud %s limits exceeded at %d", ErrInvariant, c.p.Name, c.hist[j].t)
			}
		}
	}
	return nil
}

// admitsUpTo re-checks the limits at admission j against the admissions
// before it still in the retained history.
func admitsUpTo(c *cloudRT, j int) bool {
	t := c.hist[j].t
	r60, t60 := 0, 0
	for k := j; k >= 0 && c.hist[k].t > t-window; k-- {
		r60++
		t60 += c.hist[k].tokens
	}
	return (c.p.RPM == 0 || r60 <= c.p.RPM) && (c.p.TPM == 0 || t60 <= c.p.TPM)
}
