package logos_test

import (
	"slices"
	"testing"

	"github.com/logos-llm/logos/providers/providertest"
	"github.com/logos-llm/logos/store"
)

// TestReusedClientRequestID: a client that sends the same X-Request-ID twice
// (a retrying SDK, a fixed header) gets two usage records. Each has its own
// generated request id, sent as X-Logos-Request-ID, and both keep the
// client's id, which X-Request-ID echoes.
func TestReusedClientRequestID(t *testing.T) {
	e := newEnv(t)
	up := providertest.NewOpenAI(t, providertest.Options{})
	e.deploy("m", up.Target(), nil)

	const clientID = "sdk-retry-0001"
	var logosIDs []string
	for i := range 2 {
		s, hdr, b := e.do("POST", "/v1/chat/completions", chatBody, "X-Request-ID", clientID)
		if s != 200 {
			t.Fatalf("request %d: status %d: %s", i, s, b)
		}
		if got := hdr.Get("X-Request-ID"); got != clientID {
			t.Errorf("request %d: X-Request-ID = %q, want the client's %q", i, got, clientID)
		}
		id := hdr.Get("X-Logos-Request-ID")
		if len(id) != 32 || id == clientID {
			t.Errorf("request %d: X-Logos-Request-ID = %q, want a generated 32-character id", i, id)
		}
		logosIDs = append(logosIDs, id)
	}
	if logosIDs[0] == logosIDs[1] {
		t.Fatalf("both requests got X-Logos-Request-ID %q", logosIDs[0])
	}
	if n := len(up.Requests()); n != 2 {
		t.Fatalf("upstream saw %d requests, want 2", n)
	}

	recs := e.usage() // flushes
	if len(recs) != 2 {
		t.Fatalf("%d usage records, want 2: %+v", len(recs), recs)
	}
	var recIDs []string
	for _, r := range recs {
		if r.ClientRequestID != clientID {
			t.Errorf("record %q: ClientRequestID = %q, want %q", r.RequestID, r.ClientRequestID, clientID)
		}
		if r.Outcome != store.OutcomeSuccess || len(r.Tokens) == 0 {
			t.Errorf("record %q: outcome %s, tokens %v; want a successful record with tokens", r.RequestID, r.Outcome, r.Tokens)
		}
		recIDs = append(recIDs, r.RequestID)
	}
	slices.Sort(recIDs)
	slices.Sort(logosIDs)
	if !slices.Equal(recIDs, logosIDs) {
		t.Errorf("record ids %v, want the X-Logos-Request-ID values %v", recIDs, logosIDs)
	}

	// Without a (valid) client id, X-Request-ID carries the generated id and
	// the record has no client id.
	s, hdr, b := e.do("POST", "/v1/chat/completions", chatBody, "X-Request-ID", "not a token")
	if s != 200 {
		t.Fatalf("status %d: %s", s, b)
	}
	id := hdr.Get("X-Logos-Request-ID")
	if hdr.Get("X-Request-ID") != id || len(id) != 32 {
		t.Errorf("X-Request-ID = %q, X-Logos-Request-ID = %q; want the same generated id", hdr.Get("X-Request-ID"), id)
	}
	if r := e.lastUsage(); r.RequestID != id || r.ClientRequestID != "" {
		t.Errorf("record %q with client id %q; want %q without one", r.RequestID, r.ClientRequestID, id)
	}
}
