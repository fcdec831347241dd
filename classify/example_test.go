package classify_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/logos-llm/logos/classify"
)

func ExampleParseModelString() {
	ms, err := classify.ParseModelString("logos-v1__policy_privacy=CLOUD_IN_EU_BY_EU_PROVIDER_accuracy=8")
	if err != nil {
		panic(err)
	}
	p := ms.Apply(classify.DefaultPolicy())
	fmt.Println(p.ThresholdPrivacy, p.Accuracy, p.Cost)

	_, err = classify.ParseModelString("logos-v1__policy_cost=cheap")
	fmt.Println(err)
	// Output:
	// CLOUD_IN_EU_BY_EU_PROVIDER 8 -1024
	// invalid logos-v model string: segment 1 "cost=cheap" at byte 17: cost must be an integer
}

func ExamplePipeline() {
	models := []classify.Model{
		{ID: 1, Name: "coder", Privacy: classify.PrivacyLocal, Latency: 8, Cost: 8, Tags: "code tests", Description: "quick code fixes and unit tests"},
		{ID: 2, Name: "writer", Privacy: classify.PrivacyLocal, Tags: "writing chat", Description: "emails, summaries and chat"},
		{ID: 3, Name: "thinker", Privacy: classify.PrivacyCloudNotInEUByUSProvider, Accuracy: 8, Quality: 8, Cost: -8, Tags: "reasoning math", Description: "deep reasoning and math proofs"},
	}
	p := classify.New(classify.Config{})
	p.SetModels(models) // call again on every catalogue change

	ctx := context.Background()
	ranked, err := p.Classify(ctx, classify.Request{
		System: "You write code and tests.",
		User:   "Fix the failing unit test in this parser.",
		Policy: classify.Policy{ThresholdPrivacy: classify.PrivacyLocal, Cost: -1024},
		Models: models,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(ranked[0].ModelID, p.Balancer().Decider(ranked))

	_, err = p.Classify(ctx, classify.Request{User: "prove it", Policy: classify.Policy{ThresholdPrivacy: classify.PrivacyLocal, Cost: 9}, Models: models})
	var no *classify.NoModelError
	fmt.Println(errors.As(err, &no), no.Filter)
	// Output:
	// 1 token
	// true cost
}

// A ClassifierFunc turns a function into a Classifier: here short prompts
// go to models tagged "small", longer ones to the others. It honours the
// contract of Classifier: candidates best first, each with the request's
// priority, and a *NoModelError (wrapping ErrNoModelPassed) when the caller
// may use no model. Set it as logos.Config.Classifier; examples/lengthrouter
// runs one in a Router.
func ExampleClassifierFunc() {
	bySize := classify.ClassifierFunc(func(_ context.Context, r classify.Request) ([]classify.Candidate, error) {
		if len(r.Models) == 0 {
			return nil, &classify.NoModelError{Filter: classify.FilterNone}
		}
		short := len(r.User) < 40
		var best, rest []classify.Candidate
		for _, m := range r.Models {
			c := classify.Candidate{ModelID: m.ID, Weight: 0, Priority: r.Policy.Priority}
			if (m.Tags == "small") == short {
				c.Weight = 1
				best = append(best, c)
				continue
			}
			rest = append(rest, c)
		}
		return append(best, rest...), nil
	})
	models := []classify.Model{{ID: 1, Name: "mini", Tags: "small"}, {ID: 2, Name: "large", Tags: "long-context"}}

	ctx := context.Background()
	for _, prompt := range []string{"Hi!", "Summarise the attached forty-page contract, clause by clause."} {
		ranked, _ := bySize.Classify(ctx, classify.Request{User: prompt, Policy: classify.DefaultPolicy(), Models: models})
		fmt.Println(ranked[0].ModelID, ranked[1].ModelID)
	}
	_, err := bySize.Classify(ctx, classify.Request{User: "Hi!"})
	fmt.Println(errors.Is(err, classify.ErrNoModelPassed))
	// Output:
	// 1 2
	// 2 1
	// true
}
