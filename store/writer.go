package store

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ErrWriterClosed is returned by Write after Close was called.
var ErrWriterClosed = errors.New("store: usage writer closed")

// UsageWriterConfig configures a UsageWriter.
type UsageWriterConfig struct {
	// Inserter stores the batches. Required.
	Inserter UsageInserter
	// BatchSize is the largest number of records inserted at once.
	// Defaults to 500.
	BatchSize int
	// MinBatch is how many buffered records start a write before
	// FlushInterval has passed. Defaults to 256 (at most BatchSize). Under
	// load, records are thus written in steady batches (256 take about 5 ms
	// on the SQLite store) rather than in bursts of BatchSize, which would
	// hold a processor, and the requests behind it, longer; if the store
	// falls behind, what buffers up meanwhile makes the next batches larger,
	// up to BatchSize. Smaller batches cost more per record: with SQLite,
	// logosd at one client used 5 % more CPU per request with 64.
	MinBatch int
	// FlushInterval is the longest a record waits for its batch to fill.
	// Defaults to 250ms: one write transaction costs about as much as a dozen
	// records, so at rates below MinBatch records per interval a longer one
	// makes recording cheaper, while a record still shows up in the store
	// within a blink.
	FlushInterval time.Duration
	// BufferSize is how many records may wait to be written. When it is full,
	// Write blocks (backpressure) instead of dropping. Defaults to 65536.
	BufferSize int
	// RetryMin and RetryMax bound the exponential backoff between attempts to
	// store a failed batch. A failed batch is retried until it is stored, never
	// dropped. Default to 100ms and 5s.
	RetryMin time.Duration
	RetryMax time.Duration
	// SpillPath, when set, names a file (JSON lines) where records that could
	// not be stored before Close's context ended are saved; the next writer
	// with the same SpillPath stores them first and then removes the file.
	// Defaults to "" (no spill file: Close reports the unwritten records).
	SpillPath string
	// Log, when set, is a local write-ahead log (see internal/usagelog) that
	// every record is appended to before Write returns, and that the writer
	// takes its batches from: a record survives a crash of the process, and
	// while the database is down or slow records pile up in the log instead
	// of in memory, so Write never waits for the database. BufferSize does
	// not apply then, and Close leaves unstored records in the log for the
	// next start instead of spilling them. The caller opens and closes it
	// (after Close).
	Log UsageLog
	// InsertTimeout bounds one insert attempt. Defaults to 30s.
	InsertTimeout time.Duration
	// Logger receives failures. Defaults to slog.Default().
	Logger *slog.Logger
}

// UsageLog is a crash-safe local queue of usage records, such as
// *usagelog.Log.
type UsageLog interface {
	// Started records that a request began, so that a crash before its
	// record is appended still leaves a trace of it. It may refuse (when
	// the log is full) with an error.
	Started(rec *UsageRecord) error
	// Append makes rec survive a crash of the process and queues it.
	Append(rec *UsageRecord) error
	// Read appends to buf up to max records after the ones returned
	// before, oldest first.
	Read(buf []UsageRecord, max int) ([]UsageRecord, error)
	// Commit confirms that every record returned by Read is stored.
	Commit() error
	// Recovered returns how many records the log held when opened.
	Recovered() int
}

// UsageWriterStats counts what a UsageWriter did.
type UsageWriterStats struct {
	Accepted  uint64 // records handed to Write
	Stored    uint64 // records the store confirmed (new or already present)
	Inserted  uint64 // records that were new to the store
	Failures  uint64 // failed insert attempts (each retried)
	Spilled   uint64 // records saved to the spill file on Close
	Recovered uint64 // records read back from a spill file on start
	// Invalid counts records the store refused as invalid (ErrInvalid), which
	// no retry can store. They are logged and, with a SpillPath, saved to
	// SpillPath+".invalid" for inspection; the rest of their batch is stored.
	Invalid uint64
	// Dropped counts records that were lost: refused by Write after Close,
	// unwritten at Close without a spill file (or when spilling failed), or
	// set aside as invalid. It stays 0 in normal operation.
	Dropped uint64
}

