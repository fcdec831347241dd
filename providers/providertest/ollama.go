package providertest

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/logos-llm/logos/providers"
)

const (
	contentNDJSON     = "application/x-ndjson"
	contentOllamaJSON = "application/json; charset=utf-8"
)

// NewOllama starts an upstream speaking Ollama's native and
// OpenAI-compatible APIs:
//
//   - POST /api/chat and /api/generate stream NDJSON by default
//     (ollama_chat_stream.ndjson: final line "done": true with
//     prompt_eval_count 26 and eval_count 290; ollama_generate_stream.ndjson:
//     13 and 42), or answer one JSON object with "stream": false.
//   - POST /api/embed: ollama_embed.json; GET /api/tags and GET /api/ps:
//     ollama_tags.json and ollama_ps.json.
//   - POST /v1/chat/completions: Ollama's OpenAI-compatible SSE stream
//     (with a usage-only chunk, usage 26/9/35, only when
//     stream_options.include_usage is set) or ollama_v1_sync.json;
//     POST /v1/embeddings; GET /v1/models.
//
// Native endpoints require a "model" in the body. Ollama has no
// authentication; when Options.Credential is set the server behaves like an
// authenticating proxy and requires "Authorization: Bearer <Credential>".
// Options.Status answers {"error": "..."} (OpenAI-shaped errors on /v1).
func NewOllama(tb testing.TB, opts Options) *Server {
	tb.Helper()
	return newServer(tb, providers.KindOllama, opts, serveOllama)
}

func serveOllama(s *Server, w http.ResponseWriter, r *http.Request, body []byte) {
	if s.opts.Credential != "" && r.Header.Get("Authorization") != "Bearer "+s.opts.Credential {
		s.ollamaError(w, r, http.StatusUnauthorized, "unauthorized")
		return
	}
	var method string
	openAI := false
	switch r.URL.Path {
	case "/api/chat", "/api/generate", "/api/embed":
		method = http.MethodPost
	case "/api/tags", "/api/ps":
		method = http.MethodGet
	case "/v1/chat/completions", "/v1/embeddings":
		method, openAI = http.MethodPost, true
	case "/v1/models":
		method, openAI = http.MethodGet, true
	default:
		s.writeJSON(w, r, http.StatusNotFound, "text/plain", []byte("404 page not found"))
		return
	}
	if r.Method != method {
		w.Header().Set("Allow", method)
		s.writeJSON(w, r, http.StatusMethodNotAllowed, "text/plain", []byte("405 method not allowed"))
		return
	}
	rb, ok := parseBody(body)
	if !ok {
		s.ollamaStatus(w, r, openAI, http.StatusBadRequest, "invalid character in request body")
		return
	}
	if method == http.MethodPost && rb.Model == "" {
		s.ollamaStatus(w, r, openAI, http.StatusBadRequest, "model is required")
		return
	}
	model := s.model(rb, "llama3")
	if s.opts.Status != 0 {
		msg := "llama runner process has terminated: signal: killed"
		switch s.opts.Status {
		case http.StatusNotFound:
			msg = fmt.Sprintf("model %q not found, try pulling it first", rb.Model)
		case http.StatusServiceUnavailable:
			msg = "server busy, please try again.  maximum pending requests exceeded"
		}
		s.ollamaStatus(w, r, openAI, s.opts.Status, msg)
		return
	}
	switch r.URL.Path {
	case "/api/chat":
		s.serveNative(w, r, rb, model, "ollama_chat.json", "ollama_chat_stream.ndjson")
	case "/api/generate":
		s.serveNative(w, r, rb, model, "ollama_generate.json", "ollama_generate_stream.ndjson")
	case "/api/embed":
		s.writeJSON(w, r, http.StatusOK, contentOllamaJSON, WithModel(mustFixture("ollama_embed.json"), model))
	case "/api/tags":
		s.writeJSON(w, r, http.StatusOK, contentOllamaJSON, mustFixture("ollama_tags.json"))
	case "/api/ps":
		s.writeJSON(w, r, http.StatusOK, contentOllamaJSON, mustFixture("ollama_ps.json"))
	case "/v1/chat/completions":
		s.serveChat(w, r, rb, model,
			s.opts.ChatJSON, mustFixture("ollama_v1_sync.json"),
			s.opts.ChatStream, mustFixture("ollama_v1_streaming.txt"), mustFixture("ollama_v1_streaming_include_usage.txt"))
	case "/v1/embeddings":
		s.writeJSON(w, r, http.StatusOK, contentJSON, WithModel(mustFixture("openai_embeddings.json"), model))
	case "/v1/models":
		s.writeJSON(w, r, http.StatusOK, contentJSON, fmt.Appendf(nil,
			`{"object":"list","data":[{"id":%s,"object":"model","created":1714859809,"owned_by":"library"}]}`, jsonString(model)))
	}
}

// serveNative answers /api/chat or /api/generate: NDJSON unless the body
// says "stream": false (Ollama streams by default).
func (s *Server) serveNative(w http.ResponseWriter, r *http.Request, rb requestBody, model, jsonName, streamName string) {
	if !rb.streaming(true) {
		s.writeJSON(w, r, http.StatusOK, contentOllamaJSON, WithModel(mustFixture(jsonName), model))
		return
	}
	s.writeStream(w, r, contentNDJSON, SplitLines(WithModel(mustFixture(streamName), model)))
}

// ollamaError writes Ollama's native {"error": "..."} shape.
func (s *Server) ollamaError(w http.ResponseWriter, r *http.Request, status int, message string) {
	s.writeJSON(w, r, status, contentOllamaJSON, fmt.Appendf(nil, `{"error":%s}`, jsonString(message)))
}

// ollamaStatus writes an error in the shape of the API that was called.
func (s *Server) ollamaStatus(w http.ResponseWriter, r *http.Request, openAI bool, status int, message string) {
	if !openAI {
		s.ollamaError(w, r, status, message)
		return
	}
	typ := "api_error"
	switch status {
	case http.StatusBadRequest:
		typ = "invalid_request_error"
	case http.StatusNotFound:
		typ = "not_found_error"
	}
	s.openAIError(w, r, status, message, typ, "")
}
