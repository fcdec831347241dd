package clock

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

var epoch = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func TestFakeNowAndAdvance(t *testing.T) {
	f := NewFake(epoch)
	if got := f.Now(); !got.Equal(epoch) {
		t.Fatalf("Now() = %v, want %v", got, epoch)
	}
	f.Advance(3 * time.Second)
	if got, want := f.Now(), epoch.Add(3*time.Second); !got.Equal(want) {
		t.Fatalf("after Advance(3s) Now() = %v, want %v", got, want)
	}
	f.Advance(-time.Hour)
	if got, want := f.Now(), epoch.Add(3*time.Second); !got.Equal(want) {
		t.Fatalf("after Advance(-1h) Now() = %v, want %v", got, want)
	}
	f.AdvanceTo(epoch)
	if got, want := f.Now(), epoch.Add(3*time.Second); !got.Equal(want) {
		t.Fatalf("AdvanceTo(past) moved Now() to %v, want %v", got, want)
	}
	f.AdvanceTo(epoch.Add(time.Minute))
	if got, want := f.Now(), epoch.Add(time.Minute); !got.Equal(want) {
		t.Fatalf("after AdvanceTo Now() = %v, want %v", got, want)
	}
}

func TestFakeFiresInOrderAtDueTime(t *testing.T) {
	f := NewFake(epoch)
	type firing struct {
		name string
		at   time.Duration
	}
	var got []firing
	arm := func(name string, d time.Duration) {
		f.AfterFunc(d, func() { got = append(got, firing{name, f.Now().Sub(epoch)}) })
	}
	arm("c", 3*time.Second)
	arm("a", time.Second)
	arm("b1", 2*time.Second)
	arm("b2", 2*time.Second) // same due time: creation order
	arm("late", 10*time.Second)
	if n := f.Pending(); n != 5 {
		t.Fatalf("Pending() = %d, want 5", n)
	}
	if next, ok := f.Next(); !ok || !next.Equal(epoch.Add(time.Second)) {
		t.Fatalf("Next() = %v, %v; want %v, true", next, ok, epoch.Add(time.Second))
	}

	f.Advance(2500 * time.Millisecond)
	want := []firing{{"a", time.Second}, {"b1", 2 * time.Second}, {"b2", 2 * time.Second}}
	if !slices.Equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
	if got := f.Now().Sub(epoch); got != 2500*time.Millisecond {
		t.Fatalf("Now() after firing = +%v, want +2.5s", got)
	}
	f.Advance(500 * time.Millisecond) // exactly due
	if len(got) != 4 || got[3] != (firing{"c", 3 * time.Second}) {
		t.Fatalf("fired %v, want c at 3s fourth", got)
	}
	if n := f.Pending(); n != 1 {
		t.Fatalf("Pending() = %d, want 1", n)
	}
}

func TestFakeStop(t *testing.T) {
	f := NewFake(epoch)
	fired := false
	tm := f.AfterFunc(time.Second, func() { fired = true })
	other := f.AfterFunc(2*time.Second, func() {})
	if !tm.Stop() {
		t.Fatal("first Stop() = false, want true")
	}
	if tm.Stop() {
		t.Fatal("second Stop() = true, want false")
	}
	f.Advance(time.Minute)
	if fired {
		t.Fatal("stopped timer fired")
	}
	if other.Stop() {
		t.Fatal("Stop() after firing = true, want false")
	}
	if _, ok := f.Next(); ok {
		t.Fatal("Next() reports a timer after all fired or stopped")
	}
}

func TestFakeCallbackArmsTimers(t *testing.T) {
	f := NewFake(epoch)
	var at []time.Duration
	var tick func()
	tick = func() {
		at = append(at, f.Now().Sub(epoch))
		if len(at) < 4 {
			f.AfterFunc(time.Second, tick)
		}
	}
	f.AfterFunc(time.Second, tick)
	zero := false
	f.AfterFunc(0, func() { zero = true })
	if zero {
		t.Fatal("AfterFunc(0) fired inside AfterFunc")
	}
	f.Advance(0)
	if !zero {
		t.Fatal("AfterFunc(0) did not fire on Advance(0)")
	}
	f.Advance(10 * time.Second)
	want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second}
	if !slices.Equal(at, want) {
		t.Fatalf("ticks at %v, want %v", at, want)
	}
}

func TestFakeBlockUntil(t *testing.T) {
	f := NewFake(epoch)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { f.AfterFunc(time.Second, func() {}) })
	}
	if err := f.BlockUntil(ctx, 3); err != nil {
		t.Fatalf("BlockUntil(3) = %v", err)
	}
	wg.Wait()
	if n := f.Pending(); n != 3 {
		t.Fatalf("Pending() = %d, want 3", n)
	}

	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	if err := f.BlockUntil(short, 4); err != context.DeadlineExceeded {
		t.Fatalf("BlockUntil(4) = %v, want context.DeadlineExceeded", err)
	}
}

func TestFakeConcurrentUse(t *testing.T) {
	f := NewFake(epoch)
	var mu sync.Mutex
	fired := 0
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				tm := f.AfterFunc(time.Millisecond, func() { mu.Lock(); fired++; mu.Unlock() })
				f.Advance(time.Millisecond)
				tm.Stop()
				_ = f.Now()
			}
		})
	}
	wg.Wait()
	f.Advance(time.Second)
	if fired != 400 {
		t.Fatalf("fired %d timers, want 400", fired)
	}
}

func TestReal(t *testing.T) {
	c := Real()
	before := time.Now()
	if now := c.Now(); now.Before(before) {
		t.Fatalf("Real().Now() = %v, before %v", now, before)
	}
	done := make(chan struct{})
	c.AfterFunc(time.Millisecond, func() { close(done) })
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Real().AfterFunc did not fire")
	}
	stopped := c.AfterFunc(time.Hour, func() { t.Error("stopped timer fired") })
	if !stopped.Stop() {
		t.Fatal("Stop() of a pending real timer = false")
	}
	if stopped.Stop() {
		t.Fatal("second Stop() of a real timer = true")
	}
}
