package logos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/logos-llm/logos/classify"
	"github.com/logos-llm/logos/internal/catalog"
	"github.com/logos-llm/logos/pipeline"
	"github.com/logos-llm/logos/router"
	"github.com/logos-llm/logos/store"
	"go.opentelemetry.io/otel/trace"
)

// SystemProcessName names the service, process and profile that Logos makes
// its own requests as: the embeddings calls of the classifier's similarity
// stage when Config.ClassifierEmbeddingsModel is set. The Router creates
// them (or finds them) on every catalogue load once the store is set up,
// and lets the profile use that embeddings model; deleted or revoked, they
// come back (and ApplyConfig's prune keeps them).
// Their usage records are attributed to this process, like any caller's,
// so the statistics show what classification costs. The process is a
// service's, never an admin, and its key is generated and discarded at
// once: no one can send requests as it over the network.
const SystemProcessName = catalog.SystemName

// Errors of the in-process embeddings stage. Each makes a classification
// fall back to the lexical stage (counted in
// logos_classifier_similarity_fallbacks_total).
var (
	// ErrNoSystemProcess means the system process does not exist yet:
	// the store is not set up, or it is not a store.Store that the Router
	// can write the process to.
	ErrNoSystemProcess = errors.New("logos: the system process is not set up")
	// ErrEmbeddingsModelMissing means the catalogue has no model of the
	// name Config.ClassifierEmbeddingsModel gives.
	ErrEmbeddingsModelMissing = errors.New("logos: the classifier's embeddings model is not in the catalogue")
	// ErrEmbeddingsRecursion means an embeddings call of the classifier
	// would have been classified itself, which would recurse. It cannot
	// happen as long as the model is named (it always is); it is a guard.
	ErrEmbeddingsRecursion = errors.New("logos: the classifier's embeddings call was itself being classified")
)

// inProcessEmbeddingsURL is the URL the system embedder's requests carry;
// they never leave the process.
const inProcessEmbeddingsURL = "http://logos.in-process/v1/embeddings"

// systemEmbedder is a classify.Embedder that sends OpenAI embeddings
// requests to a model of the Router's catalogue through the Router's own
// handler, in process, as the system process: the same admission,
// scheduling, provider credentials and usage records as any request, no
// network hop and no key.
type systemEmbedder struct {
	model  string
	router atomic.Pointer[Router] // set by start once the handler exists
	http   classify.HTTPEmbedder  // to router's handler; set with router
}

// start sends e's requests to r's handler. It is called once, before r
// serves any request.
func (e *systemEmbedder) start(r *Router) {
	e.http = classify.HTTPEmbedder{
		URL:    inProcessEmbeddingsURL,
		Model:  e.model, // named: the request is never classified itself
		Client: &http.Client{Transport: &inProcessTransport{h: r.handler}},
	}
	e.router.Store(r)
}

// systemCallKey marks the context of a request the system embedder makes.
type systemCallKey struct{}

// Embed implements classify.Embedder.
func (e *systemEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if ctx.Value(systemCallKey{}) != nil {
		// A classification inside the system's own embeddings request.
		return nil, ErrEmbeddingsRecursion
	}
	r := e.router.Load()
	if r == nil {
		return nil, ErrNoSystemProcess
	}
	id := r.system.Load()
	if id == nil {
		return nil, ErrNoSystemProcess
	}
	if _, ok := r.pipeline.Catalog().ModelByName(e.model); !ok {
		// Sent anyway it would only leave a refused record per request.
		return nil, fmt.Errorf("%w: %q", ErrEmbeddingsModelMissing, e.model)
	}
	// The request is the system's, not the caller's: it keeps the caller's
	// cancellation, deadline and trace span but none of its other values (a
	// job's hooks or identity would otherwise apply to it).
	ctx, cancel := detach(ctx)
	defer cancel()
	ctx = context.WithValue(ctx, systemCallKey{}, true)
	ctx = router.AsCaller(ctx, *id)
	return e.http.Embed(ctx, texts)
}

