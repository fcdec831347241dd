package pipeline_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logos-llm/logos/internal/apikey"
	"github.com/logos-llm/logos/pipeline"
	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/store"
)

// recordSink keeps the usage records it is given.
type recordSink struct {
	mu   sync.Mutex
	recs []store.UsageRecord
}

func (s *recordSink) Write(_ context.Context, rec store.UsageRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, rec)
	return nil
}

// smallCatalog has one key (returned) with one profile permitted one model.
func smallCatalog(t *testing.T) (*pipeline.Catalog, string) {
	t.Helper()
	key := apikey.Generate("serve")
	c := store.Catalog{
		Processes:   []store.Process{{ID: 1, Name: "p", KeyHash: apikey.Hash(key)}},
		Profiles:    []store.Profile{{ID: 1, Name: "default", ProcessID: 1}},
		Providers:   []store.Provider{{ID: 1, Name: "a", Kind: store.KindOpenAI, BaseURL: "http://a.invalid/v1"}},
		Models:      []store.Model{{ID: 1, Name: "m"}},
		Deployments: []store.Deployment{{ID: 1, ModelID: 1, ProviderID: 1}},
		Permissions: []store.Permission{{ProfileID: 1, ModelID: 1}},
	}
	return pipeline.NewCatalog(c, time.Now()), key
}

// TestServeWithoutClassifier: a Pipeline configured without a Classifier
// does not ignore a request that asks Logos to choose the model (no model,
// or a logos-v model string): it refuses it with 400
// classifier_unavailable, and the refusal is recorded.
func TestServeWithoutClassifier(t *testing.T) {
	sink := &recordSink{}
	p, err := pipeline.New(pipeline.Config{Providers: providers.Registry{}, Scheduler: nopScheduler{}, Usage: sink})
	if err != nil {
		t.Fatal(err)
	}
	cat, key := smallCatalog(t)
	p.SetCatalog(cat)
	for i, body := range []string{
		`{"messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"` + pipeline.ModelStringPrefix + `1","messages":[{"role":"user","content":"hi"}]}`,
	} {
		r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		p.Serve(w, r, pipeline.Route{Operation: "chat/completions", Key: key, RequestID: "r" + string(rune('0'+i))})
		var got struct {
			Error struct {
				Code  string `json:"code"`
				Param string `json:"param"`
			} `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != http.StatusBadRequest || got.Error.Code != "classifier_unavailable" {
			t.Errorf("%s: status %d body %s; want 400 classifier_unavailable", body, w.Code, w.Body)
		}
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.recs) != 2 {
		t.Fatalf("%d usage records, want 2", len(sink.recs))
	}
	for _, rec := range sink.recs {
		if rec.StatusCode != http.StatusBadRequest || rec.Outcome != store.OutcomeRejected {
			t.Errorf("record %s: status %d outcome %s; want 400 rejected", rec.RequestID, rec.StatusCode, rec.Outcome)
		}
	}
}

// TestNewRefusesInconsistentBounds: New refuses negative bounds and a
// default queue timeout above the cap a request may ask for, instead of
// picking values of its own.
func TestNewRefusesInconsistentBounds(t *testing.T) {
	base := pipeline.Config{Providers: providers.Registry{}, Scheduler: nopScheduler{}, Usage: &recordSink{}}
	for name, mod := range map[string]func(*pipeline.Config){
		"negative MaxBodyBytes":          func(c *pipeline.Config) { c.MaxBodyBytes = -1 },
		"negative QueueTimeout":          func(c *pipeline.Config) { c.QueueTimeout = -time.Second },
		"QueueTimeout above its maximum": func(c *pipeline.Config) { c.QueueTimeout, c.MaxQueueTimeout = time.Minute, time.Second },
		"negative MaxResponseBytes":      func(c *pipeline.Config) { c.MaxResponseBytes = -1 },
		"negative CaptureLimit":          func(c *pipeline.Config) { c.CaptureLimit = -1 },
		"negative MaxQueueTimeout":       func(c *pipeline.Config) { c.MaxQueueTimeout = -time.Second },
	} {
		cfg := base
		mod(&cfg)
		if _, err := pipeline.New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := pipeline.New(base); err != nil {
		t.Errorf("zero bounds: %v", err)
	}
}
