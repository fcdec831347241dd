package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/logos-llm/logos/scheduler"
)

func TestNewScheduler(t *testing.T) {
	for _, name := range []string{"", "fcfs", "logos"} {
		s, closeFn, err := newScheduler(name, nil, 10, false)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		_, manages := s.(scheduler.LifecycleUser)
		if manages != (name != "fcfs") { // logos is the default
			t.Errorf("%q: manages lifecycles = %v", name, manages)
		}
		if err := closeFn(); err != nil {
			t.Error(err)
		}
	}
	if _, _, err := newScheduler("ettft", nil, 0, false); err == nil {
		t.Error("an unknown scheduler was accepted")
	}
}

func TestReadLaneProfiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	if err := os.WriteFile(good, []byte(`{"qwen": {"awake_mb": 16752, "sleep_mb": 1400, "wake_s": 2.1, "load_s": 45, "step_ms": 27, "step_per_seq_ms": 0.6}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ps, err := readLaneProfiles(good)
	if err != nil {
		t.Fatal(err)
	}
	p := ps["qwen"]
	if p.AwakeMB != 16752 || p.SleepMB != 1400 || p.Wake != 2100*time.Millisecond || p.Load != 45*time.Second || p.StepPerSeq != 600*time.Microsecond {
		t.Errorf("profile = %+v", p)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"qwen": {"awake_mb": 100, "sleep_mb": 200}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readLaneProfiles(bad); err == nil {
		t.Error("sleep_mb above awake_mb was accepted")
	}
	if ps, err := readLaneProfiles(""); err != nil || ps != nil {
		t.Errorf("no file: %v, %v", ps, err)
	}
}

// Both schedulers honour --max-queue and --scheduler-across-models the same
// way: a request that finds every queue it could wait in full fails at once
// with scheduler.ErrQueueFull (the 503 queue_full of /v1), and a classified
// request waits for its best model unless across-models lets a free
// second-best one take it.
func TestSchedulersHonourQueueAndModelFlags(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{schedulerFCFS, schedulerLogos} {
		t.Run(name+"/max-queue", func(t *testing.T) {
			s, closeFn, err := newScheduler(name, nil, 1, false)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = closeFn() }()
			// one deployment with one slot
			job := scheduler.Job{RequestID: "r", Candidates: []scheduler.Candidate{{DeploymentID: 1, ModelID: 10, Capacity: 1}}}
			lease, err := s.Acquire(ctx, job)
			if err != nil {
				t.Fatal(err)
			}
			defer lease.Release(scheduler.Outcome{})
			// one waiter fills the queue
			wctx, cancel := context.WithCancel(ctx)
			errs := make(chan error, 1)
			go func() {
				l, err := s.Acquire(wctx, job)
				if err == nil {
					l.Release(scheduler.Outcome{})
				}
				errs <- err
			}()
			sr := s.(scheduler.StateReporter)
			deadline := time.Now().Add(5 * time.Second)
			for sr.State().QueueDepth < 1 {
				if time.Now().After(deadline) {
					t.Fatalf("waiters never queued: %+v", sr.State())
				}
				time.Sleep(time.Millisecond)
			}
			if _, err := s.Acquire(ctx, job); !errors.Is(err, scheduler.ErrQueueFull) {
				t.Errorf("second waiter: %v, want ErrQueueFull", err)
			}
			cancel()
			if err := <-errs; !errors.Is(err, context.Canceled) {
				t.Errorf("waiter: %v, want context.Canceled", err)
			}
		})
		for _, across := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/across-models=%v", name, across), func(t *testing.T) {
				s, closeFn, err := newScheduler(name, nil, 0, across)
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = closeFn() }()
				// a classified request: model 10 best, model 20 close behind
				job := scheduler.Job{RequestID: "r", Timeout: 50 * time.Millisecond, Candidates: []scheduler.Candidate{
					{DeploymentID: 1, ModelID: 10, Capacity: 1, Weight: 2}, {DeploymentID: 2, ModelID: 20, Capacity: 1, Weight: 1.9}}}
				first, err := s.Acquire(ctx, job)
				if err != nil || first.Candidate().DeploymentID != 1 {
					t.Fatalf("first request: %v on %+v, want deployment 1", err, first)
				}
				defer first.Release(scheduler.Outcome{})
				second, err := s.Acquire(ctx, job)
				if across {
					if err != nil || second.Candidate().DeploymentID != 2 {
						t.Fatalf("second request: %v, want the free second-best deployment 2", err)
					}
					second.Release(scheduler.Outcome{})
				} else if !errors.Is(err, scheduler.ErrQueueTimeout) {
					t.Fatalf("second request: %v, want it to wait for the best model until its timeout", err)
				}
			})
		}
	}
}
