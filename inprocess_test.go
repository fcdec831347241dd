package logos_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"

	"github.com/logos-llm/logos/providers/providertest"
)

// TestInProcessClient: Router.Client talks to the Router without a network
// hop, streaming included, and leaves usage records like HTTP calls.
func TestInProcessClient(t *testing.T) {
	e := newEnv(t)
	up := providertest.NewOpenAI(t, providertest.Options{})
	e.deploy("gpt-4o-mini", up.Target(), nil)
	c := e.router.Client(e.key)
	ctx := context.Background()

	resp, err := c.CreateChatCompletion(ctx, openai.ChatCompletionRequest{Model: "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "Hi"}}})
	if err != nil || len(resp.Choices) == 0 || resp.Choices[0].Message.Content == "" {
		t.Fatalf("CreateChatCompletion: %v %+v", err, resp)
	}
	if resp.Header().Get("X-Logos-Request-ID") == "" {
		t.Errorf("no X-Logos-Request-ID on the in-process answer")
	}

	// No model: Logos chooses, in process too.
	stream, err := c.CreateChatCompletionStream(ctx, openai.ChatCompletionRequest{
		Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "Hi"}}, Stream: true})
	if err != nil {
		t.Fatalf("CreateChatCompletionStream: %v", err)
	}
	var text strings.Builder
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		if len(chunk.Choices) > 0 {
			text.WriteString(chunk.Choices[0].Delta.Content)
		}
	}
	stream.Close()
	if text.Len() == 0 || stream.Header().Get("X-Logos-Model") != "gpt-4o-mini" {
		t.Fatalf("stream text %q, model %q", text.String(), stream.Header().Get("X-Logos-Model"))
	}

	// Errors arrive as go-openai API errors.
	_, err = c.CreateChatCompletion(ctx, openai.ChatCompletionRequest{Model: "nope", Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "Hi"}}})
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 404 {
		t.Fatalf("unknown model: %v", err)
	}
	if _, err := e.router.Client("lg-wrong").ListModels(ctx); !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 401 {
		t.Fatalf("wrong key: %v", err)
	}

	// One record per authenticated call; the wrong key identifies no process.
	recs := e.usage()
	if len(recs) != 3 {
		t.Fatalf("%d usage records, want 3", len(recs))
	}
}
