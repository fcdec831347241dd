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
	"time"

	"github.com/logos-llm/logos"
	"github.com/logos-llm/logos/providers/builtin"
	"github.com/logos-llm/logos/scheduler/fcfs"
	"github.com/logos-llm/logos/store/sqlite"
)

// A Router is an http.Handler composed of a Store, the Providers, and a
// Scheduler. Mount it on any mux.
func ExampleNew() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "logos-example")
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "logos.db"), Logger: quiet})
	if err != nil {
		panic(err)
	}
	defer st.Close()
	sched, _ := fcfs.New(fcfs.Config{})
	defer sched.Close()

	router, err := logos.New(logos.Config{Store: st, Providers: builtin.Registry(), Scheduler: sched, Logger: quiet})
	if err != nil {
		panic(err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = router.Close(cctx) // stores every pending usage record
	}()

	srv := httptest.NewServer(router)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output: 200
}

// Bootstrap sets up an empty store with an admin and a root key, the
// non-interactive alternative to POST /logosdb/setup.
func ExampleRouter_Bootstrap() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "logos-example")
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, _ := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "logos.db"), Logger: quiet})
	defer st.Close()
	sched, _ := fcfs.New(fcfs.Config{})
	defer sched.Close()
	router, _ := logos.New(logos.Config{Store: st, Providers: builtin.Registry(), Scheduler: sched, Logger: quiet})
	defer router.Close(ctx)

	key, err := router.Bootstrap(ctx, "lg-root-an-operator-chosen-secret-0001")
	fmt.Println(key, err)
	_, err = router.Bootstrap(ctx, "")
	fmt.Println(err != nil)
	// Output:
	// lg-root-an-operator-chosen-secret-0001 <nil>
	// true
}
