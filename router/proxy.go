package router

import (
	"net/http"
	"strings"
	"time"

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
			pipeline.WriteError(w, &pipeline.Error{Status: http.StatusMethodNotAllowed, Message: "Method " + r.Method + " is not allowed here; use GET"}, pipeline.Ollama)
		default:
			pipeline.WriteError(w, &pipeline.Error{Status: http.StatusNotFound, Message: "Unknown Ollama API path /api/" + r.PathValue("op")}, pipeline.Ollama)
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
		api := pipeline.OpenAI
		if native {
			api = pipeline.Ollama
		}
		pipeline.WriteError(w, &pipeline.Error{Status: http.StatusMethodNotAllowed, Message: "Method " + r.Method + " is not allowed on " + r.URL.Path + "; use " + allow}, api)
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

// route returns what the pipeline needs to know of r beyond the request
// itself: its operation, API, ids and credentials (or, for a job run in
// process, the identity it runs as: see AsCaller).
func route(r *http.Request, op string, native bool) pipeline.Route {
	rt := pipeline.Route{
		Operation:       op,
		RequestID:       RequestIDFrom(r.Context()),
		ClientRequestID: ClientRequestIDFrom(r.Context()),
	}
	if native {
		rt.API = pipeline.Ollama
	}
	if id, ok := callerFromContext(r.Context()); ok {
		// A request served in process as a caller known by id (AsCaller):
		// a job as the caller who submitted it, or the Router's own.
		rt.Identity = &id
	} else {
		rt.Key, rt.Profile = logosKey(r), profileHeader(r)
	}
	return rt
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
		h.cfg.Pipeline.Serve(w, r, route(r, op, native))
	}
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
	h.cfg.Pipeline.Answer(w, r, route(r, "models", false), func(c pipeline.Caller) *pipeline.Error {
		models := c.Models()
		data := make([]modelObject, 0, len(models))
		for _, m := range models {
			data = append(data, h.modelObject(m))
		}
		writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
		return nil
	})
}

func (h *Handler) getModel(w http.ResponseWriter, r *http.Request) {
	h.cfg.Pipeline.Answer(w, r, route(r, "models", false), func(c pipeline.Caller) *pipeline.Error {
		id := r.PathValue("id")
		m, found := c.Model(id)
		if !found {
			return &pipeline.Error{Status: http.StatusNotFound, Message: "The model '" + id + "' does not exist or you do not have access to it", Param: "model", Code: "model_not_found"}
		}
		writeJSON(w, http.StatusOK, h.modelObject(m))
		return nil
	})
}

// ollamaTags lists, in Ollama's format, the permitted models an Ollama
// provider serves.
func (h *Handler) ollamaTags(w http.ResponseWriter, r *http.Request) {
	h.cfg.Pipeline.Answer(w, r, route(r, "api/tags", true), func(c pipeline.Caller) *pipeline.Error {
		h.writeTags(w, c)
		return nil
	})
}

// writeTags writes, in Ollama's format, the permitted models of c that an
// Ollama provider serves.
func (h *Handler) writeTags(w http.ResponseWriter, c pipeline.Caller) {
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
