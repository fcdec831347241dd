// Package logos is an embeddable LLM gateway. Applications send
// OpenAI-compatible requests to a Router; it checks who may use which model,
// queues and schedules requests onto limited backends, forwards them to the
// provider (OpenAI, Azure OpenAI, Ollama, any OpenAI-compatible server), streams
// the answer back unchanged and records usage, tokens and cost.
//
// # What a Router is
//
// A [Router] is an [net/http.Handler] built by [New] from a [Config]. It is
// composed of four pluggable parts, each an interface of its own package:
//
//   - a [Store] (package store) persists keys, the catalogue of models,
//     providers and deployments, usage records and, optionally, jobs,
//     budgets and rate-limit counters;
//   - [Provider] implementations (package providers), one per provider
//     kind, build the upstream HTTP request of a call;
//   - a [Scheduler] (package scheduler) admits each request onto one of the
//     deployments it may run on, queueing it by priority until one is free;
//   - a [Classifier] (package classify) ranks models for requests that name
//     none (a policy or a logos-v model string instead).
//
// The Router serves the OpenAI-compatible API under /v1 and /openai, the
// Ollama-native API under /api, asynchronous jobs under /jobs, the admin and
// statistics API under /logosdb (described at /openapi.json), health and
// metrics endpoints, and a dashboard at /ui/. Every authenticated request
// leaves one usage record; the Router writes them in batches off the request
// path. The README's Architecture section shows the folders and where a
// request goes.
//
// # Embedding a Router
//
// Open a store, choose a scheduler and the providers, and mount the Router
// on a mux (see the example of [New], and examples/embed):
//
//	st, err := sqlite.Open(ctx, sqlite.Config{Path: "logos.db"})
//	sched, err := fcfs.New(fcfs.Config{})
//	r, err := logos.New(logos.Config{Store: st, Providers: builtin.Registry(), Scheduler: sched})
//	mux.Handle("/", r)
//	defer r.Close(ctx) // stores every pending usage record
//
// [Router.Bootstrap] sets up an empty store with an admin key; the catalogue
// is then filled through the admin API (/logosdb/...) or a config document,
// and the Router reloads its snapshot after every change. [Router.Client]
// returns an OpenAI client that calls the Router in process, without a
// network hop. cmd/logosd is this package as a standalone server.
//
// # Writing a Scheduler
//
// Implement [scheduler.Scheduler]: Acquire blocks until the job may run on
// one of its candidates (best first) and returns a [scheduler.Lease] made by
// [scheduler.NewLease], or fails with [scheduler.ErrQueueTimeout] (naming
// the request), [scheduler.ErrNoCandidates] or the context's error; a job
// that gives up leaves the queue, and each lease is released exactly once.
// Implementing [scheduler.StateReporter] adds the scheduler's queues to the
// admin API and the dashboard; implement io.Closer to stop its goroutines
// (the embedder closes it after the Router). Run the conformance suite scheduler/schedulertest (schedulertest.Run)
// against it: [scheduler.Scheduler]'s example is a small scheduler that
// passes it. scheduler/fcfs is the standard one; scheduler/sim replays
// workloads against schedulers to compare them.
//
// # Writing a Classifier
//
// Implement [classify.Classifier], or wrap a function in
// [classify.ClassifierFunc] (see its example and examples/lengthrouter):
// return the models of the request that pass its policy, best first, each
// with the request's priority, and an error wrapping
// [classify.ErrNoModelPassed] (ideally a [*classify.NoModelError]) when none
// does. Implement [classify.CatalogueReceiver] to be given every catalogue
// snapshot ahead of requests. Set it as [Config.Classifier]. There is no
// conformance suite for classifiers: the contract is small and is checked by
// the gateway (an empty ranking is a refusal); classify's own property tests
// (classify/property_test.go) and evaluation set (classify/eval_test.go)
// show how the built-in classify.Pipeline is tested.
//
// # Writing a Provider
//
// Implement [providers.Provider]: NewRequest builds the upstream request of a
// [providers.Call] against a [providers.Target] (one deployment with its
// credential) and must never put the credential in an error or a log; the
// Router relays the answer unchanged. Register it in [Config.Providers]
// under the kind it serves: the kinds are the four of the catalogue
// (openai, azure, ollama, openai_compatible), so a custom Provider replaces
// or wraps a built-in one (providers/builtin). [providers.StatePoller] and
// [providers.RateLimitReader] are optional capabilities for live state.
// Test it with providers/providertest: recorded mock upstreams (NewOpenAI,
// NewAzure, NewOllama), shared fixtures, and CheckCredentialHygiene, which
// every provider must pass.
//
// # Writing a Store
//
// A Store is usually a wrapper around store/sqlite or store/postgres (the
// example of [Store] wraps one to count usage records). A wrapper that embeds the
// Store interface hides the wrapped store's optional capabilities, which
// the Router finds by type assertion (jobs with [store.JobQueue], rate
// limits with [store.RateLimitStore], ...); forward the ones to keep. A
// Store written from scratch implements the interfaces package store's
// documentation lists as required, with its sentinel errors
// ([store.ErrNotFound], [store.ErrConflict], [store.ErrInvalid]) wrapped with
// %w, and must pass the conformance suite store/storetest: storetest.Run,
// and the entry point of each optional interface it implements
// (RunRateLimit, RunBudget, RunStats, ...). Both built-in stores run the
// suite, against SQLite and PostgreSQL.
package logos
