package pipeline

import (
	"encoding/json"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/logos-llm/logos/internal/httpbody"
	"github.com/logos-llm/logos/internal/oaierr"
)

// API is the wire format a route speaks: it decides the shape of errors and
// of streamed answers.
type API int

const (
	// OpenAI is the OpenAI-compatible API (/v1/..., /openai/...): errors
	// are {"error": {"message", "type", "param", "code"}}, streams are
	// server-sent events.
	OpenAI API = iota
	// Ollama is Ollama's own API (/api/...): errors are {"error": "..."},
	// requests stream unless they say otherwise, and streams are NDJSON.
	Ollama
)

// Route is what the HTTP layer knows of a request before the pipeline reads
// it: the operation its path names, the API it speaks, its ids and the
// credentials it came with.
type Route struct {
	// Operation is the path below /v1 ("chat/completions") or, for the
	// Ollama API, below / ("api/chat"). Serve refuses an empty one or one
	// with "." or ".." segments (404).
	Operation string
	// API is the wire format of the route.
	API API
	// RequestID is the request's own id, unique: the usage record's
	// RequestID.
	RequestID string
	// ClientRequestID is the client's X-Request-ID, already validated;
	// empty when the client sent none or an invalid one. It need not be
	// unique.
	ClientRequestID string
	// Key is the Logos key the request presented, and Profile the profile
	// id it selected (the use-profile header), or "" for the key's first
	// profile.
	Key, Profile string
	// Identity, when set, names the caller by id instead of Key and
	// Profile: an asynchronous job runs as the process and profile that
	// submitted it. The HTTP layer must set it only for requests it made
	// itself.
	Identity *Identity
}

// Identity is a caller known by id: a process and one of its profiles.
type Identity struct {
	ProcessID, ProfileID int64
}

// native reports whether rt speaks Ollama's API.
func (rt *Route) native() bool { return rt.API == Ollama }

// Error is a request refused or failed with an HTTP status, written in the
// OpenAI error format (or in Ollama's for the Ollama API).
type Error struct {
	// Status is the HTTP status.
	Status int
	// Message is the human-readable message.
	Message string
	// Param names the offending field or header, if any.
	Param string
	// Code is a machine-readable code, if any.
	Code string
	// RetryAfter, when positive, is sent as the Retry-After header (seconds).
	RetryAfter int
}

// Error implements error.
func (e *Error) Error() string { return e.Message }

func (e *Error) internal() *oaierr.Error {
	return &oaierr.Error{Status: e.Status, Message: e.Message, Param: e.Param, Code: e.Code, RetryAfter: e.RetryAfter}
}

// publicError converts e (nil stays nil).
func publicError(e *oaierr.Error) *Error {
	if e == nil {
		return nil
	}
	return &Error{Status: e.Status, Message: e.Message, Param: e.Param, Code: e.Code, RetryAfter: e.RetryAfter}
}

// WriteError writes e as the response, in the format of api.
func WriteError(w http.ResponseWriter, e *Error, api API) {
	writeError(w, e.internal(), api == Ollama)
}

// Serve is the one entry point of a proxied request: it authenticates the
// caller, checks the path, content type and body, admits, schedules and
// forwards the request, relays the answer to w and leaves the request's
// usage record. It always writes a response, unless the client is gone. A
// request without a valid key leaves no record.
//
// Serve stays on the stack of every open stream; see forward.
func (p *Pipeline) Serve(w http.ResponseWriter, r *http.Request, rt Route) {
	x, ok := p.start(w, r, &rt)
	if !ok {
		return
	}
	defer x.End()
	// A separate function, so that its frame is gone while the answer
	// streams.
	req, ok := x.request(w, r, &rt)
	if !ok {
		return
	}
	x.forward(w, r, req)
}

// Answer serves a request that Logos answers itself (its model lists):
// it authenticates the caller and records the request as Serve does, and
// calls answer to write the response. An error answer returns is recorded
// and written instead.
func (p *Pipeline) Answer(w http.ResponseWriter, r *http.Request, rt Route, answer func(Caller) *Error) {
	x, ok := p.start(w, r, &rt)
	if !ok {
		return
	}
	defer x.End()
	if e := answer(x.caller); e != nil {
		ie := e.internal()
		x.failed(ie)
		writeError(w, ie, rt.native())
	}
}

// Submission is a request admitted to run later, as an asynchronous job.
type Submission struct {
	// Caller sent the request; the job runs as its process and profile.
	Caller Caller
	// Body is the request body with streaming turned off (a job's answer
	// is kept whole): "stream" set to false and stream_options removed.
	// Every other member is unchanged; a body that asked for no stream is
	// kept byte for byte.
	Body []byte
	// ClientIP is the client's address as a usage record names it.
	ClientIP string
}

