package pipeline_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/logos-llm/logos/internal/apikey"
	"github.com/logos-llm/logos/pipeline"
	"github.com/logos-llm/logos/providers"
	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/store"
)

// The hot-path benchmarks run against a catalogue the size of a large
// installation: 2,000 keys with a profile each, 300 models, two deployments
// per model, and every profile permitted 50 models.
const (
	benchProcesses = 2000
	benchModels    = 300
	benchPermitted = 50
)

type nopScheduler struct{}

func (nopScheduler) Acquire(context.Context, scheduler.Job) (*scheduler.Lease, error) {
	return nil, scheduler.ErrClosed
}

type nopSink struct{}

func (nopSink) Write(context.Context, store.UsageRecord) error { return nil }

// benchCatalog returns a large catalogue and the key of one process in it.
func benchCatalog(b *testing.B) (*pipeline.Catalog, string) {
	b.Helper()
	var c store.Catalog
	var key string
	for i := range benchProcesses {
		k := apikey.Generate(fmt.Sprintf("bench-%d", i))
		if i == benchProcesses/2 {
			key = k
		}
		id := int64(i + 1)
		c.Processes = append(c.Processes, store.Process{ID: id, Name: fmt.Sprintf("p%d", i), KeyHash: apikey.Hash(k)})
		c.Profiles = append(c.Profiles, store.Profile{ID: id, Name: "default", ProcessID: id})
		for j := range benchPermitted {
			c.Permissions = append(c.Permissions, store.Permission{ProfileID: id, ModelID: int64((i+j)%benchModels + 1)})
		}
	}
	c.Providers = []store.Provider{
		{ID: 1, Name: "a", Kind: store.KindOpenAI, BaseURL: "http://a.invalid/v1"},
		{ID: 2, Name: "b", Kind: store.KindOpenAI, BaseURL: "http://b.invalid/v1"},
	}
	for i := range benchModels {
		id := int64(i + 1)
		c.Models = append(c.Models, store.Model{ID: id, Name: fmt.Sprintf("model-%d", i)})
		c.Deployments = append(c.Deployments,
			store.Deployment{ID: 2*id - 1, ModelID: id, ProviderID: 1},
			store.Deployment{ID: 2 * id, ModelID: id, ProviderID: 2})
	}
	return pipeline.NewCatalog(c, time.Now()), key
}

// BenchmarkAuthenticate is the key check of every request: hashing the key,
// the constant-time lookup and picking the default profile.
func BenchmarkAuthenticate(b *testing.B) {
	cat, key := benchCatalog(b)
	p, err := pipeline.New(pipeline.Config{Providers: providers.Registry{}, Scheduler: nopScheduler{}, Usage: nopSink{}})
	if err != nil {
		b.Fatal(err)
	}
	p.SetCatalog(cat)
	b.ReportAllocs()
	for b.Loop() {
		if c, e := p.Authenticate(key, ""); e != nil || c.Profile == nil {
			b.Fatalf("Authenticate: %v", e)
		}
	}
}

// BenchmarkResolveModel is the catalogue resolution of every request: the
// model by name, the permission check and its deployments.
func BenchmarkResolveModel(b *testing.B) {
	cat, key := benchCatalog(b)
	p, err := pipeline.New(pipeline.Config{Providers: providers.Registry{}, Scheduler: nopScheduler{}, Usage: nopSink{}})
	if err != nil {
		b.Fatal(err)
	}
	p.SetCatalog(cat)
	c, e := p.Authenticate(key, "")
	if e != nil {
		b.Fatal(e)
	}
	name := c.Models()[benchPermitted/2].Name
	b.ReportAllocs()
	for b.Loop() {
		m, ok := c.Model(name)
		if !ok {
			b.Fatalf("model %q not permitted", name)
		}
		if ds := c.Catalog.Deployments(m.ID); len(ds) != 2 {
			b.Fatalf("%d deployments", len(ds))
		}
	}
}

// BenchmarkParseBody is the body check of every request: a chat completion
// split into its members, with model and stream read.
func BenchmarkParseBody(b *testing.B) {
	body := []byte(`{"model":"model-7","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"What is the capital of France? Answer in one word."}],"temperature":0.2,"stream":true}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req, e := pipeline.ParseBody(body, false)
		if e != nil || req.Model != "model-7" || !req.Stream {
			b.Fatalf("ParseBody: %+v %v", req, e)
		}
	}
}
