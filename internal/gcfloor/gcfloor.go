// Package gcfloor keeps the Go garbage collector's heap goal above a floor.
//
// The collector lets the heap grow by GOGC percent of what is live before the
// next cycle, but never sets a goal below 4 MB (at GOGC=100). A proxy keeps
// little live (a few MB) and allocates a few KB per request, so at a few
// thousand requests a second it collects twenty or more times a second, and
// each cycle's fixed costs (waking the mark workers, scanning stacks,
// sweeping) dominate. A floor of some tens of MB makes cycles rare while the
// heap is small. Above it, the heap may grow by GOGC
// percent of the live heap (not of the goroutine stacks too, as the runtime's
// rule since Go 1.18 has it), and by no more than the program allocates in
// Window at its recent rate: a gateway holding thousands of streams has more
// stack than live heap and allocates slowly, so a cycle more often costs it
// little and saves it much memory (see PercentFor). A GOMEMLIMIT still
// bounds the goal.
//
// It works by re-computing the GC percentage after every cycle from what the
// cycle measured (runtime/metrics): the live heap, the stacks and globals it
// scanned, and the bytes allocated since the cycle before.
package gcfloor

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxPercent bounds the percentage Start sets, so that a nearly empty heap
// does not get an absurd one.
const MaxPercent = 100_000

// The runtime/metrics the percentage is computed from, in this order.
const (
	liveMetric    = "/gc/heap/live:bytes"
	stackMetric   = "/gc/scan/stack:bytes"
	globalsMetric = "/gc/scan/globals:bytes"
	allocsMetric  = "/gc/heap/allocs:bytes"
)

// Window is the least time of allocation, at the rate measured between the
// last two collections, that the heap goal runs ahead of the live heap when
// that is less than GOGC allows (see PercentFor).
const Window = 10 * time.Second

// MarkBudget lengthens Window for large heaps: the window is at least the
// time in which a collector marking MarkBudget bytes a second would mark the
// live heap and its roots once. Cycles the window brings about then mark at
// most about MarkBudget bytes a second on average, a few percent of one core.
const MarkBudget = 32 << 20

// Floor keeps the heap goal at or above a number of bytes. Create it with
// Start; Stop ends it.
type Floor struct {
	minHeap uint64
	base    int

	mu      sync.Mutex
	stopped bool
	current int
	sample  []metrics.Sample
	// The cumulative allocation and the time at the last adjustment, from
	// which the next one measures the allocation rate.
	allocs uint64
	at     time.Time
}

// Start sets the GC percentage to keep the heap goal at least minHeap bytes,
// letting it grow by base percent (the GOGC value otherwise in force,
// normally 100) of the live heap once that is large, or by less while
// allocation is slow (see PercentFor), and keeps adjusting the percentage
// after every collection until Stop. It changes a process-wide setting: start
// at most one Floor, in main.
func Start(minHeap uint64, base int) *Floor {
	f := &Floor{
		minHeap: minHeap,
		base:    base,
		current: -2, // no percentage set yet
		sample:  []metrics.Sample{{Name: liveMetric}, {Name: stackMetric}, {Name: globalsMetric}, {Name: allocsMetric}},
	}
	f.adjust()
	f.arm()
	return f
}

// Stop stops adjusting and restores the base percentage. It is safe to call
// more than once.
func (f *Floor) Stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return
	}
	f.stopped = true
	debug.SetGCPercent(f.base)
}

// Percent returns the GC percentage the floor set last.
func (f *Floor) Percent() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.current
}

// sentinel is garbage the moment it is made; its finalizer runs after the
// next collection and arms a new one. It is larger than the tiny allocator's
// 16 bytes, whose combined blocks may never be finalized.
type sentinel struct {
	_ [32]byte
}

// arm leaves garbage whose finalizer reports the next collection.
func (f *Floor) arm() {
	runtime.SetFinalizer(&sentinel{}, f.collected)
}

