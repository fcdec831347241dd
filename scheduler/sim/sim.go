// Package sim is a discrete-event simulator of Logos scheduling: nodes with
// GPUs, lanes (one model on one node) moving cold → loading → awake ⇄
// sleeping → unloading, a continuous-batching vLLM-like engine per lane, an
// Ollama-like engine, and cloud endpoints with RPM/TPM windows. It drives a
// core.Policy, the same decision core logosd runs, through virtual time.
//
// Time is an integer number of microseconds; events are ordered by (time,
// insertion sequence). After every event the policy's Handle runs with a
// View reflecting all executed actions, and its actions are applied. An
// illegal action (VRAM exceeded, dispatch to a lane that is not awake or has
// no slot, a transition from the wrong state, a cloud limit exceeded) is
// dropped and counted as a scheduler error.
//
// Physics (see the spec, sections 3 and 4, and docs/scheduling.md):
//   - VRAM per GPU; a lane's footprint is split evenly over its tp GPUs. A
//     wake or load reserves the awake footprint when it is accepted (even if
//     it waits for the node's transition slot); a sleep or unload frees at
//     completion. Sleeping lanes hold sleep_residual_mb.
//   - Transitions are serialized per node (max_concurrent_transitions);
//     durations are the profile's times times a seeded lognormal jitter.
//   - A lane asked to sleep or unload while busy drains: it admits nothing
//     new and transitions once its last request completes.
//   - vLLM engine: an iteration takes (α + β·b + β2·b² + γ·p)·k^φ, where b
//     is the number of decoding sequences, p the prompt tokens prefilled in
//     the iteration (at most chunked_prefill_tokens) and k the number of busy
//     lanes sharing a GPU with this one when the iteration starts
//     (simplification: k is sampled at iteration start, not integrated).
//     Each decoding sequence gains one token per iteration; a request's first
//     token comes at the end of the iteration that finished its prefill.
//     Admission is limited by max_num_seqs and KV tokens (prompt +
//     generated); when KV runs out the newest sequence is preempted back to
//     the front of the engine queue (recompute: it prefills prompt +
//     generated again).
//   - Ollama engine: the same step model with ollama_num_parallel slots.
//   - Requests reach the engine gateway_overhead_ms after dispatch.
//   - Cloud: sliding 60 s and sub-window limits on requests and tokens;
//     admission charges prompt + max_tokens (not corrected afterwards:
//     simplification); TTFT lognormal; decode at decode_tok_s.
//   - A request not dispatched within its timeout (default 1,200 s) fails;
//     failures enter latency percentiles at the time they failed.
//   - Only the profile's models that the trace can use get lanes (a sleeping
//     lane of an unused model would hold memory it never needs).
//   - Sleep level 2 takes sleep2_s and leaves the same residual as level 1;
//     waking from it costs wake_s (simplification).
//
// Not modelled yet: fault injection (load failures, cooldowns), the
// normalised trace format (only the original's CSV is read), deadlines per
// row, and cloud token charges corrected to actual tokens.
package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/logos-llm/logos/scheduler/core"
)

// ErrInvariant means the simulation broke one of its invariants; it is a
// simulator bug, never a scheduler's fault.
var ErrInvariant = errors.New("sim: invariant violated")

// Epoch is virtual time zero.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Config is one simulation run.
type Config struct {
	Profile *Profile
	Trace   *Trace
	Policy  core.Policy
	// Seed seeds transition jitter, cloud latency and hidden output lengths.
	Seed uint64
	// CompletionRatio is the mean of output/max_tokens; 0 means 0.65.
	CompletionRatio float64
	// Timeout is the queue timeout; 0 means 1,200 s.
	Timeout time.Duration
	// Tick is the period of Tick events; 0 means 10 s, negative disables.
	Tick time.Duration
	// InfiniteVRAM lifts every memory limit (the no-swap bound).
	InfiniteVRAM bool
	// Observe, when set, receives one record per resident-set change and per
	// finished request (for plots).
	Observe func(Observation)
}

// Observation is a point for plots.
type Observation struct {
	T        time.Duration
	Resident []string // awake models after a transition; nil for a request
	Model    string
	TTFT     time.Duration
	Failed   bool
}

// Outcome of one request.
type Outcome struct {
	Row        *Row
	Output     int
	Model      string // served model; "" if failed
	Lane       int
	Failed     bool
	Cloud      bool
	Arrival    int64 // µs
	Dispatch   int64 // µs, -1 if never
	FirstToken int64
	Done       int64 // completion or failure time
}

// Result of a run.
type Result struct {
	Outcomes        []Outcome
	SchedulerErrors int
	Wakes, Loads    int
	Sleeps, Unloads int
	Events          int
	CloudRejections int
}

