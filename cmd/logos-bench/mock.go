package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// MockOptions shape the answers of the mock upstream.
type MockOptions struct {
	// Latency is the wait before the response headers are sent: the time to
	// first token of a real model.
	Latency time.Duration
	// Chunks is the number of content chunks of a streamed answer, and the
	// number of words of a non-streamed one. Values below 1 count as 1.
	Chunks int
	// ChunkInterval is the wait between two streamed chunks.
	ChunkInterval time.Duration
	// PromptTokens and CompletionTokens are the usage reported. A zero
	// CompletionTokens reports Chunks.
	PromptTokens, CompletionTokens int
}

func (o MockOptions) chunks() int { return max(o.Chunks, 1) }

func (o MockOptions) usage() mockUsage {
	c := o.CompletionTokens
	if c == 0 {
		c = o.chunks()
	}
	return mockUsage{PromptTokens: o.PromptTokens, CompletionTokens: c, TotalTokens: o.PromptTokens + c}
}

type mockUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// mockRequest is the part of a chat completions request the mock reads.
type mockRequest struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// NewMockHandler returns an OpenAI-compatible upstream that answers
// POST /v1/chat/completions with a fixed completion, as JSON or as an SSE
// stream (with the usage in a final chunk when stream_options.include_usage
// is set), and GET /v1/models.
func NewMockHandler(o MockOptions) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		// Reading the body to its end lets the server reuse the
		// connection without a post-handler discard.
		data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var req mockRequest
		if err == nil {
			err = json.Unmarshal(data, &req)
		}
		if err != nil {
			http.Error(w, `{"error":{"message":"invalid JSON","type":"invalid_request_error"}}`, http.StatusBadRequest)
			return
		}
		if req.Model == "" {
			req.Model = "mock-model"
		}
		if !sleepCtx(r, o.Latency) {
			return
		}
		if req.Stream {
			streamCompletion(w, r, o, req)
			return
		}
		words := strings.TrimSpace(strings.Repeat("tok ", o.chunks()))
		body := map[string]any{
			"id":      "chatcmpl-bench",
			"object":  "chat.completion",
			"created": time.Now().Unix(),
			"model":   req.Model,
			"choices": []any{map[string]any{
				"index":         0,
				"message":       map[string]any{"role": "assistant", "content": words},
				"finish_reason": "stop",
			}},
			"usage": o.usage(),
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	})
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"object":"list","data":[{"id":"mock-model","object":"model","owned_by":"logos-bench"}]}`)
	})
	return mux
}

// streamCompletion writes the SSE answer: a role chunk, Chunks content chunks
// (the last with finish_reason "stop"), an optional usage chunk and [DONE].
func streamCompletion(w http.ResponseWriter, r *http.Request, o MockOptions, req mockRequest) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fl, _ := w.(http.Flusher)
	created := time.Now().Unix()
	send := func(choices []any, usage *mockUsage) {
		c := map[string]any{
			"id":      "chatcmpl-bench",
			"object":  "chat.completion.chunk",
			"created": created,
			"model":   req.Model,
			"choices": choices,
		}
		if usage != nil {
			c["usage"] = usage
		}
		b, _ := json.Marshal(c)
		fmt.Fprintf(w, "data: %s\n\n", b)
		if fl != nil {
			fl.Flush()
		}
	}
	choice := func(delta map[string]any, finish any) []any {
		return []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}
	}
	send(choice(map[string]any{"role": "assistant", "content": ""}, nil), nil)
	n := o.chunks()
	for i := range n {
		if i > 0 && !sleepCtx(r, o.ChunkInterval) {
			return
		}
		var finish any
		if i == n-1 {
			finish = "stop"
		}
		send(choice(map[string]any{"content": "tok "}, finish), nil)
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		u := o.usage()
		send([]any{}, &u)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	if fl != nil {
		fl.Flush()
	}
}

// sleepCtx waits d or until the request is cancelled, and reports whether the
// wait completed.
func sleepCtx(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// startServer serves h on a fresh loopback port and returns the server and
// its base URL. Close the server when done.
func startServer(h http.Handler) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, "http://" + ln.Addr().String(), nil
}
