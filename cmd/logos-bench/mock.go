package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
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
		arrived := time.Now()
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
			streamCompletion(w, r, o, req, arrived)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		body := completionJSON(o, req.Model, time.Now().Unix())
		setMockWait(w, arrived)
		_, _ = w.Write(body)
	})
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"object":"list","data":[{"id":"mock-model","object":"model","owned_by":"logos-bench"}]}`)
	})
	return mux
}

// completionJSON is the non-streamed answer: Chunks words and the usage.
// Answers are built with append rather than encoding/json, so that the mock
// spends as little of the machine as it can on the load it generates.
func completionJSON(o MockOptions, model string, created int64) []byte {
	b := make([]byte, 0, 256+4*o.chunks())
	b = append(b, `{"id":"chatcmpl-bench","object":"chat.completion","created":`...)
	b = strconv.AppendInt(b, created, 10)
	b = append(b, `,"model":`...)
	b = appendJSONString(b, model)
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":"`...)
	b = append(b, strings.TrimSpace(strings.Repeat("tok ", o.chunks()))...)
	b = append(b, `"},"finish_reason":"stop"}],"usage":`...)
	b = appendUsage(b, o.usage())
	return append(b, "}\n"...)
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

func appendUsage(b []byte, u mockUsage) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(u.PromptTokens), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(u.CompletionTokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.TotalTokens), 10)
	return append(b, '}')
}

// streamEvents are the SSE events of one streamed answer, built once per
// request: the role chunk, a content chunk, the last content chunk (with
// finish_reason "stop") and the usage chunk.
type streamEvents struct {
	role, content, last, usage []byte
}

func newStreamEvents(o MockOptions, model string, created int64) streamEvents {
	head := []byte(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":`)
	head = strconv.AppendInt(head, created, 10)
	head = append(head, `,"model":`...)
	head = appendJSONString(head, model)
	head = append(head, `,"choices":`...)
	event := func(rest string) []byte {
		return append(append(append([]byte(nil), head...), rest...), "}\n\n"...)
	}
	usage := append(append([]byte(nil), head...), `[],"usage":`...)
	usage = append(appendUsage(usage, o.usage()), "}\n\n"...)
	return streamEvents{
		role:    event(`[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]`),
		content: event(`[{"index":0,"delta":{"content":"tok "},"finish_reason":null}]`),
		last:    event(`[{"index":0,"delta":{"content":"tok "},"finish_reason":"stop"}]`),
		usage:   usage,
	}
}

var sseDone = []byte("data: [DONE]\n\n")

// mockWaitHeader carries, in microseconds, how long the mock held a request
// before its first byte: from the handler's start to the first write. The
// load generator subtracts it from the time to first byte to get what the
// path to and from the mock (client, target, loopback) added to that request.
const mockWaitHeader = "X-Mock-Wait-Us"

// setMockWait sets mockWaitHeader; call it right before the first write.
func setMockWait(w http.ResponseWriter, arrived time.Time) {
	w.Header().Set(mockWaitHeader, strconv.FormatInt(time.Since(arrived).Microseconds(), 10))
}

// streamCompletion writes the SSE answer: a role chunk, Chunks content chunks
// (the last with finish_reason "stop"), an optional usage chunk and [DONE],
// flushing after each event.
func streamCompletion(w http.ResponseWriter, r *http.Request, o MockOptions, req mockRequest, arrived time.Time) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fl, _ := w.(http.Flusher)
	ev := newStreamEvents(o, req.Model, time.Now().Unix())
	send := func(b []byte) {
		_, _ = w.Write(b)
		if fl != nil {
			fl.Flush()
		}
	}
	setMockWait(w, arrived)
	send(ev.role)
	n := o.chunks()
	for i := range n {
		if i > 0 && !sleepCtx(r, o.ChunkInterval) {
			return
		}
		if i == n-1 {
			send(ev.last)
		} else {
			send(ev.content)
		}
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		send(ev.usage)
	}
	send(sseDone)
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