type evKind uint8

const (
	evArrival evKind = iota
	evTick
	evTransition
	evStep
	evEngineIn
	evTimer
	evTimeout
	evCloudFirst
	evCloudDone
	evCloud429
)

type event struct {
	t    int64
	seq  uint64
	kind evKind
	a, b int32
	tag  int64
}

type evHeap []event

func (h evHeap) less(i, j int) bool {
	return h[i].t < h[j].t || (h[i].t == h[j].t && h[i].seq < h[j].seq)
}

func (h *evHeap) push(e event) {
	*h = append(*h, e)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *evHeap) pop() event {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && s.less(r, l) {
			m = r
		}
		if !s.less(m, i) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

type seqState struct {
	req     int32
	prefill int  // prompt tokens still to prefill
	gen     int  // tokens generated
	pf      int  // prefill done in the current iteration
	dec     bool // decoding in the current iteration
}

type laneRT struct {
	m          *ModelProfile
	engine     string
	overhead   int64
	waiting    []int32
	running    []seqState
	stepping   bool
	kvUsed     int
	drainTo    core.ActionKind // Sleep or Unload while draining
	pendingDur int64           // duration of the queued transition
	target     core.LaneState  // state at the end of the transition
	fromAwake  bool            // an unload started from awake
}

type nodeRT struct {
	queue  []int // lanes waiting for a transition slot
	active int
}

type cloudRT struct {
	p    *CloudProfile
	hist []cloudAdmit
}

type cloudAdmit struct {
	t      int64
	tokens int
}

type reqRT struct {
	core.Request
	out   int
	ended bool
	disp  bool
}

type sim struct {
	cfg     Config
	view    core.View
	lanes   []laneRT
	nodes   []nodeRT
	clouds  []cloudRT
	reqs    []reqRT
	res     *Result
	heap    evHeap
	seq     uint64
	now     int64
	rng     *rand.Rand
	open    int // requests not ended
	err     error
	scratch []int32
}

func us(d time.Duration) int64 { return int64(d / time.Microsecond) }

func secs(s float64) int64 { return int64(math.Round(s * 1e6)) }

// Run simulates cfg and returns every request's outcome. It fails only when
// an invariant breaks (ErrInvariant) or the input is unusable.
func Run(cfg Config) (*Result, error) {
	if cfg.Profile == nil || cfg.Trace == nil || cfg.Policy == nil {
		return nil, errors.New("sim: Config needs Profile, Trace and Policy")
	}
	if cfg.CompletionRatio == 0 {
		cfg.CompletionRatio = 0.65
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 1200 * time.Second
	}
	if cfg.Tick == 0 {
		cfg.Tick = 10 * time.Second
	}
	s := &sim{cfg: cfg, res: &Result{}}
	var th uint64
	for i := 0; i+8 <= len(cfg.Trace.SHA256); i += 8 {
		for _, c := range cfg.Trace.SHA256[i : i+8] {
			th = th*31 + uint64(c)
		}
	}
	s.rng = rand.New(rand.NewPCG(cfg.Seed, th))
	if err := s.build(); err != nil {
		return nil, err
	}
	s.loop()
	if s.err != nil {
		return nil, s.err
	}
	if s.open != 0 {
		return nil, fmt.Errorf("%w: %d requests never ended", ErrInvariant, s.open)
	}
	return s.res, s.check()
}

// build creates lanes for the models the trace can use and the requests.
func (s *sim) build() error {
	used := map[string]bool{}
	for _, r := range s.cfg.Trace.Rows {
		for _, c := range r.Candidates {
			used[c.Model] = true
		}
	}
	gpuBase := 0
	for ni := range s.cfg.Profile.Nodes {
		n := &s.cfg.Profile.Nodes[ni]
		s.view.Nodes = append(s.view.Nodes, core.Node{ID: ni, MaxTransitions: n.MaxTransitions})
		s.nodes = append(s.nodes, nodeRT{})
		for _, g := range n.GPUs {
			total := g.VRAMMB
			if s.cfg.InfiniteVRAM {
				total = math.MaxInt32
			}
			s.view.GPUs = append(s.view.GPUs, core.GPU{Node: ni, TotalMB: total})
		}
		gpuRot := 0
		for mi := range n.Models {
			m := &n.Models[mi]
			if !used[m.Name] {
				continue
			}
			id := len(s.view.Lanes)
			l := core.Lane{
				ID: id, Node: ni, Model: m.Name, AwakeMB: m.AwakeMB, SleepMB: m.SleepResidualMB,
				Slots: n.LaneSlots, Since: Epoch, LastUsed: Epoch,
				WakeCost: dur(m.WakeS), SleepCost: dur(m.SleepS), LoadCost: dur(m.ColdLoadS), UnloadCost: dur(m.UnloadS),
				StepTime:   time.Duration(m.StepAlphaMS * float64(time.Millisecond)),
				StepPerSeq: time.Duration(m.StepBetaMS * float64(time.Millisecond)),
			}
			for k := range m.TP {
				l.GPUs = append(l.GPUs, gpuBase+(gpuRot+k)%len(n.GPUs))
			}
			gpuRot = (gpuRot + m.TP) % len(n.GPUs)
			switch m.InitialState {
			case "awake":
				l.State = core.Awake
				s.addMB(id, l.AwakeMB, &l)
			case "sleeping":
				l.State = core.Sleeping
				s.addMB(id, l.SleepMB, &l)
			default:
				l.State = core.Cold
			}
			s.view.Lanes = append(s.view.Lanes, l)
			s.lanes = append(s.lanes, laneRT{m: m, engine: n.Engine, overhead: secs(n.GatewayOverheadMS / 1000)})
		}
		gpuBase += len(n.GPUs)
	}
	for i := range s.view.GPUs {
		if g := s.view.GPUs[i]; g.UsedMB > g.TotalMB {
			return fmt.Errorf("sim: profile %s: initial states exceed GPU %d memory (%d > %d MB)", s.cfg.Profile.Name, i, g.UsedMB, g.TotalMB)
		}
	}
	for i := range s.cfg.Profile.Cloud {
		c := &s.cfg.Profile.Cloud[i]
		s.clouds = append(s.clouds, cloudRT{p: c})
		s.view.Clouds = append(s.view.Clouds, core.Cloud{Name: c.Name, Models: c.Models, RPMLeft: c.RPM, TPMLeft: c.TPM})
	}
	rows := s.cfg.Trace.Rows
	s.reqs = make([]reqRT, len(rows))
	s.res.Outcomes = make([]Outcome, len(rows))
	for i := range rows {
		r := &rows[i]
		s.reqs[i] = reqRT{
			Request: core.Request{
				ID: r.ID, Index: i, Arrival: Epoch.Add(time.Duration(r.ArrivalMS) * time.Millisecond),
				Priority: r.Priority, Interactive: r.Interactive, Candidates: r.Candidates,
				PromptTokens: r.PromptTokens, MaxTokens: r.MaxTokens, Timeout: s.cfg.Timeout,
			},
			out: OutputTokens(r.ID, r.MaxTokens, s.cfg.Seed, s.cfg.CompletionRatio),
		}
		s.res.Outcomes[i] = Outcome{Row: r, Output: s.reqs[i].out, Lane: -1, Arrival: r.ArrivalMS * 1000, Dispatch: -1, FirstToken: -1, Done: -1}
		s.push(r.ArrivalMS*1000, evArrival, int32(i), 0, 0)
	}
	s.open = len(rows)
	if s.cfg.Tick > 0 && len(rows) > 0 {
		s.push(us(s.cfg.Tick), evTick, 0, 0, 0)
	}
	return nil
}

func dur(sec float64) time.Duration { return time.Duration(sec * float64(time.Second)) }

// addMB reserves mb of lane l's footprint over its GPUs.
func (s *sim) addMB(_ int, mb int, l *core.Lane) {
	per := mb / len(l.GPUs)
	for _, g := range l.GPUs {
		s.view.GPUs[g].UsedMB += per
	}
}

func (s *sim) push(t int64, k evKind, a, b int32, tag int64) {
	s.heap.push(event{t: t, seq: s.seq, kind: k, a: a, b: b, tag: tag})
	s.seq++
}

func (s *sim) fail(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf("%w: t=%dµs: %s", ErrInvariant, s.now, fmt.Sprintf(format, args...))
	}
}

