package ollama

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/providers/openaicompat"
)

var _ providers.StatePoller = (*Provider)(nil)

// PollState reads an Ollama server's loaded models (GET /api/ps) and, when
// that succeeded, the models it can load (GET /api/tags; a failure there
// leaves the list unknown). The server is o.AdminURL (the monitoring URL,
// which may differ from the inference BaseURL; a trailing /v1 is ignored),
// sent with t's credential. Without an AdminURL it returns
// providers.ErrUnsupported.
func (*Provider) PollState(ctx context.Context, client *http.Client, t providers.Target, o providers.PollOptions) (providers.State, error) {
	var st providers.State
	if strings.TrimSpace(o.AdminURL) == "" {
		return st, fmt.Errorf("ollama: no admin URL: %w", providers.ErrUnsupported)
	}
	base, err := openaicompat.ParseBaseURL(o.AdminURL, t.Credential)
	if err != nil {
		return st, openaicompat.RedactedErrorf(t.Credential, "ollama: admin URL: %v", err)
	}
	root, _ := openaicompat.TrimPathSuffix(base, "/v1")
	ps, err := openaicompat.JoinPath(root, "api/ps")
	if err != nil {
		return st, openaicompat.RedactedErrorf(t.Credential, "ollama: admin URL: %v", err)
	}
	body, err := openaicompat.GetTelemetry(ctx, client, "ollama", ps, t, openaicompat.BearerAuth())
	if err != nil {
		return st, err
	}
	if st.Loaded, err = ParsePS(body); err != nil {
		return st, err
	}
	st.LoadedKnown = true
	for _, m := range st.Loaded {
		st.VRAMUsedBytes += m.SizeVRAM
	}
	if tags, err := openaicompat.JoinPath(root, "api/tags"); err == nil {
		if b, err := openaicompat.GetTelemetry(ctx, client, "ollama", tags, t, openaicompat.BearerAuth()); err == nil {
			st.Available, _ = ParseTags(b)
		}
	}
	return st, nil
}

// ParsePS reads the body of Ollama's GET /api/ps: the loaded models in the
// order given. A model's name is its "name", else its "model". expires_at
// is RFC 3339 with optional fractional seconds (Ollama sends nanoseconds)
// and any zone offset; an unreadable or absent one is left zero (unknown),
// never guessed. An answer without a "models" array is an error.
func ParsePS(body []byte) ([]providers.LoadedModel, error) {
	var v struct {
		Models *[]struct {
			Name      string `json:"name"`
			Model     string `json:"model"`
			Size      int64  `json:"size"`
			SizeVRAM  int64  `json:"size_vram"`
			ExpiresAt string `json:"expires_at"`
		} `json:"models"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("ollama: reading /api/ps: %w", err)
	}
	if v.Models == nil {
		return nil, fmt.Errorf("ollama: reading /api/ps: no models array")
	}
	out := make([]providers.LoadedModel, 0, len(*v.Models))
	for _, m := range *v.Models {
		lm := providers.LoadedModel{Name: m.Name, Model: m.Model, Size: max(m.Size, 0), SizeVRAM: max(m.SizeVRAM, 0)}
		if lm.Name == "" {
			lm.Name = m.Model
		}
		if t, err := time.Parse(time.RFC3339Nano, m.ExpiresAt); err == nil {
			lm.ExpiresAt = t
		}
		out = append(out, lm)
	}
	return out, nil
}

// ParseTags reads the body of Ollama's GET /api/tags: the names of the
// models the server has.
func ParseTags(body []byte) ([]string, error) {
	var v struct {
		Models []struct {
			Name  string `json:"name"`
			Model string `json:"model"`
		} `json:"models"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("ollama: reading /api/tags: %w", err)
	}
	out := make([]string, 0, len(v.Models))
	for _, m := range v.Models {
		if n := m.Name; n != "" {
			out = append(out, n)
		} else if m.Model != "" {
			out = append(out, m.Model)
		}
	}
	return out, nil
}
