package usagelog

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/logos-llm/logos/store"
)

var t0 = time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)

func rec(i int) store.UsageRecord {
	return store.UsageRecord{
		RequestID: fmt.Sprintf("req-%06d", i), ProcessID: 7, Operation: "chat/completions",
		ReceivedAt: t0.Add(time.Duration(i) * time.Millisecond), Outcome: store.OutcomeSuccess,
		StatusCode: 200, LogLevel: store.LogBilling,
		Tokens: []store.TokenCount{{Type: "input", Count: int64(i)}},
	}
}

func open(t *testing.T, cfg Config) *Log {
	t.Helper()
	l, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

// readAll reads and commits until the log gives nothing more.
func readAll(t *testing.T, l *Log, commit bool) []store.UsageRecord {
	t.Helper()
	var all []store.UsageRecord
	for {
		b, err := l.Read(nil, 100)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if len(b) == 0 {
			return all
		}
		all = append(all, b...)
		if commit {
			if err := l.Commit(); err != nil {
				t.Fatalf("Commit: %v", err)
			}
		}
	}
}

func ids(recs []store.UsageRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.RequestID
	}
	return out
}

func wantIDs(t *testing.T, got []store.UsageRecord, from, to int) {
	t.Helper()
	if len(got) != to-from {
		t.Fatalf("got %d records, want %d", len(got), to-from)
	}
	for i, r := range got {
		if want := fmt.Sprintf("req-%06d", from+i); r.RequestID != want {
			t.Fatalf("record %d is %s, want %s", i, r.RequestID, want)
		}
	}
}

