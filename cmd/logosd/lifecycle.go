package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/logos-llm/logos"
	"github.com/logos-llm/logos/monitor/lifecycle"
	"github.com/logos-llm/logos/scheduler/core"
	"github.com/logos-llm/logos/scheduler/fcfs"
	logospolicy "github.com/logos-llm/logos/scheduler/logos"
)

// Schedulers --scheduler accepts.
const (
	schedulerFCFS  = "fcfs"
	schedulerLogos = "logos"
)

// newScheduler builds the scheduler --scheduler names: "logos" (the
// default: the decision core's logos policy, which wakes, sleeps, loads and
// unloads models through the Router's lifecycle executor and batches and
// switches models by their queues) or "fcfs" (first come, first served per
// deployment, every model taken as awake). Both bound each deployment's
// queue to maxQueue (0: unbounded; a request whose every queue is full gets
// scheduler.ErrQueueFull) and let a classified request run on a second-best
// model only when acrossModels is set. The returned function closes it.
func newScheduler(name string, log *slog.Logger, maxQueue int, acrossModels bool) (logos.Scheduler, func() error, error) {
	switch name {
	case schedulerFCFS:
		s, err := fcfs.New(fcfs.Config{Logger: log, MaxQueue: maxQueue, AcrossModels: acrossModels})
		if err != nil {
			return nil, nil, err
		}
		return s, s.Close, nil
	case "", schedulerLogos:
		if maxQueue < 0 {
			return nil, nil, fmt.Errorf("logos scheduler: max queue is negative (%d)", maxQueue)
		}
		a := core.NewAdapter(logospolicy.New(logospolicy.Config{MaxQueue: maxQueue}),
			core.AdapterConfig{Logger: log, Tick: 10 * time.Second, BestModelOnly: !acrossModels})
		return a, a.Close, nil
	}
	return nil, nil, fmt.Errorf("unknown scheduler %q: want %s or %s", name, schedulerLogos, schedulerFCFS)
}

// laneProfileJSON is one model of a --lane-profiles file.
type laneProfileJSON struct {
	AwakeMB      int     `json:"awake_mb"`
	SleepMB      int     `json:"sleep_mb"`
	WakeS        float64 `json:"wake_s"`
	SleepS       float64 `json:"sleep_s"`
	LoadS        float64 `json:"load_s"`
	UnloadS      float64 `json:"unload_s"`
	StepMS       float64 `json:"step_ms"`
	StepPerSeqMS float64 `json:"step_per_seq_ms"`
}

// readLaneProfiles reads a --lane-profiles file: a JSON object from upstream
// model name to {awake_mb, sleep_mb, wake_s, sleep_s, load_s, unload_s,
// step_ms, step_per_seq_ms}. An empty path gives none.
func readLaneProfiles(path string) (map[string]lifecycle.Profile, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("lane profiles: %w", err)
	}
	var in map[string]laneProfileJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("lane profiles %s: %w", path, err)
	}
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	ms := func(s float64) time.Duration { return time.Duration(s * float64(time.Millisecond)) }
	out := make(map[string]lifecycle.Profile, len(in))
	for name, p := range in {
		if p.AwakeMB < 0 || p.SleepMB < 0 || p.SleepMB > p.AwakeMB {
			return nil, fmt.Errorf("lane profiles %s: %q: want 0 <= sleep_mb <= awake_mb", path, name)
		}
		out[name] = lifecycle.Profile{AwakeMB: p.AwakeMB, SleepMB: p.SleepMB, Wake: sec(p.WakeS), Sleep: sec(p.SleepS),
			Load: sec(p.LoadS), Unload: sec(p.UnloadS), StepTime: ms(p.StepMS), StepPerSeq: ms(p.StepPerSeqMS)}
	}
	return out, nil
}