// UsageWriter hands usage records to a store in batches, off the request path.
// Write returns as soon as the record is buffered; a background goroutine (owned
// by the writer, stopped by Close) inserts multi-row batches, retries failed
// batches with backoff and never drops a record. Inserts are idempotent by
// request id, so a retried batch never duplicates.
type UsageWriter struct {
	cfg UsageWriterConfig
	log *slog.Logger
	// ch holds pointers so that an idle buffer costs 8 bytes a slot, not a
	// whole record, and the garbage collector has little to scan in it.
	ch     chan *UsageRecord
	flushC chan struct{}
	fullC  chan struct{} // MinBatch records are buffered
	stopC  chan struct{} // closed by Close: store what is there and stop
	// abortC is closed when Close's context ends: only then is an insert
	// in flight cancelled, so that a graceful stop under load does not
	// throw away a batch the database was about to take.
	abortC chan struct{}
	doneC  chan struct{}

	mu     sync.RWMutex // Write holds it shared while sending; Close exclusively
	closed bool

	closeOnce sync.Once
	closeCtx  context.Context // set before stopC is closed
	closeErr  error           // set before doneC is closed

	progressMu sync.Mutex
	progress   chan struct{} // closed and replaced after every stored batch

	accepted, stored, inserted, failures, spilled, recovered, invalid, dropped atomic.Uint64
}

// WithDefaults returns c with every zero (or, for the bounds, negative)
// field but Inserter, SpillPath, Log and Logger set to its documented
// default, and MinBatch lowered to BatchSize. NewUsageWriter applies it;
// logos.Config takes its usage defaults from it, so the values are decided
// here only.
func (c UsageWriterConfig) WithDefaults() UsageWriterConfig {
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	if c.MinBatch <= 0 {
		c.MinBatch = 256
	}
	c.MinBatch = min(c.MinBatch, c.BatchSize)
	if c.FlushInterval <= 0 {
		c.FlushInterval = 250 * time.Millisecond
	}
	if c.BufferSize <= 0 {
		c.BufferSize = 65536
	}
	if c.InsertTimeout <= 0 {
		c.InsertTimeout = 30 * time.Second
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 100 * time.Millisecond
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = max(5*time.Second, c.RetryMin)
	}
	return c
}

// NewUsageWriter starts a writer. If cfg.SpillPath names an existing spill
// file, its records are queued first.
func NewUsageWriter(cfg UsageWriterConfig) (*UsageWriter, error) {
	if cfg.Inserter == nil {
		return nil, errors.New("store: UsageWriterConfig.Inserter is required")
	}
	cfg = cfg.WithDefaults()
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	w := &UsageWriter{
		cfg:      cfg,
		log:      log,
		ch:       make(chan *UsageRecord, cfg.BufferSize),
		flushC:   make(chan struct{}, 1),
		fullC:    make(chan struct{}, 1),
		stopC:    make(chan struct{}),
		abortC:   make(chan struct{}),
		doneC:    make(chan struct{}),
		progress: make(chan struct{}),
	}
	recovered, err := w.readSpill()
	if err != nil {
		return nil, err
	}
	if cfg.Log != nil {
		w.ch = nil
		w.recovered.Add(uint64(cfg.Log.Recovered()))
		go w.runLog(recovered)
		return w, nil
	}
	go w.run(recovered)
	return w, nil
}

// Started tells the log, if there is one, that the request of rec began.
// Without a log it does nothing.
func (w *UsageWriter) Started(rec *UsageRecord) error {
	if w.cfg.Log == nil {
		return nil
	}
	return w.cfg.Log.Started(rec)
}

// Write hands a record over. It returns when the record is buffered, blocking
// only while the buffer is full; if ctx ends first the record was not taken and
// ctx's error is returned. After Close it returns ErrWriterClosed.
func (w *UsageWriter) Write(ctx context.Context, rec UsageRecord) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.dropped.Add(1)
		return ErrWriterClosed
	}
	if w.cfg.Log != nil {
		if err := w.cfg.Log.Append(&rec); err != nil {
			w.dropped.Add(1)
			return fmt.Errorf("store: usage record %s not logged: %w", rec.RequestID, err)
		}
		w.accepted.Add(1)
		if w.Pending() >= w.cfg.MinBatch {
			w.signalFull()
		}
		return nil
	}
	r := &rec
	select {
	case w.ch <- r:
		w.accepted.Add(1)
		if len(w.ch) >= w.cfg.MinBatch {
			w.signalFull()
		}
		return nil
	default:
	}
	w.signalFull()
	select {
	case w.ch <- r:
		w.accepted.Add(1)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("store: usage record %s not buffered: %w", rec.RequestID, ctx.Err())
	}
}

