package logos_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/logos-llm/logos"
	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/store"
)

const chatJSON = `{"id":"chatcmpl-1","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there, this is a complete answer."},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}`

// truncatingUpstream answers chat completions with the first half of
// chatJSON and then drops the connection: with a Content-Length that
// promises the whole body, or chunked.
func truncatingUpstream(t *testing.T, withLength bool) providers.Target {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if withLength {
			w.Header().Set("Content-Length", strconv.Itoa(len(chatJSON)))
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(chatJSON[:len(chatJSON)/2]))
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler) // cut the connection
	}))
	t.Cleanup(srv.Close)
	return providers.Target{Kind: providers.KindOpenAI, BaseURL: srv.URL + "/v1"}
}

// TestTruncatedJSONAnswerIsA502: when the upstream cuts a non-streaming
// answer short, the client gets a 502 in the OpenAI error format, not a 200
// with half a document, and the usage record says so.
func TestTruncatedJSONAnswerIsA502(t *testing.T) {
	for _, withLength := range []bool{true, false} {
		name := "chunked"
		if withLength {
			name = "content-length"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.deploy("m", truncatingUpstream(t, withLength), nil)
			status, hdr, body := e.do("POST", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
			if status != http.StatusBadGateway {
				t.Fatalf("status %d, body %q; want 502", status, body)
			}
			var oe struct {
				Error struct {
					Message, Type, Code string
				}
			}
			if err := json.Unmarshal(body, &oe); err != nil || oe.Error.Message == "" || oe.Error.Type == "" {
				t.Fatalf("not an OpenAI error: %q (%v)", body, err)
			}
			if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("Content-Type %q", ct)
			}
			rec := e.lastUsage()
			if rec.StatusCode != http.StatusBadGateway || rec.Outcome != store.OutcomeError {
				t.Fatalf("usage record: status %d, outcome %s", rec.StatusCode, rec.Outcome)
			}
		})
	}
}

// TestCompleteJSONAnswerKeepsUsage: a whole non-streaming answer still
// passes unchanged, with its usage parsed.
func TestCompleteJSONAnswerKeepsUsage(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Upstream", "yes")
		_, _ = w.Write([]byte(chatJSON))
	}))
	t.Cleanup(srv.Close)
	e.deploy("m", providers.Target{Kind: providers.KindOpenAI, BaseURL: srv.URL + "/v1"}, nil)
	status, hdr, body := e.do("POST", "/v1/chat/completions", `{"model":"m","messages":[]}`)
	if status != 200 || string(body) != chatJSON || hdr.Get("X-Upstream") != "yes" {
		t.Fatalf("%d %q %v", status, body, hdr)
	}
	if rec := e.lastUsage(); tokens(rec)["total_tokens"] != 12 {
		t.Fatalf("usage %v", tokens(rec))
	}
}

// countingBody counts what is read from it.
type countingBody struct{ n atomic.Int64 }

func (b *countingBody) Read(p []byte) (int, error) {
	b.n.Add(int64(len(p)))
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

func (b *countingBody) Close() error { return nil }

// TestOversizedContentLengthIsRefusedUnread: a body announced larger than
// the limit gets 413 without a byte of it being read, and is recorded.
func TestOversizedContentLengthIsRefusedUnread(t *testing.T) {
	e := newEnv(t, func(c *logos.Config) { c.MaxBodyBytes = 1 << 20 })
	body := &countingBody{}
	req := httptest.NewRequest("POST", "/v1/chat/completions", body)
	req.ContentLength = 100 << 20
	req.Header.Set("Authorization", "Bearer "+e.key)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.router.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d %s", rec.Code, rec.Body)
	}
	if n := body.n.Load(); n != 0 {
		t.Fatalf("%d bytes of the refused body were read", n)
	}
	if u := e.lastUsage(); u.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("usage record status %d", u.StatusCode)
	}
}

// failingStore refuses usage inserts while fail is set, like a database
// that is down.
type failingStore struct {
	store.Store
	fail atomic.Bool
}

func (s *failingStore) InsertUsage(ctx context.Context, recs []store.UsageRecord) (int, error) {
	if s.fail.Load() {
		return 0, errors.New("database unreachable")
	}
	return s.Store.InsertUsage(ctx, recs)
}

// TestUsageLogFullRefusesNewRequests: while the database is down the usage
// log fills; /readyz turns 503 over the high-water mark, new requests get
// 503 once the log is full, and all is well again when the database is
// back and the backlog drained.
func TestUsageLogFullRefusesNewRequests(t *testing.T) {
	var fs *failingStore
	dir := t.TempDir()
	e := newEnv(t, func(c *logos.Config) {
		fs = &failingStore{Store: c.Store.(store.Store)}
		c.Store = fs
		c.UsageLogDir = dir
		c.UsageLogMaxBytes = 64 << 10
		c.UsageLogHighWaterBytes = 16 << 10
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(chatJSON))
	}))
	t.Cleanup(srv.Close)
	e.deploy("m", providers.Target{Kind: providers.KindOpenAI, BaseURL: srv.URL + "/v1"}, nil)
	ready := func() int {
		s, _, _ := e.do("GET", "/readyz", "")
		return s
	}
	if s := ready(); s != 200 {
		t.Fatalf("/readyz %d before the outage", s)
	}
	fs.fail.Store(true)
	var ok, full int
	var sawNotReady bool
	for range 2000 {
		s, _, body := e.do("POST", "/v1/chat/completions", `{"model":"m","messages":[]}`)
		switch s {
		case 200:
			ok++
		case 503:
			if !strings.Contains(string(body), "usage_log_full") {
				t.Fatalf("503 without usage_log_full: %s", body)
			}
			full++
		default:
			t.Fatalf("status %d: %s", s, body)
		}
		if ready() == 503 {
			sawNotReady = true
		}
		if full > 0 {
			break
		}
	}
	if full == 0 || !sawNotReady {
		t.Fatalf("with the database down: %d answered, %d refused as full, /readyz 503 seen: %v", ok, full, sawNotReady)
	}
	fs.fail.Store(false)
	e.waitFor("the backlog to drain", func() bool { return ready() == 200 })
	if s, _, body := e.do("POST", "/v1/chat/completions", `{"model":"m","messages":[]}`); s != 200 {
		t.Fatalf("after the database came back: %d %s", s, body)
	}
	// Every request, answered or refused, has its record.
	recs := e.usage()
	var answered, refused int
	for _, r := range recs {
		switch r.StatusCode {
		case 200:
			if r.Operation == "chat/completions" {
				answered++
			}
		case 503:
			refused++
		}
	}
	if answered != ok+1 || refused != full {
		t.Fatalf("records: %d answered (want %d), %d refused (want %d)", answered, ok+1, refused, full)
	}
}
