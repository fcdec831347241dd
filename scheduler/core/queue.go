package core

import "github.com/logos-llm/logos/scheduler"

// Queue is a strict-priority FIFO of requests: high before normal before
// low, arrival order within a level. The zero value is empty and usable.
type Queue struct {
	lv [3][]*Request
	n  int
}

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
		if len(q.lv[l]) > 0 {
			return q.lv[l][0]
		}
	}
	return nil
}

// Pop removes and returns the next request, or nil.
func (q *Queue) Pop() *Request {
	for l := 2; l >= 0; l-- {
		if len(q.lv[l]) > 0 {
			r := q.lv[l][0]
			q.lv[l][0] = nil
			q.lv[l] = q.lv[l][1:]
			q.n--
			return r
		}
	}
	return nil
}

// Remove takes r out of the queue and reports whether it was there.
func (q *Queue) Remove(r *Request) bool {
	l := level(r.Priority)
	for i, x := range q.lv[l] {
		if x == r {
			q.lv[l] = append(q.lv[l][:i], q.lv[l][i+1:]...)
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
		if len(q.lv[l]) > 0 && (o == nil || q.lv[l][0].Arrival.Before(o.Arrival)) {
			o = q.lv[l][0]
		}
	}
	return o
}

// Count returns the number queued at priority p's level.
func (q *Queue) Count(p scheduler.Priority) int { return len(q.lv[level(p)]) }

// Each calls f for every queued request, highest level first, in order.
func (q *Queue) Each(f func(*Request)) {
	for l := 2; l >= 0; l-- {
		for _, r := range q.lv[l] {
			f(r)
		}
	}
}
