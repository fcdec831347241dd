package pipeline

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// deadlineRecorder is a ResponseWriter that records the write deadlines set
// on it (http.ResponseController finds SetWriteDeadline by its method).
type deadlineRecorder struct {
	*httptest.ResponseRecorder
	deadlines []time.Time
}

func (d *deadlineRecorder) SetWriteDeadline(t time.Time) error {
	d.deadlines = append(d.deadlines, t)
	return nil
}

// TestDeferredWriterDeadline: every write has at least the write timeout
// ahead of it, yet a stream of writes does not move the deadline for each
// one; the deadline is cleared at the end.
func TestDeferredWriterDeadline(t *testing.T) {
	const timeout = time.Hour
	rec := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
	dw := &deferredWriter{w: rec, status: http.StatusOK, timeout: timeout}
	for range 1000 {
		before := time.Now()
		if _, err := dw.Write([]byte("data: {}\n\n")); err != nil {
			t.Fatal(err)
		}
		last := rec.deadlines[len(rec.deadlines)-1]
		if last.Before(before.Add(timeout)) {
			t.Fatalf("deadline %v is less than the timeout after the write at %v", last, before)
		}
		if last.After(time.Now().Add(timeout + timeout/16)) {
			t.Fatalf("deadline %v is more than 17/16 of the timeout ahead", last)
		}
	}
	if n := len(rec.deadlines); n != 1 {
		t.Fatalf("1000 writes within a second set the deadline %d times, want 1", n)
	}
	if rec.Code != http.StatusOK || rec.Body.Len() != 10000 {
		t.Fatalf("status %d, %d bytes; want 200, 10000", rec.Code, rec.Body.Len())
	}

	// With less than the timeout left, the next write moves the deadline.
	dw.until = time.Now().Add(timeout - time.Second)
	if _, err := dw.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.deadlines); n != 2 {
		t.Fatalf("a write with less than the timeout left set %d deadlines in all, want 2", n)
	}

	dw.clearDeadline()
	if last := rec.deadlines[len(rec.deadlines)-1]; !last.IsZero() {
		t.Fatalf("clearDeadline set %v, want the zero time", last)
	}
	dw.clearDeadline()
	if n := len(rec.deadlines); n != 3 {
		t.Fatalf("a second clearDeadline set a deadline again (%d in all)", n)
	}

	// Without a timeout no deadline is ever set.
	rec = &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
	dw = &deferredWriter{w: rec, status: http.StatusOK}
	_, _ = dw.Write([]byte("x"))
	dw.clearDeadline()
	if len(rec.deadlines) != 0 {
		t.Fatalf("deadlines set without a timeout: %v", rec.deadlines)
	}
}

// flushRecorder is a ResponseWriter whose FlushError counts calls and fails
// with err.
type flushRecorder struct {
	*httptest.ResponseRecorder
	flushes int
	err     error
}

func (f *flushRecorder) FlushError() error {
	f.flushes++
	return f.err
}

// TestDeferredWriterFlushError: nothing is flushed (so no status is sent)
// before the first byte; after it, the ResponseWriter's FlushError is called
// and its failure reported, so the relay stops at a client that is gone.
func TestDeferredWriterFlushError(t *testing.T) {
	gone := errors.New("connection reset")
	rec := &flushRecorder{ResponseRecorder: httptest.NewRecorder(), err: gone}
	dw := &deferredWriter{w: rec, status: http.StatusOK}
	if err := dw.FlushError(); err != nil || rec.flushes != 0 {
		t.Fatalf("flush before the first byte: %v, %d flushes; want nil, 0", err, rec.flushes)
	}
	if _, err := dw.Write([]byte("data: x\n\n")); err != nil {
		t.Fatal(err)
	}
	if err := dw.FlushError(); !errors.Is(err, gone) || rec.flushes != 1 {
		t.Fatalf("flush after a write: %v, %d flushes; want %v, 1", err, rec.flushes, gone)
	}
	dw.Flush()
	if rec.flushes != 2 {
		t.Fatalf("Flush did not flush (%d flushes)", rec.flushes)
	}
}
