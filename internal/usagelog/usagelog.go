// Package usagelog is a local write-ahead log for usage records: every record
// is written to a file in a directory before it is stored in the database, so
// that a crash of the process (kill -9, an out-of-memory kill) loses no record
// of a request that was answered, and a database outage does not hold up
// requests while the log has room.
//
// A Log is a sequence of segment files (00000001.wal, 00000002.wal, ...). Two
// kinds of entries are appended: a "started" marker when a request begins and
// the complete record when it ends. Appends are batched: concurrent appenders
// share one write(2) (group commit), records wait until their bytes are
// written to the operating system (which survives the death of the process),
// markers do not wait at all, and fsync runs on an interval and at Close
// (which protects against the loss of the machine up to that interval).
//
// One reader (store.UsageWriter) takes the records in order with Read and
// confirms them with Commit once the database has them; segments wholly
// behind the committed position are deleted. Records are handed over from
// memory while the reader keeps up and read back from the files when it has
// fallen behind (a database outage), so the memory a backlog takes is bounded.
//
// When a Log is opened on a directory left by a process that died, every
// record found is queued again (the database ignores the ones it has: request
// ids are unique and inserts idempotent) and every request that has a marker
// but no record gets a record with the outcome "interrupted".
package usagelog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/logos-llm/logos/store"
)

// ErrFull is returned by Started when the log holds MaxBytes or more: the
// database has not taken records for a while, and a new request would have
// nowhere to leave its record.
var ErrFull = errors.New("usagelog: usage log is full")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("usagelog: closed")

