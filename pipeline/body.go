package pipeline

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/logos-llm/logos/internal/jsonobj"
	"github.com/logos-llm/logos/internal/oaierr"
)

// Request is a parsed proxied request.
type Request struct {
	// Operation is the path below /v1 ("chat/completions") or, for the native
	// Ollama API, below / ("api/chat").
	Operation string
	// Native marks Ollama's own API: errors are {"error": "..."} and streams
	// are NDJSON.
	Native bool
	Method string
	// Body is the client's JSON object body (nil for body-less requests) and
	// Fields its top-level members, whose values are sub-slices of Body.
	Body   []byte
	Fields map[string]json.RawMessage
	// Model is the requested model name; Stream whether a stream was asked for.
	Model  string
	Stream bool
	Header http.Header
	Query  url.Values
}

// parseBody checks that body is a JSON object and extracts the fields Logos
// reads: model (a string) and stream (a boolean). Native requests stream unless
// they say otherwise, as Ollama does. Bodies an upstream could read differently
// from Logos are refused with 400: a member that occurs twice, or one whose
// name equals a member Logos reads or strips (model, stream, stream_options,
// timeout_s, logos_…) when letter case is ignored but is not that member.
func parseBody(body []byte, native bool) (Request, *oaierr.Error) {
	req := Request{Body: body, Stream: native}
	if len(bytes.TrimSpace(body)) == 0 {
		return req, oaierr.New(http.StatusBadRequest, "Request body must be a JSON object").WithCode("invalid_json")
	}
	fields, dup, ok := jsonobj.Object(body)
	if !ok {
		return req, oaierr.New(http.StatusBadRequest, "Request body must be a JSON object").WithCode("invalid_json")
	}
	if e := checkMembers(fields, dup); e != nil {
		return req, e
	}
	req.Fields = fields
	if raw, ok := req.Fields["model"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &req.Model); err != nil {
			return req, oaierr.New(http.StatusBadRequest, "'model' must be a string").WithParam("model")
		}
	}
	if raw, ok := req.Fields["stream"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &req.Stream); err != nil {
			return req, oaierr.New(http.StatusBadRequest, "'stream' must be a boolean").WithParam("stream")
		}
	}
	return req, nil
}

// logosFields are body fields only Logos reads; they are never sent upstream.
var logosFields = map[string]bool{"timeout_s": true, "logos_key": true, "use_profile": true}

func isLogosField(name string) bool {
	return logosFields[name] || strings.HasPrefix(name, "logos_")
}

// clientAskedUsage reports whether the body already asks for stream usage.
func clientAskedUsage(fields map[string]json.RawMessage) bool {
	raw, ok := fields["stream_options"]
	if !ok {
		return false
	}
	var so struct {
		IncludeUsage bool `json:"include_usage"`
	}
	return json.Unmarshal(raw, &so) == nil && so.IncludeUsage
}

// rewriteBody returns the body to send upstream: the model renamed to the
// upstream's name, Logos-only fields removed and, when inject is set,
// stream_options.include_usage turned on. Every other field passes through
// with its exact value; an unchanged body is sent byte for byte.
func rewriteBody(req *Request, upstreamModel string, inject bool) ([]byte, error) {
	if req.Fields == nil {
		return req.Body, nil
	}
	changed := false
	fields := make(map[string]json.RawMessage, len(req.Fields)+1)
	for k, v := range req.Fields {
		if isLogosField(k) {
			changed = true
			continue
		}
		fields[k] = v
	}
	if upstreamModel != req.Model {
		b, err := json.Marshal(upstreamModel)
		if err != nil {
			return nil, err
		}
		fields["model"] = b
		changed = true
	}
	if inject {
		so := map[string]json.RawMessage{}
		if raw, ok := fields["stream_options"]; ok && string(raw) != "null" {
			if err := json.Unmarshal(raw, &so); err != nil {
				so = map[string]json.RawMessage{}
			}
		}
		so["include_usage"] = json.RawMessage("true")
		b, err := marshalNoEscape(so)
		if err != nil {
			return nil, err
		}
		fields["stream_options"] = b
		changed = true
	}
	if !changed {
		return req.Body, nil
	}
	return marshalNoEscape(fields)
}

func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
