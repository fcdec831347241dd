package classify

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var propWords = []string{"code", "python", "fast", "tests", "chat", "writing", "summary", "math", "proof", "reasoning",
	"architecture", "analysis", "translation", "json", "vision", "legal", "eu", "local", "deep", "creative"}

func randText(r *rand.Rand, n int) string {
	var b []byte
	for i := range r.IntN(n + 1) {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, propWords[r.IntN(len(propWords))]...)
	}
	return string(b)
}

var privacies = []string{PrivacyLocal, PrivacyCloudInEUByEUProvider, PrivacyCloudInEUByUSProvider, PrivacyCloudNotInEUByUSProvider}

func randModel(r *rand.Rand, id int64) Model {
	m := Model{
		ID: id, Name: fmt.Sprintf("m%d", id), Privacy: privacies[r.IntN(4)],
		Latency: 8 * (r.IntN(9) - 4), Accuracy: 8 * (r.IntN(9) - 4), Cost: 8 * (r.IntN(9) - 4), Quality: 8 * (r.IntN(9) - 4),
		Tags: randText(r, 4), Description: randText(r, 12),
	}
	for p := range r.IntN(3) {
		pr := Provider{ID: id*10 + int64(p)}
		if r.IntN(2) == 0 {
			pr.Privacy = privacies[r.IntN(4)]
		}
		m.Providers = append(m.Providers, pr)
	}
	return m
}

func randPolicy(r *rand.Rand) Policy {
	th := func() int {
		switch r.IntN(6) {
		case 0:
			return 1024
		case 1:
			return -1024
		}
		return 8 * (r.IntN(9) - 4)
	}
	return Policy{ThresholdPrivacy: privacies[r.IntN(4)], Latency: th(), Accuracy: th(), Cost: th(), Quality: th(), Priority: r.IntN(3)}
}

func randRequest(r *rand.Rand) Request {
	var ms []Model
	for i := range 1 + r.IntN(12) {
		ms = append(ms, randModel(r, int64(i+1)))
	}
	return Request{System: randText(r, 8), User: randText(r, 20), Policy: randPolicy(r), Models: ms}
}

func effectiveProviders(m Model, c Candidate) []Provider {
	if c.Providers == nil {
		return m.Providers
	}
	var out []Provider
	for _, p := range m.Providers {
		if slices.Contains(c.Providers, p.ID) {
			out = append(out, p)
		}
	}
	return out
}

// TestPropertyLocalStaysLocal: a LOCAL policy never selects a model or a
// provider whose privacy is not LOCAL.
func TestPropertyLocalStaysLocal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	p := New(Config{})
	for range 2000 {
		req := randRequest(r)
		req.Policy.ThresholdPrivacy = PrivacyLocal
		got, err := p.Classify(context.Background(), req)
		if err != nil {
			if !errors.Is(err, ErrNoModelPassed) {
				t.Fatal(err)
			}
			continue
		}
		for _, c := range got {
			m := req.Models[c.ModelID-1]
			if m.Privacy != PrivacyLocal {
				t.Fatalf("LOCAL policy selected %s with privacy %s", m.Name, m.Privacy)
			}
			for _, pr := range effectiveProviders(m, c) {
				if pr.Privacy != "" && pr.Privacy != PrivacyLocal {
					t.Fatalf("LOCAL policy kept provider %d with privacy %s", pr.ID, pr.Privacy)
				}
			}
		}
	}
}

// TestPropertyCostFilter: no candidate is more expensive than the cost
// threshold allows, and no privacy level above the policy's passes.
func TestPropertyCostFilter(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	p := New(Config{})
	for range 2000 {
		req := randRequest(r)
		got, err := p.Classify(context.Background(), req)
		if err != nil {
			if !errors.Is(err, ErrNoModelPassed) {
				t.Fatal(err)
			}
			continue
		}
		limit := req.Policy.Cost
		if limit >= 1024 || limit <= -1024 {
			// The sentinel resolves among models that pass the privacy filters.
			var costs []int
			for _, m := range req.Models {
				if privacyRank(m.Privacy) <= privacyRank(req.Policy.ThresholdPrivacy) &&
					(len(m.Providers) == 0 || slices.ContainsFunc(m.Providers, func(pr Provider) bool { return providerPasses(pr, privacyRank(req.Policy.ThresholdPrivacy)) })) {
					costs = append(costs, m.Cost)
				}
			}
			if limit >= 1024 {
				limit = slices.Max(costs)
			} else {
				limit = slices.Min(costs)
			}
		}
		for _, c := range got {
			m := req.Models[c.ModelID-1]
			if m.Cost < limit {
				t.Fatalf("cost filter violated: %s cost %d < threshold %d (policy %+v)", m.Name, m.Cost, limit, req.Policy)
			}
			if privacyRank(m.Privacy) > privacyRank(req.Policy.ThresholdPrivacy) {
				t.Fatalf("privacy filter violated: %s", m.Name)
			}
		}
	}
}

// TestPropertyFailingModelChangesNothing: adding a model that fails the
// policy (to the request and to the snapshot) leaves the ranking unchanged.
func TestPropertyFailingModelChangesNothing(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	p := New(Config{})
	checked := 0
	for range 2000 {
		req := randRequest(r)
		if req.Policy.ThresholdPrivacy == PrivacyCloudNotInEUByUSProvider {
			req.Policy.ThresholdPrivacy = PrivacyCloudInEUByUSProvider
		}
		p.SetModels(req.Models)
		before, err := p.Classify(context.Background(), req)
		if err != nil {
			continue
		}
		bad := randModel(r, int64(len(req.Models)+1))
		bad.Description = req.User // as similar as it gets
		bad.Tags = req.System
		bad.Latency, bad.Accuracy, bad.Quality = 1000, 1000, 1000
		if r.IntN(2) == 0 {
			bad.Privacy = PrivacyCloudNotInEUByUSProvider // fails privacy
			bad.Cost = 1000
		} else {
			bad.Privacy = PrivacyLocal
			bad.Providers = []Provider{{ID: 999, Privacy: PrivacyCloudNotInEUByUSProvider}} // fails provider privacy
		}
		req.Models = append(slices.Clone(req.Models), bad)
		p.SetModels(req.Models)
		after, err := p.Classify(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(before, after); diff != "" {
			t.Fatalf("adding failing model %+v changed the result (-before +after):\n%s", bad, diff)
		}
		checked++
	}
	if checked < 500 {
		t.Fatalf("only %d requests had a passing model", checked)
	}
}

// TestPropertyDeterministic: the same catalogue and request give the same
// result, whatever the order of the models and whether the snapshot was
// prepared ahead.
func TestPropertyDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for range 1000 {
		req := randRequest(r)
		p1 := New(Config{})
		p1.SetModels(req.Models)
		a, errA := p1.Classify(context.Background(), req)
		shuffled := slices.Clone(req.Models)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		req2 := req
		req2.Models = shuffled
		b, errB := New(Config{}).Classify(context.Background(), req2)
		if (errA == nil) != (errB == nil) {
			t.Fatalf("errors differ: %v / %v", errA, errB)
		}
		if errA != nil {
			continue
		}
		if a[0].ModelID != b[0].ModelID {
			t.Fatalf("choice differs with model order: %d vs %d", a[0].ModelID, b[0].ModelID)
		}
		if diff := cmp.Diff(ids(a), ids(b)); diff != "" {
			t.Fatalf("ranking differs (-prepared +shuffled):\n%s", diff)
		}
	}
}