// Config configures a Log.
type Config struct {
	// Dir is the directory of the log; it is created if missing. Only one
	// process may use it at a time. Required.
	Dir string
	// SyncInterval is how often written entries are fsynced (and markers
	// that no record has carried along are written). Defaults to 100ms.
	SyncInterval time.Duration
	// SegmentBytes is the size at which a new segment file is started.
	// Defaults to 4 MiB, or a 16th of MaxBytes when that is smaller.
	SegmentBytes int64
	// MaxBytes bounds the log's size on disk: above it, Started refuses new
	// requests with ErrFull (records of requests already started are still
	// appended). Defaults to 1 GiB.
	MaxBytes int64
	// HighWaterBytes is the backlog (bytes not yet committed) above which
	// Ready reports false. Defaults to half of MaxBytes.
	HighWaterBytes int64
	// MemoryRecords is how many records wait in memory for the reader;
	// beyond it the reader reads them back from the files. Defaults to 16384.
	MemoryRecords int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Entry types.
const (
	typeMarker byte = 'S'
	typeRecord byte = 'R'
)

// headerSize is the entry header: payload length (uint32), CRC-32C of type
// and payload (uint32), type (byte).
const headerSize = 9

// maxPayload bounds one entry; a longer length in a header means corruption.
const maxPayload = 256 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// pos is a position in the log.
type pos struct {
	seg uint64
	off int64
}

func (p pos) less(q pos) bool { return p.seg < q.seg || (p.seg == q.seg && p.off < q.off) }

// queued is a record waiting in memory for the reader.
type queued struct {
	rec        *store.UsageRecord
	start, end pos
	// gap: a record appended between the previous queued one and this one
	// was not queued (memory was full) and must be read from the files.
	gap bool
}

// pendingEntry is an entry in the append buffer not yet written.
type pendingEntry struct {
	rec        *store.UsageRecord // nil for markers
	start, end int                // offsets in the buffer
}

// Log is a usage write-ahead log. Its methods are safe for concurrent use,
// except Read and Commit, which belong to one reader.
type Log struct {
	cfg  Config
	log  *slog.Logger
	lock *os.File // holds the directory's lock

	mu        sync.Mutex
	cond      *sync.Cond // signalled when a write completes
	closed    bool
	buf       []byte // entries appended and not yet written
	pending   []pendingEntry
	spare     []byte
	writing   bool   // a goroutine is writing buf's former content
	seq       uint64 // bytes ever appended to buf
	wseq      uint64 // bytes ever written (or failed)
	writeErrs uint64 // failed writes
	open      map[string][]byte
	// File state, changed only by the writing goroutine (under writing).
	cur     *os.File
	curSeg  uint64
	curSize int64
	// Guarded by mu.
	sizes   map[uint64]int64 // bytes written per existing segment
	total   int64            // sum of sizes
	written pos              // end of the bytes written
	retired []*os.File       // rotated files to sync and close
	dirty   bool             // written since the last sync
	queue   []queued         // ring of records for the reader
	qhead   int
	qlen    int
	gap     bool // a record was not queued since the last queued one
	commit  pos  // everything before it is stored

	recovered int

	// Reader state, used only by Read and Commit.
	rpos  pos
	rfile *os.File
	rseg  uint64
	cfile *os.File // the committed position

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Open opens (or creates) the log in cfg.Dir. Records left by an earlier
// process are queued for the reader first, followed by an "interrupted"
// record for every request that was started and not finished.
func Open(cfg Config) (*Log, error) {
	if cfg.Dir == "" {
		return nil, errors.New("usagelog: Config.Dir is required")
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = 100 * time.Millisecond
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 1 << 30
	}
	if cfg.SegmentBytes <= 0 {
		// Stored records in the current segment count towards MaxBytes
		// until it is rotated: keep that a small part of it.
		cfg.SegmentBytes = max(min(4<<20, cfg.MaxBytes/16), 4<<10)
	}
	if cfg.HighWaterBytes <= 0 {
		cfg.HighWaterBytes = cfg.MaxBytes / 2
	}
	if cfg.MemoryRecords <= 0 {
		cfg.MemoryRecords = 16384
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("usagelog: %w", err)
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	l := &Log{
		cfg:   cfg,
		log:   cfg.Logger,
		lock:  lock,
		open:  make(map[string][]byte),
		sizes: make(map[uint64]int64),
		queue: make([]queued, cfg.MemoryRecords),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	l.cond = sync.NewCond(&l.mu)
	interrupted, err := l.recover()
	if err != nil {
		_ = lock.Close()
		return nil, err
	}
	if err := l.startSegment(l.curSeg + 1); err != nil {
		_ = lock.Close()
		return nil, err
	}
	if l.rpos.seg == 0 {
		l.rpos = pos{seg: l.curSeg}
		l.commit = l.rpos
	}
	go l.syncLoop()
	for i := range interrupted {
		if err := l.Append(&interrupted[i]); err != nil {
			_ = l.Close()
			return nil, err
		}
	}
	if len(interrupted) > 0 {
		// The markers they replace may be deleted once these are stored:
		// make them durable first.
		if err := l.Sync(); err != nil {
			_ = l.Close()
			return nil, err
		}
		l.log.Warn("usage log: requests in flight when the previous process stopped are recorded as interrupted", "records", len(interrupted))
	}
	l.recovered += len(interrupted)
	return l, nil
}

// segName is a segment's file name.
func segName(seg uint64) string { return fmt.Sprintf("%08d.wal", seg) }

// segments lists the segment numbers in dir, oldest first.
func segments(dir string) ([]uint64, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("usagelog: %w", err)
	}
	var segs []uint64
	for _, de := range des {
		name, ok := strings.CutSuffix(de.Name(), ".wal")
		if !ok || de.IsDir() {
			continue
		}
		n, err := strconv.ParseUint(name, 10, 64)
		if err != nil || n == 0 {
			continue
		}
		segs = append(segs, n)
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i] < segs[j] })
	return segs, nil
}

// recover scans the segments a previous process left: it counts their
// records, queues them for the reader (from the files) and returns the
// interrupted records for markers without a record.
func (l *Log) recover() ([]store.UsageRecord, error) {
	segs, err := segments(l.cfg.Dir)
	if err != nil {
		return nil, err
	}
	if len(segs) == 0 {
		// A committed position without segments is stale.
		if err := os.Remove(filepath.Join(l.cfg.Dir, committedName)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("usagelog: %w", err)
		}
		return nil, nil
	}
	done := make(map[string]bool)
	markers := make(map[string]store.UsageRecord)
	var order []string
	var lastMod time.Time
	committed := l.readCommitted()
	replay := 0
	for _, seg := range segs {
		path := filepath.Join(l.cfg.Dir, segName(seg))
		if fi, err := os.Stat(path); err == nil && fi.ModTime().After(lastMod) {
			lastMod = fi.ModTime()
		}
		end, err := scanSegment(path, func(off int64, typ byte, payload []byte) error {
			id, err := requestID(payload)
			if err != nil {
				return err
			}
			switch typ {
			case typeRecord:
				done[id] = true
				if !(pos{seg, off}).less(committed) {
					replay++
				}
			case typeMarker:
				if _, ok := markers[id]; !ok {
					r, err := decodeRecord(payload)
					if err != nil {
						return err
					}
					markers[id] = r
					order = append(order, id)
				}
			}
			return nil
		})
		if err != nil {
			l.log.Error("usage log: a segment has an unreadable entry; keeping the entries before it", "segment", path, "err", err)
		}
		l.sizes[seg] = end
		l.total += end
	}
	l.curSeg = segs[len(segs)-1]
	l.rpos = pos{seg: segs[0]}
	if size, ok := l.sizes[committed.seg]; ok && committed.off <= size {
		l.rpos = committed
	}
	l.commit = l.rpos
	l.recovered = replay
	l.gap = true // the old records are read from the files
	var out []store.UsageRecord
	for _, id := range order {
		if done[id] {
			continue
		}
		r := markers[id]
		r.Outcome = store.OutcomeInterrupted
		r.StatusCode = 0
		r.ErrorMessage = "Logos stopped before the request completed"
		r.CompletedAt = lastMod.UTC()
		if r.CompletedAt.Before(r.ReceivedAt) {
			r.CompletedAt = r.ReceivedAt
		}
		out = append(out, r)
	}
	return out, nil
}

// committedName is the file that keeps the committed position, so that a
// restart replays only what follows it.
const committedName = "COMMITTED"

// readCommitted returns the committed position saved by an earlier process,
// or the zero position.
func (l *Log) readCommitted() pos {
	b, err := os.ReadFile(filepath.Join(l.cfg.Dir, committedName))
	if err != nil || len(b) != 20 || crc32.Checksum(b[:16], crcTable) != binary.LittleEndian.Uint32(b[16:]) {
		return pos{}
	}
	return pos{seg: binary.LittleEndian.Uint64(b[0:8]), off: int64(binary.LittleEndian.Uint64(b[8:16]))}
}

// saveCommitted saves the committed position (without fsync: after a
// machine crash, a stale position only replays records the database
// ignores). Called by the reader.
func (l *Log) saveCommitted(p pos) error {
	if l.cfile == nil {
		f, err := os.OpenFile(filepath.Join(l.cfg.Dir, committedName), os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		l.cfile = f
	}
	var b [20]byte
	binary.LittleEndian.PutUint64(b[0:8], p.seg)
	binary.LittleEndian.PutUint64(b[8:16], uint64(p.off))
	binary.LittleEndian.PutUint32(b[16:20], crc32.Checksum(b[:16], crcTable))
	_, err := l.cfile.WriteAt(b[:], 0)
	return err
}

// scanSegment calls fn for every valid entry of a segment and returns the
// end of the last valid one. A torn or corrupt entry ends the scan.
func scanSegment(path string, fn func(off int64, typ byte, payload []byte) error) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var off int64
	for int64(len(data))-off > 0 {
		typ, payload, n, err := parseEntry(data[off:])
		if err != nil {
			return off, fmt.Errorf("at offset %d: %w", off, err)
		}
		if err := fn(off, typ, payload); err != nil {
			return off, fmt.Errorf("at offset %d: %w", off, err)
		}
		off += int64(n)
	}
	return off, nil
}

var errTorn = errors.New("torn or corrupt entry")

// parseEntry parses the entry at the start of b and returns its length.
func parseEntry(b []byte) (typ byte, payload []byte, n int, err error) {
	if len(b) < headerSize {
		return 0, nil, 0, errTorn
	}
	size := binary.LittleEndian.Uint32(b[0:4])
	sum := binary.LittleEndian.Uint32(b[4:8])
	if size > maxPayload || len(b) < headerSize+int(size) {
		return 0, nil, 0, errTorn
	}
	if crc32.Checksum(b[8:headerSize+int(size)], crcTable) != sum {
		return 0, nil, 0, errTorn
	}
	typ = b[8]
	if typ != typeMarker && typ != typeRecord {
		return 0, nil, 0, errTorn
	}
	return typ, b[headerSize : headerSize+int(size)], headerSize + int(size), nil
}

// appendEntry appends an entry holding rec to b, encoding it in place.
func appendEntry(b []byte, typ byte, rec *store.UsageRecord) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0, typ)
	b = appendRecord(b, rec)
	binary.LittleEndian.PutUint32(b[start:], uint32(len(b)-start-headerSize))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(b[start+8:], crcTable))
	return b
}

