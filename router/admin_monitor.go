package router

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/monitor/live"
	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/store"
)

// vramChunk is the span of snapshots read from the store at a time by
// get_ollama_vram_stats, so a day of 5 s snapshots (~17k rows) is never held
// in memory at once: at most one chunk plus the downsampled points are.
const vramChunk = time.Hour

// bytesPerMB converts between the providers' TotalVRAMMB and byte counts
// (Ollama reports sizes in bytes; its "MB" are MiB).
const bytesPerMB = 1 << 20

// adminMonitorRoutes registers the live monitoring endpoints (spec §2.4):
//
//   - GET/POST scheduler_state: the scheduler's queues per deployment, from
//     state. Admin only: unlike the original, which answered any valid key
//     (spec §12.27), because it lists the request ids waiting for every
//     process. A nil state answers 503.
//   - POST get_ollama_vram_stats: one UTC day of VRAM usage of every Ollama
//     provider, downsampled to one point per minute (spec §12.36). Any valid
//     key may call it: it describes the shared infrastructure and holds no
//     tenant data (no process, request or prompt).
//
// The key is taken from the headers (Authorization: Bearer, logos_key,
// logos-key) or, for POST, from the body's logos_key.
func (h *Handler) adminMonitorRoutes(state scheduler.StateReporter) {
	m := monitorAPI{Handler: h, state: state}
	h.adminRoute("scheduler_state", true, false, m.schedulerState)
	h.mux.HandleFunc("GET /logosdb/scheduler_state", m.schedulerStateGet)
	h.adminRoute("get_ollama_vram_stats", false, false, m.vramStats)
}

// monitorAPI implements the monitoring endpoints.
type monitorAPI struct {
	*Handler
	// state reports the scheduler's queues; nil if the scheduler cannot.
	state scheduler.StateReporter
}

// schedulerStateGet serves GET scheduler_state: the key comes from the
// headers only, and the checks are those adminRoute makes for POST.
func (m monitorAPI) schedulerStateGet(w http.ResponseWriter, r *http.Request) {
	caller, e := m.principal(r.Context(), logosKey(r))
	if e == nil && !caller.Admin {
		e = oaierr.New(http.StatusForbidden, "Only an admin key may call /logosdb/scheduler_state").WithCode("admin_required")
	}
	var (
		status int
		v      any
	)
	if e == nil {
		status, v, e = m.schedulerState(&adminRequest{ctx: r.Context(), r: r, caller: caller})
	}
	if e != nil {
		oaierr.Write(w, e)
		return
	}
	writeJSON(w, status, v)
}

// LiveState reports what the upstreams are doing (package live implements
// it).
type LiveState interface {
	// ProviderStates returns the latest poll of every polled provider.
	ProviderStates() []live.ProviderState
	// RateLimit returns a deployment's rate-limit state; false if unknown.
	RateLimit(deploymentID int64) (providers.RateLimit, bool)
}

// schedulerStateResponse is the body of scheduler_state.
type schedulerStateResponse struct {
	// QueueTotal is the number of distinct jobs waiting anywhere.
	QueueTotal int `json:"queue_total"`
	// Deployments is keyed by the deployment id in decimal.
	Deployments map[string]deploymentStateJSON `json:"deployments"`
	// Providers holds the polled providers' latest state, keyed by the
	// provider id in decimal (with a LiveState only).
	Providers map[string]providerStateJSON `json:"providers,omitempty"`
}

// providerStateJSON is one polled provider of scheduler_state. A figure
// the provider did not report is null.
type providerStateJSON struct {
	Name           string             `json:"name"`
	Kind           store.ProviderKind `json:"kind"`
	PolledAt       any                `json:"polled_at"`
	Error          string             `json:"error"`
	Polls          int64              `json:"polls"`
	Failures       int64              `json:"failures"`
	LoadedModels   any                `json:"loaded_models"`
	VRAMUsedBytes  any                `json:"vram_used_bytes"`
	VRAMTotalBytes any                `json:"vram_total_bytes"`
	Running        any                `json:"running_requests"`
	Waiting        any                `json:"waiting_requests"`
	KVCacheUsage   any                `json:"kv_cache_usage"`
	Sleep          string             `json:"sleep"`
}

