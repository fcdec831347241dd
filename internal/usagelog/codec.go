package usagelog

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"

	"github.com/logos-llm/logos/store"
)

// The entries' payload is a compact binary encoding of a store.UsageRecord:
// a version byte, then every field in declaration order: integers as
// varints, strings and JSON as a length and bytes (JSON's length is stored
// plus one, so nil and empty differ), times as Unix nanoseconds plus one (0
// for the zero time). It costs a fraction of encoding/json, which matters
// as it runs twice per request. TestCodecCoversEveryField fails when
// UsageRecord gains a field the codec does not know.
//
// Version 3 appends Attempts. Records of version 2 (a log written before
// it) still decode, with Attempts 0, so a log left by an older binary is
// replayed after an upgrade.
const (
	codecVersion   = 3
	codecVersionV2 = 2
)

var errCodec = errors.New("usagelog: malformed record")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendRaw(b []byte, r json.RawMessage) []byte {
	if r == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(r))+1)
	return append(b, r...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano()+1)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendRecord appends the encoding of r to b.
func appendRecord(b []byte, r *store.UsageRecord) []byte {
	b = append(b, codecVersion)
	b = appendString(b, r.RequestID)
	b = appendString(b, r.ClientRequestID)
	b = binary.AppendVarint(b, r.ID)
	b = binary.AppendVarint(b, r.ProcessID)
	b = binary.AppendVarint(b, r.ProfileID)
	b = binary.AppendVarint(b, r.ModelID)
	b = binary.AppendVarint(b, r.ProviderID)
	b = binary.AppendVarint(b, r.DeploymentID)
	b = binary.AppendVarint(b, r.PolicyID)
	b = appendString(b, r.ModelName)
	b = appendString(b, r.ProviderName)
	b = appendString(b, r.Operation)
	b = appendBool(b, r.Stream)
	b = appendTime(b, r.ReceivedAt)
	b = appendTime(b, r.ForwardedAt)
	b = appendTime(b, r.FirstTokenAt)
	b = appendTime(b, r.CompletedAt)
	b = binary.AppendVarint(b, int64(r.StatusCode))
	b = appendString(b, string(r.Outcome))
	b = appendString(b, r.ErrorMessage)
	b = appendString(b, r.ClientIP)
	b = binary.AppendVarint(b, int64(r.Priority))
	b = binary.AppendVarint(b, int64(r.QueueWait))
	b = appendBool(b, r.ColdStart)
	b = appendString(b, string(r.LogLevel))
	b = appendRaw(b, r.Classification)
	b = appendString(b, r.ClassifiedBy)
	b = binary.AppendVarint(b, int64(r.ClassificationTime))
	b = appendRaw(b, r.RequestPayload)
	b = appendRaw(b, r.ResponsePayload)
	b = appendRaw(b, r.RequestHeaders)
	b = appendRaw(b, r.ResponseHeaders)
	b = binary.AppendUvarint(b, uint64(len(r.Tokens)))
	for _, t := range r.Tokens {
		b = appendString(b, t.Type)
		b = binary.AppendVarint(b, t.Count)
		b = binary.AppendVarint(b, t.CostMicros)
	}
	b = binary.AppendVarint(b, r.CostMicros)
	b = appendString(b, r.Currency)
	return binary.AppendVarint(b, int64(r.Attempts))
}

// decoder reads an encoded record; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCodec
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCodec
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errCodec
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes(d.uvarint())) }

func (d *decoder) raw() json.RawMessage {
	n := d.uvarint()
	if n == 0 {
		return nil
	}
	return json.RawMessage(append([]byte{}, d.bytes(n-1)...))
}

func (d *decoder) time() time.Time {
	n := d.varint()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n-1).UTC()
}

func (d *decoder) bool() bool {
	b := d.bytes(1)
	return len(b) == 1 && b[0] == 1
}

// decodeRecord decodes what appendRecord encoded.
func decodeRecord(b []byte) (store.UsageRecord, error) {
	var r store.UsageRecord
	if len(b) == 0 || (b[0] != codecVersion && b[0] != codecVersionV2) {
		return r, errCodec
	}
	d := decoder{b: b[1:]}
	r.RequestID = d.string()
	r.ClientRequestID = d.string()
	r.ID = d.varint()
	r.ProcessID = d.varint()
	r.ProfileID = d.varint()
	r.ModelID = d.varint()
	r.ProviderID = d.varint()
	r.DeploymentID = d.varint()
	r.PolicyID = d.varint()
	r.ModelName = d.string()
	r.ProviderName = d.string()
	r.Operation = d.string()
	r.Stream = d.bool()
	r.ReceivedAt = d.time()
	r.ForwardedAt = d.time()
	r.FirstTokenAt = d.time()
	r.CompletedAt = d.time()
	r.StatusCode = int(d.varint())
	r.Outcome = store.Outcome(d.string())
	r.ErrorMessage = d.string()
	r.ClientIP = d.string()
	r.Priority = int(d.varint())
	r.QueueWait = time.Duration(d.varint())
	r.ColdStart = d.bool()
	r.LogLevel = store.LogLevel(d.string())
	r.Classification = d.raw()
	r.ClassifiedBy = d.string()
	r.ClassificationTime = time.Duration(d.varint())
	r.RequestPayload = d.raw()
	r.ResponsePayload = d.raw()
	r.RequestHeaders = d.raw()
	r.ResponseHeaders = d.raw()
	if n := d.uvarint(); n > 0 && d.err == nil {
		if n > uint64(len(d.b)) {
			return r, errCodec
		}
		r.Tokens = make([]store.TokenCount, n)
		for i := range r.Tokens {
			r.Tokens[i] = store.TokenCount{Type: d.string(), Count: d.varint(), CostMicros: d.varint()}
		}
	}
	r.CostMicros = d.varint()
	r.Currency = d.string()
	if b[0] >= codecVersion {
		r.Attempts = int(d.varint())
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errCodec
	}
	return r, d.err
}

// requestID decodes only the request id of an encoded record.
func requestID(b []byte) (string, error) {
	if len(b) == 0 || (b[0] != codecVersion && b[0] != codecVersionV2) {
		return "", errCodec
	}
	d := decoder{b: b[1:]}
	id := d.string()
	return id, d.err
}
