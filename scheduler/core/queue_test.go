package core

import (
	"testing"
	"time"

	"github.com/logos-llm/logos/scheduler"
)

func TestQueueOrder(t *testing.T) {
	var q Queue
	t0 := time.Unix(0, 0)
	mk := func(id string, p scheduler.Priority, s int) *Request {
		return &Request{ID: id, Priority: p, Arrival: t0.Add(time.Duration(s) * time.Second)}
	}
	low, mid1, high, mid2 := mk("low", scheduler.PriorityLow, 0), mk("mid1", 0, 1), mk("high", scheduler.PriorityHigh, 2), mk("mid2", scheduler.PriorityNormal, 3)
	for _, r := range []*Request{low, mid1, high, mid2} {
		q.Push(r)
	}
	if q.Len() != 4 || q.Oldest() != low || q.Count(scheduler.PriorityNormal) != 2 {
		t.Fatalf("Len %d Oldest %v Count(normal) %d", q.Len(), q.Oldest().ID, q.Count(scheduler.PriorityNormal))
	}
	if !q.Remove(mid2) || q.Remove(mid2) {
		t.Fatal("Remove did not remove exactly once")
	}
	var seen []string
	q.Each(func(r *Request) { seen = append(seen, r.ID) })
	if got := seen; len(got) != 3 || got[0] != "high" || got[1] != "mid1" || got[2] != "low" {
		t.Fatalf("Each order = %v", got)
	}
	for _, want := range []string{"high", "mid1", "low"} {
		if q.Peek().ID != want {
			t.Fatalf("Peek = %s, want %s", q.Peek().ID, want)
		}
		if r := q.Pop(); r.ID != want {
			t.Fatalf("Pop = %s, want %s", r.ID, want)
		}
	}
	if q.Pop() != nil || q.Peek() != nil || q.Oldest() != nil || q.Len() != 0 {
		t.Fatal("empty queue not empty")
	}
}

func TestNames(t *testing.T) {
	if Awake.String() != "awake" || LaneState(99).String() != "unknown" || Arrival.String() != "arrival" ||
		EventKind(99).String() != "unknown" || Dispatch.String() != "dispatch" || ActionKind(99).String() != "unknown" {
		t.Error("names wrong")
	}
}
