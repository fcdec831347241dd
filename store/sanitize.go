package store

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// SanitizeJSON turns any bytes into JSON that every store accepts: the result is
// valid JSON, valid UTF-8, and contains neither raw NUL bytes nor \u0000 escapes
// (PostgreSQL's jsonb refuses both). Valid JSON keeps its structure and its text
// except for removed NULs and replaced invalid UTF-8; anything else is stored as
// a JSON string of its (cleaned) text. Nil or empty input returns nil.
//
// Billing records must never fail to insert because of what a client or
// provider sent, so stores pass every JSON column through this function.
func SanitizeJSON(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	clean := b
	if !utf8.Valid(clean) {
		clean = []byte(strings.ToValidUTF8(string(clean), "\uFFFD"))
	}
	if bytes.IndexByte(clean, 0) >= 0 {
		clean = bytes.ReplaceAll(clean, []byte{0}, nil)
	}
	if json.Valid(clean) {
		if bytes.Contains(clean, []byte(`\u0000`)) {
			clean = dropNULEscapes(clean)
		}
		if hasSurrogateEscape(clean) {
			clean = reencode(clean)
		}
		if &clean[0] == &b[0] {
			// Never alias the caller's buffer.
			clean = bytes.Clone(clean)
		}
		return clean
	}
	s, _ := json.Marshal(string(clean)) // cannot fail for a string
	return s
}

// dropNULEscapes removes \u0000 escapes inside JSON strings of a valid JSON
// document, leaving an escaped backslash followed by "u0000" untouched.
func dropNULEscapes(b []byte) []byte {
	out := make([]byte, 0, len(b))
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !inString {
			if c == '"' {
				inString = true
			}
			out = append(out, c)
			continue
		}
		switch c {
		case '"':
			inString = false
			out = append(out, c)
		case '\\':
			if i+5 < len(b) && b[i+1] == 'u' && string(b[i+2:i+6]) == "0000" {
				i += 5
				continue
			}
			// Copy the escape and the escaped character together.
			out = append(out, c, b[i+1])
			i++
		default:
			out = append(out, c)
		}
	}
	return out
}

// hasSurrogateEscape reports whether b contains a \uD800-\uDFFF escape, which
// may be a lone surrogate that PostgreSQL's jsonb refuses.
func hasSurrogateEscape(b []byte) bool {
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '\\' && b[i+1] == 'u' && (b[i+2] == 'd' || b[i+2] == 'D') {
			return true
		}
	}
	return false
}

// reencode decodes and re-encodes valid JSON. The decoder turns lone surrogates
// into U+FFFD; numbers keep their text.
func reencode(b []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return b
	}
	out, err := json.Marshal(v)
	if err != nil {
		return b
	}
	return out
}
