package meter

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Format is the framing of an upstream response body.
type Format int

const (
	// FormatJSON is a single JSON document (non-streaming responses). It is
	// copied as is; usage is extracted at the end as by UsageFromJSON.
	FormatJSON Format = iota
	// FormatSSE is a text/event-stream (OpenAI-style streaming, Responses
	// API streaming). It is forwarded event by event.
	FormatSSE
	// FormatNDJSON is newline-delimited JSON (Ollama's native /api/chat and
	// /api/generate streaming). It is forwarded line by line.
	FormatNDJSON
)

// String returns "json", "sse" or "ndjson".
func (f Format) String() string {
	switch f {
	case FormatJSON:
		return "json"
	case FormatSSE:
		return "sse"
	case FormatNDJSON:
		return "ndjson"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// FormatForContentType returns the Format for an upstream Content-Type:
// text/event-stream is FormatSSE; application/x-ndjson, application/ndjson,
// application/jsonl and application/x-jsonlines are FormatNDJSON;
// everything else (application/json, text/plain, an empty or invalid value)
// is FormatJSON, which copies bytes without interpreting their framing.
func FormatForContentType(contentType string) Format {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		before, _, _ := strings.Cut(contentType, ";")
		mt = strings.ToLower(strings.TrimSpace(before))
	}
	switch mt {
	case "text/event-stream":
		return FormatSSE
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines":
		return FormatNDJSON
	}
	return FormatJSON
}

// Sentinel errors returned (wrapped) by Relay. Use errors.Is; the wrapped
// error also matches the underlying cause (io.ErrUnexpectedEOF,
// context.Canceled, ...).
var (
	// ErrUpstream means reading the upstream body failed before io.EOF.
	ErrUpstream = errors.New("meter: upstream stream failed")
	// ErrClient means writing or flushing to the client failed; the relay
	// stopped reading the upstream, which the caller should now cancel.
	ErrClient = errors.New("meter: client write failed")
)

const (
	// A relay reads into pooled buffers of growing size: it starts with the
	// smallest, because an SSE event or NDJSON line is usually far smaller
	// and a stream holds its buffer for as long as it is open (thousands of
	// slow streams at once), and moves one size up each time a read fills
	// its buffer (a burst, a large JSON body), so big bodies take few reads.
	smallBufferSize     = 1 << 10
	mediumBufferSize    = 4 << 10
	largeBufferSize     = 32 << 10
	defaultMaxEventSize = 8 << 20
	// maxEmptyReads is how many (0, nil) reads in a row count as a broken
	// upstream reader (the bufio package uses the same limit).
	maxEmptyReads = 100
)

// Options configure Relay. The zero value relays a JSON body.
type Options struct {
	// Format is the upstream framing; see FormatForContentType.
	Format Format
	// DropInjectedUsage, for FormatSSE, withholds the usage-only chunk (an
	// event whose "choices" is an empty array and whose "usage" is not null)
	// from the client; its usage is still counted. Set it when Logos added
	// stream_options.include_usage and the client had not asked for it.
	// Chunks with non-empty choices are always forwarded, usage or not.
	DropInjectedUsage bool
	// CaptureLimit is how many bytes of the forwarded body Result.Captured
	// keeps (for FULL logging). Zero keeps nothing. Usage extraction does not
	// depend on it.
	CaptureLimit int
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
	// BufferSize, when positive, fixes the size of the upstream read buffer.
	// By default a relay reads into a 1 KiB buffer and moves to 4 KiB and
	// then 32 KiB ones as reads fill it; default buffers are reused across
	// calls.
	BufferSize int
	// MaxEventSize is the largest SSE event or NDJSON line held back until it
	// is complete (to be inspected for usage and, if injected, dropped). A
	// longer one is forwarded as it arrives and not inspected. With
	// AddToUsage it also bounds the JSON body held back. Defaults to 8 MiB.
	MaxEventSize int
	// AddToUsage, when non-nil, adds members to the usage object the client
	// receives (e.g. the price of the request when the client asked for it).
	// It is called with the usage extracted from the event or body carrying
	// that object and returns JSON object members without the braces, such
	// as `"cost":0.012345,"cost_currency":"EUR"`, or nil to add nothing. It
	// must return valid members, not already present in the object; line
	// terminators in them are replaced by spaces. The members are inserted
	// before the object's closing brace (after a comma unless the object is
	// empty); every other byte is forwarded unchanged, nothing is decoded
	// and re-encoded.
	//
	// For FormatSSE, each forwarded event whose data carries a non-null
	// "usage" object (the usage-only final chunk of chat completions, or a
	// chunk with usage and choices) or a Responses API terminal event's
	// "response.usage" gets the members; its line structure, "data:"
	// prefix, field order and blank-line framing are kept, and it is still
	// forwarded as soon as it is complete. As the relay cannot know which
	// usage event is the last one while streaming, every one of them is
	// modified (vLLM's continuous usage stats put usage on each chunk; the
	// usage-only final chunk is the common case). A chunk withheld by
	// DropInjectedUsage is not forwarded and gets nothing: a client that did
	// not ask for usage gets neither usage nor cost. Events longer than
	// MaxEventSize, and data split over several "data:" lines that the usage
	// object cannot be located in, pass unchanged.
	//
	// For FormatJSON, the body is held back until io.EOF (up to
	// MaxEventSize; a longer body is forwarded unchanged as it arrives), and
	// then the top-level "usage" object, or else "response.usage", gets the
	// members and the whole body is written. An invalid body, or one without
	// a usage object (Ollama's native counts), is forwarded unchanged; if
	// the upstream fails, what arrived is forwarded unchanged. Because the
	// length can change, a caller setting AddToUsage for a JSON response
	// must not send the upstream Content-Length; Result.Modified reports
	// whether members were inserted.
	//
	// FormatNDJSON is always forwarded unchanged.
	//
	// When AddToUsage is nil, nothing is held back or copied for it.
	AddToUsage func(Tokens) []byte
}

// Result describes a relayed response. It is valid, as far as the relay got,
// even when Relay returns an error.
type Result struct {
	// Usage is the token usage found in the response: for SSE the last
	// non-null "usage" (or "response.usage" of a Responses API terminal
	// event), for NDJSON the final "done": true object's counts, for JSON
	// the body's usage. nil when the response carried none.
	Usage Tokens
	// FirstByteAt is when the first upstream byte arrived (zero if none did).
	FirstByteAt time.Time
	// BytesIn counts bytes read from the upstream, BytesOut bytes written to
	// the client (including any error frame Relay wrote itself).
	BytesIn, BytesOut int64
	// Events counts SSE events or NDJSON lines received from the upstream,
	// including a dropped usage chunk and an unterminated last event. It is
	// zero for JSON.
	Events int
	// Captured holds the first CaptureLimit bytes written to the client.
	Captured []byte
	// SawDone reports that the upstream signalled a complete answer: SSE
	// "data: [DONE]" or a Responses API terminal event (response.completed,
	// response.incomplete, response.failed); an NDJSON object with
	// "done": true; for JSON, reaching io.EOF.
	SawDone bool
	// Modified reports that Options.AddToUsage members were inserted, so
	// the forwarded body is longer than the upstream one (BytesOut counts
	// what was actually written).
	Modified bool
}

// Relay copies the upstream body src to the client dst unchanged (but for
// the members Options.AddToUsage inserts into usage objects) while metering
// it, and returns what it saw.
//
// SSE is forwarded event by event (an event ends at a blank line: "\n\n",
// "\r\n\r\n", "\r\r" or a mix) and NDJSON line by line; bytes are never
// re-framed, comments and unknown fields pass through, and nothing waits for
// the rest of the stream: after every upstream read, the events it completed
// are written and, if dst implements http.Flusher (or is an
// http.ResponseWriter, via http.ResponseController), flushed. Only an
// incomplete event is held back, until its end arrives. At io.EOF any
// trailing partial event is forwarded as is. JSON is copied as it arrives,
// unless Options.AddToUsage holds it back until io.EOF.
//
// Errors wrap ErrClient when writing or flushing to dst fails (Relay stops
// at once) and ErrUpstream when reading src fails with anything but io.EOF.
// After an upstream failure, if at least one byte was already forwarded and
// the stream had not signalled its end, Relay ends the client's stream
// cleanly itself, discarding any incomplete event: for SSE it completes the
// current frame with "\n\n" if needed and writes an OpenAI-format error
// event (type api_error, code upstream_error, message "upstream stream
// interrupted: " and the read error) followed by "data: [DONE]"; for NDJSON
// it writes the line {"error":"upstream stream interrupted"}. If nothing was
// forwarded yet, nothing is written and the caller may still send a proper
// HTTP error.
func Relay(dst io.Writer, src io.Reader, opts Options) (Result, error) {
	var res Result
	err := RelayTo(&res, dst, src, &opts)
	return res, err
}

// RelayTo is Relay, filling *res (as far as the relay got, even on error)
// instead of returning it and reading the options through a pointer. A
// stream keeps the relay on its goroutine's stack for its whole life, and
// the first flush (net/http writing the headers) is the deepest point of a
// request: a caller that keeps res and opts off its own frame (in a heap
// object it holds anyway) keeps that stack small.
func RelayTo(res *Result, dst io.Writer, src io.Reader, opts *Options) error {
	// The state comes from a pool rather than this frame, for the same
	// reason: ~600 bytes less here keeps each stream's goroutine stack at
	// 8 KiB, not 16. So does setting up and finishing in functions that
	// have returned, or not yet been called, while run is on the stack.
	r := relays.Get().(*relay)
	r.init(dst, opts)
	err := r.run(src)
	r.finish(res)
	relays.Put(r)
	return err
}

// init prepares a zeroed r (New makes it so, and finish zeroes it) for a
// relay to dst.
func (r *relay) init(dst io.Writer, opts *Options) {
	r.dst, r.flush, r.opts, r.boundary, r.lineEmpty = dst, flusherFor(dst), *opts, true, true
	if r.opts.Now == nil {
		r.opts.Now = time.Now
	}
	if r.opts.MaxEventSize <= 0 {
		r.opts.MaxEventSize = defaultMaxEventSize
	}
	r.holdBody = r.opts.Format == FormatJSON && r.opts.AddToUsage != nil
	if r.opts.CaptureLimit > 0 {
		r.res.Captured = make([]byte, 0, min(r.opts.CaptureLimit, 4096))
	}
}

// finish returns the read buffer, fills *res and zeroes r for reuse.
func (r *relay) finish(res *Result) {
	r.putBuf()
	r.finalize()
	*res = r.res
	r.clear()
}

// clear zeroes r, dropping every reference it holds, before it is reused.
func (r *relay) clear() { *r = relay{} }

// relays holds Relay's state between calls.
var relays = sync.Pool{New: func() any { return new(relay) }}

// relay is the state of one Relay call.
type relay struct {
	dst   io.Writer
	flush func() error
	opts  Options
	res   Result

	// The read buffer: pooled is the pooled buffer behind buf, if it is
	// one, from readBufs[tier].
	buf    []byte
	pooled *[]byte
	tier   int

	dirty     bool // written since the last flush
	forwarded bool // at least one byte reached dst
	boundary  bool // everything forwarded so far ends at an event/line boundary

	// Framing state shared by SSE and NDJSON.
	pend        []byte // the incomplete event/line held back
	passthrough bool   // the current oversized event is being forwarded as it arrives

	// SSE framing.
	lineEmpty       bool // no byte of the current line seen yet
	lastCR          bool // the previous byte was a CR line terminator
	dangling        bool // an event ended at a CR that was the last byte of a read
	danglingDropped bool // ... and that event was dropped
	bomChecked      bool
	data            []byte // scratch for multi-line data fields
	rewritten       []byte // scratch for an event with AddToUsage members

	// JSON with AddToUsage.
	holdBody bool   // the body is being held back until io.EOF
	body     []byte // the body held back

	// Usage.
	usageRaw  []byte // last non-null SSE usage object
	haveUsage bool
	tokens    Tokens // NDJSON usage
	scanner   usageScanner
}

// readBufs hold the default read buffers, one pool per size, so that an
// exchange does not allocate (and the collector does not clear) a fresh one.
// Nothing keeps a reference into a buffer after run returns: every byte that
// must outlive a read is copied.
var readBufs = [...]sync.Pool{
	{New: func() any { return newReadBuf(smallBufferSize) }},
	{New: func() any { return newReadBuf(mediumBufferSize) }},
	{New: func() any { return newReadBuf(largeBufferSize) }},
}

func newReadBuf(size int) *[]byte {
	b := make([]byte, size)
	return &b
}

// run relays src to r.dst. Its read buffer is r.buf, put back by putBuf;
// it keeps nothing else on its frame, as it is on every open stream's stack.
func (r *relay) run(src io.Reader) error {
	if r.opts.BufferSize > 0 {
		r.buf = make([]byte, r.opts.BufferSize)
	} else {
		r.pooled = readBufs[0].Get().(*[]byte)
		r.buf = *r.pooled
	}
	empty := 0
	for {
		n, err := src.Read(r.buf)
		if n > 0 {
			empty = 0
			if r.res.BytesIn == 0 {
				r.res.FirstByteAt = r.opts.Now()
			}
			r.res.BytesIn += int64(n)
			if werr := r.feed(r.buf[:n]); werr != nil {
				return werr
			}
			if werr := r.flushNow(); werr != nil {
				return werr
			}
			if n == len(r.buf) && r.pooled != nil && r.tier < len(readBufs)-1 {
				// More is likely waiting (a burst, a large body): read it
				// in larger pieces. feed copied what it keeps of buf.
				readBufs[r.tier].Put(r.pooled)
				r.tier++
				r.pooled = readBufs[r.tier].Get().(*[]byte)
				r.buf = *r.pooled
			}
		}
		switch {
		case err == io.EOF:
			if werr := r.finishEOF(); werr != nil {
				return werr
			}
			return r.flushNow()
		case err != nil:
			return r.upstreamFailed(err)
		case n == 0:
			empty++
			if empty >= maxEmptyReads {
				return r.upstreamFailed(io.ErrNoProgress)
			}
		}
	}
}

// putBuf returns run's read buffer to its pool, if it came from one.
func (r *relay) putBuf() {
	if r.pooled != nil {
		readBufs[r.tier].Put(r.pooled)
	}
	r.buf, r.pooled, r.tier = nil, nil, 0
}

func (r *relay) feed(p []byte) error {
	switch r.opts.Format {
	case FormatSSE:
		return r.feedSSE(p)
	case FormatNDJSON:
		return r.feedNDJSON(p)
	default:
		_, _ = r.scanner.Write(p)
		if r.holdBody {
			if len(r.body)+len(p) <= r.opts.MaxEventSize {
				r.body = append(r.body, p...)
				return nil
			}
			// Too large to hold: forward it unchanged from now on.
			r.holdBody = false
			body := r.body
			r.body = nil
			if err := r.emit(body); err != nil {
				return err
			}
		}
		return r.emit(p)
	}
}

// finishEOF handles a clean end of the upstream body.
func (r *relay) finishEOF() error {
	switch r.opts.Format {
	case FormatSSE, FormatNDJSON:
		if r.passthrough {
			r.passthrough = false
			r.res.Events++
			return nil
		}
		if len(r.pend) == 0 {
			return nil
		}
		ev := r.pend
		r.pend = r.pend[:0]
		if r.opts.Format == FormatSSE {
			_, err := r.handleEvent(ev)
			return err
		}
		return r.handleLine(ev)
	default:
		r.res.SawDone = true
		if r.holdBody {
			r.holdBody = false
			return r.emit(r.addToJSON(r.body))
		}
		return nil
	}
}

// upstreamFailed ends the client stream cleanly where possible and returns
// the ErrUpstream error.
func (r *relay) upstreamFailed(cause error) error {
	upErr := fmt.Errorf("%w: %w", ErrUpstream, cause)
	if r.holdBody {
		// Forward what arrived, unchanged, as without AddToUsage.
		r.holdBody = false
		if err := r.emit(r.body); err != nil {
			return errors.Join(upErr, err)
		}
		if err := r.flushNow(); err != nil {
			return errors.Join(upErr, err)
		}
	}
	if !r.forwarded || r.res.SawDone || r.opts.Format == FormatJSON {
		return upErr
	}
	r.pend = r.pend[:0] // an incomplete event would only confuse the client
	var frame []byte
	if r.opts.Format == FormatSSE {
		if !r.boundary {
			frame = append(frame, "\n\n"...)
		}
		frame = appendSSEError(frame, "upstream stream interrupted: "+cause.Error())
		frame = append(frame, "data: [DONE]\n\n"...)
	} else {
		if !r.boundary {
			frame = append(frame, '\n')
		}
		frame = append(frame, `{"error":"upstream stream interrupted"}`+"\n"...)
	}
	if err := r.emit(frame); err != nil {
		return errors.Join(upErr, err)
	}
	if err := r.flushNow(); err != nil {
		return errors.Join(upErr, err)
	}
	return upErr
}

// appendSSEError appends an OpenAI-format error event.
func appendSSEError(b []byte, message string) []byte {
	msg, err := json.Marshal(message)
	if err != nil { // cannot happen for a string
		msg = []byte(`"upstream stream interrupted"`)
	}
	b = append(b, `data: {"error":{"message":`...)
	b = append(b, msg...)
	b = append(b, `,"type":"api_error","param":null,"code":"upstream_error"}}`+"\n\n"...)
	return b
}

// finalize fills Result.Usage.
func (r *relay) finalize() {
	switch r.opts.Format {
	case FormatSSE:
		if r.haveUsage {
			r.res.Usage = ParseUsage(r.usageRaw)
		}
	case FormatNDJSON:
		r.res.Usage = r.tokens
	default:
		if t, ok := r.scanner.Tokens(); ok {
			r.res.Usage = t
		}
	}
}

// emit writes b to the client, capturing it.
func (r *relay) emit(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	n, err := r.dst.Write(b)
	n = max(0, min(n, len(b)))
	if n > 0 {
		r.res.BytesOut += int64(n)
		r.dirty, r.forwarded = true, true
		if room := r.opts.CaptureLimit - len(r.res.Captured); room > 0 {
			r.res.Captured = append(r.res.Captured, b[:min(n, room)]...)
		}
	}
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrClient, err)
	}
	return nil
}

