package logos_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/logos-llm/logos"
	"github.com/logos-llm/logos/providers/builtin"
	"github.com/logos-llm/logos/scheduler/fcfs"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite"
)

// usageCounter wraps a Store and counts the usage records the Router stores.
// Embedding the store.Store interface forwards every method it does not
// override, so the admin API and setup keep working. It hides the other
// optional capabilities of the wrapped store, which the Router finds by type
// assertion (store.JobQueue, store.RateLimitStore, ...): a wrapper that
// should keep them forwards them too. This one does not, so its Router runs
// without the job API. A store that embeds only logos.Store (store.Core)
// serves the proxied API but not the admin API or Router.Bootstrap.
type usageCounter struct {
	store.Store
	batches, records atomic.Int64
}

// InsertUsage counts each batch the usage writer stores.
func (s *usageCounter) InsertUsage(ctx context.Context, recs []store.UsageRecord) (int, error) {
	n, err := s.Store.InsertUsage(ctx, recs)
	if err == nil {
		s.batches.Add(1)
		s.records.Add(int64(n))
	}
	return n, err
}

// A custom Store is usually a wrapper around a real one: here it counts the
// usage records of every authenticated request. A Store written from
// scratch must pass store/storetest.
func ExampleStore() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "logos-example")
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "logos.db"), Logger: quiet})
	if err != nil {
		panic(err)
	}
	defer st.Close()
	counted := &usageCounter{Store: st}
	sched, _ := fcfs.New(fcfs.Config{})
	defer sched.Close()
	router, err := logos.New(logos.Config{Store: counted, Providers: builtin.Registry(), Scheduler: sched, Logger: quiet})
	if err != nil {
		panic(err)
	}
	defer router.Close(ctx)
	key, _ := router.Bootstrap(ctx, "")
	srv := httptest.NewServer(router)
	defer srv.Close()

	// Two authenticated requests for a model that does not exist: each is
	// refused and leaves a usage record. /healthz leaves none.
	for range 2 {
		req, _ := http.NewRequest("POST", srv.URL+"/v1/chat/completions", strings.NewReader(`{"model":"no-such-model","messages":[]}`))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	resp, _ := http.Get(srv.URL + "/healthz")
	resp.Body.Close()

	if err := router.FlushUsage(ctx); err != nil { // store what is pending now
		panic(err)
	}
	fmt.Println("records:", counted.records.Load())
	_, isQueue := logos.Store(counted).(store.JobQueue)
	fmt.Println("job queue:", isQueue)
	// Output:
	// 404
	// 404
	// records: 2
	// job queue: false
}
