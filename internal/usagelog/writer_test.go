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
