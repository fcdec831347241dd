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

// Interleaved pushes, pops and removals keep FIFO order and the count
// across the head index's compactions, and a queue that fills and empties
// reuses its array.
func TestQueueHeadIndex(t *testing.T) {
	var q Queue
	var want []*Request // model of the queue
	next := 0
	push := func() {
		r := &Request{ID: string(rune('a' + next%26)), Index: next}
		next++
		q.Push(r)
		want = append(want, r)
	}
	for round := range 200 {
		for range round%5 + 1 {
			push()
		}
		switch {
		case round%7 == 3 && len(want) > 2:
			// remove one from the middle
			r := want[len(want)/2]
			if !q.Remove(r) {
				t.Fatalf("round %d: Remove of a queued request failed", round)
			}
			want = append(want[:len(want)/2], want[len(want)/2+1:]...)
		default:
			for range round%4 + 1 {
				if len(want) == 0 {
					break
				}
				if got := q.Pop(); got != want[0] {
					t.Fatalf("round %d: Pop = %v, want %v", round, got.Index, want[0].Index)
				}
				want = want[1:]
			}
		}
		if q.Len() != len(want) || q.Count(scheduler.PriorityNormal) != len(want) {
			t.Fatalf("round %d: Len %d Count %d, want %d", round, q.Len(), q.Count(scheduler.PriorityNormal), len(want))
		}
		if len(want) > 0 && (q.Peek() != want[0] || q.Oldest() != want[0]) {
			t.Fatalf("round %d: Peek/Oldest is not the head", round)
		}
		i := 0
		q.Each(func(r *Request) {
			if i >= len(want) || r != want[i] {
				t.Fatalf("round %d: Each differs at %d", round, i)
			}
			i++
		})
	}
	for q.Len() > 0 {
		q.Pop()
	}
	if got := testing.AllocsPerRun(100, func() {
		for range 8 {
			q.Push(&Request{})
		}
		for range 8 {
			q.Pop()
		}
	}); got > 8 {
		t.Errorf("fill and empty: %v allocations, want only the 8 requests'", got)
	}
}
