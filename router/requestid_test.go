package router

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"
)

// checkRequestID fails t unless id has the format of NewRequestID.
func checkRequestID(t *testing.T, id string) {
	t.Helper()
	if len(id) != 32 {
		t.Fatalf("id %q has %d characters, want 32", id, len(id))
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			t.Fatalf("id %q is not lowercase hex", id)
		}
	}
}

// idMillis returns the Unix milliseconds encoded in the first 12 hex
// characters of id.
func idMillis(t *testing.T, id string) int64 {
	t.Helper()
	ms, err := strconv.ParseInt(id[:12], 16, 64)
	if err != nil {
		t.Fatalf("id %q: time prefix: %v", id, err)
	}
	return ms
}

func TestNewRequestIDTimeOrdered(t *testing.T) {
	var ids []string
	before := time.Now().UnixMilli()
	for range 5 {
		// Several ids per millisecond, and several milliseconds.
		for range 3 {
			ids = append(ids, NewRequestID())
		}
		time.Sleep(2 * time.Millisecond)
	}
	after := time.Now().UnixMilli()

	seen := make(map[string]bool, len(ids))
	var prev int64
	for i, id := range ids {
		checkRequestID(t, id)
		if seen[id] {
			t.Fatalf("id %q generated twice", id)
		}
		seen[id] = true
		ms := idMillis(t, id)
		if ms < before || ms > after {
			t.Errorf("id %q encodes %d ms, want within [%d, %d]", id, ms, before, after)
		}
		if i > 0 && ms < prev {
			t.Errorf("id %d %q encodes %d ms, before the previous id's %d", i, id, ms, prev)
		}
		prev = ms
	}
	// An id of an earlier millisecond sorts before one of a later
	// millisecond; within a millisecond the order is random.
	for i, a := range ids {
		for _, b := range ids[i+1:] {
			if idMillis(t, a) < idMillis(t, b) && a >= b {
				t.Errorf("id %q of an earlier millisecond does not sort before %q", a, b)
			}
		}
	}
	if idMillis(t, ids[0]) == idMillis(t, ids[len(ids)-1]) {
		t.Errorf("ids %v all of one millisecond, want several", ids)
	}
}

func TestNewRequestIDLayout(t *testing.T) {
	base := time.UnixMilli(0x0123456789ab)
	var ids []string
	for i := range 100 {
		now := base.Add(time.Duration(i%10) * time.Millisecond)
		id := newRequestID(now)
		checkRequestID(t, id)
		if got, want := idMillis(t, id), now.UnixMilli(); got != want {
			t.Fatalf("id %q encodes %d ms, want %d", id, got, want)
		}
		ids = append(ids, id)
	}
	// Sorting the ids sorts them by time.
	slices.Sort(ids)
	for i := 1; i < len(ids); i++ {
		if idMillis(t, ids[i]) < idMillis(t, ids[i-1]) {
			t.Fatalf("sorted ids out of time order: %q after %q", ids[i], ids[i-1])
		}
	}
	// The 80 low bits are random: two ids of one millisecond differ there.
	a, b := newRequestID(base), newRequestID(base)
	if a == b {
		t.Fatalf("two ids of one millisecond are equal: %q", a)
	}
	if _, err := hex.DecodeString(a[12:]); err != nil || a[:12] != "0123456789ab" {
		t.Fatalf("id %q: want the time prefix 0123456789ab", a)
	}
}

func TestRequestIDHeaders(t *testing.T) {
	var gotID, gotClient string
	h := New(Config{})
	h.mux = &routeMux{ServeMux: http.NewServeMux()}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		gotID, gotClient = RequestIDFrom(r.Context()), ClientRequestIDFrom(r.Context())
	})
	serve := func(clientID string) http.Header {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if clientID != "" {
			req.Header.Set("X-Request-ID", clientID)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Header()
	}

	for _, tc := range []struct{ name, sent, client string }{
		{"none", "", ""},
		{"valid", "client-trace-42", "client-trace-42"},
		{"invalid", "bad id with spaces", ""},
		{"too long", string(make([]byte, 129)), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := serve(tc.sent)
			checkRequestID(t, gotID)
			if gotClient != tc.client {
				t.Errorf("ClientRequestIDFrom = %q, want %q", gotClient, tc.client)
			}
			if got := hdr.Get("X-Logos-Request-ID"); got != gotID {
				t.Errorf("X-Logos-Request-ID = %q, want the generated id %q", got, gotID)
			}
			wantEcho := tc.client
			if wantEcho == "" {
				wantEcho = gotID
			}
			if got := hdr.Get("X-Request-ID"); got != wantEcho {
				t.Errorf("X-Request-ID = %q, want %q", got, wantEcho)
			}
		})
	}

	// The same client id twice: two different generated ids.
	serve("retry-me")
	first := gotID
	serve("retry-me")
	if gotID == first || gotClient != "retry-me" {
		t.Errorf("second request with X-Request-ID retry-me: id %q (first %q), client id %q", gotID, first, gotClient)
	}

	if id, client := RequestIDFrom(context.Background()), ClientRequestIDFrom(context.Background()); id != "" || client != "" {
		t.Errorf("ids of a context without them = %q, %q; want empty", id, client)
	}
}
