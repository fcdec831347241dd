package logos_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/logos-llm/logos"
	"github.com/logos-llm/logos/providers/builtin"
	"github.com/logos-llm/logos/scheduler/fcfs"
	"github.com/logos-llm/logos/store/sqlite"
)

// Client is a go-openai client that calls the Router in process: the same
// authentication, scheduling and usage records as over HTTP, no network.
// CreateChatCompletion and CreateChatCompletionStream work the same way;
// here the Router answers the model list itself.
func ExampleRouter_Client() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "logos-example")
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, _ := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "logos.db"), Logger: quiet})
	defer st.Close()
	sched, _ := fcfs.New(fcfs.Config{})
	defer sched.Close()
	router, _ := logos.New(logos.Config{Store: st, Providers: builtin.Registry(), Scheduler: sched, Logger: quiet})
	defer router.Close(ctx)
	key, _ := router.Bootstrap(ctx, "")

	models, err := router.Client(key).ListModels(ctx)
	fmt.Println(len(models.Models), err)
	_, err = router.Client("lg-not-a-key").ListModels(ctx)
	fmt.Println(err != nil)
	// Output:
	// 0 <nil>
	// true
}

// ClassifierEmbeddingsModel gives the built-in classifier an embeddings
// similarity stage that calls a model of the Router's own catalogue in
// process, as the system process logos-system (see SystemProcessName):
// add the model and a deployment of it like any other (over /logosdb/* or
// with ApplyConfig); until it exists the lexical stage answers.
func ExampleConfig_classifierEmbeddingsModel() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "logos-example")
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, _ := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "logos.db"), Logger: quiet})
	defer st.Close()
	sched, _ := fcfs.New(fcfs.Config{})
	defer sched.Close()
	router, err := logos.New(logos.Config{Store: st, Providers: builtin.Registry(), Scheduler: sched, Logger: quiet,
		ClassifierEmbeddingsModel: "nomic-embed-text"})
	if err != nil {
		panic(err)
	}
	defer router.Close(ctx)
	_, _ = router.Bootstrap(ctx, "") // the system process is created once the store is set up

	p, err := st.GetProcessByName(ctx, logos.SystemProcessName)
	fmt.Println(p.Name, p.ServiceID != 0, err)
	// Output: logos-system true <nil>
}
