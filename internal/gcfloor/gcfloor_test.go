package gcfloor

import (
	"os"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		name                 string
		live, roots, minHeap uint64
		rate                 float64 // bytes/s; negative: not known
		base, want           int
	}{
		{"small heap: the runtime's minimum reaches the floor first", 2 * mib, 0, 64 * mib, -1, 100, 1600},
		{"just under the floor", 31 * mib, 0, 64 * mib, -1, 100, 107},
		{"live heap reaches the floor first", 8 * mib, 0, 64 * mib, -1, 100, 700},
		{"stacks and globals count", 8 * mib, 2 * mib, 64 * mib, -1, 100, 560},
		{"stacks and globals count at the base too", 30 * mib, 4 * mib, 64 * mib, -1, 100, 100},
		{"base already reaches the floor", 32 * mib, 0, 64 * mib, -1, 100, 100},
		{"large heap keeps base", 500 * mib, 3 * mib, 64 * mib, -1, 100, 100},
		{"higher base kept", 40 * mib, 0, 64 * mib, -1, 200, 200},
		{"tiny heap", 100, 0, 64 * mib, -1, 100, 1600},
		{"tiny heap, large stacks", 100, 8 * mib, 64 * mib, -1, 100, 800},
		{"huge floor capped", 2 * mib, 0, 1 << 50, -1, 100, MaxPercent},
		{"unknown live heap", 0, 1 * mib, 64 * mib, -1, 100, 1600},
		{"collection off stays off", 2 * mib, 0, 64 * mib, -1, -1, -1},
		{"no floor", 2 * mib, 0, 0, -1, 100, 100},
		{"no floor, large stacks: Go's rule", 94 * mib, 140 * mib, 0, -1, 100, 100},
		// 5,000 open streams as measured: the heap grows by 94 MiB, not 234.
		{"stacks larger than the live heap do not grow it", 94 * mib, 140 * mib, 40 * mib, -1, 100, 41},
		{"stacks and a higher base", 94 * mib, 140 * mib, 40 * mib, -1, 200, 81},
		{"many idle goroutines: no lower than a quarter of base", 10 * mib, 1000 * mib, 40 * mib, -1, 100, 25},
		// 5,000 open streams as measured: 8 MB/s, so 80 MB in Window.
		{"slow allocation: the goal runs ahead by Window's worth", 170 * mib, 120 * mib, 40 * mib, 8 * mib, 100, 28},
		{"fast allocation, large stacks: base percent of the live heap", 170 * mib, 120 * mib, 40 * mib, 200 * mib, 100, 59},
		{"allocation measured as none: a quarter of base", 170 * mib, 120 * mib, 40 * mib, 0, 100, 25},
		// 2 GiB marked at MarkBudget takes 64.5 s: the window is that long.
		{"large heap, moderate rate: the window grows with the heap", 2048 * mib, 16 * mib, 40 * mib, 50 * mib, 100, 100},
		{"a floor below 4 MB does not lower base", 50 * mib, 0, 1 * mib, -1, 100, 100},
		{"a high base is kept above the floor", 10 * mib, 0, 40 * mib, -1, 2000, 2000},
		{"between the floor and twice the live heap the stacks do not count", 30 * mib, 20 * mib, 40 * mib, -1, 100, 60},
		{"base 0 stays 0", 50 * mib, 0, 40 * mib, -1, 0, 0},
		{"slow allocation, small heap: the floor", 10 * mib, 2 * mib, 40 * mib, 0.1 * mib, 100, 250},
		{"very slow allocation: a quarter of base", 170 * mib, 120 * mib, 40 * mib, 0.1 * mib, 100, 25},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := Heap{Live: c.live, Roots: c.roots, Rate: c.rate, RateKnown: c.rate >= 0}
			if got := PercentFor(h, c.minHeap, c.base); got != c.want {
				t.Errorf("PercentFor(%+v, %d, %d) = %d, want %d", h, c.minHeap, c.base, got, c.want)
			}
			if c.base >= 0 && c.want < MaxPercent {
				// The runtime's goal at that percentage (mgcpacer.go).
				goal := max(c.live+(c.live+c.roots)*uint64(c.want)/100, runtimeHeapMinimum*uint64(c.want)/100)
				if goal < c.minHeap {
					t.Errorf("goal %d for percent %d is below the floor %d", goal, c.want, c.minHeap)
				}
				if c.want > c.base && goal > c.minHeap+c.minHeap/50 {
					t.Errorf("goal %d for percent %d overshoots the floor %d", goal, c.want, c.minHeap)
				}
				if c.minHeap > 0 && c.live > 0 && c.want > c.base/MinPercentShare {
					// The heap grows by base percent of the live heap, not
					// of the stacks, and not much more.
					grow := c.live * uint64(c.base) / 100
					if h.RateKnown {
						grow = min(grow, uint64(c.rate*h.window().Seconds()))
					}
					want := max(c.live+grow, c.minHeap)
					if goal < want || goal > want+want/50 {
						t.Errorf("goal %d for percent %d, want about %d", goal, c.want, want)
					}
				}
			}
		})
	}
}

// gogc reads the GC percentage in force.
func gogc(t *testing.T) int64 {
	t.Helper()
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Skip("runtime/metrics has no /gc/gogc:percent")
	}
	return int64(s[0].Value.Uint64())
}

