package sim

import (
	"math"

	"github.com/logos-llm/logos/scheduler/core"
)

// startStep begins an engine iteration on lane id if it has work and none
// is running.
func (s *sim) startStep(id int) {
	lr := &s.lanes[id]
	if lr.stepping {
		return
	}
	l := &s.view.Lanes[id]
	m := lr.m
	limit := m.MaxNumSeqs
	if lr.engine == "ollama" {
		limit = m.OllamaNumParallel
	}
	// Admit from the engine queue while there is room in seqs and KV.
	for len(lr.waiting) > 0 && len(lr.running) < limit {
		ri := lr.waiting[0]
		r := &s.reqs[ri]
		need := r.PromptTokens + 1
		if lr.kvUsed+need > m.KVTokens && len(lr.running) > 0 {
			break
		}
		lr.waiting = lr.waiting[1:]
		l.BackendWaiting--
		lr.kvUsed += need
		lr.running = append(lr.running, seqState{req: ri, prefill: r.PromptTokens})
	}
	if len(lr.running) == 0 {
		return
	}
	if l.State != core.Awake {
		s.fail("lane %d (%s) runs requests while %s", id, l.Model, l.State)
		return
	}
	budget := m.ChunkedPrefill
	b, p := 0, 0
	for i := range lr.running {
		q := &lr.running[i]
		q.dec = q.prefill == 0
		q.pf = 0
		if q.dec {
			b++
			continue
		}
		if budget > 0 {
			q.pf = min(q.prefill, budget)
			budget -= q.pf
			p += q.pf
		}
	}
	k := 0
	for j := range s.lanes {
		if len(s.lanes[j].running) > 0 && (j == id || s.view.Shares(id, j)) {
			k++
		}
	}
	tau := m.StepAlphaMS + m.StepBetaMS*float64(b) + m.StepBeta2*float64(b*b) + m.PrefillMSPerTok*float64(p)
	if k > 1 {
		tau *= math.Pow(float64(k), s.cfg.Profile.Colocation)
	}
	lr.stepping = true
	s.push(s.now+max(1, int64(tau*1000)), evStep, int32(id), 0, 0)
}

// stepDone ends an iteration: tokens, first tokens, completions, KV
// preemption, then the next iteration.
func (s *sim) stepDone(id int) {
	lr := &s.lanes[id]
	l := &s.view.Lanes[id]
	lr.stepping = false
	keep := lr.running[:0]
	var done, first []int32
	done, first = s.scratch[:0], nil
	for _, q := range lr.running {
		switch {
		case q.dec:
			q.gen++
			lr.kvUsed++
		case q.pf > 0:
			q.prefill -= q.pf
			if q.prefill == 0 {
				q.gen++
				lr.kvUsed++
				if o := &s.res.Outcomes[q.req]; o.FirstToken < 0 {
					o.FirstToken = s.now
					first = append(first, q.req)
				}
			}
		}
		if q.gen >= s.reqs[q.req].out && q.prefill == 0 {
			lr.kvUsed -= s.reqs[q.req].PromptTokens + 1 + q.gen
			done = append(done, q.req)
			continue
		}
		keep = append(keep, q)
	}
	lr.running = keep
	// KV preemption: the newest sequence goes back to the queue front.
	for lr.kvUsed > lr.m.KVTokens && len(lr.running) > 1 {
		q := lr.running[len(lr.running)-1]
		lr.running = lr.running[:len(lr.running)-1]
		r := &s.reqs[q.req]
		lr.kvUsed -= r.PromptTokens + 1 + q.gen
		// Recompute preemption: the prompt and the generated tokens are
		// prefilled again; the output still needs out-gen tokens.
		r.out -= q.gen
		r.PromptTokens += q.gen
		lr.waiting = append([]int32{q.req}, lr.waiting...)
		l.BackendWaiting++
	}
	s.scratch = done
	for _, ri := range first {
		s.handle(core.Event{Kind: core.FirstToken, Req: &s.reqs[ri].Request, Lane: id})
	}
	for _, ri := range done {
		l.Running--
		l.LastUsed = s.nowT()
		s.end(int(ri), false)
		s.handle(core.Event{Kind: core.Complete, Req: &s.reqs[ri].Request, Lane: id})
	}
	if l.Draining && l.Running == 0 {
		s.startDown(id, lr.drainTo, 1)
	}
	s.startStep(id)
}
