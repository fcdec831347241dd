// Package store defines how Logos persists its catalogue, keys and usage: the
// domain records, the interfaces a store implements (small role interfaces,
// each with its consumer), the sentinel errors every implementation returns,
// and a batching usage writer.
//
// Implementations live in sub-packages (store/sqlite, store/postgres, both
// complete) and must pass the conformance suite in store/storetest: one
// entry point per interface they implement.
//
// # What a Store must implement
//
// [Core] is all a Router requires (logos.Config.Store):
//
//   - [KeyStore]: ProcessByKeyHash resolves the API key of every request.
//   - [CatalogReader]: LoadCatalog returns the snapshot requests are routed
//     by; the Router reloads it periodically and after admin writes.
//   - [UsageInserter]: InsertUsage takes the usage records, in batches, from
//     the Router's [UsageWriter].
//   - Ping (GET /readyz) and Close.
//
// A store implementing only Core serves the proxied API (/v1/..., /api/...)
// with its catalogue, keys, policies and prices, and records usage. Its
// catalogue is written by whatever means the implementation provides.
// storetest.RunCore is its conformance suite.
//
// # What a Store may implement
//
// Every other interface is optional. The Router finds each by a type
// assertion on the store it was given, and without it the feature below is
// off (endpoints answer 501 Not Implemented with a JSON error, never 500):
//
//   - [Store] (Core with [IdentityStore], [CatalogStore], [UsageStore],
//     [JobStore] and [EventStore]; suites RunIdentity, RunCatalog,
//     RunUsage, RunJobs, RunSnapshots): the admin API under /logosdb/
//     (users, keys, catalogue, policies, import and export, dashboard and
//     monitor views) and POST /logosdb/setup. Router.Bootstrap fails with
//     errors.ErrUnsupported without an [IdentityStore]; the config file
//     (internal/config) needs a whole Store.
//   - [JobQueue] (suite RunJobQueue): the asynchronous job API (/jobs/...)
//     and the job runner. Without it those paths answer 501.
//   - [EventStore]: the live monitor stores a snapshot of each provider poll.
//     Without it the monitor still polls (live state, scheduling) but keeps
//     no history. [SnapshotStatsStore] (suite RunSnapshots) adds retention
//     and the downsampled history of the monitor views.
//   - [RateLimitStore] (suite RunRateLimit): rate limits from process
//     settings, shared by every replica. Without it they are not enforced.
//   - [BudgetStore] (suite RunBudget): spending budgets and their admin
//     endpoints. Without it budgets are not enforced and those endpoints
//     answer 501.
//   - [UsageStatsStore] (suite RunStats): the statistics endpoints and the
//     usage CSV export. Without it they answer 501.
//   - [Transactor] (suite RunTx): the catalogue's multi-step writes (grants
//     of a provider's models, a process with its profile, re-ranking, a
//     config file apply) become all-or-nothing. Without it they are done
//     step by step, as a store without transactions allows.
//
// The finer interfaces say which code uses what: [IdentityReader] and
// [CatalogLookup] are read by the admin API, while [IdentityWriter] and
// [CatalogWriter] are called only by internal/catalog, the one code that
// writes the catalogue (setup, the admin API's write endpoints, the config
// file); deps_test.go checks it.
package store