func (s *sim) loop() {
	for len(s.heap) > 0 && s.err == nil {
		e := s.heap.pop()
		if e.t < s.now {
			s.fail("clock went back from %d to %d", s.now, e.t)
			return
		}
		s.now = e.t
		s.res.Events++
		switch e.kind {
		case evArrival:
			s.push(s.now+us(s.cfg.Timeout), evTimeout, e.a, 0, 0)
			s.handle(core.Event{Kind: core.Arrival, Req: &s.reqs[e.a].Request})
		case evTick:
			if s.open > 0 {
				s.handle(core.Event{Kind: core.Tick, Lane: -1})
				s.push(s.now+us(s.cfg.Tick), evTick, 0, 0, 0)
			}
		case evTimer:
			s.handle(core.Event{Kind: core.Timer, Tag: e.tag})
		case evTimeout:
			r := &s.reqs[e.a]
			if !r.disp && !r.ended {
				s.end(int(e.a), true)
				s.handle(core.Event{Kind: core.Timeout, Req: &r.Request})
			}
		case evTransition:
			s.transitionDone(int(e.a))
		case evEngineIn:
			lr := &s.lanes[e.b]
			lr.waiting = append(lr.waiting, e.a)
			s.view.Lanes[e.b].BackendWaiting++
			s.startStep(int(e.b))
		case evStep:
			s.stepDone(int(e.a))
		case evCloudFirst:
			s.res.Outcomes[e.a].FirstToken = s.now
			s.handle(core.Event{Kind: core.FirstToken, Req: &s.reqs[e.a].Request, Lane: -1, Endpoint: int(e.b)})
		case evCloudDone:
			s.view.Clouds[e.b].InFlight--
			s.end(int(e.a), false)
			s.handle(core.Event{Kind: core.Complete, Req: &s.reqs[e.a].Request, Lane: -1, Endpoint: int(e.b)})
		case evCloud429:
			s.handle(core.Event{Kind: core.CloudRejected, Req: &s.reqs[e.a].Request, Lane: -1, Endpoint: int(e.b)})
		}
	}
}

