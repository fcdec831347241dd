package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// memInserter is an in-memory UsageInserter that dedupes by request id and can
// be told to fail or block.
type memInserter struct {
	mu       sync.Mutex
	rows     map[string]UsageRecord
	batches  []int
	failNext int           // fail this many upcoming calls
	gate     chan struct{} // when non-nil, every call waits for a receive
	entered  chan struct{} // when non-nil, receives a value as a call starts
}

func newMem() *memInserter { return &memInserter{rows: map[string]UsageRecord{}} }

func (m *memInserter) InsertUsage(ctx context.Context, recs []UsageRecord) (int, error) {
	if m.entered != nil {
		select {
		case m.entered <- struct{}{}:
		default:
		}
	}
	if m.gate != nil {
		select {
		case <-m.gate:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range recs {
		if r.RequestID == "" {
			return 0, fmt.Errorf("empty request id: %w", ErrInvalid)
		}
	}
	if m.failNext > 0 {
		m.failNext--
		return 0, errors.New("database is down")
	}
	m.batches = append(m.batches, len(recs))
	n := 0
	for _, r := range recs {
		if _, ok := m.rows[r.RequestID]; !ok {
			m.rows[r.RequestID] = r
			n++
		}
	}
	return n, nil
}

func (m *memInserter) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.rows)
}

func rec(i int) UsageRecord {
	return UsageRecord{
		RequestID:  fmt.Sprintf("req-%06d", i),
		ReceivedAt: time.Unix(1700000000, 0).UTC(),
		Outcome:    OutcomeSuccess,
		Tokens:     []TokenCount{{Type: "prompt_tokens", Count: 3}},
	}
}

func newWriter(t *testing.T, cfg UsageWriterConfig) *UsageWriter {
	t.Helper()
	w, err := NewUsageWriter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = w.Close(ctx)
	})
	return w
}

