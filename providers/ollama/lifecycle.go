package ollama

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/providers/openaicompat"
)

var _ providers.ModelLoader = (*Provider)(nil)

// LoadModel preloads model: POST {server}/api/generate with only the model
// and keep_alive (seconds; -1 keeps it loaded until unloaded; 0 leaves the
// field out so the server's default applies). The server is o.AdminURL
// when set, else t.BaseURL; a trailing /v1 is ignored. Ollama answers once
// the model is in memory.
func (*Provider) LoadModel(ctx context.Context, client *http.Client, t providers.Target, o providers.PollOptions, model string, keepAlive time.Duration) error {
	body := map[string]any{"model": model}
	switch {
	case keepAlive < 0:
		body["keep_alive"] = -1
	case keepAlive > 0:
		body["keep_alive"] = int64(keepAlive.Round(time.Second) / time.Second)
	}
	return generate(ctx, client, t, o, body)
}

// UnloadModel unloads model now: POST {server}/api/generate with
// keep_alive 0.
func (*Provider) UnloadModel(ctx context.Context, client *http.Client, t providers.Target, o providers.PollOptions, model string) error {
	return generate(ctx, client, t, o, map[string]any{"model": model, "keep_alive": 0})
}

func generate(ctx context.Context, client *http.Client, t providers.Target, o providers.PollOptions, body map[string]any) error {
	u, err := openaicompat.ServerURL("ollama", t, o, "/v1", "api/generate")
	if err != nil {
		return err
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	return openaicompat.PostControl(ctx, client, "ollama", u, t, b, openaicompat.BearerAuth())
}
