// Package jobs runs asynchronous jobs: a Runner claims jobs from a queue
// shared by every replica on one database, runs a bounded number of them at
// a time, holds a renewed lease on each while it runs, and records how each
// ended. Jobs whose replica died are recovered: one that had not reached the
// upstream is claimed again once its lease expires; one that had is failed,
// because an LLM call is not idempotent and the user decides whether to
// resubmit. Finished jobs are deleted after a retention period.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/logos-llm/logos/store"
)

// Queue is the part of a store the Runner uses; store.JobQueue satisfies it.
type Queue interface {
	ClaimJob(ctx context.Context, owner string, lease time.Duration) (store.Job, error)
	RenewJobLease(ctx context.Context, id int64, owner string, lease time.Duration) (store.Job, error)
	MarkJobUpstream(ctx context.Context, id int64, owner, requestID string) (store.Job, error)
	CompleteJob(ctx context.Context, id int64, owner string, r store.JobResult) (store.Job, error)
	ReleaseJob(ctx context.Context, id int64, owner string) (store.Job, error)
	FailAbandonedJobs(ctx context.Context, r store.JobResult) ([]store.Job, error)
	DeleteFinishedJobs(ctx context.Context, before time.Time, limit int) (int64, error)
}

// Outcome is the answer an Exec got for a job.
type Outcome struct {
	// StatusCode is the HTTP status of the answer: below 400 the job
	// succeeded, otherwise it failed with this status.
	StatusCode int
	// Body is the answer's body: the upstream's JSON, or an OpenAI-format
	// error.
	Body []byte
	// RequestID is the id of the job's usage record.
	RequestID string
}

// Reached is called by an Exec just before the job's request is sent to a
// provider, with the id of its usage record. It records durably that the job
// reached the upstream; when it returns an error the request must not be sent.
type Reached func(ctx context.Context, requestID string) error

// Exec runs one job and returns its answer. It must call reached before the
// request leaves for the upstream, and stop when ctx is cancelled (the job
// was cancelled or the Runner is shutting down).
type Exec func(ctx context.Context, job store.Job, reached Reached) Outcome

// Config configures a Runner.
type Config struct {
	// Queue is where jobs are claimed. Required.
	Queue Queue
	// Exec runs a job. Required.
	Exec Exec
	// Owner names this replica in leases. Defaults to the host name, the
	// process id and a random suffix.
	Owner string
	// MaxInFlight bounds the jobs this replica runs at a time. Defaults to 8.
	MaxInFlight int
	// Lease is how long a claim lasts without renewal; the Runner renews it
	// every Lease/3. A replica that dies leaves its jobs to others after at
	// most this long. Defaults to 30s.
	Lease time.Duration
	// PollInterval is how often an idle Runner looks for new jobs (Notify
	// wakes it sooner). Defaults to 1s.
	PollInterval time.Duration
	// Retention is how long finished jobs are kept. Defaults to 7 days.
	Retention time.Duration
	// RetentionInterval is how often expired jobs are deleted. Defaults to
	// 10 minutes.
	RetentionInterval time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock for retention. Defaults to time.Now.
	Now func() time.Time
}

// Errors of abandoned jobs.
const (
	// AbandonedMessage is the error of a job whose replica stopped after the
	// job had reached the upstream.
	AbandonedMessage = "The Logos replica running this job stopped after the request had been sent to the provider. It was not run again, because the call may have taken effect; resubmit it if you want it run."
	// ShutdownMessage is the error of a job that was running when Logos
	// shut down, after it had reached the upstream.
	ShutdownMessage = "Logos shut down while this job was running, after the request had been sent to the provider. It was not run again; resubmit it if you want it run."
)

// statusClientClosed is the status an Exec reports for a cancelled request.
const statusClientClosed = 499

// retentionBatch is how many jobs one delete removes.
const retentionBatch = 500

// Runner claims and runs jobs until Close.
type Runner struct {
	cfg  Config
	log  *slog.Logger
	q    Queue
	wake chan struct{}
	// slots bounds the jobs in flight.
	slots chan struct{}

	stop     chan struct{} // closed by Close: claim no more jobs
	execCtx  context.Context
	execStop context.CancelFunc // cancels running jobs (Close after its ctx)

	mu      sync.Mutex
	running map[int64]*run

	wg        sync.WaitGroup // every goroutine
	closeOnce sync.Once
}

type run struct {
	cancel  context.CancelFunc
	mu      sync.Mutex
	lost    bool // the lease was lost: cancelled or taken over
	reached bool // the job was marked as having reached the upstream
}