func TestUsageWriterBatchesAndFlushes(t *testing.T) {
	m := newMem()
	w := newWriter(t, UsageWriterConfig{Inserter: m, BatchSize: 100, FlushInterval: time.Hour})
	ctx := context.Background()
	for i := range 1234 {
		if err := w.Write(ctx, rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := m.count(); got != 1234 {
		t.Fatalf("stored %d records, want 1234", got)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range m.batches {
		if n > 100 {
			t.Fatalf("batch of %d exceeds BatchSize 100", n)
		}
	}
	if len(m.batches) >= 1234 {
		t.Fatalf("%d batches for 1234 records: not batching", len(m.batches))
	}
}

func TestUsageWriterFlushIntervalWritesWithoutFlush(t *testing.T) {
	m := newMem()
	w := newWriter(t, UsageWriterConfig{Inserter: m, BatchSize: 1000, FlushInterval: 5 * time.Millisecond})
	if err := w.Write(context.Background(), rec(1)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for m.count() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("a lone record was not written by the flush interval")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestUsageWriterMinBatch: MinBatch buffered records are written without
// waiting for the flush interval; fewer wait for it; and records buffered
// while the store is busy make the next batch larger than MinBatch.
func TestUsageWriterMinBatch(t *testing.T) {
	m := newMem()
	m.gate = make(chan struct{})
	m.entered = make(chan struct{}, 1)
	w := newWriter(t, UsageWriterConfig{Inserter: m, BatchSize: 100, MinBatch: 4, FlushInterval: time.Hour})
	ctx := context.Background()
	for i := range 3 {
		if err := w.Write(ctx, rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-m.entered:
		t.Fatal("3 records were written before MinBatch 4 and the flush interval")
	case <-time.After(50 * time.Millisecond):
	}
	if err := w.Write(ctx, rec(3)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.entered: // the fourth started a batch
	case <-time.After(5 * time.Second):
		t.Fatal("MinBatch records were not written")
	}
	for i := 4; i < 14; i++ { // buffered while the first batch is stored
		if err := w.Write(ctx, rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	m.gate <- struct{}{}
	m.gate <- struct{}{}
	deadline := time.Now().Add(5 * time.Second)
	for m.count() != 14 {
		if time.Now().After(deadline) {
			t.Fatalf("stored %d of 14 records", m.count())
		}
		time.Sleep(time.Millisecond)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if want := []int{4, 10}; fmt.Sprint(m.batches) != fmt.Sprint(want) {
		t.Errorf("batches %v, want %v", m.batches, want)
	}
}

func TestUsageWriterRetriesFailedBatches(t *testing.T) {
	m := newMem()
	m.failNext = 3
	w := newWriter(t, UsageWriterConfig{Inserter: m, BatchSize: 10, RetryMin: time.Millisecond, RetryMax: 2 * time.Millisecond})
	ctx := context.Background()
	for i := range 25 {
		if err := w.Write(ctx, rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := w.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	if got := m.count(); got != 25 {
		t.Fatalf("stored %d, want 25", got)
	}
	if s := w.Stats(); s.Failures != 3 || s.Stored != 25 || s.Inserted != 25 || s.Accepted != 25 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestUsageWriterBackpressure(t *testing.T) {
	m := newMem()
	m.gate = make(chan struct{})
	m.entered = make(chan struct{}, 1)
	w := newWriter(t, UsageWriterConfig{Inserter: m, BatchSize: 1, BufferSize: 2, FlushInterval: time.Millisecond})
	ctx := context.Background()
	// One record is held by the blocked insert, two fill the buffer.
	if err := w.Write(ctx, rec(0)); err != nil {
		t.Fatal(err)
	}
	<-m.entered
	for i := 1; i < 3; i++ {
		if err := w.Write(ctx, rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err := w.Write(tctx, rec(3))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Write with a full buffer = %v, want DeadlineExceeded", err)
	}
	close(m.gate) // let the database through
	if err := w.Write(ctx, rec(4)); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := m.count(); got != 4 {
		t.Fatalf("stored %d, want 4 (the refused record is the caller's)", got)
	}
}

func TestUsageWriterCloseFlushesAndRefusesWrites(t *testing.T) {
	m := newMem()
	w, err := NewUsageWriter(UsageWriterConfig{Inserter: m, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 777 {
		if err := w.Write(ctx, rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := m.count(); got != 777 {
		t.Fatalf("stored %d after Close, want 777", got)
	}
	if s := w.Stats(); s.Dropped != 0 {
		t.Fatalf("dropped %d before any loss", s.Dropped)
	}
	if err := w.Write(ctx, rec(1000)); !errors.Is(err, ErrWriterClosed) {
		t.Fatalf("Write after Close = %v, want ErrWriterClosed", err)
	}
	if s := w.Stats(); s.Dropped != 1 || s.Accepted != 777 {
		t.Fatalf("after a Write refused by a closed writer: %+v, want 1 dropped and 777 accepted", s)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

func TestUsageWriterCloseReportsUnwritten(t *testing.T) {
	m := newMem()
	m.failNext = 1 << 30
	w, err := NewUsageWriter(UsageWriterConfig{Inserter: m, RetryMin: time.Millisecond, RetryMax: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := w.Write(context.Background(), rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = w.Close(ctx)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a dead database = %v, want an error naming the deadline", err)
	}
	if s := w.Stats(); s.Dropped != 5 {
		t.Fatalf("dropped %d, want the 5 unwritten records", s.Dropped)
	}
}

func TestUsageWriterSpillsAndRecovers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.spill")
	down := newMem()
	down.failNext = 1 << 30
	w, err := NewUsageWriter(UsageWriterConfig{Inserter: down, SpillPath: path, RetryMin: time.Millisecond, RetryMax: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 42 {
		if err := w.Write(context.Background(), rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Close with spill = %v", err)
	}
	if s := w.Stats(); s.Spilled != 42 || s.Dropped != 0 {
		t.Fatalf("spilled %d and dropped %d, want 42 spilled and none dropped", s.Spilled, s.Dropped)
	}

	up := newMem()
	w2 := newWriter(t, UsageWriterConfig{Inserter: up, SpillPath: path})
	if err := w2.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := up.count(); got != 42 {
		t.Fatalf("recovered %d records, want 42", got)
	}
	if got := up.rows["req-000007"].Tokens; len(got) != 1 || got[0].Count != 3 {
		t.Fatalf("recovered record lost its tokens: %+v", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("spill file not removed after replay")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestUsageWriterConcurrentWriters(t *testing.T) {
	m := newMem()
	w := newWriter(t, UsageWriterConfig{Inserter: m, BatchSize: 64, BufferSize: 128})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				// Overlapping ids across goroutines: stored once.
				if err := w.Write(context.Background(), rec(g%4*500+i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := m.count(); got != 2000 {
		t.Fatalf("stored %d distinct, want 2000", got)
	}
	if s := w.Stats(); s.Stored != 4000 || s.Inserted != 2000 {
		t.Fatalf("stats = %+v, want 4000 stored, 2000 inserted", s)
	}
}

func TestNewUsageWriterNeedsInserter(t *testing.T) {
	if _, err := NewUsageWriter(UsageWriterConfig{}); err == nil {
		t.Fatal("NewUsageWriter without Inserter succeeded")
	}
}

func TestUsageWriterSetsInvalidRecordsAside(t *testing.T) {
	m := newMem()
	path := filepath.Join(t.TempDir(), "usage.spill")
	w := newWriter(t, UsageWriterConfig{Inserter: m, BatchSize: 50, FlushInterval: time.Hour, SpillPath: path})
	ctx := context.Background()
	for i := range 100 {
		r := rec(i)
		if i == 17 || i == 80 {
			r.RequestID = "" // refused by the store
		}
		if err := w.Write(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := w.Flush(fctx); err != nil {
		t.Fatalf("flush stalled on invalid records: %v", err)
	}
	if got := m.count(); got != 98 {
		t.Fatalf("stored %d, want the 98 valid records", got)
	}
	if s := w.Stats(); s.Invalid != 2 || s.Dropped != 2 || s.Failures != 0 {
		t.Fatalf("stats %+v", s)
	}
	b, err := os.ReadFile(path + ".invalid")
	if err != nil || len(bytes.Split(bytes.TrimSpace(b), []byte("\n"))) != 2 {
		t.Fatalf("invalid records file: %q %v", b, err)
	}
}
