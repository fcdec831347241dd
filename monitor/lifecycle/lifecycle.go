// Package lifecycle executes model lifecycle transitions against real
// backends: Ollama preload and unload (POST /api/generate with keep_alive),
// vLLM sleep and wake (POST /sleep?level=N, POST /wake_up) for providers
// configured with sleep mode. It is the scheduler.Lifecycle a scheduler
// that manages lifecycles (scheduler/core's Adapter) executes its Wake,
// Sleep, Load and Unload actions through.
//
// Lanes and nodes: every deployment is a lane. Lanes whose servers run on
// the same host (the host of the provider's monitoring URL, else of its
// base URL) form one node: they share its accelerator memory (the largest
// TotalVRAMMB of its providers) and their transitions run one at a time.
// A lane's footprint and transition times come from Config.Profiles by
// upstream model name; an Ollama model's footprint is otherwise what
// /api/ps last reported for it. Its current state comes from the live
// monitor's last poll (Ollama: loaded or not; vLLM: asleep or not); an
// unknown state is awake, never busy.
//
// The capabilities used are providers.ModelLoader (Ollama: Load and Unload;
// Sleep and Wake are an unload and a load, Ollama has no sleep) and
// providers.Sleeper (vLLM: Sleep and Wake; a vLLM model change needs a new
// process, so Load and Unload are unsupported). Deployments of OpenAI and
// Azure providers are described as cloud lanes.
//
// A failed transition is logged, counted (logos_lifecycle_transitions_total
// by provider, action and result) and kept in the history (Records), and
// the lane cools down: no wake is attempted on it for WakeCooldown after a
// failed wake (15 s), no load for LoadCooldown after a failed load (120 s).
package lifecycle

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/logos-llm/logos/monitor/live"
	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Sentinel errors of Transition.
var (
	// ErrUnknownDeployment means the deployment has no lifecycle.
	ErrUnknownDeployment = errors.New("lifecycle: unknown deployment")
	// ErrCoolingDown means the same transition failed on the lane recently.
	ErrCoolingDown = errors.New("lifecycle: cooling down after a failure")
)

// Defaults of Config.
const (
	DefaultWakeCooldown = 15 * time.Second
	DefaultLoadCooldown = 120 * time.Second
	// DefaultTimeout bounds one transition (the original's lane load
	// command timeout).
	DefaultTimeout = 30 * time.Minute
	// DefaultHistory is how many transitions Records keeps.
	DefaultHistory = 256
)

// Profile is what a model costs on a node.
type Profile struct {
	// AwakeMB and SleepMB are the model's memory awake and asleep.
	AwakeMB, SleepMB int
	// Expected transition times.
	Wake, Sleep, Load, Unload time.Duration
	// StepTime and StepPerSeq model a decode iteration with b sequences:
	// StepTime + StepPerSeq·b.
	StepTime, StepPerSeq time.Duration
}

// StateSource tells the providers' last polled state; *live.Monitor is
// one.
type StateSource interface {
	ProviderState(id int64) (live.ProviderState, bool)
}

// Config configures an Executor. The zero value of every field is usable.
type Config struct {
	// Providers maps provider kinds to implementations.
	Providers providers.Registry
	// Client sends the transitions; defaults to http.DefaultClient.
	Client *http.Client
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the transition metrics; nil registers none.
	Registerer prometheus.Registerer
	// Profiles gives models' footprints and transition times by upstream
	// model name.
	Profiles map[string]Profile
	// State gives the lanes' current state; nil: every lane starts awake.
	State StateSource
	// WakeCooldown and LoadCooldown default to 15 s and 120 s.
	WakeCooldown, LoadCooldown time.Duration
	// Timeout bounds one transition; defaults to 30 minutes.
	Timeout time.Duration
	// History is how many transitions Records keeps; defaults to 256.
	History int
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
}

// Record is one executed (or refused) transition.
type Record struct {
	DeploymentID int64         `json:"deployment_id"`
	ProviderID   int64         `json:"provider_id"`
	Provider     string        `json:"provider"`
	Model        string        `json:"model"`
	Action       string        `json:"action"`
	Started      time.Time     `json:"started"`
	Duration     time.Duration `json:"duration_ns"`
	Err          string        `json:"error,omitempty"`
}

// lane is one deployment's lifecycle settings.
type lane struct {
	dep       int64
	provider  store.Provider
	node      string
	model     string
	target    providers.Target
	opts      providers.PollOptions
	keepAlive time.Duration
	loader    providers.ModelLoader
	sleeper   providers.Sleeper
	cloud     bool
}

// Executor executes transitions; it implements scheduler.Lifecycle. It is
// safe for concurrent use.
type Executor struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	lanes   map[int64]*lane
	nodes   map[string]chan struct{} // one token per node
	nodeMB  map[string]int
	cool    map[coolKey]time.Time
	history []Record

	transitions *prometheus.CounterVec
	seconds     *prometheus.HistogramVec
}

type coolKey struct {
	dep  int64
	kind scheduler.Transition
}

var _ scheduler.Lifecycle = (*Executor)(nil)

