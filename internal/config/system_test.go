package config_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/logos-llm/logos/internal/catalog"
	"github.com/logos-llm/logos/internal/config"
	"github.com/logos-llm/logos/store"
)

// TestApplyPruneKeepsTheSystemIdentity: the Router's own system process,
// its profile and its permission to a kept model survive a prune by a
// document that does not mention them; a permission to a pruned model
// goes with the model.
func TestApplyPruneKeepsTheSystemIdentity(t *testing.T) {
	eachStore(t, func(t *testing.T, s store.Store, _ func() store.Store) {
		ctx := t.Context()
		opts := config.ApplyOptions{Getenv: exampleEnv.getenv}
		mustApply(t, s, example(t), opts)
		gpt, err := s.GetModelByName(ctx, "gpt-4o")
		if err != nil {
			t.Fatal(err)
		}
		qwen, err := s.GetModelByName(ctx, "qwen2.5-coder-32b")
		if err != nil {
			t.Fatal(err)
		}
		sys, _, err := catalog.New(s, catalog.Options{}).EnsureSystem(ctx, catalog.SystemName, gpt.ID, qwen.ID)
		if err != nil {
			t.Fatal(err)
		}
		d := example(t)
		d.Lines = nil
		d.Models = slices.DeleteFunc(d.Models, func(m config.Model) bool { return m.Name == "qwen2.5-coder-32b" })
		d.Prices = slices.DeleteFunc(d.Prices, func(p config.Price) bool { return p.Model == "qwen2.5-coder-32b" })
		for i := range d.Processes {
			for j := range d.Processes[i].Profiles {
				p := &d.Processes[i].Profiles[j]
				p.Models = slices.DeleteFunc(p.Models, func(m string) bool { return m == "qwen2.5-coder-32b" })
			}
		}
		opts.Prune = true
		rep := mustApply(t, s, d, opts)
		for _, line := range rep.Deleted {
			if strings.Contains(line, catalog.SystemName+"/") || strings.Contains(line, "process "+catalog.SystemName) {
				if !strings.Contains(line, "qwen2.5-coder-32b") {
					t.Errorf("prune deleted the system identity's %q", line)
				}
			}
		}
		if _, err := s.GetProcessByName(ctx, catalog.SystemName); err != nil {
			t.Fatalf("system process: %v", err)
		}
		perms, err := s.ListPermissions(ctx, sys.Profile.ID)
		if err != nil || len(perms) != 1 || perms[0].ModelID != gpt.ID {
			t.Fatalf("system permissions %v, %v; want gpt-4o alone", perms, err)
		}
	})
}
