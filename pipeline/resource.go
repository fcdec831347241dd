package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/logos-llm/logos/classify"
	"github.com/logos-llm/logos/internal/oaierr"
	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/store"
)

// Error codes of policy-based model selection.
const (
	codePolicyNotFound     = "policy_not_found"
	codeNoModelPassed      = "no_model_passed_policy"
	codePolicyViolation    = "policy_violation"
	codeInvalidModelString = "invalid_model_string"
)

// maxRecordedCandidates bounds the candidates kept in a usage record.
const maxRecordedCandidates = 10

// requestPolicy is the policy a request states.
type requestPolicy struct {
	policy classify.Policy
	// header is true when a policy header named it; label is what
	// X-Logos-Policy says: the policy id, or "default".
	header bool
	label  string
}

// resolvePolicy reads the policy header (policy, or Logos-Policy) and a
// logos-v model string. A header policy must belong to the caller's process.
// The model string's keys are applied on top of the named policy, or of the
// default policy.
func (x *exchange) resolvePolicy(r *http.Request, req *Request) (requestPolicy, *oaierr.Error) {
	rp := requestPolicy{policy: classify.DefaultPolicy(), label: "default"}
	if v := strings.TrimSpace(header(r.Header, "policy", "Logos-Policy")); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return rp, oaierr.New(http.StatusBadRequest, "The policy header must be an integer policy id").WithParam("policy").WithCode("invalid_policy")
		}
		p, e := x.ownPolicy(id)
		if e != nil {
			return rp, e
		}
		rp.policy, rp.header, rp.label = p, true, strconv.FormatInt(id, 10)
	}
	if !classify.IsModelString(req.Model) {
		return rp, nil
	}
	ms, err := classify.ParseModelString(req.Model)
	if err != nil {
		return rp, oaierr.New(http.StatusBadRequest, err.Error()).WithParam("model").WithCode(codeInvalidModelString)
	}
	if ms.PolicyID != 0 {
		if rp.header && rp.policy.ID != ms.PolicyID {
			return rp, oaierr.New(http.StatusBadRequest, fmt.Sprintf("The policy header names policy %d and the model string policy %d; name one", rp.policy.ID, ms.PolicyID)).WithParam("policy").WithCode("invalid_policy")
		}
		p, e := x.ownPolicy(ms.PolicyID)
		if e != nil {
			return rp, e
		}
		rp.policy, rp.label = p, strconv.FormatInt(ms.PolicyID, 10)
	}
	rp.policy = ms.Apply(rp.policy)
	return rp, nil
}

// ownPolicy returns a policy of the caller's process.
func (x *exchange) ownPolicy(id int64) (classify.Policy, *oaierr.Error) {
	p, ok := x.caller.Catalog.Policy(id)
	if !ok || p.ProcessID != x.caller.Process.ID {
		return classify.Policy{}, oaierr.New(http.StatusNotFound, fmt.Sprintf("Policy %d not found for this key", id)).WithParam("policy").WithCode(codePolicyNotFound)
	}
	return classify.Policy{
		ID: p.ID, ThresholdPrivacy: string(p.ThresholdPrivacy),
		Latency: p.ThresholdLatency, Accuracy: p.ThresholdAccuracy, Cost: p.ThresholdCost, Quality: p.ThresholdQuality,
		Priority: p.Priority,
	}, nil
}

// guardrail checks that an explicitly named model passes the hard filters of
// the policy the request's policy header names.
func (x *exchange) guardrail(rp requestPolicy, m *store.Model) *oaierr.Error {
	if !rp.header {
		return nil
	}
	x.rec.PolicyID = rp.policy.ID
	models := x.caller.Catalog.PermittedClassifyModels(x.caller.Profile.ID)
	i := slices.IndexFunc(models, func(cm classify.Model) bool { return cm.ID == m.ID })
	if i < 0 {
		return nil // not permitted: the caller never gets this far
	}
	err := classify.CheckPolicy(rp.policy, models[i], models)
	var ne *classify.NoModelError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ne):
		return oaierr.New(http.StatusForbidden, fmt.Sprintf("The model '%s' does not pass the %s filter of policy %d", m.Name, strings.ReplaceAll(ne.Filter, "_", " "), rp.policy.ID)).WithParam("policy").WithCode(codePolicyViolation)
	default:
		return oaierr.New(http.StatusBadRequest, err.Error()).WithParam("policy").WithCode("invalid_policy")
	}
}

