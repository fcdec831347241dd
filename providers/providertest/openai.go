package providertest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/logos-llm/logos/providers"
)

const (
	contentJSON = "application/json"
	contentSSE  = "text/event-stream; charset=utf-8"
)

// NewOpenAI starts an upstream speaking the OpenAI API under PathPrefix
// (default "/v1"):
//
//   - POST chat/completions: openai_sync.json, or with "stream": true the
//     SSE stream openai_streaming.txt — openai_streaming_include_usage.txt
//     (every chunk "usage":null, then a usage-only chunk with
//     prompt/completion token details) when stream_options.include_usage is
//     set. Options.ChatJSON and ChatStream replace these fixtures.
//   - POST responses: responses_sync.json, or the Responses API event
//     stream responses_streaming.txt.
//   - POST embeddings: openai_embeddings.json.
//   - GET models, GET models/{id}: openai_models.json, or one model object.
//
// Requests must use the right method, carry "Authorization: Bearer
// <Credential>" when Options.Credential is set, and (for POST) a JSON body;
// anything else gets OpenAI's real error responses. Responses carry
// OpenAI-style x-request-id and x-ratelimit-* headers.
func NewOpenAI(tb testing.TB, opts Options) *Server {
	tb.Helper()
	return newServer(tb, providers.KindOpenAI, opts, serveOpenAI)
}

func serveOpenAI(s *Server, w http.ResponseWriter, r *http.Request, body []byte) {
	h := w.Header()
	h.Set("X-Request-Id", "req_7f3c1e9a2b4d4e0f8a6b5c4d3e2f1a0b")
	h.Set("Openai-Processing-Ms", "312")
	h.Set("X-Ratelimit-Limit-Requests", "10000")
	h.Set("X-Ratelimit-Remaining-Requests", "9999")
	h.Set("X-Ratelimit-Limit-Tokens", "30000000")
	h.Set("X-Ratelimit-Remaining-Tokens", "29999980")

	prefix := strings.TrimRight(s.prefix(), "/")
	op, ok := strings.CutPrefix(r.URL.Path, prefix+"/")
	if !ok {
		s.openAIError(w, r, http.StatusNotFound, fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path), "invalid_request_error", "")
		return
	}
	if s.opts.Credential != "" && r.Header.Get("Authorization") != "Bearer "+s.opts.Credential {
		s.openAIError(w, r, http.StatusUnauthorized, "Incorrect API key provided: sk-****. You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key")
		return
	}
	var method string
	switch {
	case op == "chat/completions", op == "completions", op == "responses", op == "embeddings":
		method = http.MethodPost
	case op == "models", strings.HasPrefix(op, "models/"):
		method = http.MethodGet
	default:
		s.openAIError(w, r, http.StatusNotFound, fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path), "invalid_request_error", "")
		return
	}
	if r.Method != method {
		w.Header().Set("Allow", method)
		s.openAIError(w, r, http.StatusMethodNotAllowed, fmt.Sprintf("Invalid method for URL (%s %s)", r.Method, r.URL.Path), "invalid_request_error", "")
		return
	}
	rb, ok := parseBody(body)
	if !ok {
		s.openAIError(w, r, http.StatusBadRequest, "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)", "invalid_request_error", "")
		return
	}
	if s.opts.Status != 0 {
		s.openAIStatus(w, r, s.opts.Status, s.model(rb, "gpt-4o-mini"))
		return
	}
	model := s.model(rb, "gpt-4o-mini")
	switch {
	case op == "chat/completions":
		s.serveChat(w, r, rb, model,
			s.opts.ChatJSON, mustFixture("openai_sync.json"),
			s.opts.ChatStream, mustFixture("openai_streaming.txt"), mustFixture("openai_streaming_include_usage.txt"))
	case op == "completions":
		s.serveChat(w, r, rb, model, nil, mustFixture("openai_completions.json"),
			nil, mustFixture("openai_completions_streaming.txt"), mustFixture("openai_completions_streaming_include_usage.txt"))
	case op == "responses":
		s.serveResponses(w, r, rb, model)
	case op == "embeddings":
		s.writeJSON(w, r, http.StatusOK, contentJSON, WithModel(mustFixture("openai_embeddings.json"), model))
	case op == "models":
		s.writeJSON(w, r, http.StatusOK, contentJSON, WithModel(mustFixture("openai_models.json"), model))
	default: // models/{id}
		id := strings.TrimPrefix(op, "models/")
		s.writeJSON(w, r, http.StatusOK, contentJSON, fmt.Appendf(nil, `{"id":%s,"object":"model","created":1721172741,"owned_by":"system"}`, jsonString(id)))
	}
}

// serveChat answers a chat completion from the given fixtures: override
// fixtures win; includeStream is used when the client asked for
// include_usage and no override is set.
func (s *Server) serveChat(w http.ResponseWriter, r *http.Request, rb requestBody, model string, overrideJSON, defJSON, overrideStream, defStream, includeStream []byte) {
	if !rb.streaming(false) {
		b := defJSON
		if overrideJSON != nil {
			b = overrideJSON
		}
		s.writeJSON(w, r, http.StatusOK, contentJSON, WithModel(b, model))
		return
	}
	b := defStream
	switch {
	case overrideStream != nil:
		b = overrideStream
	case rb.includeUsage() && includeStream != nil:
		b = includeStream
	}
	s.writeStream(w, r, contentSSE, SplitSSE(WithModel(b, model)))
}

func (s *Server) serveResponses(w http.ResponseWriter, r *http.Request, rb requestBody, model string) {
	if rb.streaming(false) {
		s.writeStream(w, r, contentSSE, SplitSSE(WithModel(mustFixture("responses_streaming.txt"), model)))
		return
	}
	s.writeJSON(w, r, http.StatusOK, contentJSON, WithModel(mustFixture("responses_sync.json"), model))
}

// openAIError writes an OpenAI-format error.
func (s *Server) openAIError(w http.ResponseWriter, r *http.Request, status int, message, typ, code string) {
	c := "null"
	if code != "" {
		c = jsonString(code)
	}
	body := fmt.Appendf(nil, `{"error":{"message":%s,"type":%s,"param":null,"code":%s}}`+"\n", jsonString(message), jsonString(typ), c)
	s.writeJSON(w, r, status, contentJSON, body)
}

// openAIStatus writes OpenAI's real error for status.
func (s *Server) openAIStatus(w http.ResponseWriter, r *http.Request, status int, model string) {
	switch status {
	case http.StatusBadRequest:
		s.openAIError(w, r, status, "This model's maximum context length is 128000 tokens. However, your messages resulted in 130412 tokens. Please reduce the length of the messages.", "invalid_request_error", "context_length_exceeded")
	case http.StatusUnauthorized:
		s.openAIError(w, r, status, "Incorrect API key provided: sk-****. You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", "invalid_api_key")
	case http.StatusNotFound:
		s.openAIError(w, r, status, fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", model), "invalid_request_error", "model_not_found")
	case http.StatusTooManyRequests:
		h := w.Header()
		h.Set("Retry-After", "20")
		h.Set("X-Ratelimit-Remaining-Requests", "0")
		h.Set("X-Ratelimit-Reset-Requests", "20s")
		s.openAIError(w, r, status, fmt.Sprintf("Rate limit reached for %s in organization org-logos on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.", model), "requests", "rate_limit_exceeded")
	default:
		s.openAIError(w, r, status, "The server had an error while processing your request. Sorry about that!", "server_error", "")
	}
}