// New returns an Executor knowing no deployment until Sync.
func New(cfg Config) (*Executor, error) {
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.WakeCooldown <= 0 {
		cfg.WakeCooldown = DefaultWakeCooldown
	}
	if cfg.LoadCooldown <= 0 {
		cfg.LoadCooldown = DefaultLoadCooldown
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.History <= 0 {
		cfg.History = DefaultHistory
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &Executor{cfg: cfg, log: cfg.Logger, lanes: map[int64]*lane{}, nodes: map[string]chan struct{}{},
		nodeMB: map[string]int{}, cool: map[coolKey]time.Time{}}
	e.transitions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "logos_lifecycle_transitions_total",
		Help: "Model lifecycle transitions (wake, sleep, load, unload) executed against backends, by provider, action and result (ok, error, cooling_down).",
	}, []string{"provider", "action", "result"})
	e.seconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "logos_lifecycle_transition_seconds",
		Help:    "Duration of model lifecycle transitions, by action.",
		Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300},
	}, []string{"action"})
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{e.transitions, e.seconds} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("lifecycle: registering metrics: %w", err)
			}
		}
	}
	return e, nil
}

// Sync makes the Executor's lanes match the catalogue c (with credentials
// in clear). Transitions in progress finish with their old settings.
func (e *Executor) Sync(c store.Catalog) {
	provs := make(map[int64]store.Provider, len(c.Providers))
	for _, p := range c.Providers {
		provs[p.ID] = p
	}
	models := make(map[int64]string, len(c.Models))
	for _, m := range c.Models {
		models[m.ID] = m.Name
	}
	lanes := make(map[int64]*lane, len(c.Deployments))
	nodeMB := map[string]int{}
	for _, d := range c.Deployments {
		p, ok := provs[d.ProviderID]
		if !ok {
			continue
		}
		l := &lane{dep: d.ID, provider: p, node: nodeOf(p), model: cmp.Or(d.UpstreamModel, models[d.ModelID])}
		switch p.Kind {
		case store.KindOpenAI, store.KindAzure:
			l.cloud = true
		default:
			impl, ok := e.cfg.Providers.Lookup(string(p.Kind))
			if !ok {
				continue
			}
			l.loader, _ = impl.(providers.ModelLoader)
			if s, ok := impl.(providers.Sleeper); ok && p.SleepMode {
				l.sleeper = s
			}
			if l.loader == nil && l.sleeper == nil {
				continue
			}
		}
		cred := cmp.Or(d.Credential, p.Credential)
		l.target = providers.Target{Kind: string(p.Kind), BaseURL: p.BaseURL, UpstreamModel: l.model,
			APIVersion: cmp.Or(d.APIVersion, p.APIVersion), AuthHeader: p.AuthHeader, AuthFormat: p.AuthFormat, Credential: cred}
		l.opts = providers.PollOptions{AdminURL: p.AdminURL, SleepMode: p.SleepMode}
		l.keepAlive = -1 // loaded by the scheduler: kept until it unloads
		if p.KeepAliveSeconds > 0 {
			l.keepAlive = time.Duration(p.KeepAliveSeconds) * time.Second
		}
		lanes[d.ID] = l
		if !l.cloud {
			nodeMB[l.node] = max(nodeMB[l.node], int(p.TotalVRAMMB))
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lanes, e.nodeMB = lanes, nodeMB
	for n := range nodeMB {
		if _, ok := e.nodes[n]; !ok {
			e.nodes[n] = make(chan struct{}, 1)
		}
	}
}

// nodeOf names the machine of a provider's server: the host of its
// monitoring URL, else of its base URL.
func nodeOf(p store.Provider) string {
	for _, raw := range []string{p.AdminURL, p.BaseURL} {
		if u, err := url.Parse(raw); err == nil && u.Host != "" {
			if h, _, err := net.SplitHostPort(u.Host); err == nil {
				return h
			}
			return u.Host
		}
	}
	return "provider-" + strconv.FormatInt(p.ID, 10)
}

// Deployments lists the deployments with a lifecycle or on a cloud
// provider, in id order.
func (e *Executor) Deployments() []int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids := make([]int64, 0, len(e.lanes))
	for id := range e.lanes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// nodeKey maps a node name to a stable number for scheduler.LaneSpec.Node.
func nodeKey(name string) int64 {
	// FNV-1a: stable across calls and replicas.
	var h uint64 = 14695981039346656037
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return int64(h >> 1)
}

// Lane describes a deployment's lane.
func (e *Executor) Lane(dep int64) (scheduler.LaneSpec, bool) {
	e.mu.Lock()
	l, ok := e.lanes[dep]
	var nodeMB int
	if ok {
		nodeMB = e.nodeMB[l.node]
	}
	e.mu.Unlock()
	if !ok {
		return scheduler.LaneSpec{}, false
	}
	if l.cloud {
		return scheduler.LaneSpec{Cloud: true}, true
	}
	spec := scheduler.LaneSpec{Node: nodeKey(l.node), NodeMB: nodeMB, State: scheduler.LaneAwake}
	prof, hasProf := e.cfg.Profiles[l.model]
	if hasProf {
		spec.AwakeMB, spec.SleepMB = prof.AwakeMB, prof.SleepMB
		spec.WakeCost, spec.SleepCost, spec.LoadCost, spec.UnloadCost = prof.Wake, prof.Sleep, prof.Load, prof.Unload
		spec.StepTime, spec.StepPerSeq = prof.StepTime, prof.StepPerSeq
	}
	if e.cfg.State == nil {
		return spec, true
	}
	st, ok := e.cfg.State.ProviderState(l.provider.ID)
	if !ok || st.Err != "" {
		return spec, true // unknown: awake
	}
	switch {
	case l.sleeper != nil && st.Sleep == providers.Asleep:
		spec.State = scheduler.LaneSleeping
	case l.sleeper == nil && st.LoadedKnown:
		spec.State = scheduler.LaneCold
		if m, ok := st.FindLoaded(l.model, e.cfg.Now()); ok {
			spec.State = scheduler.LaneAwake
			if !hasProf {
				spec.AwakeMB = int(m.SizeVRAM >> 20)
			}
		}
	}
	return spec, true
}

// Transition performs t on a deployment's lane, waiting for its node's
// other transitions first. It returns ErrCoolingDown (wrapped) when the
// same transition failed on the lane less than a cooldown ago,
// ErrUnknownDeployment when the deployment has no lifecycle and
// providers.ErrUnsupported when its provider cannot perform t.
func (e *Executor) Transition(ctx context.Context, dep int64, t scheduler.Transition, level int) error {
	e.mu.Lock()
	l, ok := e.lanes[dep]
	var token chan struct{}
	if ok {
		token = e.nodes[l.node]
	}
	until := e.cool[coolKey{dep, t}]
	e.mu.Unlock()
	if !ok || l.cloud {
		return fmt.Errorf("deployment %d: %w", dep, ErrUnknownDeployment)
	}
	now := e.cfg.Now()
	if now.Before(until) {
		e.transitions.WithLabelValues(l.provider.Name, t.String(), "cooling_down").Inc()
		return fmt.Errorf("%s of %s on %s until %s: %w", t, l.model, l.provider.Name, until.Format(time.RFC3339), ErrCoolingDown)
	}
	select {
	case token <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-token }()
	started := e.cfg.Now()
	tctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	err := e.do(tctx, l, t, level)
	cancel()
	d := e.cfg.Now().Sub(started)
	rec := Record{DeploymentID: dep, ProviderID: l.provider.ID, Provider: l.provider.Name, Model: l.model,
		Action: t.String(), Started: started, Duration: d}
	result := "ok"
	if err != nil {
		rec.Err, result = err.Error(), "error"
	}
	e.transitions.WithLabelValues(l.provider.Name, t.String(), result).Inc()
	if err == nil {
		e.seconds.WithLabelValues(t.String()).Observe(d.Seconds())
	}
	e.mu.Lock()
	if err != nil && ctx.Err() == nil {
		switch t {
		case scheduler.TransitionWake:
			e.cool[coolKey{dep, t}] = e.cfg.Now().Add(e.cfg.WakeCooldown)
		case scheduler.TransitionLoad:
			e.cool[coolKey{dep, t}] = e.cfg.Now().Add(e.cfg.LoadCooldown)
		}
	}
	if len(e.history) >= e.cfg.History {
		e.history = slices.Delete(e.history, 0, len(e.history)-e.cfg.History+1)
	}
	e.history = append(e.history, rec)
	e.mu.Unlock()
	if err != nil {
		e.log.Warn("model lifecycle transition failed", "action", t.String(), "model", l.model,
			"provider", l.provider.Name, "deployment_id", dep, "err", err)
	} else {
		e.log.Info("model lifecycle transition", "action", t.String(), "model", l.model,
			"provider", l.provider.Name, "deployment_id", dep, "duration", d)
	}
	return err
}

// do sends the transition.
func (e *Executor) do(ctx context.Context, l *lane, t scheduler.Transition, level int) error {
	c := e.cfg.Client
	if l.sleeper != nil {
		switch t {
		case scheduler.TransitionWake:
			return l.sleeper.Wake(ctx, c, l.target, l.opts)
		case scheduler.TransitionSleep:
			return l.sleeper.Sleep(ctx, c, l.target, l.opts, level)
		}
		return fmt.Errorf("lifecycle: %s of %s: a vLLM model change needs a new server process: %w", t, l.model, providers.ErrUnsupported)
	}
	switch t {
	case scheduler.TransitionWake, scheduler.TransitionLoad:
		return l.loader.LoadModel(ctx, c, l.target, l.opts, l.model, l.keepAlive)
	default:
		return l.loader.UnloadModel(ctx, c, l.target, l.opts, l.model)
	}
}

// Records returns the latest transitions, oldest first.
func (e *Executor) Records() []Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.history)
}

// TransitionsCounter returns the counter of transitions by provider, action
// and result, for tests and embedding code that does not pass a Registerer.
func (e *Executor) TransitionsCounter() *prometheus.CounterVec { return e.transitions }
