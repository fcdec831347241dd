package scheduler

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLeaseAccessors(t *testing.T) {
	c := Candidate{DeploymentID: 3, ModelID: 4, ProviderID: 5, Weight: 0.5, Capacity: 2}
	l := NewLease(c, 2*time.Second, true, nil)
	if l.Candidate() != c {
		t.Errorf("Candidate() = %+v, want %+v", l.Candidate(), c)
	}
	if l.QueueWait() != 2*time.Second {
		t.Errorf("QueueWait() = %v, want 2s", l.QueueWait())
	}
	if !l.ColdStart() {
		t.Error("ColdStart() = false, want true")
	}
	l.Release(Outcome{}) // a nil release func is allowed
}

func TestLeaseReleaseOnce(t *testing.T) {
	var calls atomic.Int32
	var got Outcome
	want := Outcome{Err: errors.New("boom"), StatusCode: 502, Latency: time.Second, Tokens: 7}
	l := NewLease(Candidate{}, 0, false, func(o Outcome) {
		calls.Add(1)
		got = o
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { l.Release(want) })
	}
	wg.Wait()
	l.Release(Outcome{})
	if n := calls.Load(); n != 1 {
		t.Fatalf("release func called %d times, want 1", n)
	}
	if got != want {
		t.Errorf("release func got %+v, want %+v", got, want)
	}
}
