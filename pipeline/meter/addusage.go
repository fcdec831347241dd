package meter

import (
	"bytes"
	"encoding/json"
)

// usagePath says where a payload's usage object sits.
type usagePath uint8

const (
	usageNone     usagePath = iota
	usageTop                // top-level "usage"
	usageResponse           // "response"."usage" (Responses API)
)

// hookMembers calls Options.AddToUsage with t and returns the members to
// insert, or nil when there is nothing to insert.
func (r *relay) hookMembers(t Tokens) []byte {
	m := bytes.TrimSpace(r.opts.AddToUsage(t))
	if len(m) == 0 {
		return nil
	}
	return m
}

// addToEvent returns ev with the AddToUsage members inserted into the usage
// object at path of its data payload, or ev itself when there is nothing
// to insert or the usage object cannot be located. data is the event's
// data field as returned by eventData; bom reports that ev starts with a
// byte order mark that eventData skipped.
func (r *relay) addToEvent(ev, data []byte, bom bool, path usagePath) []byte {
	start, end, ok := findUsage(data, path)
	if !ok {
		return ev
	}
	m := r.hookMembers(ParseUsage(r.usageRaw))
	if m == nil {
		return ev
	}
	at, empty := insertionPoint(data, start, end)
	var off int
	if empty {
		off = dataOffset(ev, bom, at)
	} else if off = dataOffset(ev, bom, at-1); off >= 0 {
		// The byte after the last one of the last member: possibly the end
		// of its data line, never the next line.
		off++
	}
	if off < 0 {
		return ev
	}
	r.rewritten = insertMembers(r.rewritten[:0], ev, off, empty, m)
	r.res.Modified = true
	return r.rewritten
}

// addToJSON returns the complete JSON body with the AddToUsage members
// inserted into its top-level "usage" object or, failing that, into
// "response"."usage". An invalid body, or one without such an object, is
// returned unchanged.
func (r *relay) addToJSON(body []byte) []byte {
	if !json.Valid(body) {
		return body
	}
	for _, path := range []usagePath{usageTop, usageResponse} {
		start, end, ok := findUsage(body, path)
		if !ok {
			continue
		}
		m := r.hookMembers(ParseUsage(body[start : end+1]))
		if m == nil {
			return body
		}
		at, empty := insertionPoint(body, start, end)
		r.res.Modified = true
		return insertMembers(make([]byte, 0, len(body)+len(m)+1), body, at, empty, m)
	}
	return body
}

// insertionPoint returns where members go in the object d[start:end+1]:
// right after its last member (before any whitespace preceding the closing
// brace, so pretty-printed bodies stay tidy), or at the closing brace of an
// empty object, and whether the object is empty.
func insertionPoint(d []byte, start, end int) (at int, empty bool) {
	at = end
	for at > start+1 && isSpace(d[at-1]) {
		at--
	}
	if at == start+1 {
		return end, true
	}
	return at, false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// insertMembers appends src to dst with members inserted before src[at],
// preceded by a comma unless empty (the object has no members yet). Line terminators in members (JSON whitespace, as they cannot
// occur inside a valid string) become spaces, so an SSE data line stays one
// line.
func insertMembers(dst, src []byte, at int, empty bool, members []byte) []byte {
	dst = append(dst, src[:at]...)
	if !empty {
		dst = append(dst, ',')
	}
	for _, c := range members {
		if c == '\n' || c == '\r' {
			c = ' '
		}
		dst = append(dst, c)
	}
	return append(dst, src[at:]...)
}

// findUsage returns the indexes in the JSON document d of the opening and
// closing braces of the usage object at path. Where a key repeats, the last
// member counts, as with encoding/json. Keys are compared as raw bytes, so
// an escaped key ("\u0075sage") does not match.
func findUsage(d []byte, path usagePath) (start, end int, ok bool) {
	obj := skipSpace(d, 0)
	if obj >= len(d) || d[obj] != '{' {
		return 0, 0, false
	}
	if path == usageResponse {
		s, _, ok := member(d, obj, "response")
		if !ok || d[s] != '{' {
			return 0, 0, false
		}
		obj = s
	}
	s, e, ok := member(d, obj, "usage")
	if !ok || d[s] != '{' {
		return 0, 0, false
	}
	return s, e - 1, true
}

// member returns the span [start, end) of the value of the last member
// named key of the JSON object whose opening brace is d[obj].
func member(d []byte, obj int, key string) (start, end int, ok bool) {
	j := skipSpace(d, obj+1)
	if j < len(d) && d[j] == '}' {
		return 0, 0, false
	}
	for j < len(d) && d[j] == '"' {
		ke := skipString(d, j)
		if ke < 0 {
			return 0, 0, false
		}
		name := d[j+1 : ke-1]
		j = skipSpace(d, ke)
		if j >= len(d) || d[j] != ':' {
			return 0, 0, false
		}
		vs := skipSpace(d, j+1)
		ve := skipValue(d, vs)
		if ve < 0 {
			return 0, 0, false
		}
		if string(name) == key {
			start, end, ok = vs, ve, true
		}
		j = skipSpace(d, ve)
		if j >= len(d) {
			return 0, 0, false
		}
		if d[j] == '}' {
			return start, end, ok
		}
		if d[j] != ',' {
			return 0, 0, false
		}
		j = skipSpace(d, j+1)
	}
	return 0, 0, false
}

// skipString returns the index just past the JSON string starting at d[i]
// (a quote), or -1 if it is unterminated.
func skipString(d []byte, i int) int {
	for j := i + 1; j < len(d); j++ {
		switch d[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index just past the JSON value starting at d[i], or
// -1 if it is missing or truncated. It assumes a valid document: brackets
// are counted, not matched.
func skipValue(d []byte, i int) int {
	if i >= len(d) {
		return -1
	}
	switch d[i] {
	case '"':
		return skipString(d, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(d); {
			switch d[j] {
			case '"':
				if j = skipString(d, j); j < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
			j++
		}
		return -1
	case ',', ':', '}', ']':
		return -1
	}
	j := i
	for j < len(d) {
		switch d[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
		j++
	}
	return j
}

// dataOffset maps index k of an event's data field (its data lines' values
// joined with "\n", as eventData builds it) to the index of the same byte
// in the raw event ev, or returns -1. bom reports that ev starts with a
// byte order mark eventData skipped.
func dataOffset(ev []byte, bom bool, k int) int {
	base := 0
	if bom {
		base = len(utf8BOM)
	}
	joined, ends := 0, newLineEnds()
	for i := base; i < len(ev); {
		j := ends.next(ev, i)
		line := ev[i:j]
		lineStart := i
		i = j + 1
		if j < len(ev) && ev[j] == '\r' && i < len(ev) && ev[i] == '\n' {
			i++
		}
		v, ok := fieldValue(line, "data")
		if !ok {
			continue
		}
		if k < joined+len(v) {
			return lineStart + len(line) - len(v) + (k - joined)
		}
		joined += len(v) + 1
	}
	return -1
}