// startSegment creates segment seg and makes it the current one. It is
// called by Open and by the writing goroutine.
func (l *Log) startSegment(seg uint64) error {
	f, err := os.OpenFile(filepath.Join(l.cfg.Dir, segName(seg)), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("usagelog: new segment: %w", err)
	}
	if err := syncDir(l.cfg.Dir); err != nil {
		_ = f.Close()
		return fmt.Errorf("usagelog: new segment: %w", err)
	}
	l.mu.Lock()
	if l.cur != nil {
		l.retired = append(l.retired, l.cur)
	}
	l.cur, l.curSeg, l.curSize = f, seg, 0
	l.sizes[seg] = 0
	l.written = pos{seg: seg}
	l.mu.Unlock()
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Recovered returns how many records the log held when it was opened,
// including the interrupted records made then.
func (l *Log) Recovered() int { return l.recovered }

// marker is what a "started" marker keeps of a record: enough for an
// interrupted record, without payloads.
func marker(rec *store.UsageRecord) store.UsageRecord {
	m := *rec
	m.RequestPayload, m.ResponsePayload, m.RequestHeaders, m.ResponseHeaders = nil, nil, nil, nil
	m.Classification = nil
	m.Tokens = nil
	return m
}

// Started appends a "started" marker for a request that begins. It does not
// wait for the marker to be written: the next write carries it, within
// SyncInterval. It returns ErrFull when the log holds MaxBytes or more.
func (l *Log) Started(rec *store.UsageRecord) error {
	m := marker(rec)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.total+int64(len(l.buf)) >= l.cfg.MaxBytes {
		return ErrFull
	}
	start := len(l.buf)
	l.buf = appendEntry(l.buf, typeMarker, &m)
	l.seq += uint64(len(l.buf) - start)
	l.open[rec.RequestID] = append([]byte(nil), l.buf[start:]...)
	l.pending = append(l.pending, pendingEntry{start: start, end: len(l.buf)})
	return nil
}

// Append appends a complete record and returns once it is written to the
// operating system (not necessarily synced to disk). It is never refused for
// size: the request it belongs to has been served.
func (l *Log) Append(rec *store.UsageRecord) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	start := len(l.buf)
	l.buf = appendEntry(l.buf, typeRecord, rec)
	l.seq += uint64(len(l.buf) - start)
	delete(l.open, rec.RequestID)
	l.pending = append(l.pending, pendingEntry{rec: rec, start: start, end: len(l.buf)})
	l.waitWritten(l.seq)
	return nil
}

