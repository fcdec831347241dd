package meter

import (
	"bytes"
	"encoding/json"
)

// feedSSE splits p into events, continuing the event held from earlier
// reads, and forwards every completed one.
func (r *relay) feedSSE(p []byte) error {
	i, start := 0, 0
	if r.dangling {
		// The previous read ended with the CR closing an event; an LF now is
		// the second half of that CRLF and shares the event's fate.
		r.dangling = false
		if len(p) > 0 && p[0] == '\n' {
			if !r.danglingDropped {
				if err := r.emit(p[:1]); err != nil {
					return err
				}
			}
			i, start = 1, 1
		}
	}
	ends := newLineEnds()
	for i < len(p) {
		c := p[i]
		if c != '\n' && c != '\r' {
			r.lastCR, r.lineEmpty = false, false
			i = ends.next(p, i+1)
			continue
		}
		i++
		if c == '\n' && r.lastCR {
			r.lastCR = false // second half of a CRLF
			continue
		}
		r.lastCR = c == '\r'
		if !r.lineEmpty {
			r.lineEmpty = true // end of a non-blank line
			continue
		}
		// A blank line: the event ends at i.
		danglingCR := false
		if c == '\r' {
			r.lastCR = false
			switch {
			case i < len(p) && p[i] == '\n':
				i++
			case i == len(p):
				danglingCR = true
			}
		}
		var dropped bool
		if r.passthrough {
			r.passthrough = false
			r.res.Events++
			if err := r.emit(p[start:i]); err != nil {
				return err
			}
			r.boundary = true
		} else {
			ev := p[start:i]
			if len(r.pend) > 0 {
				r.pend = append(r.pend, ev...)
				ev = r.pend
			}
			var err error
			dropped, err = r.handleEvent(ev)
			r.pend = r.pend[:0]
			if err != nil {
				return err
			}
		}
		start = i
		r.dangling, r.danglingDropped = danglingCR, dropped
	}
	return r.holdTail(p[start:])
}

// lineEnds finds the line terminators of one buffer. It caches the next LF
// and the next CR position, so each is searched for only once per position
// however the two kinds of terminator interleave.
type lineEnds struct {
	lf, cr int // next position, -1 when none is left, unknown before the first search
}

const unknown = -2

func newLineEnds() lineEnds { return lineEnds{lf: unknown, cr: unknown} }

// next returns the index of the first CR or LF in p at or after from, or
// len(p).
func (e *lineEnds) next(p []byte, from int) int {
	e.lf = nextByte(p, from, '\n', e.lf)
	e.cr = nextByte(p, from, '\r', e.cr)
	end := len(p)
	if e.lf >= 0 {
		end = e.lf
	}
	if e.cr >= 0 && e.cr < end {
		end = e.cr
	}
	return end
}

// nextByte returns the position of the first c in p at or after from,
// reusing cached when it is still ahead of from.
func nextByte(p []byte, from int, c byte, cached int) int {
	if cached == -1 || cached >= from {
		return cached
	}
	if j := bytes.IndexByte(p[from:], c); j >= 0 {
		return from + j
	}
	return -1
}

// handleEvent inspects one complete (or final) SSE event and forwards it
// unless it is an injected usage chunk to drop. With Options.AddToUsage, an
// event carrying a usage object is forwarded with the members inserted.
func (r *relay) handleEvent(ev []byte) (dropped bool, err error) {
	r.res.Events++
	bom := r.opts.AddToUsage != nil && !r.bomChecked && bytes.HasPrefix(ev, []byte(utf8BOM))
	if data, ok := r.eventData(ev); ok {
		drop, path := r.inspectSSE(data)
		if drop {
			return true, nil
		}
		if path != usageNone && r.opts.AddToUsage != nil {
			ev = r.addToEvent(ev, data, bom, path)
		}
	}
	if err := r.emit(ev); err != nil {
		return false, err
	}
	r.boundary = true
	return false, nil
}

const utf8BOM = "\xEF\xBB\xBF"

// eventData returns the event's data field: the values of its "data" lines
// joined with "\n" (one leading space after the colon removed), and whether
// it had any.
func (r *relay) eventData(ev []byte) ([]byte, bool) {
	if !r.bomChecked {
		r.bomChecked = true
		ev = bytes.TrimPrefix(ev, []byte(utf8BOM))
	}
	var out []byte
	n, ends := 0, newLineEnds()
	for i := 0; i < len(ev); {
		j := ends.next(ev, i)
		line := ev[i:j]
		i = j + 1
		if j < len(ev) && ev[j] == '\r' && i < len(ev) && ev[i] == '\n' {
			i++
		}
		v, ok := fieldValue(line, "data")
		if !ok {
			continue
		}
		switch n {
		case 0:
			out = v
		case 1:
			r.data = append(append(append(r.data[:0], out...), '\n'), v...)
			out = r.data
		default:
			r.data = append(append(r.data, '\n'), v...)
			out = r.data
		}
		n++
	}
	return out, n > 0
}

