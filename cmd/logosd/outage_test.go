package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logos-llm/logos/providers/providertest"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/postgres"
	"github.com/logos-llm/logos/store/postgres/pgtest"
)

// tcpProxy forwards connections to a backend until it is cut: then its
// connections are closed, and new ones are accepted and left hanging (a
// black hole, as an unreachable host behaves) until it is restored.
type tcpProxy struct {
	ln      net.Listener
	backend string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func newTCPProxy(t *testing.T, backend string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, backend: backend, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.closeAll()
		p.wg.Wait()
	})
	return p
}

func (p *tcpProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns[c] = true
		cut := p.cut
		p.mu.Unlock()
		if cut {
			continue // held open, never answered, closed on restore
		}
		p.wg.Add(1)
		go p.forward(c)
	}
}

func (p *tcpProxy) forward(c net.Conn) {
	defer p.wg.Done()
	b, err := net.Dial("tcp", p.backend)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	p.conns[b] = true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(b, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, b); done <- struct{}{} }()
	<-done
	_ = c.Close()
	_ = b.Close()
	<-done
}

func (p *tcpProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}

// setCut cuts (true) or restores (false) the connection to the backend.
func (p *tcpProxy) setCut(cut bool) {
	p.mu.Lock()
	p.cut = cut
	p.mu.Unlock()
	p.closeAll()
}

// TestPostgresOutageNeitherStallsNorLoses runs logosd against PostgreSQL
// through a TCP proxy, cuts the database off for a while under load and
// restores it: no request is slower than a second, every answered request
// has its usage record once the backlog is drained.
func TestPostgresOutageNeitherStallsNorLoses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds logosd and runs it under load")
	}
	dbURL := pgtest.NewDatabase(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	viaProxy := *u
	viaProxy.Host = proxy.ln.Addr().String()

	key := "lg-root-" + strings.Repeat("o", 40)
	up := providertest.NewOpenAI(t, providertest.Options{})
	args := []string{"--database-url", viaProxy.String(), "--usage-log", filepath.Join(t.TempDir(), "usage-log")}
	c := startChild(t, args, "LOGOS_ROOT_KEY="+key)
	st, err := postgres.Open(context.Background(), postgres.Config{URL: dbURL, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seedStore(t, st, up)
	waitModel(t, c.url, key)

	var mu sync.Mutex
	var answered []string
	var latencies []time.Duration
	var failed int
	stop := make(chan struct{})
	var wg sync.WaitGroup
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", c.url+"/v1/chat/completions", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
				req.Header.Set("Authorization", "Bearer "+key)
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				d := time.Since(t0)
				mu.Lock()
				latencies = append(latencies, d)
				if err == nil && resp.StatusCode == 200 {
					answered = append(answered, resp.Header.Get("X-Logos-Request-ID"))
				} else {
					failed++
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Second)
	proxy.setCut(true)
	t.Log("database cut off")
	time.Sleep(6 * time.Second)
	proxy.setCut(false)
	restored := time.Now()
	t.Log("database restored")
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	slowest := latencies[len(latencies)-1]
	t.Logf("%d requests answered with 200, %d failed; p50 %v, p99 %v, slowest %v",
		len(answered), failed, latencies[len(latencies)/2], latencies[len(latencies)*99/100], slowest)
	if failed > 0 {
		t.Errorf("%d requests failed during the outage", failed)
	}
	if slowest > time.Second {
		t.Errorf("the slowest request took %v", slowest)
	}

	want := make(map[string]bool, len(answered))
	for _, id := range answered {
		want[id] = true
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		recs, err := st.ListUsage(context.Background(), store.UsageFilter{Limit: 1 << 30})
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, rec := range recs {
			if want[rec.RequestID] {
				found++
			}
		}
		if found == len(want) {
			t.Logf("backlog drained %v after the database came back", time.Since(restored).Round(100*time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d answered requests have a usage record after the outage:\n%s", found, len(want), c.stderr.String())
		}
		time.Sleep(250 * time.Millisecond)
	}
	c.stop(t)
}
