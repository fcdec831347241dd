// Package live keeps Logos' view of what its upstreams are doing right now:
// background pollers read each provider's monitoring URL (Ollama /api/ps,
// vLLM /metrics) and the rate-limit headers of every upstream response are
// folded into a per-deployment state.
//
// Pollers never run on the request path. One goroutine per polled provider
// is started, restarted and stopped by Sync as the catalogue changes, and
// all of them stop on Close. A provider is polled when its kind's Provider
// implements providers.StatePoller and it has a monitoring URL (AdminURL).
// Every poll is stored as a provider snapshot (failures too, with their
// error), and snapshots older than the retention are deleted in batches.
//
// Missing data is unknown, never busy: a provider that was never polled,
// or whose last poll failed, has no figures, and a deployment whose
// responses carried no rate-limit headers is never considered exhausted.
package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config and of the per-provider poll settings.
const (
	DefaultPollInterval      = 5 * time.Second
	DefaultPollTimeout       = 5 * time.Second
	DefaultRetention         = 7 * 24 * time.Hour
	DefaultRetentionInterval = time.Hour
	DefaultRetentionBatch    = 1000
	DefaultLogEvery          = time.Minute
	DefaultRateLimitTTL      = 5 * time.Minute
)

// SnapshotStore stores the result of every poll.
type SnapshotStore interface {
	InsertProviderSnapshot(ctx context.Context, s store.ProviderSnapshot) (store.ProviderSnapshot, error)
}

// SnapshotPruner deletes old snapshots. When the Config's Store implements
// it, the Monitor enforces the retention.
type SnapshotPruner interface {
	// DeleteProviderSnapshotsBefore deletes at most limit snapshots taken
	// before t and returns how many it deleted.
	DeleteProviderSnapshotsBefore(ctx context.Context, t time.Time, limit int) (int64, error)
}

// Config configures a Monitor. The zero value of every field is usable.
type Config struct {
	// Providers maps provider kinds to implementations; kinds whose
	// Provider implements providers.StatePoller are polled.
	Providers providers.Registry
	// Store receives a snapshot per poll. Nil: none is stored.
	Store SnapshotStore
	// Client sends the polls. Defaults to http.DefaultClient; each poll is
	// bounded by its provider's timeout.
	Client *http.Client
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the per-provider gauges and poll counters. Nil:
	// none are registered.
	Registerer prometheus.Registerer
	// Retention is how long snapshots are kept. Defaults to 7 days;
	// negative keeps them forever.
	Retention time.Duration
	// RetentionInterval is how often old snapshots are deleted. Defaults
	// to one hour (and the first pass runs at start).
	RetentionInterval time.Duration
	// RetentionBatch is the most snapshots deleted by one statement.
	// Defaults to 1000.
	RetentionBatch int
	// LogEvery is the least time between two logs of a failing provider's
	// polls. Defaults to one minute.
	LogEvery time.Duration
	// RateLimitTTL is how long a deployment's rate-limit state is believed
	// after the last response that carried one, unless it names a retry or
	// reset time still ahead. Defaults to 5 minutes.
	RateLimitTTL time.Duration
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

// ProviderState is the latest poll of a provider.
type ProviderState struct {
	ProviderID int64
	Name       string
	Kind       store.ProviderKind
	// TotalVRAMBytes is the configured capacity (0 = unknown).
	TotalVRAMBytes int64
	// State holds the figures of the last successful poll.
	providers.State
	// PolledAt is when the last poll ended, Err its error ("" on success).
	// After a failure State is empty (unknown).
	PolledAt time.Time
	Err      string
	// Polls and Failures count the polls since the poller started.
	Polls, Failures int64
}

// Monitor runs the pollers and holds the latest provider and rate-limit
// states. It is safe for concurrent use.
type Monitor struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics // nil without a Registerer

	mu      sync.Mutex
	pollers map[int64]*poller // by provider id
	states  map[int64]*ProviderState
	closed  bool

	rlMu sync.RWMutex
	rl   map[int64]*rateEntry // by deployment id

	stopRetention context.CancelFunc
	retentionDone chan struct{}
}

// poller is one provider's goroutine.
type poller struct {
	cfg    pollConfig
	cancel context.CancelFunc
	done   chan struct{}
}

// pollConfig is everything a poller depends on; a change restarts it.
type pollConfig struct {
	id       int64
	name     string
	kind     store.ProviderKind
	target   providers.Target
	opts     providers.PollOptions
	interval time.Duration
	timeout  time.Duration
	totalMB  int64
}

// rateEntry is one deployment's rate-limit state.
type rateEntry struct {
	mu           sync.Mutex
	providerID   int64
	providerName string
	rl           providers.RateLimit
}