// signalFull wakes the background goroutine to store a batch, unless it
// has been woken already.
func (w *UsageWriter) signalFull() {
	select {
	case w.fullC <- struct{}{}:
	default:
	}
}

// Flush waits until every record handed to Write before the call is stored.
func (w *UsageWriter) Flush(ctx context.Context) error {
	target := w.accepted.Load() + w.recovered.Load()
	for {
		w.progressMu.Lock()
		done := w.stored.Load() >= target
		p := w.progress
		w.progressMu.Unlock()
		if done {
			return nil
		}
		select {
		case w.flushC <- struct{}{}:
		default:
		}
		select {
		case <-p:
		case <-w.doneC:
			if w.stored.Load() >= target {
				return nil
			}
			return fmt.Errorf("store: flush: writer stopped with records unwritten: %w", ErrWriterClosed)
		case <-ctx.Done():
			return fmt.Errorf("store: flush: %w", ctx.Err())
		}
	}
}

// Close stops accepting records, stores everything buffered, and stops the
// background goroutine. An insert in flight is not interrupted, and failed
// batches are retried, until ctx ends; what is still unwritten then stays in
// the Log (and is logged at Warn), goes to the spill file if one is
// configured, and otherwise is reported in the returned error. Close is
// idempotent.
func (w *UsageWriter) Close(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		w.closeCtx = ctx
		close(w.stopC)
		go func() {
			select {
			case <-ctx.Done():
				close(w.abortC)
			case <-w.doneC:
			}
		}()
	})
	<-w.doneC
	return w.closeErr
}

// Stats returns counters of what the writer did so far.
func (w *UsageWriter) Stats() UsageWriterStats {
	return UsageWriterStats{
		Accepted:  w.accepted.Load(),
		Stored:    w.stored.Load(),
		Inserted:  w.inserted.Load(),
		Failures:  w.failures.Load(),
		Spilled:   w.spilled.Load(),
		Recovered: w.recovered.Load(),
		Invalid:   w.invalid.Load(),
		Dropped:   w.dropped.Load(),
	}
}

// Pending returns how many accepted records are not stored yet.
func (w *UsageWriter) Pending() int {
	return int(w.accepted.Load() + w.recovered.Load() - w.stored.Load())
}

func (w *UsageWriter) run(recovered []UsageRecord) {
	defer close(w.doneC)
	batch := make([]UsageRecord, 0, w.cfg.BatchSize)
	// Records read back from a spill file go first, in batches.
	for len(recovered) > 0 {
		n := min(len(recovered), w.cfg.BatchSize)
		if !w.store(recovered[:n], w.abortC) {
			// The unstored ones are still in the spill file, which is kept.
			w.finish(nil)
			return
		}
		recovered = recovered[n:]
	}
	if w.cfg.SpillPath != "" {
		if err := os.Remove(w.cfg.SpillPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			w.log.Error("usage writer: removing replayed spill file", "path", w.cfg.SpillPath, "err", err)
		}
	}

	ticker := time.NewTicker(w.cfg.FlushInterval)
	defer ticker.Stop()
	for {
		// Records wait in the channel until MinBatch are there (Write
		// signals fullC), the ticker fires or Flush asks: receiving each one
		// here would wake this goroutine, and a thread, once per request.
		select {
		case <-ticker.C:
		case <-w.fullC:
		case <-w.flushC:
		case <-w.stopC:
			w.finish(nil)
			return
		}
		for {
			batch = w.fill(batch[:0])
			if len(batch) == 0 {
				break
			}
			if !w.store(batch, w.abortC) {
				w.finish(batch)
				return
			}
			if len(batch) < w.cfg.BatchSize {
				break // the channel was empty
			}
		}
	}
}

