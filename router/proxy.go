package router

import (
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/pipeline"
	"github.com/logos-llm/logos/store"
)

func (h *Handler) proxyRoutes() {
	for _, prefix := range []string{"/v1", "/openai"} {
		h.mux.HandleFunc("GET "+prefix+"/models", h.listModels)
		h.mux.HandleFunc("GET "+prefix+"/models/{id...}", h.getModel)
		h.mux.HandleFunc("POST "+prefix+"/{op...}", h.forward(false))
		h.mux.HandleFunc(prefix+"/{op...}", methodNotAllowed(false))
	}
	// Ollama's own API, for tools that speak it (Open WebUI, LangChain's
	// Ollama client), served for Ollama deployments.
	for _, op := range []string{"chat", "generate", "embed", "embeddings"} {
		h.mux.HandleFunc("POST /api/"+op, h.forward(true))
	}
	h.mux.HandleFunc("GET /api/tags", h.ollamaTags)
	h.mux.HandleFunc("GET /api/version", h.ollamaVersion)
	h.mux.HandleFunc("/api/{op...}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("op") {
		case "chat", "generate", "embed", "embeddings":
			methodNotAllowed(true)(w, r)
		case "tags", "version":
			w.Header().Set("Allow", "GET, HEAD")
			pipeline.WriteError(w, oaierr.New(http.StatusMethodNotAllowed, "Method "+r.Method+" is not allowed here; use GET"), true)
		default:
			pipeline.WriteError(w, oaierr.New(http.StatusNotFound, "Unknown Ollama API path /api/"+r.PathValue("op")), true)
		}
	})
}

// methodNotAllowed answers 405 with Allow for forwarding routes used with the
// wrong method (a body-less GET is not a malformed POST).
func methodNotAllowed(native bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		allow := "POST"
		if op := r.PathValue("op"); op == "models" || strings.HasPrefix(op, "models/") {
			allow = "GET, HEAD"
		}
		w.Header().Set("Allow", allow)
		pipeline.WriteError(w, oaierr.New(http.StatusMethodNotAllowed, "Method "+r.Method+" is not allowed on "+r.URL.Path+"; use "+allow), native)
	}
}

// logosKey extracts the caller's key: the logos_key or logos-key header, or
// Authorization (with or without "Bearer ").
func logosKey(r *http.Request) string {
	for _, name := range []string{"logos_key", "logos-key"} {
		if v := strings.TrimSpace(r.Header.Get(name)); v != "" {
			return v
		}
	}
	v := strings.TrimSpace(r.Header.Get("Authorization"))
	if len(v) >= 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:])
	}
	return v
}

func profileHeader(r *http.Request) string {
	if v := r.Header.Get("use-profile"); v != "" {
		return v
	}
	return r.Header.Get("use_profile")
}

// authenticate resolves the caller. With a valid key but a bad profile it
// still returns an Exchange, so the refusal is recorded.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, op string, native bool) (*pipeline.Exchange, bool) {
	p := h.cfg.Pipeline
	caller, e := p.Authenticate(logosKey(r), profileHeader(r))
	ids := pipeline.RequestIDs{ID: RequestIDFrom(r.Context()), ClientID: ClientRequestIDFrom(r.Context())}
	if e == nil {
		return p.Begin(caller, r, ids, op), true
	}
	if caller.Process != nil {
		x := p.Begin(caller, r, ids, op)
		x.Fail(e)
		x.End()
	}
	pipeline.WriteError(w, e, native)
	return nil, false
}

func (h *Handler) forward(native bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		op := strings.TrimPrefix(r.URL.Path, "/")
		if !native {
			op = r.PathValue("op")
			if op == "models" || strings.HasPrefix(op, "models/") {
				methodNotAllowed(false)(w, r)
				return
			}
		}
		x, ok := h.authenticate(w, r, op, native)
		if !ok {
			return
		}
		defer x.End()
		// A separate function, so that its frame is gone while the answer
		// streams (see pipeline.Exchange.Forward).
		req, ok := h.proxyRequest(w, r, x, op, native)
		if !ok {
			return
		}
		x.Forward(w, r, req)
	}
}