// New starts a Runner.
func New(cfg Config) (*Runner, error) {
	if cfg.Queue == nil {
		return nil, errors.New("jobs: Config.Queue is required")
	}
	if cfg.Exec == nil {
		return nil, errors.New("jobs: Config.Exec is required")
	}
	if cfg.Owner == "" {
		cfg.Owner = defaultOwner()
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 8
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 7 * 24 * time.Hour
	}
	if cfg.RetentionInterval <= 0 {
		cfg.RetentionInterval = 10 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{
		cfg: cfg, log: cfg.Logger, q: cfg.Queue,
		wake:    make(chan struct{}, 1),
		slots:   make(chan struct{}, cfg.MaxInFlight),
		stop:    make(chan struct{}),
		execCtx: ctx, execStop: cancel,
		running: map[int64]*run{},
	}
	r.wg.Add(2)
	go r.claimLoop()
	go r.housekeeping()
	return r, nil
}

// Owner returns the name this Runner holds leases under.
func (r *Runner) Owner() string { return r.cfg.Owner }

// Notify wakes the Runner to look for jobs now (after a job was submitted).
func (r *Runner) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Cancel stops the job with that id if this Runner is running it, and
// reports whether it was. The job's state is the caller's to set (the store's
// CancelJob); the Runner then leaves it alone.
func (r *Runner) Cancel(id int64) bool {
	r.mu.Lock()
	ru := r.running[id]
	r.mu.Unlock()
	if ru == nil {
		return false
	}
	ru.mu.Lock()
	ru.lost = true
	ru.mu.Unlock()
	ru.cancel()
	return true
}

// InFlight returns how many jobs this Runner is running.
func (r *Runner) InFlight() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.running)
}

// Close stops claiming jobs and waits for the running ones to end until ctx
// is done; then it cancels them. A cancelled job that had not reached the
// upstream goes back to pending, one that had is failed (ShutdownMessage).
// Close returns when every goroutine of the Runner has stopped.
func (r *Runner) Close(ctx context.Context) error {
	var err error
	r.closeOnce.Do(func() {
		close(r.stop)
		done := make(chan struct{})
		go func() {
			r.wg.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			err = fmt.Errorf("jobs: %d jobs still running at close, cancelled: %w", r.InFlight(), ctx.Err())
			r.execStop()
			<-done
		}
		r.execStop()
	})
	return err
}

func (r *Runner) stopping() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// claimLoop claims jobs while slots are free.
func (r *Runner) claimLoop() {
	defer r.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case r.slots <- struct{}{}:
		case <-r.stop:
			return
		}
		job, ok := r.claim()
		if !ok {
			<-r.slots
			t.Reset(r.cfg.PollInterval)
			select {
			case <-r.stop:
				return
			case <-r.wake:
			case <-t.C:
			}
			continue
		}
		ctx, cancel := context.WithCancel(r.execCtx)
		ru := &run{cancel: cancel}
		r.mu.Lock()
		r.running[job.ID] = ru
		r.mu.Unlock()
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer func() { <-r.slots }()
			defer cancel()
			r.run(ctx, job, ru)
			r.mu.Lock()
			delete(r.running, job.ID)
			r.mu.Unlock()
		}()
	}
}

func (r *Runner) claim() (store.Job, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	job, err := r.q.ClaimJob(ctx, r.cfg.Owner, r.cfg.Lease)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Job{}, false
	case err != nil:
		r.log.Warn("claiming a job failed", "err", err)
		return store.Job{}, false
	}
	return job, true
}

// run executes one claimed job and records its end.
func (r *Runner) run(ctx context.Context, job store.Job, ru *run) {
	renewDone := make(chan struct{})
	renewStop := make(chan struct{})
	go r.renew(job.ID, ru, renewStop, renewDone)

	reached := func(ctx context.Context, requestID string) error {
		_, err := r.q.MarkJobUpstream(ctx, job.ID, r.cfg.Owner, requestID)
		if err != nil {
			return fmt.Errorf("jobs: marking job %d as sent: %w", job.ID, err)
		}
		ru.mu.Lock()
		ru.reached = true
		ru.mu.Unlock()
		return nil
	}
	out := r.exec(ctx, job, reached)
	close(renewStop)
	<-renewDone

	ru.mu.Lock()
	lost, wasReached := ru.lost, ru.reached
	ru.mu.Unlock()
	if lost {
		// Cancelled by the client, or another replica took over after
		// the lease ran out: the job is no longer this Runner's.
		return
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r.execCtx.Err() != nil && (out.StatusCode == 0 || out.StatusCode == statusClientClosed) {
		// Cancelled by Close.
		if !wasReached {
			if _, err := r.q.ReleaseJob(sctx, job.ID, r.cfg.Owner); err != nil {
				r.log.Warn("releasing an interrupted job failed; it is claimed again when its lease expires", "job_id", job.ID, "err", err)
			}
			return
		}
		out = Outcome{StatusCode: http.StatusInternalServerError, Body: errorBody(ShutdownMessage, "job_interrupted"), RequestID: out.RequestID}
	}
	res := resultOf(out)
	if _, err := r.q.CompleteJob(sctx, job.ID, r.cfg.Owner, res); err != nil {
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			r.log.Info("job finished after it was cancelled or taken over; result dropped", "job_id", job.ID)
			return
		}
		r.log.Error("recording a job's result failed", "job_id", job.ID, "err", err)
	}
}