// rateLimitJSON is a deployment's rate-limit state; unknown figures are null.
type rateLimitJSON struct {
	RemainingRequests any  `json:"remaining_requests"`
	RemainingTokens   any  `json:"remaining_tokens"`
	ResetRequestsAt   any  `json:"reset_requests_at"`
	ResetTokensAt     any  `json:"reset_tokens_at"`
	RetryAfter        any  `json:"retry_after"`
	UpdatedAt         any  `json:"updated_at"`
	Limited           bool `json:"limited"`
}

// deploymentStateJSON is one deployment of scheduler_state. Names come from
// the catalogue in the store; a deployment the scheduler still knows but the
// catalogue no longer holds has zero ids and empty names.
type deploymentStateJSON struct {
	ModelID      int64  `json:"model_id"`
	ModelName    string `json:"model_name"`
	ProviderID   int64  `json:"provider_id"`
	ProviderName string `json:"provider_name"`
	// Active is the number of requests holding a slot.
	Active int `json:"active"`
	// MaxCapacity is the concurrency limit; 0 means unlimited.
	MaxCapacity int `json:"max_capacity"`
	// QueueDepth is the number of requests waiting for this deployment.
	QueueDepth          int                   `json:"queue_depth"`
	QueueDepthBreakdown scheduler.QueueCounts `json:"queue_depth_breakdown"`
	// WaitingRequestIDs are in the order the requests would get a slot.
	WaitingRequestIDs []string `json:"waiting_request_ids"`
	// Lane is the deployment's model state on its provider (with a
	// LiveState only): "cloud", "warm" or "cold" (Ollama: loaded or not),
	// "awake" or "sleeping" (vLLM), or "unknown" (not polled, or the last
	// poll failed).
	Lane string `json:"lane,omitempty"`
	// SchedulerLane is the lane's state as a scheduler that manages model
	// lifecycles sees it (awake, sleeping, cold, waking, loading,
	// going_to_sleep, unloading, draining) and SchedulerLaneSince when it
	// entered it: its last transition.
	SchedulerLane      string `json:"scheduler_lane,omitempty"`
	SchedulerLaneSince any    `json:"scheduler_lane_since,omitempty"`
	// RateLimit is the upstream's rate-limit state, when its responses
	// carried one (with a LiveState only).
	RateLimit *rateLimitJSON `json:"rate_limit,omitempty"`
}

// schedulerState answers the scheduler's queues, adapted from the original's
// shape (spec §2.4) to ours: one entry per deployment instead of per
// provider and model, and the ids of waiting rather than of running requests.
func (m monitorAPI) schedulerState(a *adminRequest) (int, any, *oaierr.Error) {
	if m.state == nil {
		return 0, nil, oaierr.New(http.StatusServiceUnavailable, "Scheduler state not available").WithCode("scheduler_unavailable")
	}
	deps, models, providers, e := m.catalogNames(a.ctx)
	if e != nil {
		return 0, nil, e
	}
	st := m.state.State()
	out := schedulerStateResponse{
		QueueTotal:  st.QueueDepth,
		Deployments: make(map[string]deploymentStateJSON, len(st.Deployments)),
	}
	for _, ds := range st.Deployments {
		j := deploymentStateJSON{
			Active:              ds.Active,
			MaxCapacity:         ds.Capacity,
			QueueDepth:          ds.Queued.Total(),
			QueueDepthBreakdown: ds.Queued,
			WaitingRequestIDs:   slices.Clone(ds.Waiting),
			SchedulerLane:       ds.Lane,
		}
		if ds.Lane != "" {
			j.SchedulerLaneSince = isoOrNil(ds.LaneSince)
		}
		if j.WaitingRequestIDs == nil {
			j.WaitingRequestIDs = []string{}
		}
		if d, ok := deps[ds.DeploymentID]; ok {
			j.ModelID, j.ModelName = d.ModelID, models[d.ModelID]
			j.ProviderID, j.ProviderName = d.ProviderID, providers[d.ProviderID]
		}
		out.Deployments[strconv.FormatInt(ds.DeploymentID, 10)] = j
	}
	if m.cfg.Live != nil {
		if e := m.addLiveState(a.ctx, &out, deps, models); e != nil {
			return 0, nil, e
		}
	}
	return http.StatusOK, out, nil
}

