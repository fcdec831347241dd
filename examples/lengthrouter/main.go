// Command lengthrouter shows a custom classifier: a classify.ClassifierFunc
// that sends short prompts to models tagged "small" and long ones to models
// tagged "long", wired into a Router through logos.Config.Classifier and
// called in process through Router.Client.
//
//	go run ./examples/lengthrouter -upstream http://localhost:11434/v1 -small llama3.2:3b -long qwen2.5:14b
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	openai "github.com/sashabaranov/go-openai"

	"github.com/logos-llm/logos"
	"github.com/logos-llm/logos/classify"
	"github.com/logos-llm/logos/providers/builtin"
	"github.com/logos-llm/logos/scheduler/fcfs"
	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite"
)

// ByLength ranks models for prompts longer than threshold bytes by whether
// they carry the tag "long"; shorter prompts prefer the others. Ties go to
// the lower model id.
func ByLength(threshold int) classify.ClassifierFunc {
	return func(_ context.Context, r classify.Request) ([]classify.Candidate, error) {
		long := len(r.User) > threshold
		var out []classify.Candidate
		for _, m := range r.Models {
			w := 0.0
			if slices.Contains(strings.Fields(m.Tags), "long") == long {
				w = 1
			}
			out = append(out, classify.Candidate{ModelID: m.ID, Weight: w, Priority: r.Policy.Priority})
		}
		if len(out) == 0 {
			return nil, &classify.NoModelError{Filter: classify.FilterNone}
		}
		slices.SortStableFunc(out, func(a, b classify.Candidate) int {
			return cmp.Or(cmp.Compare(b.Weight, a.Weight), cmp.Compare(a.ModelID, b.ModelID))
		})
		return out, nil
	}
}

// Setup is the example's gateway: a SQLite store in dir, one OpenAI-compatible
// upstream serving a small and a long-context model, and the ByLength
// classifier. It returns the Router and the root key.
func Setup(ctx context.Context, dir, upstream, small, long string) (*logos.Router, string, error) {
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "lengthrouter.db"), Logger: quiet})
	if err != nil {
		return nil, "", err
	}
	sched, err := fcfs.New(fcfs.Config{Logger: quiet})
	if err != nil {
		return nil, "", err
	}
	r, err := logos.New(logos.Config{Store: st, Providers: builtin.Registry(), Scheduler: sched, Logger: quiet,
		Classifier: ByLength(200)})
	if err != nil {
		return nil, "", err
	}
	key, err := r.Bootstrap(ctx, "")
	if err != nil {
		return nil, "", err
	}
	prov, err := st.CreateProvider(ctx, store.Provider{Name: "upstream", Kind: store.KindOpenAICompatible, BaseURL: upstream, Privacy: store.PrivacyLocal})
	if err != nil {
		return nil, "", err
	}
	procs, err := st.ListProcesses(ctx)
	if err != nil || len(procs) == 0 {
		return nil, "", fmt.Errorf("root process: %v", err)
	}
	profiles, err := st.ListProfiles(ctx, procs[0].ID)
	if err != nil || len(profiles) == 0 {
		return nil, "", fmt.Errorf("root profile: %v", err)
	}
	for name, tags := range map[string]string{small: "small", long: "long"} {
		m, err := st.CreateModel(ctx, store.Model{Name: name, Tags: tags, WeightPrivacy: store.PrivacyLocal, Parallel: 4})
		if err != nil {
			return nil, "", err
		}
		if _, err := st.CreateDeployment(ctx, store.Deployment{ModelID: m.ID, ProviderID: prov.ID}); err != nil {
			return nil, "", err
		}
		if err := st.GrantModel(ctx, profiles[0].ID, m.ID); err != nil {
			return nil, "", err
		}
	}
	if err := r.Reload(ctx); err != nil {
		return nil, "", err
	}
	return r, key, nil
}

// Ask sends prompt without a model through the in-process client and returns
// the model Logos chose and the answer.
func Ask(ctx context.Context, c *openai.Client, prompt string) (string, string, error) {
	resp, err := c.CreateChatCompletion(ctx, openai.ChatCompletionRequest{
		Messages: []openai.ChatCompletionMessage{{Role: "user", Content: prompt}}})
	if err != nil {
		return "", "", err
	}
	answer := ""
	if len(resp.Choices) > 0 {
		answer = resp.Choices[0].Message.Content
	}
	return resp.Header().Get("X-Logos-Model"), answer, nil
}

func main() {
	upstream := flag.String("upstream", "http://localhost:11434/v1", "OpenAI-compatible base URL")
	small := flag.String("small", "llama3.2:3b", "model for short prompts")
	long := flag.String("long", "qwen2.5:14b", "model for long prompts")
	flag.Parse()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "lengthrouter")
	if err == nil {
		defer os.RemoveAll(dir)
	}
	r, key, err := Setup(ctx, dir, *upstream, *small, *long)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lengthrouter:", err)
		os.Exit(1)
	}
	defer r.Close(ctx)
	c := r.Client(key)
	for _, p := range []string{"Hi!", strings.Repeat("Summarise this long report. ", 20)} {
		model, answer, err := Ask(ctx, c, p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "lengthrouter:", err)
			os.Exit(1)
		}
		fmt.Printf("%d-byte prompt → %s: %.60q\n", len(p), model, answer)
	}
}
