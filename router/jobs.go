package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/pipeline"
	"github.com/logos-llm/logos/pipeline/jobs"
	"github.com/logos-llm/logos/store"
)

// JobRunner is told about submitted and cancelled jobs (jobs.Runner).
type JobRunner interface {
	// Notify wakes the runner: a job was submitted.
	Notify()
	// Cancel stops a job the runner is running; it reports whether it was.
	Cancel(id int64) bool
}

// jobPayload is what a job stores of its request: never a credential. The
// caller's identity is the job's process and profile.
type jobPayload struct {
	// Prefix is the API the job was submitted to: "v1" or "openai".
	Prefix    string `json:"prefix"`
	Operation string `json:"operation"`
	// Body is the request body with stream forced off, kept as a string so
	// that it is sent byte for byte (PostgreSQL's jsonb would reorder it).
	Body string `json:"body"`
	// Header holds the request headers that are forwarded or that Logos
	// reads (priority, queue timeout, cost), credentials removed.
	Header          http.Header `json:"header,omitempty"`
	ClientIP        string      `json:"client_ip,omitempty"`
	ClientRequestID string      `json:"client_request_id,omitempty"`
}

// jobView is a job as GET /jobs/{id} reports it.
type jobView struct {
	JobID      int64           `json:"job_id"`
	Status     store.JobStatus `json:"status"`
	StatusCode *int            `json:"status_code"`
	Result     json.RawMessage `json:"result"`
	Error      *string         `json:"error"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
	ProfileID  int64           `json:"profile_id"`
}

func viewOf(j store.Job) jobView {
	v := jobView{JobID: j.ID, Status: j.Status, CreatedAt: j.CreatedAt.UTC(), UpdatedAt: j.UpdatedAt.UTC(), ProfileID: j.ProfileID}
	if j.StatusCode != 0 {
		code := j.StatusCode
		v.StatusCode = &code
	}
	if len(j.ResultPayload) > 0 && j.Status.Finished() {
		v.Result = j.ResultPayload
	} else {
		v.Result = json.RawMessage("null")
	}
	if j.ErrorMessage != "" && (j.Status == store.JobFailed || j.Status == store.JobCancelled) {
		msg := j.ErrorMessage
		v.Error = &msg
	}
	return v
}

func (h *Handler) jobRoutes() {
	for _, prefix := range []string{"v1", "openai"} {
		h.mux.HandleFunc("POST /jobs/"+prefix+"/{op...}", h.submitJob(prefix))
		h.mux.HandleFunc("/jobs/"+prefix+"/{op...}", methodNotAllowed(false))
	}
	h.mux.HandleFunc("GET /jobs/{id}", h.getJob)
	h.mux.HandleFunc("DELETE /jobs/{id}", h.cancelJob)
	h.mux.HandleFunc("GET /jobs", h.listJobs)
}

// noJobRoutes answers 501 on the job paths of an instance without jobs
// (Config.Jobs is nil: the store is no store.JobQueue or jobs are off).
func (h *Handler) noJobRoutes() {
	h.mux.HandleFunc("/jobs/", func(w http.ResponseWriter, r *http.Request) {
		oaierr.Write(w, oaierr.New(http.StatusNotImplemented, "Asynchronous jobs are not available on this instance").WithCode("not_implemented"))
	})
	h.mux.HandleFunc("/jobs", func(w http.ResponseWriter, r *http.Request) {
		oaierr.Write(w, oaierr.New(http.StatusNotImplemented, "Asynchronous jobs are not available on this instance").WithCode("not_implemented"))
	})
}

// submitJob authenticates, parses and admits a request exactly like the
// synchronous path and stores it as a job: 202 with the job's id and URL.
// A refused submission leaves a usage record, as a refused request does; an
// accepted one does not: the job's execution leaves the job's one record.
func (h *Handler) submitJob(prefix string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		op := r.PathValue("op")
		if op == "models" || strings.HasPrefix(op, "models/") {
			methodNotAllowed(false)(w, r)
			return
		}
		var job store.Job
		accept := func(sub pipeline.Submission) *pipeline.Error {
			payload, err := json.Marshal(jobPayload{
				Prefix: prefix, Operation: op, Body: string(sub.Body),
				Header:          jobHeaders(r.Header),
				ClientIP:        sub.ClientIP,
				ClientRequestID: ClientRequestIDFrom(r.Context()),
			})
			if err != nil {
				return &pipeline.Error{Status: http.StatusInternalServerError, Message: "Internal server error"}
			}
			job, err = h.cfg.Jobs.CreateJob(r.Context(), store.Job{ProcessID: sub.Caller.Process.ID, ProfileID: sub.Caller.Profile.ID, RequestPayload: payload})
			if err != nil {
				h.log.Error("storing a job failed", "request_id", RequestIDFrom(r.Context()), "err", err)
				return &pipeline.Error{Status: http.StatusServiceUnavailable, Message: "The job could not be stored; try again", Code: "store_unavailable"}
			}
			return nil
		}
		if !h.cfg.Pipeline.Submit(w, r, route(r, op, false), accept) {
			return
		}
		if h.cfg.JobRunner != nil {
			h.cfg.JobRunner.Notify()
		}
		url := jobURL(r, job.ID)
		w.Header().Set("Location", url)
		writeJSON(w, http.StatusAccepted, map[string]any{"job_id": job.ID, "status_url": url, "profile_id": job.ProfileID})
	}
}

// jobHeaders returns the headers a job keeps: none that can carry a
// credential, and none that describe the connection or body.
func jobHeaders(h http.Header) http.Header {
	out := http.Header{}
	for k, vs := range h {
		lk := strings.ToLower(k)
		switch {
		case credentialHeader(lk), hopHeader(lk),
			lk == "host", lk == "content-length", lk == "content-type", lk == "accept-encoding", lk == "accept",
			lk == "x-request-id", lk == "x-forwarded-for", lk == "use-profile", lk == "use_profile", lk == "user-agent":
			continue
		}
		out[k] = vs
	}
	return out
}

func credentialHeader(lk string) bool {
	if lk == "idempotency-key" {
		return false
	}
	for _, s := range []string{"authorization", "cookie", "key", "secret", "token", "password", "auth"} {
		if strings.Contains(lk, s) {
			return true
		}
	}
	return false
}

func hopHeader(lk string) bool {
	switch lk {
	case "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade":
		return true
	}
	return false
}

// jobURL is the absolute URL of a job's status.
func jobURL(r *http.Request, id int64) string {
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	host := r.Host
	if fh := r.Header.Get("X-Forwarded-Host"); fh != "" {
		host, _, _ = strings.Cut(fh, ",")
		host = strings.TrimSpace(host)
	}
	return fmt.Sprintf("%s://%s/jobs/%d", scheme, host, id)
}

// jobCaller authenticates a caller of the job read API (no usage record).
func (h *Handler) jobCaller(w http.ResponseWriter, r *http.Request) (pipeline.Caller, bool) {
	c, e := h.cfg.Pipeline.Authenticate(logosKey(r), profileHeader(r))
	if e != nil {
		pipeline.WriteError(w, e, pipeline.OpenAI)
		return c, false
	}
	return c, true
}

// accessibleJob loads the job named in the path and checks the caller may
// see it: its own process's job of its selected profile, or any job for an
// admin.
func (h *Handler) accessibleJob(w http.ResponseWriter, r *http.Request) (store.Job, bool) {
	c, ok := h.jobCaller(w, r)
	if !ok {
		return store.Job{}, false
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		oaierr.Write(w, oaierr.New(http.StatusNotFound, "Job not found").WithCode("job_not_found"))
		return store.Job{}, false
	}
	job, err := h.cfg.Jobs.GetJob(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		oaierr.Write(w, oaierr.New(http.StatusNotFound, "Job not found").WithCode("job_not_found"))
		return store.Job{}, false
	case err != nil:
		h.log.Error("reading a job failed", "job_id", id, "err", err)
		oaierr.Write(w, oaierr.New(http.StatusServiceUnavailable, "The store is unavailable").WithCode("store_unavailable"))
		return store.Job{}, false
	}
	if job.ProcessID == c.Process.ID && (job.ProfileID == 0 || job.ProfileID == c.Profile.ID) {
		return job, true
	}
	if h.isAdmin(r.Context(), c.Process) {
		return job, true
	}
	if job.ProcessID != c.Process.ID {
		oaierr.Write(w, oaierr.New(http.StatusForbidden, "Not authorized to access this job").WithCode("job_forbidden"))
		return store.Job{}, false
	}
	oaierr.Write(w, oaierr.New(http.StatusForbidden, fmt.Sprintf("Job belongs to profile %d; send the header use-profile: %d", job.ProfileID, job.ProfileID)).WithParam("use-profile").WithCode("job_forbidden"))
	return store.Job{}, false
}

// isAdmin reports whether the process belongs to an admin user.
func (h *Handler) isAdmin(ctx context.Context, p *store.Process) bool {
	if p.UserID == 0 {
		return false
	}
	ids, ok := h.cfg.Store.(store.IdentityReader)
	if !ok {
		return false
	}
	u, err := ids.GetUser(ctx, p.UserID)
	if err != nil {
		return false
	}
	return u.Role == store.RoleAdmin
}

func (h *Handler) getJob(w http.ResponseWriter, r *http.Request) {
	job, ok := h.accessibleJob(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, viewOf(job))
}

// cancelJob cancels a pending or running job: 200 with the job, 409 if it
// had already finished.
func (h *Handler) cancelJob(w http.ResponseWriter, r *http.Request) {
	job, ok := h.accessibleJob(w, r)
	if !ok {
		return
	}
	got, err := h.cfg.Jobs.CancelJob(r.Context(), job.ID, "Cancelled by the client")
	switch {
	case errors.Is(err, store.ErrConflict):
		e := oaierr.New(http.StatusConflict, fmt.Sprintf("Job %d has already %s", job.ID, got.Status)).WithCode("job_finished")
		oaierr.Write(w, e)
		return
	case errors.Is(err, store.ErrNotFound):
		oaierr.Write(w, oaierr.New(http.StatusNotFound, "Job not found").WithCode("job_not_found"))
		return
	case err != nil:
		h.log.Error("cancelling a job failed", "job_id", job.ID, "err", err)
		oaierr.Write(w, oaierr.New(http.StatusServiceUnavailable, "The store is unavailable").WithCode("store_unavailable"))
		return
	}
	if h.cfg.JobRunner != nil {
		// Another replica running it notices at its next lease renewal.
		h.cfg.JobRunner.Cancel(job.ID)
	}
	writeJSON(w, http.StatusOK, viewOf(got))
}

// listJobs lists the jobs of the caller's key and profile newest first: ?status= filters,
// ?limit= (1-100, default 20) and ?before=<job id> page.
func (h *Handler) listJobs(w http.ResponseWriter, r *http.Request) {
	c, ok := h.jobCaller(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := store.JobFilter{ProcessID: c.Process.ID, ProfileID: c.Profile.ID, Status: store.JobStatus(q.Get("status")), Limit: 20}
	if f.Status != "" && !f.Status.Valid() {
		oaierr.Write(w, oaierr.New(http.StatusBadRequest, "status must be one of pending, running, succeeded, failed, cancelled").WithParam("status"))
		return
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			oaierr.Write(w, oaierr.New(http.StatusBadRequest, "limit must be a whole number from 1 to 100").WithParam("limit"))
			return
		}
		f.Limit = n
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			oaierr.Write(w, oaierr.New(http.StatusBadRequest, "before must be a job id").WithParam("before"))
			return
		}
		f.BeforeID = n
	}
	want := f.Limit
	f.Limit++ // one more tells whether there is a next page
	list, err := h.cfg.Jobs.ListJobs(r.Context(), f)
	if err != nil {
		h.log.Error("listing jobs failed", "err", err)
		oaierr.Write(w, oaierr.New(http.StatusServiceUnavailable, "The store is unavailable").WithCode("store_unavailable"))
		return
	}
	more := len(list) > want
	if more {
		list = list[:want]
	}
	data := make([]jobView, 0, len(list))
	for _, j := range list {
		data = append(data, viewOf(j))
	}
	resp := map[string]any{"object": "list", "data": data, "has_more": more}
	if more {
		resp["next_before"] = list[len(list)-1].ID
	}
	writeJSON(w, http.StatusOK, resp)
}

// callerKey keys the identity a request served in process runs as: set
// only by AsCaller (and ExecuteJob through it), so no network request can
// carry it.
type callerKey struct{}

// AsCaller returns a context under which a proxied request that the
// Handler serves in process (ServeHTTP called by code of the same process,
// not a network request) runs as the process and profile of id instead of
// the key it carries: no key is needed, and the request is admitted,
// scheduled, forwarded and recorded as that caller's. Asynchronous jobs run
// this way as the caller that submitted them, and the Router's own
// requests (the classifier's embeddings) as its system process. The
// identity applies to the proxied API only, never to the admin API.
func AsCaller(ctx context.Context, id pipeline.Identity) context.Context {
	return context.WithValue(ctx, callerKey{}, id)
}

// ExecuteJob runs a stored job through the same handler, scheduler and
// pipeline as a synchronous request, as the caller that submitted it, and
// returns the answer. It is the jobs.Exec of a Runner. The job's usage record
// gets a new request id and the client request id "job-<id>".
func (h *Handler) ExecuteJob(ctx context.Context, job store.Job, reached jobs.Reached) jobs.Outcome {
	var p jobPayload
	if err := json.Unmarshal(job.RequestPayload, &p); err != nil || (p.Prefix != "v1" && p.Prefix != "openai") || p.Operation == "" {
		return jobs.Outcome{StatusCode: http.StatusInternalServerError, Body: oaierr.New(http.StatusInternalServerError, "The stored job cannot be read").WithCode("job_unreadable").Marshal()}
	}
	if h.cfg.OnChange != nil && h.cfg.Pipeline.Catalog().LoadedAt.Before(job.CreatedAt) {
		// The job was admitted, perhaps by another replica, against a
		// catalogue newer than this replica's snapshot (a key or model
		// created just before): catch up first.
		h.cfg.OnChange(ctx)
	}
	ids := requestIDs{id: NewRequestID(), client: fmt.Sprintf("job-%d", job.ID)}
	ctx = withRequestIDs(ctx, ids)
	ctx = AsCaller(ctx, pipeline.Identity{ProcessID: job.ProcessID, ProfileID: job.ProfileID})
	ctx = pipeline.WithBeforeForward(ctx, func(ctx context.Context, rid string) error {
		if rid != ids.id {
			// Another request made under the job's context (one the
			// classifier sends), not the job's own.
			return nil
		}
		return reached(ctx, rid)
	})
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, "/"+p.Prefix+"/"+p.Operation, strings.NewReader(p.Body))
	if err != nil {
		return jobs.Outcome{StatusCode: http.StatusInternalServerError, Body: oaierr.New(http.StatusInternalServerError, "The stored job cannot be read").WithCode("job_unreadable").Marshal(), RequestID: ids.id}
	}
	for k, vs := range p.Header {
		r.Header[k] = vs
	}
	r.Header.Set("Content-Type", "application/json")
	if p.ClientRequestID != "" {
		r.Header.Set("X-Request-ID", p.ClientRequestID)
	}
	r.RemoteAddr = net.JoinHostPort(p.ClientIP, "0")
	r.SetPathValue("op", p.Operation)
	rec := &jobRecorder{header: http.Header{}}
	h.forward(false)(rec, r)
	if rec.status == 0 {
		// Nothing written: the pipeline writes nothing for a request
		// whose context ended (the job was cancelled or Logos stops).
		e := oaierr.New(http.StatusBadGateway, "The job got no answer").WithCode("upstream_error")
		if ctx.Err() != nil {
			e = oaierr.New(499, "The job was cancelled").WithCode("cancelled")
		}
		rec.status = e.Status
		rec.body.Write(e.Marshal())
	}
	return jobs.Outcome{StatusCode: rec.status, Body: rec.body.Bytes(), RequestID: ids.id}
}

// callerFromContext returns the identity AsCaller put in ctx.
func callerFromContext(ctx context.Context) (pipeline.Identity, bool) {
	id, ok := ctx.Value(callerKey{}).(pipeline.Identity)
	return id, ok
}

// jobRecorder collects a job's answer.
type jobRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *jobRecorder) Header() http.Header { return r.header }

func (r *jobRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *jobRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(p)
}

// Flush implements http.Flusher (the relay flushes).
func (r *jobRecorder) Flush() {}
