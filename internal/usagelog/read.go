package usagelog

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/logos-llm/logos/store"
)

// readChunk is how much of a segment Read reads at once.
const readChunk = 1 << 20

// Read appends to buf up to max records that follow the ones returned
// before, oldest first, and returns it. Records come from memory while the
// reader keeps up, and from the files otherwise. Read and Commit belong to
// one goroutine.
func (l *Log) Read(buf []store.UsageRecord, max int) ([]store.UsageRecord, error) {
	for len(buf) < max {
		l.mu.Lock()
		ok := l.qlen > 0
		var q queued
		if ok {
			q = l.queue[l.qhead]
		}
		gap, written := l.gap, l.written
		l.mu.Unlock()
		switch {
		case ok && !q.gap:
			l.mu.Lock()
			l.queue[l.qhead] = queued{}
			l.qhead = (l.qhead + 1) % len(l.queue)
			l.qlen--
			l.mu.Unlock()
			buf = append(buf, *q.rec)
			if l.rpos.less(q.end) {
				l.rpos = q.end
			}
		case ok:
			var reached bool
			var err error
			if buf, reached, err = l.readFiles(buf, max, q.start); err != nil || !reached {
				return buf, err
			}
			l.mu.Lock()
			l.queue[l.qhead].gap = false
			l.mu.Unlock()
		case gap:
			var reached bool
			var err error
			if buf, reached, err = l.readFiles(buf, max, written); err != nil || !reached {
				return buf, err
			}
			l.mu.Lock()
			if l.qlen == 0 && l.written == written {
				l.gap = false
			}
			l.mu.Unlock()
			return buf, nil
		default:
			return buf, nil
		}
	}
	return buf, nil
}

// readFiles reads records from the files from the read position up to
// until, at most until buf holds max. It reports whether it got to until.
func (l *Log) readFiles(buf []store.UsageRecord, max int, until pos) ([]store.UsageRecord, bool, error) {
	for len(buf) < max {
		if !l.rpos.less(until) {
			return buf, true, nil
		}
		l.mu.Lock()
		end, exists := l.sizes[l.rpos.seg]
		l.mu.Unlock()
		if l.rpos.seg == until.seg {
			end = until.off
		}
		if !exists || l.rpos.off >= end {
			l.rpos = pos{seg: l.rpos.seg + 1}
			continue
		}
		if l.rfile == nil || l.rseg != l.rpos.seg {
			if l.rfile != nil {
				_ = l.rfile.Close()
				l.rfile = nil
			}
			f, err := os.Open(filepath.Join(l.cfg.Dir, segName(l.rpos.seg)))
			if err != nil {
				return buf, false, fmt.Errorf("usagelog: read: %w", err)
			}
			l.rfile, l.rseg = f, l.rpos.seg
		}
		n := min(end-l.rpos.off, readChunk)
		data := make([]byte, n)
		if _, err := l.rfile.ReadAt(data, l.rpos.off); err != nil && err != io.EOF {
			return buf, false, fmt.Errorf("usagelog: read: %w", err)
		}
		var used int64
		for len(buf) < max && used < n {
			typ, payload, size, err := parseEntry(data[used:])
			if err != nil {
				if used == 0 && n == readChunk {
					// One entry larger than a chunk: read it whole.
					data, err = l.readLarge(end)
					if err != nil {
						return buf, false, err
					}
					n = int64(len(data))
					continue
				}
				if used == 0 {
					return buf, false, fmt.Errorf("usagelog: %s at offset %d: %w", segName(l.rpos.seg), l.rpos.off, errTorn)
				}
				break // the entry continues beyond the chunk
			}
			used += int64(size)
			if typ == typeRecord {
				r, err := decodeRecord(payload)
				if err != nil {
					return buf, false, fmt.Errorf("usagelog: decoding a record at %s offset %d: %w", segName(l.rpos.seg), l.rpos.off+used-int64(size), err)
				}
				buf = append(buf, r)
			}
		}
		l.rpos.off += used
	}
	return buf, !l.rpos.less(until), nil
}

// readLarge reads the entry at the read position whole.
func (l *Log) readLarge(end int64) ([]byte, error) {
	var h [headerSize]byte
	if _, err := l.rfile.ReadAt(h[:], l.rpos.off); err != nil {
		return nil, fmt.Errorf("usagelog: read: %w", err)
	}
	size := int64(headerSize) + int64(uint32(h[0])|uint32(h[1])<<8|uint32(h[2])<<16|uint32(h[3])<<24)
	if size > maxPayload || l.rpos.off+size > end {
		return nil, fmt.Errorf("usagelog: %s at offset %d: %w", segName(l.rpos.seg), l.rpos.off, errTorn)
	}
	data := make([]byte, size)
	if _, err := l.rfile.ReadAt(data, l.rpos.off); err != nil && err != io.EOF {
		return nil, fmt.Errorf("usagelog: read: %w", err)
	}
	return data, nil
}

// Commit confirms that every record returned by Read so far is stored:
// segments wholly before them are deleted.
func (l *Log) Commit() error {
	if err := l.saveCommitted(l.rpos); err != nil {
		return fmt.Errorf("usagelog: saving the committed position: %w", err)
	}
	l.mu.Lock()
	l.commit = l.rpos
	var del []uint64
	for seg, n := range l.sizes {
		if seg < l.rpos.seg && seg != l.curSeg {
			del = append(del, seg)
			delete(l.sizes, seg)
			l.total -= n
		}
	}
	l.mu.Unlock()
	if l.rfile != nil && l.rseg < l.rpos.seg {
		_ = l.rfile.Close()
		l.rfile = nil
	}
	var err error
	for _, seg := range del {
		if rerr := os.Remove(filepath.Join(l.cfg.Dir, segName(seg))); rerr != nil && err == nil {
			err = fmt.Errorf("usagelog: removing a stored segment: %w", rerr)
		}
	}
	return err
}
