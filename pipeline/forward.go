package pipeline

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/logos-llm/logos/classify"
	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/store"
)

// A forwarded request passes these stages, one file each:
//
//	body.go      parse the client's JSON body; rewrite it for the upstream
//	admit.go     every check that can refuse it before scheduling: operation,
//	             model and deployments, usage log, budgets, rate limits
//	schedule.go  the scheduling job (candidates, priority, queue timeout) and
//	             the wait for a lease
//	upstream.go  build the provider's request and send it
//	relay.go     relay the answer (or the upstream's error), meter and price it
//
// forward, below, runs them in that order; Serve (serve.go) is the entry point.

// ModelStringPrefix starts a policy model string ("logos-v1__policy_...")
// that asks Logos to choose the model.
const ModelStringPrefix = classify.ModelStringPrefix

// Error codes Logos itself uses.
const (
	codeQueueTimeout = "queue_timeout"
	codeModel        = "model_not_found"
)

// forward resolves, schedules and forwards req and relays the answer to w. It
// always writes a response (unless the client is gone) and fills the record.
//
// forward, execute and relay stay on the stack of every open stream for its
// whole life, so they keep small frames: the checks before scheduling and the
// building of the upstream request live in functions that have returned by
// then (admit, upstreamRequest). At 5,000 open streams each KiB saved here
// keeps every stream's goroutine stack from doubling.
func (x *exchange) forward(w http.ResponseWriter, r *http.Request, req *Request) {
	lease, dep, ok := x.schedule(w, r, req)
	for ok {
		// retry hook: an attempt that failed before any byte reached the
		// client is followed by one on the next candidate (retry.go).
		if !x.attempt(w, r, req, lease, dep) {
			return
		}
		lease, dep, ok = x.nextAttempt(w, r, req)
	}
}

// attempt runs one upstream attempt on dep and releases its lease. It
// reports whether the attempt failed before anything reached the client and
// another may follow (retry.go).
func (x *exchange) attempt(w http.ResponseWriter, r *http.Request, req *Request, lease *scheduler.Lease, dep *Deployment) bool {
	// Deferred, so that a panic below (recovered by net/http) still frees
	// the deployment's slot.
	var outcome scheduler.Outcome
	defer func() {
		x.endAttempt()
		lease.Release(outcome)
	}()
	started := x.p.cfg.Now()
	x.execute(w, r, req, dep)
	if x.retry.again {
		outcome = x.attemptOutcome(x.p.cfg.Now().Sub(started))
		x.completeOutcome(&outcome, dep.ID) // lifecycle.go
		return true
	}
	outcome = scheduler.Outcome{StatusCode: x.rec.StatusCode, Latency: x.p.cfg.Now().Sub(started), Tokens: x.totalTokens()}
	x.completeOutcome(&outcome, dep.ID) // lifecycle.go
	if x.rec.Outcome != store.OutcomeSuccess {
		outcome.Err = errors.New(x.rec.ErrorMessage)
	}
	return false
}

// fail records e and writes it unless the client is gone.
func (x *exchange) fail(w http.ResponseWriter, req *Request, e *oaierr.Error) {
	x.failed(e)
	if e.Status == statusClientClosed {
		return
	}
	writeError(w, e, req.Native)
}

// writeError writes e in the OpenAI format, or in Ollama's {"error": "..."}
// format for the native API.
func writeError(w http.ResponseWriter, e *oaierr.Error, native bool) {
	if !native {
		oaierr.Write(w, e)
		return
	}
	b, _ := json.Marshal(map[string]string{"error": e.Message})
	w.Header().Set("Content-Type", "application/json")
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(append(b, '\n'))
}

func header(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
