package live_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/logos-llm/logos/monitor/live"
	"github.com/logos-llm/logos/providers/builtin"
	"github.com/logos-llm/logos/store"
)

// A Monitor polls the providers of the catalogue it is given; Sync again
// whenever the catalogue changes.
func ExampleMonitor() {
	ollama := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"models":[{"name":"llama3:8b","size_vram":5137025024,"expires_at":"2024-06-04T14:38:31.83753-07:00"}]}`))
	}))
	defer ollama.Close()

	m, err := live.New(live.Config{Providers: builtin.Registry()})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	m.Sync([]store.Provider{{ID: 1, Name: "gpu-1", Kind: store.KindOllama, BaseURL: ollama.URL, AdminURL: ollama.URL}})

	for {
		if s, _ := m.ProviderState(1); s.Polls > 0 {
			fmt.Println(s.Name, len(s.Loaded), "model loaded,", s.VRAMUsedBytes>>20, "MiB VRAM, expires", s.Loaded[0].ExpiresAt.UTC().Format(time.RFC3339Nano))
			break
		}
		time.Sleep(time.Millisecond)
	}
	// Output: gpu-1 1 model loaded, 4899 MiB VRAM, expires 2024-06-04T21:38:31.83753Z
}
