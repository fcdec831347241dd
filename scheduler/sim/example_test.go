package sim_test

import (
	"bytes"
	"fmt"

	"github.com/logos-llm/logos/scheduler/baselines"
	"github.com/logos-llm/logos/scheduler/sim"
)

// Generate a trace, run a scheduler on the reference node and summarize.
func ExampleRun() {
	var csv bytes.Buffer
	if err := sim.Generate(&csv, sim.GenConfig{N: 60, Seed: 1}); err != nil {
		fmt.Println(err)
		return
	}
	tr, err := sim.ParseTrace("example", csv.Bytes(), sim.DefaultClasses())
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := sim.LoadProfile("logos-2x16")
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := sim.Run(sim.Config{Profile: p, Trace: tr, Policy: baselines.NewETTFT(), Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	s := sim.Summarize(res)
	fmt.Println(s.Requests, s.Completed, s.Failed, s.SchedulerErrors, s.Loads)
	// Output: 60 60 0 0 0
}