func segCount(t *testing.T, dir string) int {
	t.Helper()
	segs, err := segments(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(segs)
}

func TestAppendReadCommitRotates(t *testing.T) {
	dir := t.TempDir()
	l := open(t, Config{Dir: dir, SegmentBytes: 4 << 10})
	defer l.Close()
	for i := range 200 {
		r := rec(i)
		if err := l.Started(&r); err != nil {
			t.Fatal(err)
		}
		if err := l.Append(&r); err != nil {
			t.Fatal(err)
		}
	}
	if n := segCount(t, dir); n < 5 {
		t.Fatalf("%d segments after 200 records of 4 KiB segments; want rotation", n)
	}
	got := readAll(t, l, true)
	wantIDs(t, got, 0, 200)
	if got[5].Tokens[0].Count != 5 || !got[5].ReceivedAt.Equal(rec(5).ReceivedAt) {
		t.Fatalf("record 5 came back as %+v", got[5])
	}
	if n := segCount(t, dir); n != 1 {
		t.Fatalf("%d segments left after committing everything, want 1", n)
	}
	if st := l.Stats(); st.BacklogBytes != 0 {
		t.Fatalf("backlog %d after committing everything", st.BacklogBytes)
	}
}

func TestReopenReplaysUncommittedAndInterrupted(t *testing.T) {
	dir := t.TempDir()
	l := open(t, Config{Dir: dir, SegmentBytes: 4 << 10})
	for i := range 50 {
		r := rec(i)
		_ = l.Started(&r)
		if err := l.Append(&r); err != nil {
			t.Fatal(err)
		}
	}
	// 20 records stored and committed, then the process "dies" with 3
	// requests started and not finished.
	b, _ := l.Read(nil, 20)
	wantIDs(t, b, 0, 20)
	if err := l.Commit(); err != nil {
		t.Fatal(err)
	}
	for i := 50; i < 53; i++ {
		r := rec(i)
		_ = l.Started(&r)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = open(t, Config{Dir: dir, SegmentBytes: 4 << 10})
	defer l.Close()
	got := readAll(t, l, true)
	// Everything after the oldest kept segment comes back (the store
	// ignores what it has), then the interrupted ones.
	byID := map[string]store.UsageRecord{}
	for _, r := range got {
		if _, dup := byID[r.RequestID]; dup {
			t.Fatalf("%s read twice", r.RequestID)
		}
		byID[r.RequestID] = r
	}
	for i := 20; i < 53; i++ {
		r, ok := byID[fmt.Sprintf("req-%06d", i)]
		if !ok {
			t.Fatalf("req-%06d lost; got %v", i, ids(got))
		}
		want := store.OutcomeSuccess
		if i >= 50 {
			want = store.OutcomeInterrupted
		}
		if r.Outcome != want {
			t.Fatalf("req-%06d outcome %s, want %s", i, r.Outcome, want)
		}
		if i >= 50 && (r.ProcessID != 7 || r.CompletedAt.Before(r.ReceivedAt)) {
			t.Fatalf("interrupted record %+v", r)
		}
	}
	if l.Recovered() < 33 {
		t.Fatalf("Recovered = %d, want at least 33", l.Recovered())
	}
	// Reopened again after all was committed: nothing comes back.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open(t, Config{Dir: dir})
	if got := readAll(t, l, true); len(got) != 0 {
		t.Fatalf("after everything was committed, reopening gave %v", ids(got))
	}
}

func TestOpenKeepsEntriesBeforeATornTail(t *testing.T) {
	dir := t.TempDir()
	l := open(t, Config{Dir: dir})
	for i := range 10 {
		r := rec(i)
		_ = l.Append(&r)
	}
	l.Close()
	segs, _ := segments(dir)
	path := filepath.Join(dir, segName(segs[len(segs)-1]))
	data, _ := os.ReadFile(path)
	if err := os.WriteFile(path, data[:len(data)-7], 0o600); err != nil {
		t.Fatal(err)
	}
	l = open(t, Config{Dir: dir})
	defer l.Close()
	wantIDs(t, readAll(t, l, true), 0, 9)
}

func TestOverflowReadsBackFromFiles(t *testing.T) {
	dir := t.TempDir()
	l := open(t, Config{Dir: dir, SegmentBytes: 8 << 10, MemoryRecords: 8})
	defer l.Close()
	for i := range 100 {
		r := rec(i)
		_ = l.Started(&r)
		_ = l.Append(&r)
	}
	// Read in small steps, appending more in between.
	b, _ := l.Read(nil, 30)
	wantIDs(t, b, 0, 30)
	_ = l.Commit()
	for i := 100; i < 150; i++ {
		r := rec(i)
		_ = l.Append(&r)
	}
	wantIDs(t, readAll(t, l, true), 30, 150)
}

func TestStartedRefusedWhenFull(t *testing.T) {
	dir := t.TempDir()
	l := open(t, Config{Dir: dir, SegmentBytes: 2 << 10, MaxBytes: 8 << 10, HighWaterBytes: 4 << 10})
	defer l.Close()
	var full bool
	var n int
	for i := range 1000 {
		r := rec(i)
		if err := l.Started(&r); err == ErrFull {
			full = true
			break
		}
		_ = l.Append(&r)
		n++
	}
	if !full {
		t.Fatal("Started never refused with ErrFull")
	}
	if l.Ready() {
		t.Fatalf("Ready with a backlog of %d bytes", l.Stats().BacklogBytes)
	}
	wantIDs(t, readAll(t, l, true), 0, n)
	if !l.Ready() {
		t.Fatal("not Ready after the backlog was committed")
	}
	r := rec(5000)
	if err := l.Started(&r); err != nil {
		t.Fatalf("Started after the backlog was committed: %v", err)
	}
}

func TestConcurrentAppendersAndReader(t *testing.T) {
	dir := t.TempDir()
	l := open(t, Config{Dir: dir, SegmentBytes: 16 << 10, MemoryRecords: 64, SyncInterval: time.Millisecond})
	const writers, each = 8, 300
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r := rec(w*each + i)
				if err := l.Started(&r); err != nil {
					t.Error(err)
				}
				if err := l.Append(&r); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	done := make(chan struct{})
	var got []store.UsageRecord
	go func() {
		defer close(done)
		for len(got) < writers*each {
			b, err := l.Read(nil, 50)
			if err != nil {
				t.Error(err)
				return
			}
			got = append(got, b...)
			_ = l.Commit()
			if len(b) == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	wg.Wait()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("reader got %d of %d records", len(got), writers*each)
	}
	gotIDs := ids(got)
	sort.Strings(gotIDs)
	for i, id := range gotIDs {
		if want := fmt.Sprintf("req-%06d", i); id != want {
			t.Fatalf("sorted record %d is %s, want %s (lost or duplicated)", i, id, want)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Nothing is pending any more: no interrupted records on reopen.
	l = open(t, Config{Dir: dir})
	defer l.Close()
	if rest := readAll(t, l, true); len(rest) != 0 {
		t.Fatalf("reopening gave %d records, first %s %s", len(rest), rest[0].RequestID, rest[0].Outcome)
	}
}

func TestSecondOpenOfADirectoryFails(t *testing.T) {
	dir := t.TempDir()
	l := open(t, Config{Dir: dir})
	defer l.Close()
	if l2, err := Open(Config{Dir: dir}); err == nil {
		l2.Close()
		t.Fatal("a second Open of the same directory succeeded")
	}
}
