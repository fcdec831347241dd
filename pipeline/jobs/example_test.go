package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/logos-llm/logos/pipeline/jobs"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite"
)

// A Runner claims stored jobs and runs them through an Exec; a Router's is
// the in-process pipeline, here it is a function that answers at once.
func Example() {
	dir, _ := os.MkdirTemp("", "jobs-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "logos.db"), Logger: quiet})
	if err != nil {
		panic(err)
	}
	defer st.Close()
	boot, _ := st.Bootstrap(ctx, store.BootstrapParams{AdminUsername: "admin", ProcessName: "root", ProfileName: "root", KeyHash: []byte("h"), KeyPrefix: "lg-"})
	job, _ := st.CreateJob(ctx, store.Job{ProcessID: boot.Process.ID, RequestPayload: json.RawMessage(`{"q":"2+2"}`)})

	r, err := jobs.New(jobs.Config{Queue: st, Logger: quiet, PollInterval: 10 * time.Millisecond,
		Exec: func(ctx context.Context, j store.Job, reached jobs.Reached) jobs.Outcome {
			if err := reached(ctx, "req-1"); err != nil { // before the upstream call
				return jobs.Outcome{StatusCode: 503}
			}
			return jobs.Outcome{StatusCode: 200, Body: []byte(`{"a":4}`), RequestID: "req-1"}
		}})
	if err != nil {
		panic(err)
	}
	defer r.Close(ctx)
	for {
		j, _ := st.GetJob(ctx, job.ID)
		if j.Status.Finished() {
			fmt.Println(j.Status, j.StatusCode, string(j.ResultPayload))
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Output: succeeded 200 {"a":4}
}