// proxyRequest checks the path, the content type and the body of a proxied
// request and returns it parsed. When it reports false it has written and
// recorded the refusal.
func (h *Handler) proxyRequest(w http.ResponseWriter, r *http.Request, x *pipeline.Exchange, op string, native bool) (*pipeline.Request, bool) {
	fail := func(e *oaierr.Error) (*pipeline.Request, bool) {
		x.Fail(e)
		pipeline.WriteError(w, e, native)
		return nil, false
	}
	if op == "" || strings.Contains("/"+op+"/", "/../") || strings.Contains("/"+op+"/", "/./") {
		return fail(oaierr.New(http.StatusNotFound, "Unknown path "+r.URL.Path).WithCode("unknown_url"))
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json") || mt == "text/plain") {
			return fail(oaierr.New(http.StatusUnsupportedMediaType, "Content-Type must be application/json").WithCode("unsupported_media_type"))
		}
	}
	body, e := h.readProxyBody(w, r)
	if e != nil {
		return fail(e)
	}
	req, e := pipeline.ParseBody(body, native)
	if e != nil {
		x.SetRequestBody(body)
		return fail(e)
	}
	req.Operation, req.Native, req.Method = op, native, http.MethodPost
	req.Header, req.Query = r.Header, r.URL.Query()
	return &req, true
}

// readProxyBody reads a proxied request's body within BodyReadTimeout, so a
// client trickling its body cannot hold the connection and its goroutine
// without bound. The read deadline is lifted again once the body is in:
// net/http's background read of a streaming request must not time out.
func (h *Handler) readProxyBody(w http.ResponseWriter, r *http.Request) ([]byte, *oaierr.Error) {
	if h.cfg.BodyReadTimeout <= 0 {
		return readBody(w, r, h.cfg.MaxBodyBytes)
	}
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(h.cfg.BodyReadTimeout)) != nil {
		return readBody(w, r, h.cfg.MaxBodyBytes) // not a net/http connection (tests)
	}
	body, e := readBody(w, r, h.cfg.MaxBodyBytes)
	if e != nil {
		// The connection is not reused after a half-read body.
		w.Header().Set("Connection", "close")
		return nil, e
	}
	_ = rc.SetReadDeadline(time.Time{})
	return body, nil
}

type modelObject struct {
	ID            string `json:"id"`
	Object        string `json:"object"`
	Created       int64  `json:"created"`
	OwnedBy       string `json:"owned_by"`
	ContextWindow int    `json:"context_window,omitempty"`
}

func (h *Handler) modelObject(m *store.Model) modelObject {
	created := m.CreatedAt
	if created.IsZero() {
		created = h.cfg.Started
	}
	return modelObject{ID: m.Name, Object: "model", Created: created.Unix(), OwnedBy: "logos", ContextWindow: m.ContextWindow}
}

func (h *Handler) listModels(w http.ResponseWriter, r *http.Request) {
	x, ok := h.authenticate(w, r, "models", false)
	if !ok {
		return
	}
	defer x.End()
	models := x.Caller().Models()
	data := make([]modelObject, 0, len(models))
	for _, m := range models {
		data = append(data, h.modelObject(m))
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

func (h *Handler) getModel(w http.ResponseWriter, r *http.Request) {
	x, ok := h.authenticate(w, r, "models", false)
	if !ok {
		return
	}
	defer x.End()
	id := r.PathValue("id")
	m, found := x.Caller().Model(id)
	if !found {
		e := oaierr.New(http.StatusNotFound, "The model '"+id+"' does not exist or you do not have access to it").WithParam("model").WithCode("model_not_found")
		x.Fail(e)
		oaierr.Write(w, e)
		return
	}
	writeJSON(w, http.StatusOK, h.modelObject(m))
}

// ollamaTags lists, in Ollama's format, the permitted models an Ollama
// provider serves.
func (h *Handler) ollamaTags(w http.ResponseWriter, r *http.Request) {
	x, ok := h.authenticate(w, r, "api/tags", true)
	if !ok {
		return
	}
	defer x.End()
	c := x.Caller()
	type tag struct {
		Name       string         `json:"name"`
		Model      string         `json:"model"`
		ModifiedAt string         `json:"modified_at"`
		Size       int64          `json:"size"`
		Digest     string         `json:"digest"`
		Details    map[string]any `json:"details"`
	}
	tags := []tag{}
	for _, m := range c.Models() {
		for _, d := range c.Catalog.Deployments(m.ID) {
			if d.Provider.Kind == store.KindOllama {
				tags = append(tags, tag{Name: m.Name, Model: m.Name, ModifiedAt: m.UpdatedAt.UTC().Format(time.RFC3339Nano), Details: map[string]any{}})
				break
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": tags})
}

// ollamaVersion answers Ollama clients that check the server version before
// using it (Open WebUI does).
func (h *Handler) ollamaVersion(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"version": "0.6.0"})
}
