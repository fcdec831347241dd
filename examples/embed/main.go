// Command embed shows a Go service that mounts the Logos gateway next to its
// own routes: everything under /v1/ (and the admin and health endpoints) is
// served by the Router; /hello is the service's own.
//
//	go run ./examples/embed -listen 127.0.0.1:9090
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/logos-llm/logos"
	"github.com/logos-llm/logos/providers/builtin"
	"github.com/logos-llm/logos/scheduler/fcfs"
	"github.com/logos-llm/logos/store/sqlite"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9090", "address to listen on")
	db := flag.String("db", "embed.db", "SQLite file")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, *listen, *db); err != nil {
		fmt.Fprintln(os.Stderr, "embed:", err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, listen, db string) error {
	st, err := sqlite.Open(ctx, sqlite.Config{Path: db})
	if err != nil {
		return err
	}
	defer st.Close()
	sched, err := fcfs.New(fcfs.Config{})
	if err != nil {
		return err
	}
	defer sched.Close()
	gateway, err := logos.New(logos.Config{Store: st, Providers: builtin.Registry(), Scheduler: sched})
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello from the host service")
	})
	mux.Handle("/", gateway) // /v1/..., /logosdb/..., /healthz

	srv := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	slog.Info("serving", "addr", listen)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return gateway.Close(cctx) // flushes usage records
}
