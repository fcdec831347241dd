package usagelog

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/logos-llm/logos/store"
)

func fullRecord() store.UsageRecord {
	at := time.Date(2026, 12, 5, 4, 1, 2, 345678901, time.UTC)
	return store.UsageRecord{
		ID: 9, RequestID: "01JZabc", ClientRequestID: "client-1",
		ProcessID: 1, ProfileID: 2, ModelID: 3, ProviderID: 4, DeploymentID: 5, PolicyID: 6,
		ModelName: "gpt-4o", ProviderName: "openai", Operation: "chat/completions", Stream: true,
		ReceivedAt: at, ForwardedAt: at.Add(time.Millisecond), FirstTokenAt: at.Add(2 * time.Millisecond), CompletedAt: at.Add(time.Second),
		StatusCode: 200, Outcome: store.OutcomeSuccess, ErrorMessage: "ünïcode", ClientIP: "::1", Priority: -3,
		QueueWait: 1500 * time.Microsecond, ColdStart: true, LogLevel: store.LogFull,
		Classification:     json.RawMessage(`{"a":1}`),
		ClassifiedBy:       "similarity",
		ClassificationTime: 42 * time.Microsecond,
		RequestPayload:     json.RawMessage(`{"messages":[]}`),
		ResponsePayload:    json.RawMessage(``),
		RequestHeaders:     json.RawMessage(`{"x":"y"}`),
		ResponseHeaders:    nil,
		Tokens:             []store.TokenCount{{Type: "input", Count: 10, CostMicros: 3}, {Type: "output", Count: -1}},
		CostMicros:         -7, Currency: "EUR",
		Attempts: 2,
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, r := range []store.UsageRecord{fullRecord(), {}, {RequestID: "x", Tokens: []store.TokenCount{}}} {
		got, err := decodeRecord(appendRecord(nil, &r))
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Tokens) == 0 {
			r.Tokens = nil // an empty list comes back as nil
		}
		if diff := cmp.Diff(r, got); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
	}
}

// TestCodecCoversEveryField fails when store.UsageRecord gains a field: add
// it to appendRecord and decodeRecord (and to fullRecord), then update the
// count here.
func TestCodecCoversEveryField(t *testing.T) {
	if n := reflect.TypeFor[store.UsageRecord]().NumField(); n != 36 {
		t.Fatalf("store.UsageRecord has %d fields; the usage log codec knows 36", n)
	}
	// Every field of fullRecord is set, so a field the codec skipped would
	// differ after a round trip.
	v := reflect.ValueOf(fullRecord())
	for i := range v.NumField() {
		if v.Field(i).IsZero() && v.Type().Field(i).Name != "ResponseHeaders" {
			t.Errorf("fullRecord leaves %s zero", v.Type().Field(i).Name)
		}
	}
}

// TestCodecReadsVersion2: a log written before records had Attempts (codec
// version 2: the same encoding without its last field) is still replayed.
func TestCodecReadsVersion2(t *testing.T) {
	r := fullRecord()
	r.Attempts = 0
	b := appendRecord(nil, &r)
	v2 := append([]byte{codecVersionV2}, b[1:len(b)-1]...) // Attempts 0 is one byte
	got, err := decodeRecord(v2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Fatalf("version 2 record (-want +got):\n%s", diff)
	}
	if id, err := requestID(v2); err != nil || id != r.RequestID {
		t.Fatalf("requestID of a version 2 record: %q, %v", id, err)
	}
	if _, err := decodeRecord(append([]byte{4}, b[1:]...)); err == nil {
		t.Fatal("an unknown version decoded")
	}
}

func TestDecodeRefusesTruncatedRecords(t *testing.T) {
	r := fullRecord()
	b := appendRecord(nil, &r)
	for n := range len(b) {
		if _, err := decodeRecord(b[:n]); err == nil {
			t.Fatalf("a record cut to %d of %d bytes decoded", n, len(b))
		}
	}
}