// classification is what a usage record keeps of a classified request.
type classification struct {
	Policy struct {
		ID       int64  `json:"id,omitempty"`
		Privacy  string `json:"privacy"`
		Latency  int    `json:"latency"`
		Accuracy int    `json:"accuracy"`
		Cost     int    `json:"cost"`
		Quality  int    `json:"quality"`
	} `json:"policy"`
	DecidedBy  string                `json:"decided_by"`
	Similarity string                `json:"similarity,omitempty"`
	TookMicros int64                 `json:"took_us"`
	Passed     int                   `json:"passed"`
	Candidates []classifiedCandidate `json:"candidates"`
}

type classifiedCandidate struct {
	ModelID    int64   `json:"model_id"`
	Model      string  `json:"model"`
	Weight     float64 `json:"weight"`
	Policy     float64 `json:"policy"`
	Token      float64 `json:"token"`
	Similarity float64 `json:"similarity"`
}

// decider is implemented by classifiers that can say which stage chose.
type decider interface {
	Balancer() classify.Balancer
}

// classify ranks the caller's models for a resource-mode request and returns
// the usable deployments of every candidate, best first, with the
// scheduling weights. When it reports false it has written the refusal.
func (x *exchange) classify(ctx context.Context, w http.ResponseWriter, req *Request, rp requestPolicy) ([]*Deployment, map[int64]float64, string, bool) {
	cl := x.p.cfg.Classifier
	if cl == nil {
		x.fail(w, req, oaierr.New(http.StatusBadRequest, "Policy-based model selection needs a classifier, and this gateway has none configured; name a model instead").WithParam("model").WithCode("classifier_unavailable"))
		return nil, nil, "", false
	}
	all := x.caller.Catalog.PermittedClassifyModels(x.caller.Profile.ID)
	models := all
	for i := range all {
		if !x.servable(all[i].ID, req.Native) {
			// Some cannot be served here: classify only those that can.
			models = nil
			for j := range all {
				if x.servable(all[j].ID, req.Native) {
					models = append(models, all[j])
				}
			}
			break
		}
	}
	system, user := prompts(req.Fields)
	started := x.p.cfg.Now()
	cctx, span := x.tr.startClassify(ctx)
	cands, err := cl.Classify(cctx, classify.Request{System: system, User: user, Policy: rp.policy, Models: models})
	took := x.p.cfg.Now().Sub(started)
	x.tr.classified(span, rp.policy.ID, cands, err)
	var ne *classify.NoModelError
	switch {
	case err == nil && len(cands) > 0:
	case ctx.Err() != nil:
		x.fail(w, req, oaierr.New(statusClientClosed, "Client closed the request"))
		return nil, nil, "", false
	case errors.As(err, &ne):
		x.fail(w, req, oaierr.New(http.StatusBadRequest, capitalize(ne.Error())).WithParam("policy").WithCode(codeNoModelPassed))
		return nil, nil, "", false
	case err == nil || errors.Is(err, classify.ErrNoModelPassed):
		x.fail(w, req, oaierr.New(http.StatusBadRequest, "No model passed the policy").WithParam("policy").WithCode(codeNoModelPassed))
		return nil, nil, "", false
	case errors.Is(err, classify.ErrInvalidPolicy):
		x.fail(w, req, oaierr.New(http.StatusBadRequest, err.Error()).WithParam("policy").WithCode("invalid_policy"))
		return nil, nil, "", false
	default:
		x.p.log.Error("classifier failed", "request_id", x.rec.RequestID, "err", err)
		x.fail(w, req, oaierr.New(http.StatusServiceUnavailable, "The classifier could not choose a model").WithCode("classifier_error"))
		return nil, nil, "", false
	}

	var deps []*Deployment
	weights := make(map[int64]float64, len(cands))
	for _, c := range cands {
		if _, dup := weights[c.ModelID]; dup {
			continue
		}
		weights[c.ModelID] = c.Weight
		for _, d := range x.usableDeployments(c.ModelID, req.Native) {
			if c.Providers == nil || slices.Contains(c.Providers, d.ProviderID) {
				deps = append(deps, d)
			}
		}
	}
	if len(deps) == 0 {
		x.fail(w, req, oaierr.New(http.StatusServiceUnavailable, "No deployment serves the models the classifier chose").WithCode("model_not_deployed"))
		return nil, nil, "", false
	}
	x.recordClassification(rp, cands, took)
	// The best model until the scheduler grants one (a request that times
	// out in the queue is recorded under it).
	x.rec.ModelID, x.rec.ModelName = deps[0].Model.ID, deps[0].Model.Name
	return deps, weights, deps[0].Model.Name, true
}