// runLog is run with a Log: batches come from the log, and a stored batch
// is committed to it.
func (w *UsageWriter) runLog(spilled []UsageRecord) {
	defer close(w.doneC)
	for len(spilled) > 0 {
		n := min(len(spilled), w.cfg.BatchSize)
		if !w.store(spilled[:n], w.abortC) {
			// Close's context ended: the rest of the spill file is kept.
			w.warnLeftInLog()
			return
		}
		spilled = spilled[n:]
	}
	if w.cfg.SpillPath != "" {
		if err := os.Remove(w.cfg.SpillPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			w.log.Error("usage writer: removing replayed spill file", "path", w.cfg.SpillPath, "err", err)
		}
	}
	ticker := time.NewTicker(w.cfg.FlushInterval)
	defer ticker.Stop()
	batch := make([]UsageRecord, 0, w.cfg.BatchSize)
	for {
		select {
		case <-ticker.C:
		case <-w.fullC:
		case <-w.flushC:
		case <-w.stopC:
			w.finishLog()
			return
		}
		if !w.drainLog(&batch, w.abortC) {
			// Close's context ended with the batch in hand unstored: it
			// is neither committed nor followed by another Read, so it
			// stays in the log for the next start.
			w.warnLeftInLog()
			return
		}
	}
}

// drainLog stores batches from the log until it has no more. It reports
// false when abort ended it; the batch it read then is unstored and
// uncommitted, so the caller must not Read or Commit again (a Commit would
// confirm it too).
func (w *UsageWriter) drainLog(batch *[]UsageRecord, abort <-chan struct{}) bool {
	for {
		b, err := w.cfg.Log.Read((*batch)[:0], w.cfg.BatchSize)
		*batch = b
		if err != nil {
			w.log.Error("usage writer: reading the usage log failed", "err", err)
		}
		if len(b) == 0 {
			return true
		}
		if !w.store(b, abort) {
			return false
		}
		if err := w.cfg.Log.Commit(); err != nil {
			w.log.Error("usage writer: committing the usage log failed", "err", err)
		}
		if len(b) < w.cfg.BatchSize || err != nil {
			return true
		}
	}
}

// finishLog runs on Close with a log: it stores what the log holds until
// Close's context ends; the rest stays in the log for the next start.
func (w *UsageWriter) finishLog() {
	batch := make([]UsageRecord, 0, w.cfg.BatchSize)
	if !w.drainLog(&batch, w.abortC) {
		w.warnLeftInLog()
	}
}

// warnLeftInLog logs how many records Close left for the next start.
func (w *UsageWriter) warnLeftInLog() {
	if n := w.Pending(); n > 0 {
		w.log.Warn("usage writer: records left in the usage log, they are stored on next start", "records", n)
	}
}

// fill appends buffered records to batch without waiting, up to BatchSize.
func (w *UsageWriter) fill(batch []UsageRecord) []UsageRecord {
	for len(batch) < w.cfg.BatchSize {
		select {
		case rec := <-w.ch:
			batch = append(batch, *rec)
		default:
			return batch
		}
	}
	return batch
}

// store inserts batch, retrying with backoff until it succeeds. It gives up
// (returning false) only when abort is closed, so Close can take over.
func (w *UsageWriter) store(batch []UsageRecord, abort <-chan struct{}) bool {
	backoff := w.cfg.RetryMin
	for {
		select {
		case <-abort:
			return false // Close's deadline passed: no attempt after it
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), w.cfg.InsertTimeout)
		// An attempt against a hanging database ends when abort does, so
		// Close keeps to its deadline.
		go func() {
			select {
			case <-abort:
				cancel()
			case <-ctx.Done():
			}
		}()
		n, err := w.cfg.Inserter.InsertUsage(ctx, batch)
		cancel()
		if err == nil {
			w.inserted.Add(uint64(n))
			w.done(len(batch))
			return true
		}
		if errors.Is(err, ErrInvalid) {
			// Retrying cannot help: find the refused records by halving
			// the batch and store the others.
			if len(batch) == 1 {
				w.refuse(batch[0], err)
				w.done(1)
				return true
			}
			half := len(batch) / 2
			return w.store(batch[:half], abort) && w.store(batch[half:], abort)
		}
		w.failures.Add(1)
		select {
		case <-abort:
			// The attempt was cut off by Close's deadline: whoever
			// called store reports what is left.
			return false
		default:
		}
		w.log.Error("usage writer: storing batch failed, will retry", "records", len(batch), "retry_in", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-abort:
			t.Stop()
			return false
		}
		backoff = min(backoff*2, w.cfg.RetryMax)
	}
}

