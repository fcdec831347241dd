package logos_test

import (
	"testing"

	"github.com/logos-llm/logos/scheduler"
	"github.com/logos-llm/logos/scheduler/core"
	"github.com/logos-llm/logos/scheduler/logos"
	"github.com/logos-llm/logos/scheduler/schedulertest"
)

// The logos policy behind the production adapter passes the conformance
// suite every scheduler.Scheduler must pass.
func TestAdapterConformance(t *testing.T) {
	schedulertest.Run(t, func() scheduler.Scheduler {
		return core.NewAdapter(logos.New(logos.Config{}), core.AdapterConfig{})
	})
}
