package scheduler_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/logos-llm/logos/scheduler"
)

func TestBestModel(t *testing.T) {
	c := []scheduler.Candidate{{Weight: 0.9}, {Weight: 0.9}, {Weight: 0.5}, {Weight: 0.9}}
	if got := scheduler.BestModel(c); len(got) != 2 {
		t.Errorf("BestModel kept %d candidates, want the 2 leading ones of weight 0.9", len(got))
	}
	if got := scheduler.BestModel(nil); len(got) != 0 {
		t.Errorf("BestModel(nil) = %v", got)
	}
	one := []scheduler.Candidate{{Weight: 0.2}}
	if d := cmp.Diff(one, scheduler.BestModel(one)); d != "" {
		t.Errorf("BestModel of one: %s", d)
	}
}
