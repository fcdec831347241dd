package logos

import (
	"fmt"
	"io"
	"net/http"
	"sync"

	openai "github.com/sashabaranov/go-openai"
)

// Client returns a go-openai client that calls this Router in process, with
// key as its Logos key: no network hop, the same authentication, policies,
// scheduling and usage records as over HTTP. Streaming works
// (CreateChatCompletionStream); cancelling a call's context cancels the
// request. The client may be used until Close.
func (r *Router) Client(key string) *openai.Client {
	cfg := openai.DefaultConfig(key)
	cfg.BaseURL = "http://logos.in-process/v1"
	cfg.HTTPClient = &http.Client{Transport: &inProcessTransport{h: r}}
	return openai.NewClientWithConfig(cfg)
}

// inProcessTransport serves requests with a handler in the calling process.
// The handler runs on its own goroutine, which ends when the handler returns;
// the response body is a pipe it writes to, so a reader that stops early (or
// closes the body) makes the handler's writes fail and it returns.
type inProcessTransport struct{ h http.Handler }

func (t *inProcessTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.RequestURI = req.URL.RequestURI()
	req.RemoteAddr = "127.0.0.1:0"
	if req.Body == nil {
		req.Body = http.NoBody
	}
	pr, pw := io.Pipe()
	w := &pipeWriter{header: http.Header{}, pw: pw, started: make(chan struct{})}
	go func() {
		defer func() {
			if p := recover(); p != nil {
				// As net/http would: the response is cut off.
				w.start(http.StatusInternalServerError)
				_ = pw.CloseWithError(fmt.Errorf("logos: handler panic: %v", p))
				return
			}
			w.start(http.StatusOK)
			_ = pw.Close()
		}()
		t.h.ServeHTTP(w, req)
	}()
	<-w.started
	return &http.Response{
		Status:        http.StatusText(w.status),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.snapshot,
		Body:          pr,
		ContentLength: -1,
		Request:       req,
	}, nil
}

// pipeWriter is the handler's http.ResponseWriter: headers are captured at
// the first WriteHeader or Write, the body goes into the pipe.
type pipeWriter struct {
	header   http.Header
	snapshot http.Header
	pw       *io.PipeWriter
	once     sync.Once
	status   int
	started  chan struct{}
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) start(status int) {
	w.once.Do(func() {
		w.status = status
		w.snapshot = w.header.Clone()
		close(w.started)
	})
}

func (w *pipeWriter) WriteHeader(status int) {
	if status >= 100 && status < 200 {
		return // informational: not passed on
	}
	w.start(status)
}

func (w *pipeWriter) Write(p []byte) (int, error) {
	w.start(http.StatusOK)
	return w.pw.Write(p)
}

// Flush implements http.Flusher; writes reach the reader unbuffered.
func (w *pipeWriter) Flush() { w.start(http.StatusOK) }