// collected runs on the finalizer goroutine after a collection.
func (f *Floor) collected(*sentinel) {
	if f.adjust() {
		f.arm()
	}
}

// adjust sets the percentage for the live heap now; it reports false once
// the floor is stopped.
func (f *Floor) adjust() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return false
	}
	metrics.Read(f.sample)
	var v [4]uint64 // live, stack, globals, allocs; zero when a metric is unknown
	for i, s := range f.sample {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = s.Value.Uint64()
		}
	}
	now := time.Now()
	h := Heap{Live: v[0], Roots: v[1] + v[2]}
	if d := now.Sub(f.at); !f.at.IsZero() && v[3] >= f.allocs && d > 0 { // else no rate yet
		h.Rate, h.RateKnown = float64(v[3]-f.allocs)/d.Seconds(), true
	}
	f.allocs, f.at = v[3], now
	p := PercentFor(h, f.minHeap, f.base)
	if p != f.current {
		debug.SetGCPercent(p)
		f.current = p
	}
	return true
}

// runtimeHeapMinimum is the Go runtime's smallest heap goal at GOGC=100
// (defaultHeapMinimum in runtime/mgcpacer.go); it scales with GOGC, so at
// GOGC=p no goal is below runtimeHeapMinimum × p/100.
const runtimeHeapMinimum = 4 << 20

// Heap is what a collection measured, which PercentFor sets the next goal
// from.
type Heap struct {
	Live  uint64 // bytes of live heap
	Roots uint64 // bytes of goroutine stacks and globals scanned
	// Rate is the bytes allocated per second since the collection before;
	// RateKnown says whether it was measured.
	Rate      float64
	RateKnown bool
}

// window returns how long the goal may run ahead of the live heap in
// allocation time: Window, or longer for a heap that MarkBudget takes longer
// than Window to mark.
func (h Heap) window() time.Duration {
	return max(Window, time.Duration(float64(h.Live+h.Roots)/MarkBudget*float64(time.Second)))
}

// PercentFor returns the GC percentage that puts the heap goal at
// live + min(live × base/100, the allocation of h.window()), and at least
// minHeap, but never below base/MinPercentShare and at most MaxPercent. With
// no floor (minHeap 0) or base ≤ 0 it returns base, Go's own rule.
//
// The runtime's goal at percentage p is
// max(live + (live + roots) × p/100, 4 MB × p/100). Two things in it cost a
// gateway memory that buys it little CPU:
//
//   - Since Go 1.18 the heap may grow by p percent of the stacks too. A
//     gateway holding thousands of streams has more stack than live heap
//     (5,000 streams: about 120 MB of stacks against 170 MB live), so the
//     stacks alone added 120 MB to the goal. The floor lets the heap grow by
//     base percent of what is live only.
//   - Those streams allocate slowly (8 MB/s at 5,000 streams), so at GOGC=100
//     the heap spent half a minute growing to twice the live heap between
//     cycles. The floor lets it grow by at most what the program allocates in
//     Window (longer for heaps above MarkBudget × Window, so that the extra
//     cycles stay cheap).
//
// The lowest percentage, base/MinPercentShare, keeps a process of many idle
// goroutines from scanning all their stacks for every few bytes allocated: a
// cycle does at most MinPercentShare times the runtime's scan work per byte
// allocated. With a fast allocation rate and small stacks the goal is the
// runtime's at base; with a small heap, the floor.
//
// The goal is reached by the smaller of the percentages at which either term
// of the runtime's goal reaches it. An unknown (zero) live heap, before the
// first collection, gets the one for the second term and the floor.
func PercentFor(h Heap, minHeap uint64, base int) int {
	if base <= 0 || minHeap == 0 {
		return base // collection is off or always on, or Go's rule was asked for
	}
	goal := minHeap
	if live := h.Live; live > 0 {
		grow := live * uint64(base) / 100
		if h.RateKnown {
			grow = min(grow, uint64(h.Rate*h.window().Seconds()))
		}
		goal = max(live+grow, minHeap)
	}
	goal = min(goal, math.MaxUint64/100) // so × 100 cannot overflow
	// The smallest p with 4 MB × p/100 ≥ goal.
	p := (goal*100 + runtimeHeapMinimum - 1) / runtimeHeapMinimum
	if live, roots := h.Live, h.Roots; live > 0 {
		// The smallest p with live + (live + roots) × p/100 ≥ goal.
		p = min(p, ((goal-live)*100+live+roots-1)/(live+roots))
	}
	lowest := uint64(base) / MinPercentShare
	return int(max(min(p, MaxPercent), lowest))
}