// New returns a Monitor polling nothing until Sync; Close stops it.
func New(cfg Config) (*Monitor, error) {
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.RetentionInterval <= 0 {
		cfg.RetentionInterval = DefaultRetentionInterval
	}
	if cfg.RetentionBatch <= 0 {
		cfg.RetentionBatch = DefaultRetentionBatch
	}
	if cfg.LogEvery <= 0 {
		cfg.LogEvery = DefaultLogEvery
	}
	if cfg.RateLimitTTL <= 0 {
		cfg.RateLimitTTL = DefaultRateLimitTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Monitor{
		cfg: cfg, log: cfg.Logger,
		pollers: map[int64]*poller{}, states: map[int64]*ProviderState{}, rl: map[int64]*rateEntry{},
		retentionDone: make(chan struct{}),
	}
	if cfg.Registerer != nil {
		mt, err := newMetrics(cfg.Registerer, m)
		if err != nil {
			return nil, fmt.Errorf("live: registering metrics: %w", err)
		}
		m.metrics = mt
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.stopRetention = cancel
	pruner, ok := cfg.Store.(SnapshotPruner)
	if !ok || cfg.Retention < 0 {
		close(m.retentionDone)
		return m, nil
	}
	go m.retain(ctx, pruner)
	return m, nil
}

// Sync makes the running pollers match ps (the catalogue's providers, with
// their credentials in clear): it starts pollers for new providers, restarts
// those whose settings changed and stops those of providers no longer
// listed or no longer pollable. It also forgets the rate-limit state of
// deployments of removed providers. Sync is cheap when nothing changed.
func (m *Monitor) Sync(ps []store.Provider) {
	want := make(map[int64]pollConfig, len(ps))
	known := make(map[int64]bool, len(ps))
	for _, p := range ps {
		known[p.ID] = true
		if pc, ok := m.pollConfig(p); ok {
			want[p.ID] = pc
		}
	}
	m.mu.Lock()
	var stopped []*poller
	if !m.closed {
		for id, pl := range m.pollers {
			if pc, ok := want[id]; !ok || pc != pl.cfg {
				pl.cancel()
				stopped = append(stopped, pl)
				delete(m.pollers, id)
				delete(m.states, id)
				m.metrics.forget(pl.cfg.name)
			}
		}
		for id, pc := range want {
			if _, ok := m.pollers[id]; ok {
				continue
			}
			sp, _ := m.cfg.Providers.Lookup(string(pc.kind))
			ctx, cancel := context.WithCancel(context.Background())
			pl := &poller{cfg: pc, cancel: cancel, done: make(chan struct{})}
			m.pollers[id] = pl
			m.states[id] = &ProviderState{ProviderID: id, Name: pc.name, Kind: pc.kind, TotalVRAMBytes: pc.totalMB << 20}
			go m.run(ctx, pl, sp.(providers.StatePoller))
		}
	}
	m.mu.Unlock()
	for _, pl := range stopped {
		<-pl.done
	}

	m.rlMu.Lock()
	for id, e := range m.rl {
		if !known[e.providerID] {
			delete(m.rl, id)
		}
	}
	m.rlMu.Unlock()
}

// pollConfig returns p's poll settings, and false when p is not polled.
func (m *Monitor) pollConfig(p store.Provider) (pollConfig, bool) {
	if p.AdminURL == "" {
		return pollConfig{}, false
	}
	impl, ok := m.cfg.Providers.Lookup(string(p.Kind))
	if !ok {
		return pollConfig{}, false
	}
	if _, ok := impl.(providers.StatePoller); !ok {
		return pollConfig{}, false
	}
	pc := pollConfig{
		id: p.ID, name: p.Name, kind: p.Kind,
		target: providers.Target{Kind: string(p.Kind), BaseURL: p.BaseURL, APIVersion: p.APIVersion,
			AuthHeader: p.AuthHeader, AuthFormat: p.AuthFormat, Credential: p.Credential},
		opts:     providers.PollOptions{AdminURL: p.AdminURL, SleepMode: p.SleepMode},
		interval: p.PollInterval, timeout: p.PollTimeout, totalMB: p.TotalVRAMMB,
	}
	if pc.interval <= 0 {
		pc.interval = DefaultPollInterval
	}
	if pc.timeout <= 0 {
		pc.timeout = DefaultPollTimeout
	}
	return pc, true
}

// Polled returns the ids of the providers being polled, for tests and
// diagnostics.
func (m *Monitor) Polled() []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]int64, 0, len(m.pollers))
	for id := range m.pollers {
		ids = append(ids, id)
	}
	return ids
}

// ProviderState returns the latest state of a polled provider; false when
// the provider is not polled (its state is unknown).
func (m *Monitor) ProviderState(id int64) (ProviderState, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.states[id]
	if !ok {
		return ProviderState{}, false
	}
	return *s, true
}

