package logos_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"

	"github.com/logos-llm/logos/providers/providertest"
	"github.com/logos-llm/logos/store"
)

// TestOpenAIClientThroughLogos drives Logos with the go-openai client against
// upstreams speaking each provider's real wire format.
func TestOpenAIClientThroughLogos(t *testing.T) {
	cases := []struct {
		name       string
		upstream   func(t *testing.T) *providertest.Server
		chatText   string // the non-streaming fixture's answer
		streamText string
		completion bool // the upstream serves legacy completions
	}{
		{"openai", func(t *testing.T) *providertest.Server {
			return providertest.NewOpenAI(t, providertest.Options{Credential: "sk-upstream-secret"})
		}, "", "", true},
		{"azure", func(t *testing.T) *providertest.Server {
			return providertest.NewAzure(t, providertest.Options{Credential: "azure-secret", Deployment: "gpt4o-prod", APIVersion: "2024-10-21"})
		}, "Hello there! How can I help you today?", "Hello there! How can I help you?", false},
		{"ollama", func(t *testing.T) *providertest.Server {
			return providertest.NewOllama(t, providertest.Options{})
		}, "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			up := tc.upstream(t)
			e.deploy("team-model", up.Target(), nil)
			c := e.client()
			ctx := context.Background()
			sent := 0

			resp, err := c.CreateChatCompletion(ctx, openai.ChatCompletionRequest{
				Model:    "team-model",
				Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "Hi"}},
			})
			sent++
			if err != nil {
				t.Fatalf("chat: %v", err)
			}
			if len(resp.Choices) == 0 || resp.Choices[0].Message.Content == "" || resp.Usage.TotalTokens == 0 {
				t.Fatalf("chat response lacks content or usage: %+v", resp)
			}
			if tc.chatText != "" && resp.Choices[0].Message.Content != tc.chatText {
				t.Fatalf("chat content = %q, want %q", resp.Choices[0].Message.Content, tc.chatText)
			}
			rec := e.lastUsage()
			if rec.Outcome != store.OutcomeSuccess || rec.StatusCode != 200 || tokens(rec)["total_tokens"] != int64(resp.Usage.TotalTokens) {
				t.Fatalf("chat usage record = %+v, tokens %v", rec, tokens(rec))
			}

			stream, err := c.CreateChatCompletionStream(ctx, openai.ChatCompletionRequest{
				Model:    "team-model",
				Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "Hi"}},
				Stream:   true,
			})
			sent++
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			var text strings.Builder
			for {
				chunk, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("stream recv: %v", err)
				}
				if len(chunk.Choices) == 0 && tc.name != "azure" {
					t.Fatalf("client saw a usage-only chunk it did not ask for: %+v", chunk)
				}
				for _, ch := range chunk.Choices {
					text.WriteString(ch.Delta.Content)
				}
			}
			stream.Close()
			if text.Len() == 0 || (tc.streamText != "" && text.String() != tc.streamText) {
				t.Fatalf("streamed text = %q, want %q", text.String(), tc.streamText)
			}
			rec = e.lastUsage()
			if rec.Outcome != store.OutcomeSuccess || !rec.Stream || tokens(rec)["completion_tokens"] == 0 || rec.FirstTokenAt.IsZero() {
				t.Fatalf("stream usage record = %+v, tokens %v", rec, tokens(rec))
			}

			if tc.completion {
				cr, err := c.CreateCompletion(ctx, openai.CompletionRequest{Model: "team-model", Prompt: "Say this is a test", MaxTokens: 7})
				sent++
				if err != nil || len(cr.Choices) == 0 || cr.Usage.TotalTokens != 12 {
					t.Fatalf("completion: %+v %v", cr, err)
				}
				cs, err := c.CreateCompletionStream(ctx, openai.CompletionRequest{Model: "team-model", Prompt: "Say this is a test", Stream: true})
				sent++
				if err != nil {
					t.Fatal(err)
				}
				var ctext strings.Builder
				for {
					chunk, err := cs.Recv()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					for _, ch := range chunk.Choices {
						ctext.WriteString(ch.Text)
					}
				}
				cs.Close()
				if ctext.String() != "This is a test" {
					t.Fatalf("completion stream text = %q", ctext.String())
				}
				if got := tokens(e.lastUsage()); got["completion_tokens"] != 3 {
					t.Fatalf("completion stream tokens = %v", got)
				}
			}

			emb, err := c.CreateEmbeddings(ctx, openai.EmbeddingRequest{Model: "team-model", Input: []string{"hello"}})
			sent++
			if err != nil || len(emb.Data) == 0 || len(emb.Data[0].Embedding) == 0 {
				t.Fatalf("embeddings: %+v %v", emb, err)
			}

			models, err := c.ListModels(ctx)
			sent++
			if err != nil || len(models.Models) != 1 || models.Models[0].ID != "team-model" || models.Models[0].OwnedBy != "logos" {
				t.Fatalf("models: %+v %v", models, err)
			}
			m, err := c.GetModel(ctx, "team-model")
			sent++
			if err != nil || m.ID != "team-model" {
				t.Fatalf("get model: %+v %v", m, err)
			}

			recs := e.usage()
			if got := len(recs); got != sent {
				t.Fatalf("%d usage records for %d requests", got, sent)
			}
			for _, r := range recs {
				if r.Outcome != store.OutcomeSuccess || r.StatusCode != 200 {
					t.Fatalf("record of a successful %s request: outcome %s status %d", r.Operation, r.Outcome, r.StatusCode)
				}
			}
		})
	}
}