// MinPercentShare bounds how far PercentFor lowers the percentage below its
// base: to base/MinPercentShare at the lowest.
const MinPercentShare = 4

// DefaultMinHeapText is logosd's default floor, as its --gc-min-heap flag
// takes it: "auto", see AutoMinHeap.
const DefaultMinHeapText = "auto"

// AutoCap is the floor "auto" picks when no memory limit asks for less. At
// 128 concurrent clients logosd's peak RSS was about 80 MB with a 32 MiB
// floor, 96 MB with 48 MiB and 106–118 MB with 64 MiB; 40 MiB keeps it under
// 100 MB while cycles stay rare.
const AutoCap = 40 << 20

// autoLimitShare is the part of a memory limit (GOMEMLIMIT or the cgroup's)
// that "auto" lets the floor take: a quarter leaves the rest for what is
// live, goroutine stacks and memory outside the Go heap.
const autoLimitShare = 4

// Cgroup memory limit files, version 2 then version 1.
var cgroupLimitFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// AutoMinHeap returns the floor "auto" stands for: AutoCap, or a quarter of
// the process's memory limit when that is smaller. The limit is the smaller
// of GOMEMLIMIT (read with getenv, so that a caller can size the floor of
// another process) and the memory limit of the cgroup the caller runs in
// (read with readFile, normally os.ReadFile); an unset, "off" or unreadable
// one does not count.
func AutoMinHeap(getenv func(string) string, readFile func(string) ([]byte, error)) uint64 {
	limit := uint64(math.MaxUint64)
	if v := strings.TrimSpace(getenv("GOMEMLIMIT")); v != "" && v != "off" {
		if n, err := ParseSize(v); err == nil && n > 0 {
			limit = n
		}
	}
	for _, path := range cgroupLimitFiles {
		b, err := readFile(path)
		if err != nil {
			continue
		}
		// "max" (v2) or a huge number (v1) means no limit.
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
			limit = min(limit, n)
		}
		break
	}
	return min(AutoCap, limit/autoLimitShare)
}

// Resolve returns the floor in bytes that text, as logosd's --gc-min-heap
// takes it, stands for: "auto" (AutoMinHeap with getenv and os.ReadFile) or
// a size for ParseSize.
func Resolve(text string, getenv func(string) string) (uint64, error) {
	if strings.TrimSpace(text) == "auto" {
		return AutoMinHeap(getenv, os.ReadFile), nil
	}
	return ParseSize(text)
}

// ParseSize parses a size such as 64MiB, 512KiB, 1GiB or a plain number of
// bytes, the form logosd's --gc-min-heap takes.
func ParseSize(s string) (uint64, error) {
	end := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != ' ' })
	if end < 0 {
		end = len(s)
	}
	num, unit := strings.TrimSpace(s[:end]), s[end:]
	if num == "" {
		return 0, errors.New("want a whole number with an optional unit (B, KiB, MiB, GiB or TiB)")
	}
	mult := map[string]uint64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("unknown unit %q (want B, KiB, MiB, GiB or TiB)", unit)
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, errors.New("want a whole number with an optional unit")
	}
	if n > math.MaxUint64/mult {
		return 0, errors.New("too large")
	}
	return n * mult, nil
}
