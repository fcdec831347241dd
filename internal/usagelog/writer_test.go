package usagelog_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/logos-llm/logos/internal/usagelog"
	"github.com/logos-llm/logos/store"
)

// hangingStore blocks every insert until it is released, then stores.
type hangingStore struct {
	release chan struct{}
	mu      sync.Mutex
	ids     map[string]int
}

func (s *hangingStore) InsertUsage(ctx context.Context, recs []store.UsageRecord) (int, error) {
	select {
	case <-s.release:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range recs {
		if s.ids[r.RequestID] == 0 {
			n++
		}
		s.ids[r.RequestID]++
	}
	return n, nil
}

// TestWriterDoesNotWaitForAHangingStore: with a log, Write returns while the
// store hangs, far beyond what memory would hold (BufferSize 16, 64 records
// in memory), and everything is stored once the store answers again.
func TestWriterDoesNotWaitForAHangingStore(t *testing.T) {
	l, err := usagelog.Open(usagelog.Config{Dir: t.TempDir(), MemoryRecords: 64, SegmentBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	st := &hangingStore{release: make(chan struct{}), ids: map[string]int{}}
	w, err := store.NewUsageWriter(store.UsageWriterConfig{Inserter: st, Log: l, BufferSize: 16, BatchSize: 100, MinBatch: 10, FlushInterval: time.Millisecond, RetryMin: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	wrote := make(chan error, 1)
	go func() {
		for i := range n {
			r := store.UsageRecord{RequestID: fmt.Sprintf("r%05d", i), ReceivedAt: time.Now(), Outcome: store.OutcomeSuccess, LogLevel: store.LogBilling}
			if err := w.Write(context.Background(), r); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Write waited for the hanging store")
	}
	if st := l.Stats(); st.BacklogBytes == 0 || st.Segments < 2 {
		t.Fatalf("log stats with the store hanging: %+v", st)
	}
	close(st.release)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.ids) != n {
		t.Fatalf("%d of %d records stored", len(st.ids), n)
	}
	if s := l.Stats(); s.BacklogBytes != 0 || s.Segments != 1 {
		t.Fatalf("log stats after the store caught up: %+v", s)
	}
}

// gateStore holds every insert until release is closed (or the insert's
// context ends, which fails it), then stores; entered receives a value as
// each insert begins.
type gateStore struct {
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	ids     map[string]int
}

func newGateStore() *gateStore {
	return &gateStore{entered: make(chan struct{}, 100), release: make(chan struct{}), ids: map[string]int{}}
}

func (s *gateStore) InsertUsage(ctx context.Context, recs []store.UsageRecord) (int, error) {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	select {
	case <-s.release:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range recs {
		if s.ids[r.RequestID] == 0 {
			n++
		}
		s.ids[r.RequestID]++
	}
	return n, nil
}

func (s *gateStore) stored() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}

// writeRecords writes n records named prefix00000 on.
func writeRecords(t *testing.T, w *store.UsageWriter, prefix string, n int) {
	t.Helper()
	for i := range n {
		r := store.UsageRecord{RequestID: fmt.Sprintf("%s%05d", prefix, i), ReceivedAt: time.Now(), Outcome: store.OutcomeSuccess, LogLevel: store.LogBilling}
		if err := w.Write(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWriterCloseStoresTheBatchInFlight: Close (a graceful stop, as on
// SIGTERM) while a batch is being inserted lets that insert finish and
// stores every record before it returns. It used to cancel the insert and
// then read and commit the batches after it, so the one in flight was
// neither stored nor kept in the log: logos-bench saw exactly one batch
// (500) fewer usage records than requests.
func TestWriterCloseStoresTheBatchInFlight(t *testing.T) {
	dir := t.TempDir()
	l, err := usagelog.Open(usagelog.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	st := newGateStore()
	w, err := store.NewUsageWriter(store.UsageWriterConfig{Inserter: st, Log: l, BatchSize: 500, MinBatch: 500, FlushInterval: time.Hour, RetryMin: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1200
	writeRecords(t, w, "r", n)
	select {
	case <-st.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no batch was inserted")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- w.Close(ctx) }()
	// The database answers a little after the stop began.
	time.Sleep(100 * time.Millisecond)
	close(st.release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if got := st.stored(); got != n {
		t.Errorf("Close returned with %d of %d records stored", got, n)
	}
	if s := w.Stats(); s.Stored != n || s.Dropped != 0 {
		t.Errorf("writer stats after Close: %+v", s)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = usagelog.Open(usagelog.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if r := l.Recovered(); r != 0 {
		t.Errorf("the log holds %d records after everything was stored", r)
	}
}

// TestWriterCloseDeadlineKeepsRecordsInLog: when the database never answers,
// Close returns at its deadline and every record, the batch in flight
// included, is still in the log for the next start.
func TestWriterCloseDeadlineKeepsRecordsInLog(t *testing.T) {
	dir := t.TempDir()
	l, err := usagelog.Open(usagelog.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	st := newGateStore()
	w, err := store.NewUsageWriter(store.UsageWriterConfig{Inserter: st, Log: l, BatchSize: 500, MinBatch: 500, FlushInterval: time.Hour, RetryMin: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1200
	writeRecords(t, w, "r", n)
	select {
	case <-st.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no batch was inserted")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- w.Close(ctx) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return at its deadline")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	close(st.release)
	l, err = usagelog.Open(usagelog.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if r := l.Recovered(); r != n {
		t.Errorf("the log holds %d of the %d unstored records", r, n)
	}
}
