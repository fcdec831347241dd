package router

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/store"
)

// Limits of list_jobs.
const (
	defaultJobListLimit = 50
	maxJobListLimit     = 200
)

// adminJobRoutes registers the dashboard's view of the job queue:
//
//   - POST list_jobs: jobs newest first, filtered and paged.
//
// It is scoped like the statistics endpoints: an admin sees every process's
// jobs, any other key only its own process's (every profile of it), and
// naming another process is 403. Unlike GET /jobs it needs no Pipeline, and
// it lists rows without their results (GET /jobs/{id} has them).
func (h *Handler) adminJobRoutes() {
	h.adminRoute("list_jobs", false, false, h.listJobsDashboard)
}

// jobRow is one row of list_jobs.
type jobRow struct {
	JobID      int64           `json:"job_id"`
	ProcessID  int64           `json:"process_id"`
	ProfileID  int64           `json:"profile_id"`
	Status     store.JobStatus `json:"status"`
	StatusCode *int            `json:"status_code"`
	Error      *string         `json:"error"`
	Operation  string          `json:"operation"`
	Model      string          `json:"model"`
	RequestID  string          `json:"request_id"`
	Attempts   int             `json:"attempts"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

// rowOf summarises j. The operation and model come from the stored request,
// which never holds a credential (see jobPayload); its body is not shown.
func rowOf(j store.Job) jobRow {
	v := viewOf(j)
	row := jobRow{
		JobID: j.ID, ProcessID: j.ProcessID, ProfileID: j.ProfileID, Status: j.Status, StatusCode: v.StatusCode,
		Error: v.Error, RequestID: j.RequestID, Attempts: j.Attempts, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt,
	}
	var p jobPayload
	if json.Unmarshal(j.RequestPayload, &p) == nil {
		row.Operation = p.Operation
		var body struct {
			Model string `json:"model"`
		}
		if json.Unmarshal([]byte(p.Body), &body) == nil {
			row.Model = body.Model
		}
	}
	return row
}

// listJobsDashboard answers the jobs of the caller's scope, newest first:
//
//	{process_id?, status?, limit? (default 50, at most 200), before? (a job id)}
//	→ {"enabled": bool, "jobs": [{job_id, process_id, profile_id, status, status_code,
//	   error, operation, model, request_id, attempts, created_at, updated_at}],
//	   "has_more": bool, "next_before"?: job id}
//
// enabled is false, with no jobs, when this Logos has no job queue.
func (h *Handler) listJobsDashboard(a *adminRequest) (int, any, *oaierr.Error) {
	var req struct {
		ProcessID int64  `json:"process_id"`
		Status    string `json:"status"`
		Limit     int    `json:"limit"`
		Before    int64  `json:"before"`
	}
	if e := a.decode(&req); e != nil {
		return 0, nil, e
	}
	pid, e := scope(a.caller, req.ProcessID)
	if e != nil {
		return 0, nil, e
	}
	f := store.JobFilter{ProcessID: pid, Status: store.JobStatus(strings.ToLower(strings.TrimSpace(req.Status))), BeforeID: req.Before}
	if f.Status != "" && !f.Status.Valid() {
		return 0, nil, invalid("status", `must be "pending", "running", "succeeded", "failed" or "cancelled"`)
	}
	switch {
	case req.Limit == 0:
		f.Limit = defaultJobListLimit
	case req.Limit < 0 || req.Limit > maxJobListLimit:
		return 0, nil, invalid("limit", "must be between 1 and 200")
	default:
		f.Limit = req.Limit
	}
	if req.Before < 0 {
		return 0, nil, invalid("before", "must be a job id")
	}
	if h.cfg.Jobs == nil {
		return http.StatusOK, map[string]any{"enabled": false, "jobs": []jobRow{}, "has_more": false}, nil
	}
	want := f.Limit
	f.Limit++ // one more tells whether there is a next page
	list, err := h.cfg.Jobs.ListJobs(a.ctx, f)
	if err != nil {
		h.log.Error("listing jobs failed", "err", err)
		return 0, nil, oaierr.New(http.StatusServiceUnavailable, "The store is unavailable").WithCode("store_unavailable")
	}
	more := len(list) > want
	if more {
		list = list[:want]
	}
	rows := make([]jobRow, 0, len(list))
	for _, j := range list {
		rows = append(rows, rowOf(j))
	}
	out := map[string]any{"enabled": true, "jobs": rows, "has_more": more}
	if more {
		out["next_before"] = list[len(list)-1].ID
	}
	return http.StatusOK, out, nil
}
