package pipeline

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/logos-llm/logos/internal/jsonobj"
	"github.com/logos-llm/logos/internal/oaierr"
)

// Body members Logos reads, rewrites or strips. A body is forwarded only when
// no other member could be read as one of them by an upstream decoder.
//
// Go's encoding/json (used by Ollama and many servers) matches member names
// case-insensitively (with Unicode folding: "ſtream" is "stream") and lets
// the last duplicate win, while Logos reads exact names. A body with
// {"model":"granted","Model":"other"} would be authorised as one model and
// run as the other; ParseBody refuses such bodies instead.
var guardedMembers = [...]string{"model", "stream", "stream_options", "timeout_s", "logos_key", "use_profile"}

// guardedPrefix starts the names of Logos-only members, all stripped.
const guardedPrefix = "logos_"

// ambiguousMember returns an error when name is not one of the guarded
// members but an upstream decoder that folds case would read it as one.
func ambiguousMember(name string) *oaierr.Error {
	if name == "" {
		return nil
	}
	// Fast path: every guarded name starts with one of these letters, and
	// so does anything that folds to one (ſ folds to S, K to k).
	switch c := name[0]; c {
	case 'm', 'M', 's', 'S', 't', 'T', 'l', 'L', 'u', 'U':
	default:
		if c < utf8.RuneSelf {
			return nil
		}
	}
	for _, g := range guardedMembers {
		if name != g && foldEqual(name, g) {
			return ambiguous(name, g)
		}
	}
	if !strings.HasPrefix(name, guardedPrefix) && foldHasPrefix(name, guardedPrefix) {
		return ambiguous(name, guardedPrefix+"…")
	}
	return nil
}

func ambiguous(name, guarded string) *oaierr.Error {
	return oaierr.New(http.StatusBadRequest, fmt.Sprintf("Body member %q differs from %q only in letter case; member names that some servers read as %q are refused", name, guarded, guarded)).
		WithParam(name).WithCode("ambiguous_member")
}

func duplicateMember(name string) *oaierr.Error {
	return oaierr.New(http.StatusBadRequest, fmt.Sprintf("Body member %q occurs more than once; servers disagree on which one counts", name)).
		WithParam(name).WithCode("duplicate_member")
}

// checkMembers refuses a body whose members could be read differently by
// Logos and by the upstream: a duplicated member, or a name that folds to a
// guarded one. It checks the members of stream_options the same way, since
// Logos reads and rewrites stream_options.include_usage.
func checkMembers(fields map[string]json.RawMessage, dup string) *oaierr.Error {
	if dup != "" {
		return duplicateMember(dup)
	}
	for name := range fields {
		if e := ambiguousMember(name); e != nil {
			return e
		}
	}
	raw, ok := fields["stream_options"]
	if !ok || len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	if r := string(raw); r == `{"include_usage":true}` || r == `{"include_usage":false}` {
		return nil // what clients send; no need to split it
	}
	so, dup, ok := jsonobj.Object(raw)
	if !ok {
		return nil
	}
	if dup != "" {
		return duplicateMember("stream_options." + dup)
	}
	for name := range so {
		if name != "include_usage" && foldEqual(name, "include_usage") {
			return ambiguous("stream_options."+name, "include_usage").WithParam("stream_options." + name)
		}
	}
	return nil
}

// foldRune folds r as encoding/json does when it matches member names to
// struct fields (bytes.EqualFold semantics): ASCII to upper case, any other
// rune to the upper case of its lower case.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' {
			r -= 'a' - 'A'
		}
		return r
	}
	return unicode.ToUpper(unicode.ToLower(r))
}

// foldEqual reports whether name folds to lower, a lower-case ASCII name.
func foldEqual(name, lower string) bool {
	n, ok := foldPrefixLen(name, lower)
	return ok && n == len(name)
}

// foldHasPrefix reports whether name starts with something that folds to
// lower, a lower-case ASCII string.
func foldHasPrefix(name, lower string) bool {
	_, ok := foldPrefixLen(name, lower)
	return ok
}

// foldPrefixLen matches the start of name against lower rune by rune and
// returns how many bytes of name matched all of lower.
func foldPrefixLen(name, lower string) (int, bool) {
	i := 0
	for j := 0; j < len(lower); j++ {
		if i >= len(name) {
			return 0, false
		}
		r, n := rune(name[i]), 1
		if r >= utf8.RuneSelf {
			r, n = utf8.DecodeRuneInString(name[i:])
		}
		if foldRune(r) != foldRune(rune(lower[j])) {
			return 0, false
		}
		i += n
	}
	return i, true
}
