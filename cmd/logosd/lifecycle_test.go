package main

import (
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
		if manages != (name == "logos") {
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
