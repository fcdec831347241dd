package classify

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func testModels() []Model {
	return []Model{
		{ID: 1, Name: "local-small", Privacy: PrivacyLocal, Latency: 8, Accuracy: -8, Cost: 8, Quality: -8, Tags: "code fast", Description: "quick code patches and small fixes"},
		{ID: 2, Name: "eu-medium", Privacy: PrivacyCloudInEUByEUProvider, Latency: 0, Accuracy: 0, Cost: 0, Quality: 0, Tags: "chat writing", Description: "general chat, writing and summaries"},
		{ID: 3, Name: "us-large", Privacy: PrivacyCloudNotInEUByUSProvider, Latency: -8, Accuracy: 8, Cost: -8, Quality: 8, Tags: "reasoning math", Description: "deep reasoning, math proofs and architecture analysis"},
	}
}

func ids(c []Candidate) []int64 {
	out := make([]int64, len(c))
	for i := range c {
		out[i] = c[i].ModelID
	}
	return out
}

func TestPipelineHardFilters(t *testing.T) {
	ctx := context.Background()
	p := New(Config{})
	p.SetModels(testModels())
	tests := []struct {
		name   string
		policy Policy
		want   []int64
		filter string
	}{
		{"default policy allows all", DefaultPolicy(), []int64{1, 2, 3}, ""},
		{"LOCAL keeps the local model", Policy{ThresholdPrivacy: PrivacyLocal, Cost: -1024}, []int64{1}, ""},
		{"EU by EU", Policy{ThresholdPrivacy: PrivacyCloudInEUByEUProvider, Cost: -1024}, []int64{1, 2}, ""},
		{"EU by US still excludes non-EU", Policy{ThresholdPrivacy: PrivacyCloudInEUByUSProvider, Cost: -1024}, []int64{1, 2}, ""},
		{"cost 0 keeps cheaper-or-equal", Policy{ThresholdPrivacy: PrivacyCloudNotInEUByUSProvider, Cost: 0}, []int64{1, 2}, ""},
		{"cost 1024 means the cheapest", Policy{ThresholdPrivacy: PrivacyCloudNotInEUByUSProvider, Cost: 1024}, []int64{1}, ""},
		{"cost above every model", Policy{ThresholdPrivacy: PrivacyCloudNotInEUByUSProvider, Cost: 9}, nil, FilterCost},
		{"privacy then cost", Policy{ThresholdPrivacy: PrivacyCloudInEUByEUProvider, Cost: 9}, nil, FilterCost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Classify(ctx, Request{Policy: tt.policy, Models: testModels()})
			if tt.filter != "" {
				var ne *NoModelError
				if !errors.As(err, &ne) || !errors.Is(err, ErrNoModelPassed) || ne.Filter != tt.filter {
					t.Fatalf("err = %v, want NoModelError{%s}", err, tt.filter)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gotIDs := ids(got)
			if diff := cmp.Diff(tt.want, sortedIDs(gotIDs)); diff != "" {
				t.Errorf("passing models (-want +got):\n%s", diff)
			}
		})
	}
}

func sortedIDs(s []int64) []int64 {
	out := append([]int64(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestPipelineNoModelFilters(t *testing.T) {
	p := New(Config{})
	ms := testModels()[2:] // only the US model
	_, err := p.Classify(context.Background(), Request{Policy: Policy{ThresholdPrivacy: PrivacyLocal}, Models: ms})
	var ne *NoModelError
	if !errors.As(err, &ne) || ne.Filter != FilterPrivacy {
		t.Fatalf("err = %v, want privacy filter", err)
	}
	ms = []Model{{ID: 9, Privacy: PrivacyLocal, Providers: []Provider{{ID: 1, Privacy: PrivacyCloudInEUByUSProvider}}}}
	_, err = p.Classify(context.Background(), Request{Policy: Policy{ThresholdPrivacy: PrivacyLocal, Cost: -1024}, Models: ms})
	if !errors.As(err, &ne) || ne.Filter != FilterProviderPrivacy {
		t.Fatalf("err = %v, want provider privacy filter", err)
	}
	_, err = p.Classify(context.Background(), Request{Policy: DefaultPolicy()})
	if !errors.As(err, &ne) || ne.Filter != FilterNone {
		t.Fatalf("err = %v, want FilterNone", err)
	}
	_, err = p.Classify(context.Background(), Request{Policy: Policy{ThresholdPrivacy: "EU"}, Models: testModels()})
	if !errors.Is(err, ErrInvalidPolicy) {
		t.Fatalf("err = %v, want ErrInvalidPolicy", err)
	}
}

func TestPipelineProviderPrivacy(t *testing.T) {
	ms := []Model{{ID: 1, Privacy: PrivacyLocal, Providers: []Provider{
		{ID: 10, Privacy: PrivacyLocal}, {ID: 11, Privacy: PrivacyCloudInEUByEUProvider}, {ID: 12}}}}
	p := New(Config{})
	got, err := p.Classify(context.Background(), Request{Policy: Policy{ThresholdPrivacy: PrivacyLocal, Cost: -1024}, Models: ms})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{10, 12}, got[0].Providers); diff != "" {
		t.Errorf("providers (-want +got):\n%s", diff)
	}
	got, err = p.Classify(context.Background(), Request{Policy: DefaultPolicy(), Models: ms})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Providers != nil {
		t.Errorf("all providers pass, got list %v, want nil", got[0].Providers)
	}
}

func TestPipelineScores(t *testing.T) {
	p := New(Config{})
	ms := testModels()
	got, err := p.Classify(context.Background(), Request{
		System: "You are a CODE assistant; be fast.",
		User:   "please write a math proof of this reasoning",
		Policy: Policy{ThresholdPrivacy: PrivacyCloudNotInEUByUSProvider, Cost: -1024, Accuracy: 1024},
		Models: ms,
	})
	if err != nil {
		t.Fatal(err)
	}
	by := map[int64]Candidate{}
	for _, c := range got {
		by[c.ModelID] = c
	}
	// Accuracy 1024 → 8 (the best): model 3 meets it (0.5), model 1 is 16 below.
	want1 := sigmoid(8, 0) + sigmoid(-8, 8) + sigmoid(-8, 0)
	if math.Abs(by[1].Scores.Policy-want1) > 1e-12 {
		t.Errorf("model 1 policy score %v, want %v", by[1].Scores.Policy, want1)
	}
	if by[1].Scores.Token != 1 || by[2].Scores.Token != 0 {
		t.Errorf("token scores %v %v, want 1 and 0", by[1].Scores.Token, by[2].Scores.Token)
	}
	if by[3].Scores.Similarity != 1 || by[1].Scores.Similarity != 0 {
		t.Errorf("similarity %v / %v, want 1 for the reasoning model, 0 for the code model", by[3].Scores.Similarity, by[1].Scores.Similarity)
	}
	for _, c := range got {
		if w := DefaultBalancer().Weight(c.Scores); c.Weight != w {
			t.Errorf("model %d weight %v, want %v", c.ModelID, c.Weight, w)
		}
		if c.Similarity != "lexical" {
			t.Errorf("similarity source %q", c.Similarity)
		}
	}
	for i := 1; i < len(got); i++ {
		if got[i].Weight > got[i-1].Weight {
			t.Errorf("not sorted: %v", got)
		}
	}
}

func TestSigmoid(t *testing.T) {
	for _, tt := range []struct {
		w, t int
		want float64
	}{{0, 0, 0.5}, {8, 0, 0.6225}, {40, 0, 0.9241}, {-8, 0, 0.3775}} {
		if got := sigmoid(tt.w, tt.t); math.Abs(got-tt.want) > 1e-4 {
			t.Errorf("sigmoid(%d,%d) = %v, want %v", tt.w, tt.t, got, tt.want)
		}
	}
}

func TestPipelineEmptyTagsScoreZero(t *testing.T) {
	p := New(Config{})
	ms := []Model{{ID: 1, Tags: ""}, {ID: 2, Tags: "   "}}
	got, err := p.Classify(context.Background(), Request{System: "anything", Policy: DefaultPolicy(), Models: ms})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range got {
		if c.Scores.Token != 0 {
			t.Errorf("model %d with no tags got token score %v", c.ModelID, c.Scores.Token)
		}
	}
}

func TestPipelineSnapshotSwap(t *testing.T) {
	p := New(Config{})
	ms := testModels()
	p.SetModels(ms)
	req := Request{User: "translate this poem into French", Policy: DefaultPolicy(), Models: ms}
	before, err := p.Classify(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range before {
		if c.Scores.Similarity != 0 {
			t.Fatalf("unexpected match before the update: %+v", c)
		}
	}
	ms[1].Description = "translation of poems and prose into French, German and Spanish"
	p.SetModels(ms)
	req.Models = ms
	after, err := p.Classify(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if after[0].ModelID != 2 || after[0].Scores.Similarity != 1 {
		t.Errorf("after the update the translation model should win on similarity: %+v", after)
	}
	// A request whose models differ from the snapshot is prepared on the fly.
	ms[1].Description = "nothing relevant"
	req.Models = ms
	stale, err := p.Classify(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range stale {
		if c.Scores.Similarity != 0 {
			t.Fatalf("stale snapshot text used: %+v", c)
		}
	}
}

func TestBalancerDecider(t *testing.T) {
	b := DefaultBalancer()
	c := []Candidate{{Scores: Scores{Policy: 1.5, Token: 1, Similarity: 0}}, {Scores: Scores{Policy: 1.5, Token: 0, Similarity: 1}}}
	if got := b.Decider(c); got != StageToken {
		t.Errorf("Decider = %q, want token", got)
	}
	if got := b.Decider(c[:1]); got != StageFilter {
		t.Errorf("Decider(one) = %q", got)
	}
	if got := b.Decider([]Candidate{{}, {}}); got != StageTie {
		t.Errorf("Decider(tie) = %q", got)
	}
}

func TestCheckPolicy(t *testing.T) {
	ms := testModels()
	for _, tt := range []struct {
		p      Policy
		m      int
		filter string
	}{
		{DefaultPolicy(), 2, ""},
		{Policy{ThresholdPrivacy: PrivacyLocal, Cost: -1024}, 2, FilterPrivacy},
		{Policy{ThresholdPrivacy: PrivacyLocal, Cost: -1024}, 0, ""},
		{Policy{ThresholdPrivacy: PrivacyCloudNotInEUByUSProvider, Cost: 1024}, 1, FilterCost},
		{Policy{ThresholdPrivacy: PrivacyCloudNotInEUByUSProvider, Cost: 1024}, 0, ""},
	} {
		err := CheckPolicy(tt.p, ms[tt.m], ms)
		var ne *NoModelError
		switch {
		case tt.filter == "" && err != nil:
			t.Errorf("CheckPolicy(%+v, %s) = %v, want nil", tt.p, ms[tt.m].Name, err)
		case tt.filter != "" && (!errors.As(err, &ne) || ne.Filter != tt.filter):
			t.Errorf("CheckPolicy(%+v, %s) = %v, want filter %s", tt.p, ms[tt.m].Name, err, tt.filter)
		}
	}
	ms[0].Providers = []Provider{{ID: 1, Privacy: PrivacyCloudInEUByEUProvider}}
	var ne *NoModelError
	if err := CheckPolicy(Policy{ThresholdPrivacy: PrivacyLocal}, ms[0], ms); !errors.As(err, &ne) || ne.Filter != FilterProviderPrivacy {
		t.Errorf("provider privacy: %v", err)
	}
}