// addLiveState adds the providers' polled state, and each deployment's
// lane and rate-limit state, to a scheduler_state answer.
func (m monitorAPI) addLiveState(ctx context.Context, out *schedulerStateResponse, deps map[int64]store.Deployment, models map[int64]string) *oaierr.Error {
	ps, err := m.db.ListProviders(ctx)
	if err != nil {
		return m.storeError(err, "providers", "")
	}
	kinds := make(map[int64]store.ProviderKind, len(ps))
	for _, p := range ps {
		kinds[p.ID] = p.Kind
	}
	states := map[int64]live.ProviderState{}
	out.Providers = map[string]providerStateJSON{}
	for _, s := range m.cfg.Live.ProviderStates() {
		states[s.ProviderID] = s
		j := providerStateJSON{Name: s.Name, Kind: s.Kind, PolledAt: isoOrNil(s.PolledAt), Error: s.Err,
			Polls: s.Polls, Failures: s.Failures, Sleep: s.Sleep.String()}
		if s.TotalVRAMBytes > 0 {
			j.VRAMTotalBytes = s.TotalVRAMBytes
		}
		if s.LoadedKnown {
			j.LoadedModels, j.VRAMUsedBytes = s.Loaded, s.VRAMUsedBytes
			if s.Loaded == nil {
				j.LoadedModels = []providers.LoadedModel{}
			}
		}
		if s.QueueKnown {
			j.Running, j.Waiting = s.Running, s.Waiting
		}
		if s.KVCacheKnown {
			j.KVCacheUsage = s.KVCacheUsage
		}
		out.Providers[strconv.FormatInt(s.ProviderID, 10)] = j
	}
	now := time.Now()
	for key, j := range out.Deployments {
		id, _ := strconv.ParseInt(key, 10, 64)
		d, ok := deps[id]
		if !ok {
			continue
		}
		upstream := d.UpstreamModel
		if upstream == "" {
			upstream = models[d.ModelID]
		}
		st, polled := states[d.ProviderID]
		j.Lane = laneState(kinds[d.ProviderID], upstream, st, polled, now)
		if rl, ok := m.cfg.Live.RateLimit(id); ok {
			j.RateLimit = &rateLimitJSON{
				RemainingRequests: knownCount(rl.RemainingRequests), RemainingTokens: knownCount(rl.RemainingTokens),
				ResetRequestsAt: isoOrNil(rl.ResetRequests), ResetTokensAt: isoOrNil(rl.ResetTokens),
				RetryAfter: isoOrNil(rl.RetryAfter), UpdatedAt: isoOrNil(rl.UpdatedAt), Limited: rl.Exhausted(now),
			}
		}
		out.Deployments[key] = j
	}
	return nil
}

// laneState names the state of model upstream on a provider of kind.
// An Ollama model whose expiry has passed is cold even if the last poll
// still listed it.
func laneState(kind store.ProviderKind, upstream string, st live.ProviderState, polled bool, now time.Time) string {
	switch {
	case kind == store.KindOpenAI || kind == store.KindAzure:
		return "cloud"
	case !polled || st.Err != "" || st.PolledAt.IsZero():
		return "unknown"
	case st.LoadedKnown:
		if _, ok := st.FindLoaded(upstream, now); ok {
			return "warm"
		}
		return "cold"
	case st.Sleep == providers.Asleep:
		return "sleeping"
	default:
		return "awake"
	}
}

// knownCount returns n, or nil when it is unknown (negative).
func knownCount(n int64) any {
	if n < 0 {
		return nil
	}
	return n
}

// catalogNames reads the deployments by id and the model and provider names
// by id from the store.
func (m monitorAPI) catalogNames(ctx context.Context) (map[int64]store.Deployment, map[int64]string, map[int64]string, *oaierr.Error) {
	ds, err := m.db.ListDeployments(ctx)
	if err != nil {
		return nil, nil, nil, m.storeError(err, "deployments", "")
	}
	ms, err := m.db.ListModels(ctx)
	if err != nil {
		return nil, nil, nil, m.storeError(err, "models", "")
	}
	ps, err := m.db.ListProviders(ctx)
	if err != nil {
		return nil, nil, nil, m.storeError(err, "providers", "")
	}
	deps := make(map[int64]store.Deployment, len(ds))
	for _, d := range ds {
		deps[d.ID] = d
	}
	models := make(map[int64]string, len(ms))
	for _, mo := range ms {
		models[mo.ID] = mo.Name
	}
	providers := make(map[int64]string, len(ps))
	for _, p := range ps {
		providers[p.ID] = p.Name
	}
	return deps, models, providers, nil
}