// flushNow flushes dst if something was written since the last flush.
func (r *relay) flushNow() error {
	if !r.dirty || r.flush == nil {
		return nil
	}
	r.dirty = false
	if err := r.flush(); err != nil {
		return flushFailed(err)
	}
	return nil
}

// flushFailed wraps a flush error. It is a function of its own to keep
// flushNow's frame small: the first flush is the deepest point of a stream.
func flushFailed(err error) error {
	return fmt.Errorf("%w: flush: %w", ErrClient, err)
}

// flusherFor returns how to flush w, or nil if it cannot be flushed.
func flusherFor(w io.Writer) func() error {
	if rw, ok := w.(http.ResponseWriter); ok {
		rc := http.NewResponseController(rw)
		return func() error {
			if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
				return err
			}
			return nil
		}
	}
	switch f := w.(type) {
	case interface{ FlushError() error }:
		return f.FlushError
	case http.Flusher:
		return func() error { f.Flush(); return nil }
	}
	return nil
}

// holdTail keeps the incomplete tail of a read, or forwards it when the
// held event grows beyond MaxEventSize.
func (r *relay) holdTail(tail []byte) error {
	if len(tail) == 0 {
		return nil
	}
	if r.passthrough {
		r.boundary = false
		return r.emit(tail)
	}
	r.pend = append(r.pend, tail...)
	if len(r.pend) <= r.opts.MaxEventSize {
		return nil
	}
	r.passthrough, r.boundary = true, false
	err := r.emit(r.pend)
	r.pend = r.pend[:0]
	return err
}
