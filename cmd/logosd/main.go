// Command logosd runs Logos as a standalone LLM gateway.
//
// Usage:
//
//	logosd [flags]
//	logosd version
//	logosd healthcheck [--listen addr]
//
// version prints the version and commit from the binary's build information.
// healthcheck asks the logosd listening on --listen (LOGOS_LISTEN) for GET
// /readyz and exits non-zero unless it is ready: the container health check.
//
// Every flag can also be set through the environment variable named in its
// help text; a flag given on the command line wins. Without --database-url the
// embedded SQLite store at ./logos.db is used.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "logosd:", err)
		os.Exit(1)
	}
}