// exec calls the Exec, turning a panic into a failed job.
func (r *Runner) exec(ctx context.Context, job store.Job, reached Reached) (out Outcome) {
	defer func() {
		if v := recover(); v != nil {
			r.log.Error("panic running a job", "job_id", job.ID, "panic", v)
			out = Outcome{StatusCode: http.StatusInternalServerError, Body: errorBody("Internal server error", "")}
		}
	}()
	return r.cfg.Exec(ctx, job, reached)
}

// renew extends the job's lease every Lease/3 until stop. When the lease is
// lost (the job was cancelled, or it expired and another replica took it)
// the job's context is cancelled.
func (r *Runner) renew(id int64, ru *run, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(r.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Lease/3)
		_, err := r.q.RenewJobLease(ctx, id, r.cfg.Owner, r.cfg.Lease)
		cancel()
		switch {
		case errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound):
			ru.mu.Lock()
			ru.lost = true
			ru.mu.Unlock()
			ru.cancel()
			return
		case err != nil:
			r.log.Warn("renewing a job's lease failed", "job_id", id, "err", err)
		}
	}
}

// housekeeping fails abandoned jobs every lease period and deletes expired
// ones every RetentionInterval.
func (r *Runner) housekeeping() {
	defer r.wg.Done()
	abandoned := time.NewTicker(r.cfg.Lease / 2)
	defer abandoned.Stop()
	retention := time.NewTicker(r.cfg.RetentionInterval)
	defer retention.Stop()
	r.failAbandoned()
	r.deleteExpired()
	for {
		select {
		case <-r.stop:
			return
		case <-abandoned.C:
			r.failAbandoned()
		case <-retention.C:
			r.deleteExpired()
		}
	}
}

func (r *Runner) failAbandoned() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	failed, err := r.q.FailAbandonedJobs(ctx, store.JobResult{
		Status:       store.JobFailed,
		StatusCode:   http.StatusInternalServerError,
		Result:       errorBody(AbandonedMessage, "job_interrupted"),
		ErrorMessage: AbandonedMessage,
	})
	if err != nil {
		r.log.Warn("failing abandoned jobs failed", "err", err)
		return
	}
	for _, j := range failed {
		r.log.Warn("job failed: its replica stopped after it reached the upstream", "job_id", j.ID, "lease_owner", j.LeaseOwner)
	}
}

// DeleteExpired deletes the finished jobs older than the retention period
// now, in batches, and returns how many it deleted.
func (r *Runner) DeleteExpired(ctx context.Context) (int64, error) {
	before := r.cfg.Now().Add(-r.cfg.Retention)
	var total int64
	for {
		n, err := r.q.DeleteFinishedJobs(ctx, before, retentionBatch)
		total += n
		if err != nil {
			return total, fmt.Errorf("jobs: deleting expired jobs: %w", err)
		}
		if n < retentionBatch || r.stopping() {
			return total, nil
		}
	}
}

func (r *Runner) deleteExpired() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := r.DeleteExpired(ctx)
	if err != nil {
		r.log.Warn("deleting expired jobs failed", "err", err)
	}
	if n > 0 {
		r.log.Info("deleted expired jobs", "count", n)
	}
}

// resultOf maps an answer to the job's end state: below 400 it succeeded,
// otherwise it failed with the answer's status and OpenAI-format error.
func resultOf(out Outcome) store.JobResult {
	res := store.JobResult{StatusCode: out.StatusCode, Result: out.Body, RequestID: out.RequestID}
	if out.StatusCode > 0 && out.StatusCode < 400 {
		res.Status = store.JobSucceeded
		return res
	}
	res.Status = store.JobFailed
	if res.StatusCode == 0 {
		res.StatusCode = http.StatusInternalServerError
	}
	res.ErrorMessage = errorMessage(out.Body)
	if res.ErrorMessage == "" {
		res.ErrorMessage = http.StatusText(res.StatusCode)
	}
	if !json.Valid(out.Body) {
		res.Result = errorBody(res.ErrorMessage, "")
	}
	return res
}

// errorMessage returns the message of an OpenAI-format error body.
func errorMessage(body []byte) string {
	var env struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && env.Error.Message != "" {
		return env.Error.Message
	}
	var native struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &native) == nil && native.Error != "" {
		return native.Error
	}
	if s := string(body); len(s) <= 500 && !json.Valid(body) {
		return s
	}
	return ""
}

// errorBody returns an OpenAI-format error body of type api_error.
func errorBody(message, code string) []byte {
	e := map[string]any{"message": message, "type": "api_error", "param": nil, "code": nil}
	if code != "" {
		e["code"] = code
	}
	b, _ := json.Marshal(map[string]any{"error": e})
	return b
}

func defaultOwner() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