// detach returns a context with parent's deadline, cancellation and trace
// span but none of its other values. cancel releases it.
func detach(parent context.Context) (context.Context, context.CancelFunc) {
	ctx := trace.ContextWithSpan(context.Background(), trace.SpanFromContext(parent))
	var cancel context.CancelFunc
	if d, ok := parent.Deadline(); ok {
		ctx, cancel = context.WithDeadline(ctx, d)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	stop := context.AfterFunc(parent, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// systemStage is the Router's in-process embeddings similarity stage.
type systemStage struct {
	embedder *systemEmbedder
	stage    *classify.Embeddings
}

// newSystemStage returns the embeddings stage of Config.ClassifierEmbeddingsModel
// (nil when it is empty) and puts it into c's ClassifierConfig. c must be valid.
func newSystemStage(c *Config) (*systemStage, error) {
	if c.ClassifierEmbeddingsModel == "" {
		return nil, nil
	}
	e := &systemEmbedder{model: c.ClassifierEmbeddingsModel}
	stage, err := classify.NewEmbeddings(classify.EmbeddingsConfig{Embedder: e, Logger: c.Logger})
	if err != nil {
		return nil, fmt.Errorf("logos: %w", err)
	}
	c.ClassifierConfig.Similarity = stage
	return &systemStage{embedder: e, stage: stage}, nil
}

// ensureSystem makes sure the system process exists and may use the
// embeddings model, and records its identity for the embedder. It writes
// only what is missing, so a catalogue that has it all costs a scan of c;
// when it wrote anything it returns the catalogue loaded again. Failures
// are logged (once per distinct error) and leave c as it was: the
// classifier then answers with its lexical stage.
func (r *Router) ensureSystem(ctx context.Context, c store.Catalog) store.Catalog {
	if r.sys == nil {
		return c
	}
	model := r.cfg.ClassifierEmbeddingsModel
	if id, ok := systemIn(&c, r.systemService, model); ok {
		r.system.Store(&id)
		r.lastSystemErr = ""
		return c
	}
	fail := func(err error) store.Catalog {
		if msg := err.Error(); msg != r.lastSystemErr {
			r.log.Error("the system process for the classifier's embeddings calls cannot be set up; the lexical stage answers", "model", model, "err", err)
			r.lastSystemErr = msg
		}
		return c
	}
	full, ok := r.cfg.Store.(store.Store)
	if !ok {
		return fail(fmt.Errorf("%w: the store does not implement store.Store", ErrNoSystemProcess))
	}
	if ok, err := full.Initialized(ctx); err != nil || !ok {
		// Not set up yet: creating a process now would count as set up
		// and refuse POST /logosdb/setup.
		return c
	}
	var models []int64
	for _, m := range c.Models {
		if m.Name == model {
			models = append(models, m.ID)
		}
	}
	id, changed, err := catalog.New(full, catalog.Options{Logger: r.log}).EnsureSystem(ctx, SystemProcessName, models...)
	if err != nil {
		return fail(err)
	}
	if changed {
		nc, err := r.cfg.Store.LoadCatalog(ctx)
		if err != nil {
			return fail(fmt.Errorf("loading the catalogue again: %w", err))
		}
		c = nc
	}
	r.system.Store(&pipeline.Identity{ProcessID: id.Process.ID, ProfileID: id.Profile.ID})
	r.systemService, r.lastSystemErr = id.Service.ID, ""
	return c
}

// systemIn returns the system identity when c holds the system process of
// the system service (serviceID, 0 before it is known), its profile and,
// if c has the model, the profile's permission to use it.
func systemIn(c *store.Catalog, serviceID int64, model string) (pipeline.Identity, bool) {
	var id pipeline.Identity
	if serviceID == 0 {
		return id, false
	}
	for i := range c.Processes {
		if p := &c.Processes[i]; p.Name == SystemProcessName && p.ServiceID == serviceID && p.RevokedAt.IsZero() {
			id.ProcessID = p.ID
		}
	}
	for i := range c.Profiles {
		if p := &c.Profiles[i]; p.ProcessID == id.ProcessID && p.Name == SystemProcessName {
			id.ProfileID = p.ID
		}
	}
	if id.ProcessID == 0 || id.ProfileID == 0 {
		return id, false
	}
	for i := range c.Models {
		if c.Models[i].Name != model {
			continue
		}
		mid := c.Models[i].ID
		for _, p := range c.Permissions {
			if p.ProfileID == id.ProfileID && p.ModelID == mid {
				return id, true
			}
		}
		return id, false
	}
	return id, true
}