func (s *sim) nowT() time.Time { return Epoch.Add(time.Duration(s.now) * time.Microsecond) }

// handle runs the policy and applies its actions.
func (s *sim) handle(ev core.Event) {
	acts := s.cfg.Policy.Handle(s.nowT(), &s.view, ev)
	for i := range acts {
		s.apply(&acts[i])
	}
}

func (s *sim) illegal() { s.res.SchedulerErrors++ }

func (s *sim) apply(a *core.Action) {
	switch a.Kind {
	case core.Dispatch:
		if a.Req == nil || a.Lane < 0 || a.Lane >= len(s.view.Lanes) {
			s.illegal()
			return
		}
		r := &s.reqs[a.Req.Index]
		l := &s.view.Lanes[a.Lane]
		if r.disp || r.ended || !l.Free() || !candidate(&r.Request, l.Model) {
			s.illegal()
			return
		}
		r.disp = true
		l.Running++
		l.LastUsed = s.nowT()
		o := &s.res.Outcomes[a.Req.Index]
		o.Dispatch, o.Lane, o.Model = s.now, a.Lane, l.Model
		s.push(s.now+s.lanes[a.Lane].overhead, evEngineIn, int32(a.Req.Index), int32(a.Lane), 0)
	case core.Enqueue:
	case core.Reject:
		if a.Req == nil {
			s.illegal()
			return
		}
		r := &s.reqs[a.Req.Index]
		if r.disp || r.ended {
			s.illegal()
			return
		}
		s.end(a.Req.Index, true)
	case core.Wake, core.Load:
		if !s.validLane(a.Lane) {
			return
		}
		l := &s.view.Lanes[a.Lane]
		if a.Kind == core.Wake && l.State == core.Awake && l.Draining {
			// Cancel a pending drain: the lane stays awake.
			l.Draining = false
			return
		}
		want, to, d := core.Sleeping, core.Waking, l.WakeCost
		if a.Kind == core.Load {
			want, to, d = core.Cold, core.Loading, l.LoadCost
		}
		if l.State != want || !s.view.Fits(a.Lane) {
			s.illegal()
			return
		}
		s.addMB(a.Lane, s.view.NeedMB(a.Lane)*len(l.GPUs), l)
		if a.Kind == core.Wake {
			s.res.Wakes++
		} else {
			s.res.Loads++
		}
		s.begin(a.Lane, to, core.Awake, d)
	case core.Sleep, core.Unload:
		if !s.validLane(a.Lane) {
			return
		}
		l := &s.view.Lanes[a.Lane]
		switch {
		case a.Kind == core.Sleep && l.State == core.Awake && !l.Draining:
			s.res.Sleeps++
		case a.Kind == core.Unload && (l.State == core.Awake && !l.Draining || l.State == core.Sleeping):
			s.res.Unloads++
		default:
			s.illegal()
			return
		}
		if l.State == core.Awake && l.Running > 0 {
			l.Draining = true
			s.lanes[a.Lane].drainTo = a.Kind
			return
		}
		s.startDown(a.Lane, a.Kind, a.Level)
	case core.SendCloud:
		s.sendCloud(a)
	case core.SetTimer:
		t := max(int64(a.At.Sub(Epoch)/time.Microsecond), s.now)
		s.push(t, evTimer, 0, 0, a.Tag)
	default:
		s.illegal()
	}
}

