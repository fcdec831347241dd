package meter

import "bytes"

// scanField names a JSON value the usage scanner keeps.
type scanField uint8

const (
	fieldNone       scanField = iota
	fieldUsage                // top-level "usage"
	fieldResponse             // top-level "response" (only descended into)
	fieldPromptEval           // top-level "prompt_eval_count" (Ollama)
	fieldEval                 // top-level "eval_count" (Ollama)
	fieldRespUsage            // "response"."usage"
	numFields
)

const (
	// maxScanValue bounds a kept value; a usage object is a few hundred bytes.
	maxScanValue = 64 << 10
	// maxScanKey bounds a key the scanner compares; longer keys never match.
	maxScanKey = 32
	// maxScanDepth bounds the nesting the scanner follows.
	maxScanDepth = 10000
)

// usageScanner finds the values UsageFromJSON needs in a JSON document fed
// in arbitrary pieces, without holding the document: it tracks only string
// state, the container stack and the keys at depth one and two, and copies
// just the few values it is looking for. Its memory is bounded whatever the
// size of the document (multi-megabyte embedding batches put usage last).
type usageScanner struct {
	stack     []byte // open containers, '{' or '['
	inString  bool
	escape    bool
	expectKey bool // the next string in the current object is a key
	inKey     bool
	keyLong   bool // the key is too long or escaped: it matches nothing
	afterKey  bool // a key has closed; the next ':' starts its value
	key       []byte
	key1      scanField // the last key seen at depth 1
	key2      scanField // the last key seen at depth 2 inside "response"
	inResp    bool      // the object at depth 2 is the value of "response"
	broken    bool      // nesting too deep: stop scanning

	rec      bool // recording a value
	recDepth int  // stack depth of the object holding the recorded value
	recField scanField
	buf      []byte

	vals  [numFields][]byte
	found [numFields]bool

	// Initial backing arrays of stack, key and buf, so that a usual answer
	// (shallow, short keys, a usage object of a few hundred bytes) scans
	// without growing them on the heap.
	stackArr [16]byte
	keyArr   [maxScanKey]byte
	bufArr   [512]byte
}

// Write feeds the next piece of the document. It never fails.
func (s *usageScanner) Write(p []byte) (int, error) {
	if s.stack == nil {
		s.stack, s.key, s.buf = s.stackArr[:0], s.keyArr[:0], s.bufArr[:0]
	}
	for i := 0; i < len(p); i++ {
		if s.broken {
			break
		}
		if s.inString && !s.inKey && !s.rec && !s.escape {
			// Inside a value string that is not kept (the bulk of an
			// answer: its content): only a quote or a backslash matters.
			j := bytes.IndexByte(p[i:], '"')
			if j < 0 {
				j = len(p) - i
			}
			if k := bytes.IndexByte(p[i:i+j], '\\'); k >= 0 {
				j = k
			}
			if i += j; i == len(p) {
				break
			}
		}
		c := p[i]
		if s.rec {
			if !s.inString && len(s.stack) == s.recDepth && (c == ',' || c == '}' || c == ']') {
				s.finishValue()
			} else if len(s.buf) < maxScanValue {
				s.buf = append(s.buf, c)
			} else {
				s.rec = false // too large to be a usage object; drop it
			}
		}
		if s.inString {
			switch {
			case s.escape:
				s.escape = false
				if s.inKey {
					s.keyLong = true
				}
			case c == '\\':
				s.escape = true
			case c == '"':
				s.inString = false
				if s.inKey {
					s.inKey = false
					s.endKey()
				}
			case s.inKey:
				if len(s.key) < maxScanKey {
					s.key = append(s.key, c)
				} else {
					s.keyLong = true
				}
			}
			continue
		}
		switch c {
		case '"':
			s.inString = true
			if s.expectKey {
				s.expectKey = false
				s.inKey, s.keyLong = true, false
				s.key = s.key[:0]
			}
		case ':':
			if s.afterKey {
				s.afterKey = false
				s.startValue()
			}
		case '{', '[':
			if len(s.stack) >= maxScanDepth {
				s.broken = true
				break
			}
			s.stack = append(s.stack, c)
			s.expectKey = c == '{'
			if len(s.stack) == 2 {
				s.inResp = c == '{' && s.key1 == fieldResponse
				s.key2 = fieldNone
			}
		case '}', ']':
			if len(s.stack) > 0 {
				s.stack = s.stack[:len(s.stack)-1]
			}
			s.expectKey = false
			if len(s.stack) < 2 {
				s.inResp = false
			}
		case ',':
			s.expectKey = len(s.stack) > 0 && s.stack[len(s.stack)-1] == '{'
		}
	}
	return len(p), nil
}

// endKey classifies the key that just closed.
func (s *usageScanner) endKey() {
	s.afterKey = true
	f := fieldNone
	if !s.keyLong {
		switch string(s.key) {
		case "usage":
			f = fieldUsage
		case "response":
			f = fieldResponse
		case "prompt_eval_count":
			f = fieldPromptEval
		case "eval_count":
			f = fieldEval
		}
	}
	switch {
	case len(s.stack) == 1:
		s.key1 = f
		if f == fieldResponse {
			// A repeated "response" replaces the earlier one.
			s.found[fieldRespUsage] = false
		}
	case len(s.stack) == 2 && s.inResp:
		s.key2 = f
	}
}

// startValue begins recording the value after ':' when its key is wanted.
func (s *usageScanner) startValue() {
	f := fieldNone
	switch depth := len(s.stack); {
	case depth == 1 && s.key1 != fieldResponse:
		f = s.key1
	case depth == 2 && s.inResp && s.key2 == fieldUsage:
		f = fieldRespUsage
	}
	if f == fieldNone {
		return
	}
	s.rec, s.recDepth, s.recField = true, len(s.stack), f
	s.buf = s.buf[:0]
}

func (s *usageScanner) finishValue() {
	s.rec = false
	s.vals[s.recField] = append(s.vals[s.recField][:0], bytes.TrimSpace(s.buf)...)
	s.found[s.recField] = true
}

// Tokens returns the usage found so far; see UsageFromJSON.
func (s *usageScanner) Tokens() (Tokens, bool) {
	for _, f := range []scanField{fieldUsage, fieldRespUsage} {
		if s.found[f] && isObject(s.vals[f]) {
			return ParseUsage(s.vals[f]), true
		}
	}
	if s.found[fieldPromptEval] || s.found[fieldEval] {
		return ollamaTokens(s.vals[fieldPromptEval], s.vals[fieldEval]), true
	}
	return Tokens{}, false
}

func isObject(raw []byte) bool {
	s := bytes.TrimSpace(raw)
	return len(s) > 0 && s[0] == '{'
}
