package router

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/logos-llm/logos/store"
)

// newJobsEnv is a stats environment whose Handler has the job queue, with
// three jobs of root's process and two of alice's, one of them cancelled.
func newJobsEnv(t *testing.T) (*statsEnv, []int64) {
	t.Helper()
	e := newStatsEnv(t)
	e.h = New(Config{Store: e.st, Logger: e.log, Jobs: e.st, OnChange: func(context.Context) { e.changes.Add(1) }})
	var ids []int64
	add := func(pid int64, model string) int64 {
		body, _ := json.Marshal(map[string]any{"model": model, "messages": []any{}})
		payload, _ := json.Marshal(jobPayload{Prefix: "v1", Operation: "chat/completions", Body: string(body)})
		j, err := e.st.CreateJob(e.ctx, store.Job{ProcessID: pid, RequestPayload: payload})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
		return j.ID
	}
	for i := range 3 {
		add(e.rootPID, fmt.Sprintf("big-%d", i))
	}
	add(e.alicePID, "small")
	cancelled := add(e.alicePID, "small")
	if _, err := e.st.CancelJob(e.ctx, cancelled, "Cancelled by the client"); err != nil {
		t.Fatal(err)
	}
	return e, ids
}

func jobIDs(t *testing.T, m map[string]any) []int64 {
	t.Helper()
	var out []int64
	for _, r := range m["jobs"].([]any) {
		out = append(out, int64(r.(map[string]any)["job_id"].(float64)))
	}
	return out
}

// list_jobs shows an admin every process's jobs and anyone else its own
// process's, newest first, filtered by status and paged.
func TestListJobsScopedFilteredPaged(t *testing.T) {
	e, ids := newJobsEnv(t)
	eq := func(name string, got []int64, want ...int64) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: jobs %v, want %v", name, got, want)
		}
	}
	all := e.ok("list_jobs", e.rootKey, map[string]any{})
	eq("admin", jobIDs(t, all), ids[4], ids[3], ids[2], ids[1], ids[0])
	if all["enabled"] != true || all["has_more"] != false {
		t.Errorf("admin list: %v", all)
	}
	row := all["jobs"].([]any)[0].(map[string]any)
	if row["status"] != "cancelled" || row["model"] != "small" || row["operation"] != "chat/completions" ||
		int64(row["process_id"].(float64)) != e.alicePID || row["error"] != "Cancelled by the client" {
		t.Errorf("newest row: %v", row)
	}
	if _, ok := row["result"]; ok {
		t.Errorf("a row carries the result: %v", row)
	}
	eq("admin, alice's process", jobIDs(t, e.ok("list_jobs", e.rootKey, map[string]any{"process_id": e.alicePID})), ids[4], ids[3])
	eq("alice", jobIDs(t, e.ok("list_jobs", e.aliceKey, map[string]any{})), ids[4], ids[3])
	eq("alice, own process", jobIDs(t, e.ok("list_jobs", e.aliceKey, map[string]any{"process_id": e.alicePID})), ids[4], ids[3])
	e.fail("list_jobs", e.aliceKey, map[string]any{"process_id": e.rootPID}, http.StatusForbidden, "process_id", "forbidden")
	eq("pending", jobIDs(t, e.ok("list_jobs", e.rootKey, map[string]any{"status": "pending"})), ids[3], ids[2], ids[1], ids[0])
	eq("alice cancelled", jobIDs(t, e.ok("list_jobs", e.aliceKey, map[string]any{"status": "Cancelled"})), ids[4])

	page := e.ok("list_jobs", e.rootKey, map[string]any{"limit": 2})
	eq("page 1", jobIDs(t, page), ids[4], ids[3])
	if page["has_more"] != true || int64(page["next_before"].(float64)) != ids[3] {
		t.Errorf("page 1: %v", page)
	}
	page = e.ok("list_jobs", e.rootKey, map[string]any{"limit": 2, "before": ids[3]})
	eq("page 2", jobIDs(t, page), ids[2], ids[1])
	page = e.ok("list_jobs", e.rootKey, map[string]any{"limit": 2, "before": ids[1]})
	eq("page 3", jobIDs(t, page), ids[0])
	if page["has_more"] != false {
		t.Errorf("last page: %v", page)
	}

	e.fail("list_jobs", e.rootKey, map[string]any{"status": "done"}, http.StatusBadRequest, "status", "invalid_value")
	e.fail("list_jobs", e.rootKey, map[string]any{"limit": 201}, http.StatusBadRequest, "limit", "invalid_value")
	e.fail("list_jobs", e.rootKey, map[string]any{"before": -1}, http.StatusBadRequest, "before", "invalid_value")
	e.fail("list_jobs", "", map[string]any{}, http.StatusUnauthorized, "", "")
}

// Without a job queue list_jobs says so, rather than failing.
func TestListJobsWithoutQueue(t *testing.T) {
	e := newStatsEnv(t)
	m := e.ok("list_jobs", e.aliceKey, map[string]any{})
	if m["enabled"] != false || len(m["jobs"].([]any)) != 0 {
		t.Errorf("list_jobs without a queue: %v", m)
	}
	e.fail("list_jobs", e.aliceKey, map[string]any{"process_id": e.rootPID}, http.StatusForbidden, "process_id", "forbidden")
}