// vramProvider is one provider of get_ollama_vram_stats.
type vramProvider struct {
	ProviderID int64       `json:"provider_id"`
	Name       string      `json:"name"`
	Data       []vramPoint `json:"data"`
}

// vramPoint is one downsampled snapshot. Sizes in MB are MiB rounded to two
// decimals; remaining is never negative.
type vramPoint struct {
	Timestamp       string          `json:"timestamp"`
	VRAMMB          float64         `json:"vram_mb"`
	VRAMBytes       int64           `json:"vram_bytes"`
	UsedVRAMMB      float64         `json:"used_vram_mb"`
	RemainingVRAMMB float64         `json:"remaining_vram_mb"`
	TotalVRAMMB     float64         `json:"total_vram_mb"`
	ModelsLoaded    int             `json:"models_loaded"`
	LoadedModels    json.RawMessage `json:"loaded_models"`
}

// vramStats answers {"day":"YYYY-MM-DD", "bucket_seconds"?} with the
// successful snapshots of every Ollama provider taken on that UTC day up to
// now, keeping the latest snapshot of each minute (of each hour when
// bucket_seconds is 3600 or more). The downsampling is done by the database
// when the store is a store.SnapshotStatsStore (both built-in stores are). The
// capacity is the provider's TotalVRAMMB, or if unset the day's highest
// observed usage (of all its successful snapshots, not only those kept).
// Providers without data that day are left out; if none has any the answer
// is 404.
func (m monitorAPI) vramStats(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		Day           string `json:"day"`
		BucketSeconds int64  `json:"bucket_seconds"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	if req.Day == "" {
		return 0, nil, missing("day")
	}
	start, err := time.ParseInLocation(time.DateOnly, req.Day, time.UTC)
	if err != nil {
		return 0, nil, invalid("day", "must be a date YYYY-MM-DD")
	}
	now := time.Now().UTC()
	if start.After(now) {
		return 0, nil, invalid("day", "must not be in the future")
	}
	end := start.AddDate(0, 0, 1)
	if end.After(now) {
		end = now
	}

	providers, err := m.db.ListProviders(a.ctx)
	if err != nil {
		return 0, nil, m.storeError(err, "providers", "")
	}
	out := []vramProvider{}
	for _, p := range providers {
		if p.Kind != store.KindOllama {
			continue
		}
		bucket := time.Minute
		if req.BucketSeconds >= 3600 {
			bucket = time.Hour
		}
		data, e := m.providerVRAM(a.ctx, p, start, end, bucket)
		if e != nil {
			return 0, nil, e
		}
		if len(data) > 0 {
			out = append(out, vramProvider{ProviderID: p.ID, Name: p.Name, Data: data})
		}
	}
	if len(out) == 0 {
		return 0, nil, oaierr.New(http.StatusNotFound, "No VRAM data available for the requested day.").WithCode("not_found")
	}
	return http.StatusOK, map[string]any{"providers": out}, nil
}

// providerVRAM returns p's points for [start, end): the latest successful
// snapshot of each minute, oldest first. It reads the store one vramChunk at
// a time.
func (m monitorAPI) providerVRAM(ctx context.Context, p store.Provider, start, end time.Time, bucket time.Duration) ([]vramPoint, *oaierr.Error) {
	var (
		kept    []store.ProviderSnapshot // one per bucket
		maxUsed int64
	)
	if ss, ok := m.cfg.Store.(store.SnapshotStatsStore); ok {
		var err error
		if kept, err = ss.LatestProviderSnapshots(ctx, p.ID, start, end, bucket); err != nil {
			return nil, m.storeError(err, "provider snapshots", "")
		}
		if maxUsed, err = ss.MaxProviderVRAM(ctx, p.ID, start, end); err != nil {
			return nil, m.storeError(err, "provider snapshots", "")
		}
		return vramPoints(p, kept, maxUsed), nil
	}
	for from := start; from.Before(end); from = from.Add(vramChunk) {
		to := from.Add(vramChunk)
		if to.After(end) {
			to = end
		}
		snaps, err := m.db.ListProviderSnapshots(ctx, p.ID, from, to)
		if err != nil {
			return nil, m.storeError(err, "provider snapshots", "")
		}
		for _, s := range snaps {
			if !s.PollSuccess {
				continue
			}
			maxUsed = max(maxUsed, s.VRAMUsedBytes)
			// Snapshots come oldest first, so a later one of the same
			// minute replaces the one kept.
			if n := len(kept); n > 0 && sameBucket(kept[n-1].TakenAt, s.TakenAt, bucket) {
				kept[n-1] = s
			} else {
				kept = append(kept, s)
			}
		}
	}
	return vramPoints(p, kept, maxUsed), nil
}

// vramPoints renders the kept snapshots of p; the capacity is p's
// TotalVRAMMB, else maxUsed.
func vramPoints(p store.Provider, kept []store.ProviderSnapshot, maxUsed int64) []vramPoint {
	capacity := p.TotalVRAMMB * bytesPerMB
	if capacity <= 0 {
		capacity = maxUsed
	}
	points := make([]vramPoint, len(kept))
	for i, s := range kept {
		loaded := s.LoadedModels
		if len(loaded) == 0 || !json.Valid(loaded) {
			loaded = json.RawMessage("[]")
		}
		used := mb(s.VRAMUsedBytes)
		points[i] = vramPoint{
			Timestamp:       s.TakenAt.UTC().Format(time.RFC3339Nano),
			VRAMMB:          used,
			VRAMBytes:       s.VRAMUsedBytes,
			UsedVRAMMB:      used,
			RemainingVRAMMB: mb(max(capacity-s.VRAMUsedBytes, 0)),
			TotalVRAMMB:     mb(capacity),
			ModelsLoaded:    s.ModelsLoaded,
			LoadedModels:    loaded,
		}
	}
	return points
}

// sameBucket reports whether a and b fall in the same bucket (aligned to
// the Unix epoch).
func sameBucket(a, b time.Time, bucket time.Duration) bool {
	return a.Truncate(bucket).Equal(b.Truncate(bucket))
}

// mb converts bytes to MiB rounded to two decimals.
func mb(bytes int64) float64 {
	return math.Round(float64(bytes)/bytesPerMB*100) / 100
}

// snapshotFigures fills the snapshot-based figures of a request_event_stats
// answer built by eventStatsJSON: each time-series point's avgVram is the
// VRAM in use (MiB) in its bucket, averaged per provider and summed over
// providers, and queueDepth summarises the requests the upstreams reported
// queued (vLLM's waiting requests), averaged and 95th percentile over the
// buckets that have them. Logos' own queue is not sampled into the records;
// scheduler_state shows it live. The figures stay 0 when the store cannot
// summarise snapshots or none was taken.
func (x statsAPI) snapshotFigures(ctx context.Context, out map[string]any, start, end time.Time, bucket int64) *oaierr.Error {
	ss, ok := x.cfg.Store.(store.SnapshotStatsStore)
	if !ok {
		return nil
	}
	buckets, err := ss.SnapshotBuckets(ctx, start, end, bucket)
	if err != nil {
		return x.storeError(err, "provider snapshots", "")
	}
	stats, _ := out["stats"].(map[string]any)
	series, _ := stats["timeSeries"].([]map[string]any)
	byStart := make(map[int64]store.SnapshotBucket, len(buckets))
	var waiting []float64
	for _, b := range buckets {
		byStart[b.Start.Unix()*1000] = b
		if b.WaitingKnown {
			waiting = append(waiting, b.Waiting)
		}
	}
	for _, p := range series {
		if ts, ok := p["timestamp"].(int64); ok {
			if b, ok := byStart[ts]; ok {
				p["avgVram"] = mb(int64(math.Round(b.VRAMUsedBytes)))
			}
		}
	}
	if len(waiting) > 0 && stats != nil {
		var sum float64
		for _, w := range waiting {
			sum += w
		}
		slices.Sort(waiting)
		p95 := waiting[int(math.Ceil(0.95*float64(len(waiting))))-1]
		avgW := sum / float64(len(waiting))
		stats["queueDepth"] = map[string]any{"avgEnqueueDepth": avgW, "avgScheduleDepth": avgW, "p95EnqueueDepth": p95, "p95ScheduleDepth": p95}
	}
	return nil
}
