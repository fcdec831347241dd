package core

import "github.com/logos-llm/logos/scheduler"

// Queue is a strict-priority FIFO of requests: high before normal before
// low, arrival order within a level. The zero value is empty and usable.
type Queue struct {
	// lv holds each level's requests from h on; popping advances h, so
	// that a queue that fills and empties keeps its arrays and does not
	// allocate.
	lv [3][]*Request
	h  [3]int
	n  int
}

// live returns level l's queued requests.
func (q *Queue) live(l int) []*Request { return q.lv[l][q.h[l]:] }

func level(p scheduler.Priority) int {
	switch p.Normalize() {
	case scheduler.PriorityHigh:
		return 2
	case scheduler.PriorityLow:
		return 0
	}
	return 1
}

// Push appends r at its priority level.
func (q *Queue) Push(r *Request) {
	l := level(r.Priority)
	q.lv[l] = append(q.lv[l], r)
	q.n++
}

// Len returns the number of queued requests.
func (q *Queue) Len() int { return q.n }

// Peek returns the next request, or nil.
func (q *Queue) Peek() *Request {
	for l := 2; l >= 0; l-- {
		if xs := q.live(l); len(xs) > 0 {
			return xs[0]
		}
	}
	return nil
}

// Pop removes and returns the next request, or nil.
func (q *Queue) Pop() *Request {
	for l := 2; l >= 0; l-- {
		xs := q.live(l)
		if len(xs) == 0 {
			continue
		}
		r := xs[0]
		xs[0] = nil
		q.h[l]++
		q.n--
		switch {
		case q.h[l] == len(q.lv[l]):
			q.lv[l], q.h[l] = q.lv[l][:0], 0
		case q.h[l] >= len(q.lv[l])/2:
			// amortized O(1): at least as many pops since the last
			// compaction as requests moved now
			n := copy(q.lv[l], q.live(l))
			clear(q.lv[l][n:])
			q.lv[l], q.h[l] = q.lv[l][:n], 0
		}
		return r
	}
	return nil
}

// Remove takes r out of the queue and reports whether it was there.
func (q *Queue) Remove(r *Request) bool {
	l := level(r.Priority)
	for i, x := range q.live(l) {
		if x == r {
			i += q.h[l]
			copy(q.lv[l][i:], q.lv[l][i+1:])
			q.lv[l][len(q.lv[l])-1] = nil
			q.lv[l] = q.lv[l][:len(q.lv[l])-1]
			q.n--
			return true
		}
	}
	return false
}

// Oldest returns the earliest-arrived request of any level, or nil.
func (q *Queue) Oldest() *Request {
	var o *Request
	for l := range q.lv {
		if xs := q.live(l); len(xs) > 0 && (o == nil || xs[0].Arrival.Before(o.Arrival)) {
			o = xs[0]
		}
	}
	return o
}

// Count returns the number queued at priority p's level.
func (q *Queue) Count(p scheduler.Priority) int { return len(q.live(level(p))) }

// Each calls f for every queued request, highest level first, in order.
func (q *Queue) Each(f func(*Request)) {
	for l := 2; l >= 0; l-- {
		for _, r := range q.live(l) {
			f(r)
		}
	}
}
