package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/logos-llm/logos/providers/providertest"
)

func TestLengthRouter(t *testing.T) {
	up := providertest.NewOpenAI(t, providertest.Options{})
	ctx := context.Background()
	r, key, err := Setup(ctx, t.TempDir(), up.URL+"/v1", "small-model", "long-model")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = r.Close(cctx)
	}()
	c := r.Client(key)
	for _, tc := range []struct{ prompt, want string }{
		{"Hi!", "small-model"},
		{strings.Repeat("Summarise this long report. ", 20), "long-model"},
	} {
		model, answer, err := Ask(ctx, c, tc.prompt)
		if err != nil || model != tc.want || answer == "" {
			t.Fatalf("%d-byte prompt: model %q answer %q err %v; want %s", len(tc.prompt), model, answer, err, tc.want)
		}
		got, _ := up.LastRequest()
		if !strings.Contains(string(got.Body), `"model":"`+tc.want+`"`) {
			t.Fatalf("upstream got %s", got.Body)
		}
	}
}