// Submit is the entry point of a job submission: it authenticates and
// checks the request exactly as Serve would before scheduling it (path,
// body, operation, model, scheduling options; not budgets and rate limits,
// which apply when the job runs), so a submission gets the same 4xx a
// synchronous request would, and hands it to accept to be stored.
//
// Submit reports whether accept took the request: then nothing has been
// written and the request leaves no usage record (the job's run leaves
// one), and the caller writes the answer. Otherwise the refusal, or the
// error accept returned, has been recorded and written.
func (p *Pipeline) Submit(w http.ResponseWriter, r *http.Request, rt Route, accept func(Submission) *Error) bool {
	x, ok := p.start(w, r, &rt)
	if !ok {
		return false
	}
	req, ok := x.request(w, r, &rt)
	if !ok {
		x.End()
		return false
	}
	if !x.check(w, r, req) {
		x.End()
		return false
	}
	fail := func(e *oaierr.Error) bool {
		x.failed(e)
		x.End()
		oaierr.Write(w, e)
		return false
	}
	body, err := streamOff(req)
	if err != nil {
		return fail(oaierr.New(http.StatusBadRequest, "Request body could not be rewritten").WithCode("invalid_json"))
	}
	if e := accept(Submission{Caller: x.caller, Body: body, ClientIP: x.rec.ClientIP}); e != nil {
		return fail(e.internal())
	}
	x.discard()
	return true
}

// start authenticates rt's caller and begins the request's record. A valid
// key with a bad profile still leaves a record of the refusal. When it
// reports false it has written the refusal.
func (p *Pipeline) start(w http.ResponseWriter, r *http.Request, rt *Route) (*exchange, bool) {
	var (
		caller Caller
		e      *oaierr.Error
	)
	tr := p.startTrace(r, rt) // nil: tracing off
	if rt.Identity != nil {
		caller, e = p.callerByID(rt.Identity.ProcessID, rt.Identity.ProfileID)
	} else {
		caller, e = p.authenticate(rt.Key, rt.Profile)
	}
	tr.authenticated(caller, e)
	if e == nil {
		return p.begin(caller, r, rt, tr), true
	}
	if caller.Process != nil {
		x := p.begin(caller, r, rt, tr)
		x.failed(e)
		x.End()
	}
	writeError(w, e, rt.native())
	return nil, false
}

// request checks the path, the content type and the body of a proxied
// request and returns it parsed. When it reports false it has written and
// recorded the refusal.
func (x *exchange) request(w http.ResponseWriter, r *http.Request, rt *Route) (*Request, bool) {
	native := rt.native()
	fail := func(e *oaierr.Error) (*Request, bool) {
		x.failed(e)
		writeError(w, e, native)
		return nil, false
	}
	op := rt.Operation
	if op == "" || strings.Contains("/"+op+"/", "/../") || strings.Contains("/"+op+"/", "/./") {
		return fail(oaierr.New(http.StatusNotFound, "Unknown path "+r.URL.Path).WithCode("unknown_url"))
	}
	// The usual "application/json" needs no parsing (ParseMediaType
	// allocates).
	if ct := r.Header.Get("Content-Type"); ct != "" && ct != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "text/plain") {
			return fail(oaierr.New(http.StatusUnsupportedMediaType, "Content-Type must be application/json").WithCode("unsupported_media_type"))
		}
	}
	body, e := x.readBody(w, r)
	if e != nil {
		return fail(e)
	}
	req, e := parseBody(body, native)
	if e != nil {
		x.setRequestBody(body)
		return fail(e)
	}
	req.Operation, req.Native, req.Method = op, native, http.MethodPost
	req.Header, req.Query = r.Header, r.URL.Query()
	return &req, true
}

// readBody reads a proxied request's body within Config.BodyReadTimeout, so
// a client trickling its body cannot hold the connection and its goroutine
// without bound. The read deadline is lifted again once the body is in:
// net/http's background read of a streaming request must not time out.
func (x *exchange) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *oaierr.Error) {
	cfg := &x.p.cfg
	if cfg.BodyReadTimeout <= 0 {
		return httpbody.Read(w, r, cfg.MaxBodyBytes)
	}
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(cfg.BodyReadTimeout)) != nil {
		return httpbody.Read(w, r, cfg.MaxBodyBytes) // not a net/http connection (tests)
	}
	body, e := httpbody.Read(w, r, cfg.MaxBodyBytes)
	if e != nil {
		// The connection is not reused after a half-read body.
		w.Header().Set("Connection", "close")
		return nil, e
	}
	_ = rc.SetReadDeadline(time.Time{})
	return body, nil
}

// streamOff returns the body with "stream" forced off: a job's answer is
// stored whole. stream_options, which upstreams refuse without a stream, go
// too. Every other member passes unchanged; a body that did not ask for a
// stream is kept byte for byte.
func streamOff(req *Request) ([]byte, error) {
	_, hasOpts := req.Fields["stream_options"]
	if !req.Stream && !hasOpts {
		return req.Body, nil
	}
	fields := make(map[string]json.RawMessage, len(req.Fields))
	for k, v := range req.Fields {
		if k == "stream_options" {
			continue
		}
		fields[k] = v
	}
	if _, ok := fields["stream"]; ok {
		fields["stream"] = json.RawMessage("false")
	}
	return marshalNoEscape(fields)
}

// Authenticate resolves a key and an optional profile id (the use-profile
// header) to a Caller, without recording anything: for requests that leave
// no usage record (reading a job's state).
func (p *Pipeline) Authenticate(key, profile string) (Caller, *Error) {
	c, e := p.authenticate(key, profile)
	return c, publicError(e)
}

// ParseBody checks that body is a JSON object and extracts the fields Logos
// reads, as Serve does (see parseBody).
func ParseBody(body []byte, native bool) (Request, *Error) {
	req, e := parseBody(body, native)
	return req, publicError(e)
}