// TestStartFollowsCollections checks that the percentage is raised for this
// test binary's small heap, lowered again when the live heap outgrows the
// floor (after a collection, with no call in between), raised again when it
// shrinks, and restored by Stop.
func TestStartFollowsCollections(t *testing.T) {
	const floor = 64 << 20
	f := Start(floor, 100)
	defer f.Stop()
	runtime.GC()
	waitFor(t, "a raised percentage", func() bool { return gogc(t) > 100 && f.Percent() > 100 })

	big := make([]byte, 2*floor) // live, and above the floor
	for i := range big {
		big[i] = byte(i)
	}
	runtime.GC()
	// At most base once the heap is large; lower with this test's slow
	// allocation (Window), but not below a quarter of base.
	waitFor(t, "at most the base percentage once the heap is large", func() bool {
		p := gogc(t)
		return p <= 100 && p >= 100/MinPercentShare && int64(f.Percent()) == p
	})
	// Next to nothing is allocated while the test sleeps, so the cycle after
	// it measures a slow rate and the goal runs less than base ahead.
	time.Sleep(300 * time.Millisecond)
	runtime.GC()
	// (The stack rule alone, with this binary's small stacks, would give 99
	// or 100; the window must act to get to half of base.)
	waitFor(t, "at most half of base while allocation is slow", func() bool {
		p := gogc(t)
		return p <= 50 && p >= 100/MinPercentShare
	})
	runtime.KeepAlive(big)

	big = nil
	runtime.GC()
	waitFor(t, "a raised percentage again", func() bool { return gogc(t) > 100 })

	f.Stop()
	if got := gogc(t); got != 100 {
		t.Errorf("after Stop GOGC is %d, want 100", got)
	}
	runtime.GC()
	runtime.GC()
	time.Sleep(50 * time.Millisecond) // let a pending finalizer run
	if got := gogc(t); got != 100 {
		t.Errorf("a collection after Stop changed GOGC to %d", got)
	}
	f.Stop() // idempotent
}

// waitFor polls cond, running collections so that finalizers get to run.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (GOGC now %d)", what, gogc(t))
		}
		time.Sleep(10 * time.Millisecond)
		runtime.GC()
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]uint64{"0": 0, "4096": 4096, "512B": 512, "64KiB": 64 << 10, "64MiB": 64 << 20, "2 GiB": 2 << 30, "1TiB": 1 << 40} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "1.5MiB", "64MB", "64mib", "-1", "x"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

// TestAutoMinHeap: "auto" is AutoCap unless GOMEMLIMIT or the cgroup limit,
// whichever is smaller, is under four times that; "max", "off" and
// unreadable files are no limit.
func TestAutoMinHeap(t *testing.T) {
	files := func(kv map[string]string) func(string) ([]byte, error) {
		return func(path string) ([]byte, error) {
			if v, ok := kv[path]; ok {
				return []byte(v), nil
			}
			return nil, os.ErrNotExist
		}
	}
	env := func(limit string) func(string) string {
		return func(k string) string {
			if k == "GOMEMLIMIT" {
				return limit
			}
			return ""
		}
	}
	const v2, v1 = "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"
	for _, c := range []struct {
		name  string
		limit string
		files map[string]string
		want  uint64
	}{
		{"no limit", "", nil, AutoCap},
		{"GOMEMLIMIT off", "off", map[string]string{v2: "max\n"}, AutoCap},
		{"large GOMEMLIMIT", "1GiB", nil, AutoCap},
		{"small GOMEMLIMIT", "64MiB", nil, 16 << 20},
		{"cgroup v2", "", map[string]string{v2: "134217728\n"}, 32 << 20},
		{"cgroup v1", "", map[string]string{v1: "67108864\n"}, 16 << 20},
		{"cgroup v1 unlimited", "", map[string]string{v1: "9223372036854771712\n"}, AutoCap},
		{"smaller of both", "96MiB", map[string]string{v2: "134217728"}, 24 << 20},
		{"bad GOMEMLIMIT", "lots", nil, AutoCap},
	} {
		if got := AutoMinHeap(env(c.limit), files(c.files)); got != c.want {
			t.Errorf("%s: AutoMinHeap = %d, want %d", c.name, got, c.want)
		}
	}
	if got, err := Resolve("auto", env("64MiB")); err != nil || got > 16<<20 {
		t.Errorf(`Resolve("auto") with GOMEMLIMIT=64MiB = %d, %v; want at most 16 MiB`, got, err)
	}
	if got, err := Resolve("8MiB", env("")); err != nil || got != 8<<20 {
		t.Errorf(`Resolve("8MiB") = %d, %v`, got, err)
	}
	if _, err := Resolve("8MB", env("")); err == nil {
		t.Error(`Resolve("8MB") did not fail`)
	}
}

func TestHeapWindow(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live, roots uint64
		want        time.Duration
	}{
		{170 * mib, 120 * mib, Window},
		{0, 0, Window},
		{2048 * mib, 16 * mib, 64500 * time.Millisecond},
	} {
		if got := (Heap{Live: c.live, Roots: c.roots}).window(); got != c.want {
			t.Errorf("window of %d live, %d roots = %v, want %v", c.live, c.roots, got, c.want)
		}
	}
}
