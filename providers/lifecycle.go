package providers

import (
	"context"
	"net/http"
	"time"
)

// Lifecycle capabilities. Like StatePoller they are optional and found by
// type assertion; they are called by the lifecycle layer (monitor/lifecycle)
// in the background, never on the request path.

// ModelLoader is implemented by providers whose server loads and unloads
// models on request (Ollama: POST /api/generate with keep_alive).
type ModelLoader interface {
	// LoadModel loads model into the server's memory and keeps it there for
	// keepAlive (negative: until told otherwise; 0: the server's default).
	// The server is o.AdminURL when set, else t.BaseURL. Errors never
	// contain t.Credential.
	LoadModel(ctx context.Context, client *http.Client, t Target, o PollOptions, model string, keepAlive time.Duration) error
	// UnloadModel frees model's memory now.
	UnloadModel(ctx context.Context, client *http.Client, t Target, o PollOptions, model string) error
}

// Sleeper is implemented by providers whose server can put its model to
// sleep and wake it (vLLM's sleep mode: POST /sleep?level=N, POST
// /wake_up). The server is o.AdminURL (with a trailing /metrics removed)
// when set, else t.BaseURL (with a trailing /v1 removed). They return
// ErrUnsupported when o.SleepMode is false.
type Sleeper interface {
	// Sleep puts the server to sleep at level (1: weights offloaded to CPU
	// memory; 2: discarded).
	Sleep(ctx context.Context, client *http.Client, t Target, o PollOptions, level int) error
	// Wake wakes a sleeping server.
	Wake(ctx context.Context, client *http.Client, t Target, o PollOptions) error
}