// fieldValue returns the value of an SSE line if its field is name.
func fieldValue(line []byte, name string) ([]byte, bool) {
	if len(line) < len(name) || string(line[:len(name)]) != name {
		return nil, false
	}
	v := line[len(name):]
	if len(v) == 0 {
		return v, true
	}
	if v[0] != ':' {
		return nil, false // a different field that starts with name
	}
	v = v[1:]
	if len(v) > 0 && v[0] == ' ' {
		v = v[1:]
	}
	return v, true
}

// sseChunk holds the parts of an SSE data payload the meter looks at.
type sseChunk struct {
	Type     json.RawMessage `json:"type"`
	Choices  json.RawMessage `json:"choices"`
	Usage    json.RawMessage `json:"usage"`
	Response json.RawMessage `json:"response"`
}

const (
	doneData       = "[DONE]"
	usageKey       = `"usage"`
	responsesEvent = `"response.`
)

// inspectSSE records usage and the end marker from an event's data and
// reports whether the event is an injected usage chunk to drop and where
// the usage it recorded, if any, sits. Payloads that cannot carry usage are
// recognised without decoding them.
func (r *relay) inspectSSE(data []byte) (drop bool, path usagePath) {
	d := bytes.TrimSpace(data)
	if string(d) == doneData {
		r.res.SawDone = true
		return false, usageNone
	}
	if len(d) == 0 || d[0] != '{' {
		return false, usageNone
	}
	maybeUsage := hasKeyNot(d, usageKey, 'n')
	maybeTerminal := bytes.Contains(d, []byte(responsesEvent)) && terminalType(d)
	if !maybeUsage && !maybeTerminal {
		return false, usageNone
	}
	var ch sseChunk
	if err := json.Unmarshal(d, &ch); err != nil {
		return false, usageNone
	}
	if isObject(ch.Usage) {
		r.setUsage(ch.Usage)
		path = usageTop
		drop = r.opts.DropInjectedUsage && isEmptyArray(ch.Choices)
	}
	switch string(ch.Type) {
	case `"response.completed"`, `"response.incomplete"`, `"response.failed"`:
		r.res.SawDone = true
		var resp struct {
			Usage json.RawMessage `json:"usage"`
		}
		if isObject(ch.Response) && json.Unmarshal(ch.Response, &resp) == nil && isObject(resp.Usage) {
			r.setUsage(resp.Usage)
			path = usageResponse
		}
	}
	return drop, path
}

// terminalType reports whether d may be a Responses API terminal event.
func terminalType(d []byte) bool {
	return bytes.Contains(d, []byte(`"response.completed"`)) ||
		bytes.Contains(d, []byte(`"response.incomplete"`)) ||
		bytes.Contains(d, []byte(`"response.failed"`))
}

func (r *relay) setUsage(u []byte) {
	r.usageRaw = append(r.usageRaw[:0], u...)
	r.haveUsage = true
}

// hasKeyNot reports whether d contains key followed (after optional
// whitespace, a colon and optional whitespace) by a byte other than not.
// It is a cheap pre-filter: a false positive only costs a full decode.
func hasKeyNot(d []byte, key string, not byte) bool {
	for {
		i := bytes.Index(d, []byte(key))
		if i < 0 {
			return false
		}
		d = d[i+len(key):]
		j := skipSpace(d, 0)
		if j >= len(d) || d[j] != ':' {
			continue
		}
		j = skipSpace(d, j+1)
		if j < len(d) && d[j] != not {
			return true
		}
	}
}

// hasKeyIs reports whether d contains key followed (after optional
// whitespace, a colon and optional whitespace) by the byte is.
func hasKeyIs(d []byte, key string, is byte) bool {
	for {
		i := bytes.Index(d, []byte(key))
		if i < 0 {
			return false
		}
		d = d[i+len(key):]
		j := skipSpace(d, 0)
		if j >= len(d) || d[j] != ':' {
			continue
		}
		j = skipSpace(d, j+1)
		if j < len(d) && d[j] == is {
			return true
		}
	}
}

func skipSpace(d []byte, j int) int {
	for j < len(d) && (d[j] == ' ' || d[j] == '\t' || d[j] == '\n' || d[j] == '\r') {
		j++
	}
	return j
}

// isEmptyArray reports whether raw is a JSON empty array.
func isEmptyArray(raw []byte) bool {
	s := bytes.TrimSpace(raw)
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return false
	}
	return len(bytes.TrimSpace(s[1:len(s)-1])) == 0
}
