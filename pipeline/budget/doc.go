// Package budget enforces spending budgets: a limit per period (day, week or
// month) on what one process, or all the processes of one user, may spend
// (see [store.Budget]).
//
// A [Tracker] admits a request before it is scheduled and learns its actual
// cost when it ends:
//
//	est := tracker.EstimateFor(process.ID)
//	res, err := tracker.Admit(ctx, process.ID, process.UserID, est)
//	if errors.Is(err, budget.ErrOverBudget) {
//		// answer 402 with an OpenAI error of type insufficient_quota
//	}
//	... forward the request ...
//	res.Complete(record.CostMicros) // also for failures (with their cost, usually 0)
//
// # Admission
//
// A budget's spending is the spend of its period read from the store (the
// summed CostMicros of the usage records, see [store.BudgetStore.SpentMicros])
// plus the actual costs completed on this replica since, plus the estimates of
// the requests admitted and not yet completed (in flight). A request is
// refused with [ErrOverBudget] when spending plus its estimate would exceed
// the limit of the process's budget or of its user's budget, and whenever the
// spending has already reached the limit. Admission and reservation are one
// step under the budget's lock, so concurrent requests see each other's
// reservations.
//
// # Overshoot bound
//
// Because every admitted request reserves its estimate until it completes, a
// burst of concurrent requests is admitted only while the sum of their
// estimates fits the remaining budget. Within one replica the spending of a
// period therefore exceeds the limit by at most Σ(actual − estimate) over the
// requests admitted concurrently (only their positive differences count),
// which is zero when no estimate is exceeded. Estimates that are too high only
// refuse requests early; the reservation is replaced by the actual cost on
// Complete.
//
// Several replicas see each other's spending through the store, which every
// replica re-reads each RefreshInterval (5 s by default); between two reads a
// replica does not see the others' reservations, so with n replicas the bound
// grows by what the other replicas admit within one refresh interval (plus
// the usage writer's flush delay). Local completions are never lost by a
// refresh: the tracker keeps the larger of its own total and the store's.
//
// # Estimates
//
// The caller chooses the estimate. [Tracker.EstimateFor] suggests the moving
// average of the last EstimateWindow positive costs completed for the process
// (Config.DefaultEstimateMicros before there are any); a caller that knows
// more (the prompt's token count times the model's price, or max_tokens for
// the completion) can pass a better one. A configured reserve per request is
// the simplest safe choice when costs vary a lot.
//
// # Database access
//
// The hot path never reads the database, except on the first admission of a
// budget's period (when its spend is unknown). Budgets are loaded on the first
// admission and reloaded, together with every budget's spend, by Run each
// RefreshInterval and by [Tracker.Refresh] on demand (after a budget
// changed).
package budget
