package sim

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
)

// GenConfig describes a generated trace. Its defaults follow the shape of
// the original's hw3 traces: three models evenly mixed, random arrivals over
// ten minutes, about 30 % high, 54 % mid and 16 % low priority, 20 % batch,
// max_tokens uniform in [115, 418], prompts of about 50 tokens.
type GenConfig struct {
	// N is the number of requests; default 150.
	N int
	// Duration of the arrival window in milliseconds; default 600,000.
	DurationMS int64
	// Seed seeds the generator.
	Seed uint64
	// Arrivals is "random" (uniform over the window, the default) or
	// "bursty" (clusters of arrivals around a few burst centres).
	Arrivals string
	// Kind is "explicit-hw3" (default), "explicit-coder3" or "eccs"
	// (policy-routed rows of the classes code_quick, reason_deep, general).
	Kind string
}

var genModels = map[string][][2]string{
	"explicit-hw3": {
		{"coder7", "Qwen/Qwen2.5-Coder-7B-Instruct-AWQ"},
		{"coder14", "Qwen/Qwen2.5-Coder-14B-Instruct-AWQ"},
		{"mistral7", "solidrust/Mistral-7B-Instruct-v0.3-AWQ"},
	},
	"explicit-coder3": {
		{"coder7", "Qwen/Qwen2.5-Coder-7B-Instruct-AWQ"},
		{"coder14", "Qwen/Qwen2.5-Coder-14B-Instruct-AWQ"},
		{"deepseek8", "casperhansen/deepseek-r1-distill-llama-8b-awq"},
	},
	"eccs": {{"code_quick", ""}, {"reason_deep", ""}, {"general", ""}},
}

var genSystem = map[string]string{
	"code_quick":  "Prefer coding code python debugging efficient fast refactor tests. Keep the answer patch-focused and compact.",
	"reason_deep": "Prefer architecture reasoning complex analysis math deep. Show structured reasoning and justify tradeoffs.",
	"general":     "Prefer chat writing summarize general instruction creative. Keep replies practical and brief.",
}

var genTasks = []string{
	"Patch a small Python handler used by %s; keep the diff minimal and explain the fix.",
	"Condense a noisy status thread from %s into a direct handoff with one action item.",
	"Review a multi-module refactor for %s; untangle unclear rollback rules and list risks.",
	"Draft a compact support reply for %s about flaky retries; keep the tone practical.",
	"Compare two backend designs for %s and recommend one with the main tradeoff.",
}

var genTeams = []string{"service owners", "ops channel", "release crew", "customer desk", "data team", "platform group"}

// Generate writes a seeded trace in the original's CSV format.
func Generate(w io.Writer, cfg GenConfig) error {
	if cfg.N <= 0 {
		cfg.N = 150
	}
	if cfg.DurationMS <= 0 {
		cfg.DurationMS = 600_000
	}
	if cfg.Kind == "" {
		cfg.Kind = "explicit-hw3"
	}
	models, ok := genModels[cfg.Kind]
	if !ok {
		return fmt.Errorf("sim: gen: unknown kind %q (want explicit-hw3, explicit-coder3 or eccs)", cfg.Kind)
	}
	if cfg.Arrivals == "" {
		cfg.Arrivals = "random"
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15))
	times := make([]int64, cfg.N)
	switch cfg.Arrivals {
	case "random":
		for i := range times {
			times[i] = rng.Int64N(cfg.DurationMS)
		}
	case "bursty":
		centres := make([]int64, max(3, cfg.N/25))
		for i := range centres {
			centres[i] = rng.Int64N(cfg.DurationMS)
		}
		for i := range times {
			c := centres[rng.IntN(len(centres))]
			t := c + int64(rng.NormFloat64()*8000)
			times[i] = min(max(t, 0), cfg.DurationMS-1)
		}
	default:
		return fmt.Errorf("sim: gen: unknown arrivals %q (want random or bursty)", cfg.Arrivals)
	}
	slices.Sort(times)
	// Even model mix: a shuffled deck of N/len(models) of each.
	deck := make([]int, cfg.N)
	for i := range deck {
		deck[i] = i % len(models)
	}
	rng.Shuffle(len(deck), func(i, j int) { deck[i], deck[j] = deck[j], deck[i] })
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"request_id", "arrival_offset", "mode", "priority", "body_json"}); err != nil {
		return err
	}
	counts := make([]int, len(models))
	for i := range cfg.N {
		m := models[deck[i]]
		counts[deck[i]]++
		prefix := "explicit"
		if cfg.Kind == "eccs" {
			prefix = "eccs"
		}
		id := fmt.Sprintf("%s-%s-%04d", prefix, m[0], counts[deck[i]])
		pr := "mid"
		switch u := rng.Float64(); {
		case u < 0.30:
			pr = "high"
		case u < 0.46:
			pr = "low"
		}
		mode := "interactive"
		if rng.Float64() < 0.2 {
			mode = "batch"
		}
		task := fmt.Sprintf(genTasks[rng.IntN(len(genTasks))], genTeams[rng.IntN(len(genTeams))])
		body := map[string]any{
			"stream":      true,
			"max_tokens":  115 + rng.IntN(304),
			"temperature": math.Round(rng.Float64()*30) / 100,
		}
		if cfg.Kind == "eccs" {
			body["messages"] = []map[string]string{{"role": "system", "content": genSystem[m[0]]}, {"role": "user", "content": task}}
		} else {
			body["model"] = m[1]
			body["messages"] = []map[string]string{{"role": "system", "content": "Follow the user instructions exactly. Keep the answer concise unless the task clearly needs detail."}, {"role": "user", "content": task}}
		}
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		if err := cw.Write([]string{id, strconv.FormatInt(times[i], 10), mode, pr, string(b)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
