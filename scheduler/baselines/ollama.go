package baselines

import (
	"errors"
	"time"

	"github.com/logos-llm/logos/scheduler/core"
)

// Constants of Ollama's scheduler (server/sched.go defaults).
const (
	ollamaKeepAlive = 5 * time.Minute
	ollamaMaxQueue  = 512
)

// ErrOllamaQueueFull is the rejection of a request beyond OLLAMA_MAX_QUEUE.
var ErrOllamaQueueFull = errors.New("ollama: server busy, queue full")

// Ollama emulates bare Ollama behind no gateway queue, for use with Ollama
// physics (profile ollama-2x16): one FIFO of pending requests for all
// models; the head is sent to its model's runner when it is loaded (the
// runner's num_parallel slots and its own queue are the engine's); a head
// whose model is not loaded blocks the queue (head-of-line) while a runner
// is loaded, first evicting the least recently used idle runner, or, when
// every runner is busy, waiting for one to finish (it is unloaded as soon as
// it is idle). Idle runners are unloaded after the 5-minute keep-alive; more
// than 512 pending requests are rejected.
//
// Simplifications: eviction picks the least recently used idle runner rather
// than the one with the shortest session duration; when all runners are busy
// it drains the least recently used one instead of waiting for whichever
// finishes first; OLLAMA_MAX_LOADED_MODELS is not binding on two GPUs.
type Ollama struct {
	pending []*core.Request
	laneOf  map[string]int
	acts    []core.Action
}

// NewOllama returns the raw-Ollama emulation.
func NewOllama() *Ollama { return &Ollama{laneOf: map[string]int{}} }

// Handle implements core.Policy.
func (o *Ollama) Handle(now time.Time, view *core.View, ev core.Event) []core.Action {
	o.acts = o.acts[:0]
	if len(o.laneOf) == 0 {
		for i := range view.Lanes {
			o.laneOf[view.Lanes[i].Model] = i
		}
	}
	switch ev.Kind {
	case core.Arrival:
		if len(o.pending) >= ollamaMaxQueue {
			return append(o.acts, core.RejectReq(ev.Req, ErrOllamaQueueFull))
		}
		o.pending = append(o.pending, ev.Req)
	case core.Timeout, core.Cancel:
		for i, r := range o.pending {
			if r == ev.Req {
				o.pending = append(o.pending[:i], o.pending[i+1:]...)
				break
			}
		}
	case core.Tick:
		for i := range view.Lanes {
			ln := &view.Lanes[i]
			if ln.State == core.Awake && !ln.Draining && ln.Running == 0 && now.Sub(ln.LastUsed) >= ollamaKeepAlive {
				o.acts = append(o.acts, core.UnloadLane(i))
			}
		}
	}
	for len(o.pending) > 0 {
		r := o.pending[0]
		l, ok := o.laneOf[r.Candidates[0].Model]
		if !ok {
			o.pending = o.pending[1:]
			o.acts = append(o.acts, core.RejectReq(r, errors.New("ollama: model not found")))
			continue
		}
		ln := &view.Lanes[l]
		if ln.State == core.Awake && !ln.Draining {
			o.pending = o.pending[1:]
			o.acts = append(o.acts, core.DispatchTo(r, l))
			continue
		}
		if ln.State == core.Cold && view.Fits(l) && !unloading(view) {
			o.acts = append(o.acts, core.LoadLane(l))
		} else if ln.State == core.Cold && !unloading(view) {
			o.evict(view, l)
		}
		break // head-of-line blocking
	}
	return o.acts
}

func unloading(view *core.View) bool {
	for i := range view.Lanes {
		if view.Lanes[i].State == core.Unloading || (view.Lanes[i].State == core.Awake && view.Lanes[i].Draining) {
			return true
		}
	}
	return false
}

// evict unloads the least recently used idle runner sharing a GPU with
// target, or drains the least recently used busy one.
func (o *Ollama) evict(view *core.View, target int) {
	best := -1
	for i := range view.Lanes {
		ln := &view.Lanes[i]
		if i == target || ln.State != core.Awake || ln.Draining || !view.Shares(i, target) {
			continue
		}
		if best < 0 {
			best = i
			continue
		}
		b := &view.Lanes[best]
		if (ln.Running == 0) != (b.Running == 0) {
			if ln.Running == 0 {
				best = i
			}
			continue
		}
		if ln.LastUsed.Before(b.LastUsed) {
			best = i
		}
	}
	if best >= 0 {
		o.acts = append(o.acts, core.UnloadLane(best))
	}
}