// done records that n records left the writer and wakes Flush callers.
func (w *UsageWriter) done(n int) {
	w.progressMu.Lock()
	w.stored.Add(uint64(n))
	close(w.progress)
	w.progress = make(chan struct{})
	w.progressMu.Unlock()
}

// refuse sets aside a record the store refused as invalid.
func (w *UsageWriter) refuse(rec UsageRecord, err error) {
	w.invalid.Add(1)
	w.dropped.Add(1)
	w.log.Error("usage writer: the store refused a usage record as invalid", "request_id", rec.RequestID, "err", err)
	if w.cfg.SpillPath == "" {
		return
	}
	if err := appendJSONLines(w.cfg.SpillPath+".invalid", []UsageRecord{rec}); err != nil {
		w.log.Error("usage writer: saving an invalid record failed", "request_id", rec.RequestID, "err", err)
	}
}

// finish runs on Close: it stores pending (the batch in hand) and everything
// still buffered, retrying until Close's context ends, then spills the rest.
func (w *UsageWriter) finish(pending []UsageRecord) {
	ctx := w.closeCtx // Close set it (never nil) before finish runs
	rest := append([]UsageRecord(nil), pending...)
	for {
		select {
		case rec := <-w.ch:
			rest = append(rest, *rec)
			continue
		default:
		}
		break
	}
	for len(rest) > 0 {
		n := min(len(rest), w.cfg.BatchSize)
		if !w.store(rest[:n], w.abortC) {
			break
		}
		rest = rest[n:]
	}
	if len(rest) == 0 {
		return
	}
	if w.cfg.SpillPath == "" {
		w.dropped.Add(uint64(len(rest)))
		w.closeErr = fmt.Errorf("store: usage writer closed with %d records unwritten: %w", len(rest), ctx.Err())
		w.log.Error("usage writer: records unwritten at close", "records", len(rest))
		return
	}
	if err := w.writeSpill(rest); err != nil {
		w.dropped.Add(uint64(len(rest)))
		w.closeErr = fmt.Errorf("store: usage writer closed with %d records unwritten, spill failed: %w", len(rest), err)
		w.log.Error("usage writer: spilling records failed", "records", len(rest), "path", w.cfg.SpillPath, "err", err)
		return
	}
	w.spilled.Add(uint64(len(rest)))
	w.log.Warn("usage writer: records spilled to file, they are stored on next start", "records", len(rest), "path", w.cfg.SpillPath)
}

func (w *UsageWriter) writeSpill(recs []UsageRecord) error {
	return appendJSONLines(w.cfg.SpillPath, recs)
}

// appendJSONLines appends records to a file, one JSON object per line, and syncs it.
func appendJSONLines(path string, recs []UsageRecord) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	enc := json.NewEncoder(bw)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			f.Close()
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (w *UsageWriter) readSpill() ([]UsageRecord, error) {
	if w.cfg.SpillPath == "" {
		return nil, nil
	}
	f, err := os.Open(w.cfg.SpillPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: opening usage spill file: %w", err)
	}
	defer f.Close()
	var recs []UsageRecord
	dec := json.NewDecoder(bufio.NewReader(f))
	for {
		var r UsageRecord
		err := dec.Decode(&r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// A torn last line (crash while spilling) loses nothing that was
			// fully written before it.
			w.log.Error("usage writer: spill file has an unreadable record; keeping the ones before it", "path", w.cfg.SpillPath, "err", err)
			break
		}
		recs = append(recs, r)
	}
	w.recovered.Store(uint64(len(recs)))
	return recs, nil
}
