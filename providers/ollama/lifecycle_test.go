package ollama_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/providers/ollama"
	"github.com/logos-llm/logos/providers/openaicompat"
)

// recorder answers every request with status and keeps the last one.
type recorder struct {
	*httptest.Server
	status           int
	path, auth, body string
}

func newRecorder(t *testing.T, status int) *recorder {
	r := &recorder{status: status}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.path, r.auth, r.body = req.Method+" "+req.URL.Path, req.Header.Get("Authorization"), string(b)
		w.WriteHeader(r.status)
		_, _ = w.Write([]byte(`{"done":true}`))
	}))
	t.Cleanup(r.Close)
	return r
}

func TestLoadAndUnload(t *testing.T) {
	ctx := context.Background()
	p := ollama.New()
	cases := []struct {
		name      string
		keepAlive time.Duration
		unload    bool
		want      string
	}{
		{"load kept until unloaded", -1, false, `{"keep_alive":-1,"model":"llama3:8b"}`},
		{"load for ten minutes", 10 * time.Minute, false, `{"keep_alive":600,"model":"llama3:8b"}`},
		{"load with the server's default", 0, false, `{"model":"llama3:8b"}`},
		{"unload", 0, true, `{"keep_alive":0,"model":"llama3:8b"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newRecorder(t, http.StatusOK)
			// The admin URL wins over the base URL; a trailing /v1 is ignored.
			tgt := providers.Target{Kind: providers.KindOllama, BaseURL: "http://127.0.0.1:1/v1", Credential: "s3cret"}
			o := providers.PollOptions{AdminURL: srv.URL + "/v1"}
			var err error
			if c.unload {
				err = p.UnloadModel(ctx, srv.Client(), tgt, o, "llama3:8b")
			} else {
				err = p.LoadModel(ctx, srv.Client(), tgt, o, "llama3:8b", c.keepAlive)
			}
			if err != nil {
				t.Fatal(err)
			}
			if srv.path != "POST /api/generate" || srv.body != c.want || srv.auth != "Bearer s3cret" {
				t.Errorf("sent %s %s (auth %q), want POST /api/generate %s", srv.path, srv.body, srv.auth, c.want)
			}
		})
	}
}

func TestLoadFailureHidesTheCredential(t *testing.T) {
	srv := newRecorder(t, http.StatusInternalServerError)
	tgt := providers.Target{Kind: providers.KindOllama, BaseURL: strings.Replace(srv.URL, "http://", "http://user:s3cret@", 1), Credential: "s3cret"}
	err := ollama.New().LoadModel(context.Background(), srv.Client(), tgt, providers.PollOptions{}, "m", -1)
	if !errors.Is(err, openaicompat.ErrControlStatus) || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("err = %v; want ErrControlStatus without the credential", err)
	}
}