// waitWritten writes the buffer, or waits for the goroutine writing it,
// until the first upto bytes ever appended are written (or failed to be).
// Called with mu held.
func (l *Log) waitWritten(upto uint64) {
	for l.wseq < upto {
		if l.writing {
			l.cond.Wait()
			continue
		}
		l.writeLocked()
	}
}

// writeLocked writes what is buffered. It is called with mu held and
// returns with mu held; it releases mu during the write. When the write
// fails (a full or broken disk), the records are still handed to the reader
// from memory, unprotected against a crash, and the error is logged.
func (l *Log) writeLocked() {
	if len(l.buf) == 0 {
		return
	}
	if l.cur == nil {
		// Closed while this was waiting: hand the records over from
		// memory, as if the write had failed.
		for _, e := range l.pending {
			if e.rec != nil {
				l.enqueue(queued{rec: e.rec, start: l.written, end: l.written})
			}
		}
		l.wseq += uint64(len(l.buf))
		l.buf, l.pending = l.buf[:0], nil
		l.cond.Broadcast()
		return
	}
	l.writing = true
	chunk, entries := l.buf, l.pending
	l.buf, l.spare = l.spare[:0], nil
	l.pending = nil
	var restate [][]byte
	rotate := l.curSize > 0 && l.curSize+int64(len(chunk)) > l.cfg.SegmentBytes
	if rotate {
		restate = make([][]byte, 0, len(l.open))
		for _, m := range l.open {
			restate = append(restate, m)
		}
	}
	l.mu.Unlock()

	var err error
	if rotate {
		err = l.rotate(restate)
	}
	base := l.curSize
	if err == nil {
		if _, err = l.cur.Write(chunk); err != nil {
			// Cut a partly written chunk off, so later entries follow
			// whole ones.
			_ = l.cur.Truncate(base)
			_, _ = l.cur.Seek(base, 0)
		}
	}

	l.mu.Lock()
	l.writing = false
	l.wseq += uint64(len(chunk))
	l.spare = chunk
	if err != nil {
		l.writeErrs++
		l.log.Error("usage log: write failed; the records of this batch go to the database from memory only", "records", len(entries), "err", err)
		for _, e := range entries {
			if e.rec != nil {
				l.enqueue(queued{rec: e.rec, start: l.written, end: l.written})
			}
		}
		l.cond.Broadcast()
		return
	}
	l.curSize += int64(len(chunk))
	l.sizes[l.curSeg] += int64(len(chunk))
	l.total += int64(len(chunk))
	l.written = pos{seg: l.curSeg, off: l.curSize}
	l.dirty = true
	for _, e := range entries {
		if e.rec != nil {
			l.enqueue(queued{rec: e.rec, start: pos{l.curSeg, base + int64(e.start)}, end: pos{l.curSeg, base + int64(e.end)}})
		}
	}
	l.cond.Broadcast()
}

