package main

import (
	"bytes"
	"fmt"
	"math"
	"testing"

	"github.com/logos-llm/logos/scheduler/sim"
)

// Two models that never fit together, rows alternating every 5 s: with a
// tight x only one model's rows can be served (switching takes 10 s), and
// with x above the switch time all of them.
func TestBoundMaxGoodAlternating(t *testing.T) {
	bp := &boundProblem{vram: 100, models: []boundModel{
		{name: "a", wake: 2, load: 40, sleep: 8, unload: 3, mb: 60},
		{name: "b", wake: 2, load: 40, sleep: 8, unload: 3, mb: 60},
	}}
	for i := range 20 {
		bp.rows = append(bp.rows, boundRow{arrival: float64(i * 5), c0: 0.3, model: i % 2})
	}
	st, mv, in := bp.machine(1, false)
	for _, c := range []struct {
		x    float64
		want int
	}{{0.5, 10}, {5, 10}, {20, 20}} {
		if got := bp.maxGood(c.x, st, mv, in, false); got != c.want {
			t.Errorf("x=%v: maxGood %d, want %d", c.x, got, c.want)
		}
	}
}

// Rows of one model only, its partner present but idle: every row is
// served at c0, and none twice (the partner's wake-sleep cycles must not
// recount rows).
func TestBoundNoRecountAtSmallX(t *testing.T) {
	bp := &boundProblem{vram: 100, models: []boundModel{
		{name: "a", wake: 2, load: 40, sleep: 8, unload: 3, mb: 40},
		{name: "b", wake: 2, load: 40, sleep: 8, unload: 3, mb: 70},
		{name: "c", wake: 2, load: 40, sleep: 8, unload: 3, mb: 40},
	}}
	for i := range 10 {
		bp.rows = append(bp.rows, boundRow{arrival: float64(10 + i*10), c0: 0.3, model: 0})
	}
	st, mv, in := bp.machine(1, true)
	for _, x := range []float64{0.5, 2, 5} {
		if got := bp.maxGood(x, st, mv, in, false); got != 10 {
			t.Errorf("x=%v: maxGood %d, want 10", x, got)
		}
	}
}

// The bound is a lower bound: no simulated scheduler beats it on generated
// traces of both shapes (transitions at their lowest plausible jitter, so
// lucky draws cannot cross it; drains charged with the run's own output
// lengths: the same seed).
func TestBoundBelowSimulatedSchedulers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the bound's dynamic programme a few dozen times")
	}
	p, err := sim.LoadProfile("logos-2x16")
	if err != nil {
		t.Fatal(err)
	}
	low := math.Exp(-5 * 0.1)
	for _, kind := range []string{"explicit-hw3", "explicit-coder3"} {
		for _, seed := range []uint64{1} {
			var buf bytes.Buffer
			if err := sim.Generate(&buf, sim.GenConfig{N: 150, DurationMS: 600_000, Seed: seed, Arrivals: "random", Kind: kind}); err != nil {
				t.Fatal(err)
			}
			tr, err := sim.ParseTrace(fmt.Sprintf("%s-%d", kind, seed), buf.Bytes(), sim.DefaultClasses())
			if err != nil {
				t.Fatal(err)
			}
			bp, err := newBoundProblem(tr, p, seed, 0.65)
			if err != nil {
				t.Fatal(err)
			}
			b95 := max(bp.percentileBound(95, low, false, true, false), bp.percentileBound(95, low, false, true, true))
			for _, name := range []string{"fcfs", "ettft", "logos"} {
				sum, err := execute(spec{trace: tr, profile: p, profName: "logos-2x16", scheduler: name, seed: seed, ratio: 0.65})
				if err != nil {
					t.Fatal(err)
				}
				if sum.TTFT.P95 < b95 {
					t.Errorf("%s on %s: p95 %.2f below the bound %.2f", name, tr.Name, sum.TTFT.P95, b95)
				}
				t.Logf("%s on %s: p95 %.1f ≥ %.1f", name, tr.Name, sum.TTFT.P95, b95)
			}
		}
	}
}