func candidate(r *core.Request, model string) bool {
	for _, c := range r.Candidates {
		if c.Model == model {
			return true
		}
	}
	return false
}

func (s *sim) validLane(id int) bool {
	if id < 0 || id >= len(s.view.Lanes) {
		s.illegal()
		return false
	}
	return true
}

// startDown begins a sleep or unload of an idle lane.
func (s *sim) startDown(id int, k core.ActionKind, level int) {
	l := &s.view.Lanes[id]
	if k == core.Sleep {
		d := l.SleepCost
		if level == 2 {
			d = dur(s.lanes[id].m.Sleep2S)
		}
		s.begin(id, core.GoingToSleep, core.Sleeping, d)
		return
	}
	s.lanes[id].fromAwake = l.State == core.Awake
	s.begin(id, core.Unloading, core.Cold, l.UnloadCost)
}

// begin puts a lane into a transition, started now or queued on its node.
func (s *sim) begin(id int, state, target core.LaneState, d time.Duration) {
	l := &s.view.Lanes[id]
	lr := &s.lanes[id]
	l.State, l.Since, l.Draining = state, s.nowT(), false
	lr.target = target
	j := 1.0
	if sg := lr.m.JitterSigma; sg > 0 {
		j = math.Exp(sg * s.rng.NormFloat64())
	}
	lr.pendingDur = max(1, int64(float64(us(d))*j))
	n := &s.nodes[l.Node]
	s.view.Nodes[l.Node].Transitions++
	if n.active < s.view.Nodes[l.Node].MaxTransitions {
		n.active++
		s.push(s.now+lr.pendingDur, evTransition, int32(id), 0, 0)
		return
	}
	n.queue = append(n.queue, id)
}

func (s *sim) transitionDone(id int) {
	l := &s.view.Lanes[id]
	lr := &s.lanes[id]
	switch lr.target {
	case core.Sleeping:
		s.addMB(id, -(l.AwakeMB - l.SleepMB), l)
	case core.Cold:
		if l.State == core.Unloading {
			// frees whatever it held: awake footprint or the residual
			s.addMB(id, -s.heldMB(id), l)
		}
	}
	l.State, l.Since = lr.target, s.nowT()
	for _, g := range l.GPUs {
		if s.view.GPUs[g].UsedMB > s.view.GPUs[g].TotalMB || s.view.GPUs[g].UsedMB < 0 {
			s.fail("GPU %d holds %d of %d MB", g, s.view.GPUs[g].UsedMB, s.view.GPUs[g].TotalMB)
		}
	}
	n := &s.nodes[l.Node]
	n.active--
	s.view.Nodes[l.Node].Transitions--
	if len(n.queue) > 0 {
		next := n.queue[0]
		n.queue = n.queue[1:]
		n.active++
		s.push(s.now+s.lanes[next].pendingDur, evTransition, int32(next), 0, 0)
	}
	if l.State == core.Awake {
		s.observeResident()
	}
	s.handle(core.Event{Kind: core.TransitionDone, Lane: id})
	if l.State == core.Sleeping || l.State == core.Cold {
		s.observeResident()
	}
}

// heldMB is what an unloading lane holds: it started from awake or asleep.
func (s *sim) heldMB(id int) int {
	l := &s.view.Lanes[id]
	if s.lanes[id].fromAwake {
		return l.AwakeMB
	}
	return l.SleepMB
}

func (s *sim) observeResident() {
	if s.cfg.Observe == nil {
		return
	}
	var res []string
	for i := range s.view.Lanes {
		if s.view.Lanes[i].State == core.Awake {
			res = append(res, s.view.Lanes[i].Model)
		}
	}
	if res == nil {
		res = []string{}
	}
	s.cfg.Observe(Observation{T: time.Duration(s.now) * time.Microsecond, Resident: res})
}

// end finishes a request once.
func (s *sim) end(i int, failed bool) {
	r := &s.reqs[i]
	if r.ended {
		s.fail("request %s ended twice", r.ID)
		return
	}
	r.ended = true
	s.open--
	o := &s.res.Outcomes[i]
	o.Done = s.now
	o.Failed = failed
	if failed {
		o.Model = ""
	}
	if s.cfg.Observe != nil {
		ttft := o.FirstToken - o.Arrival
		if failed || o.FirstToken < 0 {
			ttft = s.now - o.Arrival
		}
		s.cfg.Observe(Observation{T: time.Duration(o.Arrival) * time.Microsecond, Model: o.Model, TTFT: time.Duration(ttft) * time.Microsecond, Failed: failed})
	}
}