// enqueue hands a written record to the reader through memory, or marks a
// gap when memory is full. Called with mu held.
func (l *Log) enqueue(q queued) {
	if l.qlen == len(l.queue) {
		l.gap = true
		return
	}
	q.gap = l.gap
	l.gap = false
	l.queue[(l.qhead+l.qlen)%len(l.queue)] = q
	l.qlen++
}

// rotate starts a new segment that begins with the markers of requests
// still open, so older segments can be deleted without losing them. Called
// by the writing goroutine without mu.
func (l *Log) rotate(restate [][]byte) error {
	if err := l.startSegment(l.curSeg + 1); err != nil {
		return err
	}
	var b []byte
	for _, m := range restate {
		b = append(b, m...)
	}
	if len(b) == 0 {
		return nil
	}
	if _, err := l.cur.Write(b); err != nil {
		return err
	}
	l.mu.Lock()
	l.curSize += int64(len(b))
	l.sizes[l.curSeg] += int64(len(b))
	l.total += int64(len(b))
	l.written = pos{seg: l.curSeg, off: l.curSize}
	l.mu.Unlock()
	return nil
}

// Sync writes what is buffered and fsyncs it.
func (l *Log) Sync() error {
	l.mu.Lock()
	l.waitWritten(l.seq)
	var err error
	files := l.retired
	l.retired = nil
	cur := l.cur
	l.dirty = false
	l.mu.Unlock()
	for _, f := range files {
		if serr := f.Sync(); err == nil && serr != nil {
			err = serr
		}
		_ = f.Close()
	}
	if cur != nil {
		if serr := cur.Sync(); err == nil && serr != nil {
			err = fmt.Errorf("usagelog: sync: %w", serr)
		}
	}
	return err
}

// syncLoop writes buffered markers and fsyncs every SyncInterval until Close.
func (l *Log) syncLoop() {
	defer close(l.done)
	t := time.NewTicker(l.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		l.mu.Lock()
		idle := !l.dirty && len(l.buf) == 0 && len(l.retired) == 0
		l.mu.Unlock()
		if idle {
			continue
		}
		if err := l.Sync(); err != nil {
			l.log.Error("usage log: sync failed", "err", err)
		}
	}
}

// Stats describes the log's size.
type Stats struct {
	// Bytes is the log's size on disk.
	Bytes int64
	// BacklogBytes is the part of it not yet confirmed stored.
	BacklogBytes int64
	// Segments is the number of segment files.
	Segments int
	// WriteErrors counts failed writes, whose records went to the
	// database from memory only.
	WriteErrors uint64
}

// Stats returns the log's size.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	var backlog int64
	for seg, n := range l.sizes {
		switch {
		case seg > l.commit.seg:
			backlog += n
		case seg == l.commit.seg:
			backlog += n - l.commit.off
		}
	}
	return Stats{Bytes: l.total + int64(len(l.buf)), BacklogBytes: backlog, Segments: len(l.sizes), WriteErrors: l.writeErrs}
}

// Ready reports whether the backlog is below the high-water mark.
func (l *Log) Ready() bool { return l.Stats().BacklogBytes < l.cfg.HighWaterBytes }

// Close writes and fsyncs what is buffered and closes the files. Records not
// yet committed stay in the log for the next Open.
func (l *Log) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.close() })
	return l.closeErr
}

func (l *Log) close() error {
	close(l.stop)
	<-l.done
	err := l.Sync()
	l.mu.Lock()
	l.closed = true
	for l.writing {
		l.cond.Wait()
	}
	cur := l.cur
	l.cur = nil
	l.mu.Unlock()
	if cur != nil {
		if cerr := cur.Close(); err == nil {
			err = cerr
		}
	}
	if l.rfile != nil {
		_ = l.rfile.Close()
		l.rfile = nil
	}
	if l.cfile != nil {
		_ = l.cfile.Close()
		l.cfile = nil
	}
	if cerr := l.lock.Close(); err == nil {
		err = cerr
	}
	return err
}