func (x *exchange) recordClassification(rp requestPolicy, cands []classify.Candidate, took time.Duration) {
	var c classification
	c.Policy.ID = rp.policy.ID
	c.Policy.Privacy = rp.policy.ThresholdPrivacy
	c.Policy.Latency, c.Policy.Accuracy, c.Policy.Cost, c.Policy.Quality = rp.policy.Latency, rp.policy.Accuracy, rp.policy.Cost, rp.policy.Quality
	if d, ok := x.p.cfg.Classifier.(decider); ok {
		c.DecidedBy = d.Balancer().Decider(cands)
	}
	c.Similarity = cands[0].Similarity
	c.TookMicros = took.Microseconds()
	c.Passed = len(cands)
	for _, k := range cands[:min(len(cands), maxRecordedCandidates)] {
		name := ""
		if m, ok := x.caller.Catalog.models[k.ModelID]; ok {
			name = m.Name
		}
		c.Candidates = append(c.Candidates, classifiedCandidate{ModelID: k.ModelID, Model: name, Weight: round(k.Weight),
			Policy: round(k.Scores.Policy), Token: round(k.Scores.Token), Similarity: round(k.Scores.Similarity)})
	}
	b, err := json.Marshal(c)
	if err == nil {
		x.rec.Classification = b
	}
	x.rec.ClassifiedBy = c.DecidedBy
	if x.rec.ClassifiedBy == "" {
		x.rec.ClassifiedBy = "classifier" // a classifier that does not say
	}
	x.rec.ClassificationTime = time.Duration(c.TookMicros) * time.Microsecond
	x.resource = &resourceInfo{policyLabel: rp.label, decidedBy: c.DecidedBy, took: c.TookMicros}
}

// resourceInfo marks a classified request.
type resourceInfo struct {
	policyLabel string
	decidedBy   string
	took        int64 // µs
}

// chosen records the model the scheduler granted and sets the X-Logos-Model
// and X-Logos-Policy response headers of a classified request.
func (x *exchange) chosen(w http.ResponseWriter, dep *Deployment) {
	if x.resource == nil {
		return
	}
	x.rec.ModelID, x.rec.ModelName = dep.Model.ID, dep.Model.Name
	w.Header().Set("X-Logos-Model", dep.Model.Name)
	w.Header().Set("X-Logos-Policy", x.resource.policyLabel)
}

// weigh fills the candidates' classification weights.
func weigh(j *scheduler.Job, weights map[int64]float64) {
	for i := range j.Candidates {
		j.Candidates[i].Weight = weights[j.Candidates[i].ModelID]
	}
}

// round keeps four decimals, enough to compare candidates in a record.
func round(f float64) float64 { return math.Round(f*1e4) / 1e4 }

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// resourceOperation reports whether Logos may choose the model of req's
// operation: chat and text generation, not embeddings, audio or images.
func resourceOperation(req *Request) bool {
	switch req.Operation {
	case "chat/completions", "completions", "responses", "api/chat", "api/generate":
		return true
	}
	return false
}

// servable reports whether a model has a deployment usableDeployments would
// return, without building the list.
func (x *exchange) servable(modelID int64, native bool) bool {
	for _, d := range x.caller.Catalog.Deployments(modelID) {
		if _, ok := x.p.cfg.Providers.Lookup(string(d.Provider.Kind)); ok && (!native || d.Provider.Kind == store.KindOllama) {
			return true
		}
	}
	return false
}