// ProviderStates returns the latest state of every polled provider.
func (m *Monitor) ProviderStates() []ProviderState {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]ProviderState, 0, len(m.states))
	for _, s := range m.states {
		out = append(out, *s)
	}
	return out
}

// Close stops every poller and the retention and waits for them. It is
// idempotent.
func (m *Monitor) Close() {
	m.mu.Lock()
	m.closed = true
	pollers := m.pollers
	m.pollers = map[int64]*poller{}
	m.mu.Unlock()
	for _, pl := range pollers {
		pl.cancel()
	}
	for _, pl := range pollers {
		<-pl.done
	}
	m.stopRetention()
	<-m.retentionDone
}

// run polls one provider until ctx ends: at once, then every interval.
func (m *Monitor) run(ctx context.Context, pl *poller, sp providers.StatePoller) {
	defer close(pl.done)
	t := time.NewTimer(0)
	defer t.Stop()
	var lastLog time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.pollOnce(ctx, pl.cfg, sp, &lastLog)
		t.Reset(pl.cfg.interval)
	}
}

// pollOnce polls once, records the state and stores a snapshot.
func (m *Monitor) pollOnce(ctx context.Context, pc pollConfig, sp providers.StatePoller, lastLog *time.Time) {
	pctx, cancel := context.WithTimeout(ctx, pc.timeout)
	st, err := sp.PollState(pctx, m.cfg.Client, pc.target, pc.opts)
	cancel()
	if ctx.Err() != nil {
		return // stopped mid-poll: not a failure of the provider
	}
	now := m.cfg.Now()
	if err != nil && errors.Is(pctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("poll timed out after %v: %w", pc.timeout, err)
	}
	m.mu.Lock()
	if ctx.Err() != nil {
		// Stopped meanwhile: a restarted poller may own the state now.
		m.mu.Unlock()
		return
	}
	s, ok := m.states[pc.id]
	if ok {
		s.PolledAt, s.Polls = now, s.Polls+1
		if err != nil {
			s.State, s.Err, s.Failures = providers.State{}, err.Error(), s.Failures+1
		} else {
			s.State, s.Err = st, ""
		}
	}
	m.mu.Unlock()
	m.metrics.polled(pc.name, err)
	if err != nil && now.Sub(*lastLog) >= m.cfg.LogEvery {
		*lastLog = now
		m.log.Warn("provider poll failed; its state is unknown", "provider", pc.name, "provider_id", pc.id, "err", err)
	}
	if m.cfg.Store != nil {
		m.storeSnapshot(ctx, pc, now, st, err)
	}
}

// storeSnapshot writes one poll to the store.
func (m *Monitor) storeSnapshot(ctx context.Context, pc pollConfig, now time.Time, st providers.State, pollErr error) {
	snap := store.ProviderSnapshot{ProviderID: pc.id, TakenAt: now, PollSuccess: pollErr == nil, LoadedModels: []byte("[]")}
	if pollErr != nil {
		snap.ErrorMessage = pollErr.Error()
	} else {
		snap.ModelsLoaded, snap.VRAMUsedBytes = len(st.Loaded), st.VRAMUsedBytes
		snap.LoadedModels = loadedJSON(st.Loaded)
		snap.QueueKnown, snap.RunningRequests, snap.WaitingRequests = st.QueueKnown, st.Running, st.Waiting
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := m.cfg.Store.InsertProviderSnapshot(sctx, snap); err != nil && ctx.Err() == nil {
		m.log.Warn("storing a provider snapshot failed", "provider", pc.name, "err", err)
	}
}

// retain deletes old snapshots at start and then every RetentionInterval.
func (m *Monitor) retain(ctx context.Context, pruner SnapshotPruner) {
	defer close(m.retentionDone)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := m.Prune(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("deleting old provider snapshots failed", "err", err)
		}
		t.Reset(m.cfg.RetentionInterval)
	}
}

// Prune deletes the snapshots older than the retention, one batch at a time
// until none is left, and returns how many it deleted. It does nothing
// when the store cannot delete snapshots or the retention is negative.
func (m *Monitor) Prune(ctx context.Context) (int64, error) {
	pruner, ok := m.cfg.Store.(SnapshotPruner)
	if !ok || m.cfg.Retention < 0 {
		return 0, nil
	}
	cutoff := m.cfg.Now().Add(-m.cfg.Retention)
	var total int64
	for {
		n, err := pruner.DeleteProviderSnapshotsBefore(ctx, cutoff, m.cfg.RetentionBatch)
		total += n
		if err != nil {
			return total, fmt.Errorf("live: deleting snapshots before %v: %w", cutoff, err)
		}
		if n < int64(m.cfg.RetentionBatch) {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}
