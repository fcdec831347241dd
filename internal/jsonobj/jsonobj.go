// Package jsonobj splits a JSON object into its members without decoding
// them, faster than encoding/json and with the same verdict on what is valid.
package jsonobj

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Members returns the members of the JSON object raw, by name, with
// their values as sub-slices of raw (not copies; raw must not change while
// they are used). A later member replaces an earlier one of the same name, as
// with json.Unmarshal. It reports false when raw is not exactly one valid JSON
// object (surrounding whitespace allowed), the cases where json.Unmarshal into
// a map[string]json.RawMessage fails.
//
// It exists because every request body and every answer's usage object is
// split on the request path, and encoding/json (reflection, a copy of every
// value) cost more there than the rest of the usage tap together.
func Members(raw []byte) (map[string]json.RawMessage, bool) {
	m, _, ok := Object(raw)
	return m, ok
}

// Object is Members that also returns dup, the first member name that occurs
// more than once (after unescaping), or "" when every name is unique. Callers
// that must not let two parsers read different values use it to refuse
// ambiguous objects; finding duplicates costs nothing extra.
func Object(raw []byte) (m map[string]json.RawMessage, dup string, ok bool) {
	p := jsonParser{b: raw}
	p.space()
	if !p.peek('{') {
		return nil, "", false
	}
	p.i++
	m = make(map[string]json.RawMessage, 8)
	p.space()
	if p.peek('}') {
		p.i++
	} else {
		for {
			p.space()
			key, ok := p.key()
			if !ok {
				return nil, "", false
			}
			p.space()
			if !p.peek(':') {
				return nil, "", false
			}
			p.i++
			p.space()
			start := p.i
			if !p.value(0) {
				return nil, "", false
			}
			n := len(m)
			m[key] = raw[start:p.i]
			if len(m) == n && dup == "" {
				dup = key
			}
			p.space()
			if p.peek(',') {
				p.i++
				continue
			}
			if p.peek('}') {
				p.i++
				break
			}
			return nil, "", false
		}
	}
	p.space()
	if p.i != len(raw) {
		return nil, "", false
	}
	return m, dup, true
}

// maxJSONDepth bounds the nesting jsonParser follows, as encoding/json does
// (10,000), so a hostile usage object cannot exhaust the stack.
const maxJSONDepth = 10000

// jsonParser validates JSON text by recursive descent, following RFC 8259 as
// encoding/json does: invalid UTF-8 inside strings is accepted (json.Unmarshal
// replaces it), control characters and unknown escapes are not.
type jsonParser struct {
	b []byte
	i int
}

func (p *jsonParser) peek(c byte) bool { return p.i < len(p.b) && p.b[p.i] == c }

func (p *jsonParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// key reads a member name and returns it unescaped.
func (p *jsonParser) key() (string, bool) {
	start := p.i
	decode, ok := p.str()
	if !ok {
		return "", false
	}
	if !decode {
		return string(p.b[start+1 : p.i-1]), true
	}
	var s string
	if err := json.Unmarshal(p.b[start:p.i], &s); err != nil {
		return "", false
	}
	return s, true
}

// str reads a string and reports whether it needs decoding: it has escapes
// or invalid UTF-8 (which decoding replaces with U+FFFD).
func (p *jsonParser) str() (decode, ok bool) {
	if !p.peek('"') {
		return false, false
	}
	p.i++
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return decode, true
		case c < 0x20:
			return false, false
		case c == '\\':
			decode = true
			p.i++
			if p.i >= len(p.b) {
				return false, false
			}
			switch p.b[p.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i++
			case 'u':
				if p.i+4 >= len(p.b) {
					return false, false
				}
				for _, h := range p.b[p.i+1 : p.i+5] {
					if !isHex(h) {
						return false, false
					}
				}
				p.i += 5
			default:
				return false, false
			}
		case c < utf8.RuneSelf:
			p.i++
		default:
			r, n := utf8.DecodeRune(p.b[p.i:])
			if r == utf8.RuneError && n == 1 {
				decode = true
			}
			p.i += n
		}
	}
	return false, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// value reads any JSON value at the given nesting depth.
func (p *jsonParser) value(depth int) bool {
	if p.i >= len(p.b) {
		return false
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		_, ok := p.str()
		return ok
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if strings.HasPrefix(string(p.b[p.i:min(len(p.b), p.i+len(lit))]), lit) {
				p.i += len(lit)
				return true
			}
		}
		return false
	}
}

func (p *jsonParser) object(depth int) bool {
	if depth > maxJSONDepth {
		return false
	}
	p.i++ // {
	p.space()
	if p.peek('}') {
		p.i++
		return true
	}
	for {
		p.space()
		if _, ok := p.str(); !ok {
			return false
		}
		p.space()
		if !p.peek(':') {
			return false
		}
		p.i++
		p.space()
		if !p.value(depth) {
			return false
		}
		p.space()
		switch {
		case p.peek(','):
			p.i++
		case p.peek('}'):
			p.i++
			return true
		default:
			return false
		}
	}
}

func (p *jsonParser) array(depth int) bool {
	if depth > maxJSONDepth {
		return false
	}
	p.i++ // [
	p.space()
	if p.peek(']') {
		p.i++
		return true
	}
	for {
		p.space()
		if !p.value(depth) {
			return false
		}
		p.space()
		switch {
		case p.peek(','):
			p.i++
		case p.peek(']'):
			p.i++
			return true
		default:
			return false
		}
	}
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (p *jsonParser) number() bool {
	if p.peek('-') {
		p.i++
	}
	switch {
	case p.peek('0'):
		p.i++
	case p.i < len(p.b) && '1' <= p.b[p.i] && p.b[p.i] <= '9':
		p.digits()
	default:
		return false
	}
	if p.peek('.') {
		p.i++
		if !p.digits() {
			return false
		}
	}
	if p.peek('e') || p.peek('E') {
		p.i++
		if p.peek('+') || p.peek('-') {
			p.i++
		}
		if !p.digits() {
			return false
		}
	}
	return true
}

// digits reads one or more digits.
func (p *jsonParser) digits() bool {
	start := p.i
	for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}
