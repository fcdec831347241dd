package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/logos-llm/logos/internal/gcfloor"
)

// serveProxyFlag is the hidden first argument that turns the harness into
// the proxy target: logos-bench -serve-proxy UPSTREAM_URL [GC_MIN_HEAP_BYTES].
const serveProxyFlag = "-serve-proxy"

// newReverseProxy returns the plainest httputil.ReverseProxy to upstream:
// the floor any Go proxy can reach.
func newReverseProxy(upstream *url.URL) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(upstream)
		},
		Transport: &http.Transport{
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     90 * time.Second,
		},
		FlushInterval: -1, // stream every write, as a gateway must
	}
}

// serveProxy runs the proxy target on a loopback port until SIGTERM or
// SIGINT, announcing "listening on http://ADDR" on stdout.
func serveProxy(args []string, stdout io.Writer) error {
	if len(args) < 1 || len(args) > 2 {
		return errors.New("usage: logos-bench -serve-proxy UPSTREAM_URL [GC_MIN_HEAP_BYTES]")
	}
	if len(args) == 2 {
		minHeap, err := strconv.ParseUint(args[1], 10, 64)
		if err != nil {
			return fmt.Errorf("bad GC minimum heap %q", args[1])
		}
		// The same floor logosd keeps (cmd/logosd startGCFloor): none when
		// it is 0 or GOGC is set.
		if minHeap > 0 && os.Getenv("GOGC") == "" {
			defer gcfloor.Start(minHeap, 100).Stop()
		}
	}
	u, err := url.Parse(args[0])
	if err != nil || u.Scheme != "http" {
		return fmt.Errorf("bad upstream URL %q", args[0])
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	rp := newReverseProxy(u)
	// Without full duplex the server drains and closes the inbound body
	// when the answer's headers go out, while the transport may still read
	// it once more (to check its length); that read fails and cuts the
	// upstream connection mid-stream (golang/go#40747).
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).EnableFullDuplex()
		rp.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "logos-bench proxy listening on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
