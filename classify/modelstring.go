package classify

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ModelStringPrefix starts every logos-v model string. A model string selects
// a policy instead of naming a model and is never looked up as a model name.
const ModelStringPrefix = "logos-v"

// ErrInvalidModelString is wrapped by every error ParseModelString returns.
var ErrInvalidModelString = errors.New("invalid logos-v model string")

// ModelStringError says which part of a model string is wrong. Segment 0 is
// the version; Offset is the byte position of the offending text in the whole
// string.
type ModelStringError struct {
	Input   string // the whole model string
	Segment int    // 0 = version, then the __-separated segments
	Text    string // the offending segment (or pair)
	Offset  int    // byte offset of Text in Input
	Reason  string
}

// Error names the segment, its position and the reason.
func (e *ModelStringError) Error() string {
	return fmt.Sprintf("invalid logos-v model string: segment %d %q at byte %d: %s", e.Segment, e.Text, e.Offset, e.Reason)
}

// Unwrap lets errors.Is match ErrInvalidModelString.
func (e *ModelStringError) Unwrap() error { return ErrInvalidModelString }

// ModelString is a parsed logos-v model string. Fields that are nil were not
// given; they keep the value of the policy the string is applied to.
type ModelString struct {
	Version string // "1", "2.1"
	// Default is true when the string states no policy key at all (only the
	// version, "policy_default=true", or "policy=<id>"): the base policy
	// applies unchanged.
	Default  bool
	PolicyID int64 // from policy=<id>; 0 when absent
	Privacy  *string
	Latency  *int
	Accuracy *int
	Cost     *int
	Quality  *int
}

// IsModelString reports whether a request's model field is a logos-v model
// string rather than a model name.
func IsModelString(model string) bool { return strings.HasPrefix(model, ModelStringPrefix) }

// ParseModelString parses a logos-v model string:
//
//	model-string = "logos-v" version *( "__" segment )
//	version      = 1*DIGIT *( "." 1*DIGIT )
//	segment      = [ "policy_" ] pairs
//	pairs        = pair *( ( "_" / "__" ) pair )
//	pair         = key "=" value
//	key          = "default" / "privacy" / "latency" / "accuracy" / "cost" / "quality" / "policy"
//
// A pair starts at every "_" that is followed by a lower-case key and "=";
// values never contain "=", and the privacy levels are upper case, so the
// split is unambiguous. The policy keys (privacy, latency, accuracy, cost,
// quality, default) may appear only after "policy_" has opened the policy
// section, which then lasts to the end of the string; policy=<id> may appear
// anywhere. Numeric values are integers, privacy is one of the four levels,
// default is true or false; default=false needs another policy key and
// default=true allows none. No key may repeat.
func ParseModelString(s string) (ModelString, error) {
	var ms ModelString
	if !strings.HasPrefix(s, ModelStringPrefix) {
		return ms, &ModelStringError{Input: s, Text: s, Reason: "must start with " + ModelStringPrefix}
	}
	rest := s[len(ModelStringPrefix):]
	off := len(ModelStringPrefix)
	ver, tail, _ := strings.Cut(rest, "__")
	if !validVersion(ver) {
		return ms, &ModelStringError{Input: s, Text: ver, Offset: off, Reason: "version must be digits separated by dots, like 1 or 2.1"}
	}
	ms.Version = ver
	if len(ver) == len(rest) {
		ms.Default = true
		return ms, nil
	}
	off += len(ver) + 2
	var (
		inPolicy   bool
		seen       = map[string]bool{}
		defaultSet *bool
		policyKeys int
	)
	for seg := 1; ; seg++ {
		text, next, more := strings.Cut(tail, "__")
		segErr := func(t string, o int, reason string) error {
			return &ModelStringError{Input: s, Segment: seg, Text: t, Offset: o, Reason: reason}
		}
		if text == "" {
			return ms, segErr(text, off, "empty segment (two __ in a row, or a trailing __)")
		}
		body, bodyOff := text, off
		if strings.HasPrefix(text, "policy_") {
			if inPolicy {
				return ms, segErr(text, off, "policy_ may open the policy section only once")
			}
			inPolicy = true
			body, bodyOff = text[len("policy_"):], off+len("policy_")
			if body == "" {
				return ms, segErr(text, off, "policy_ must be followed by key=value pairs")
			}
		}
		for _, p := range splitPairs(body) {
			pair := body[p.start:p.end]
			pOff := bodyOff + p.start
			key, val, ok := strings.Cut(pair, "=")
			if !ok || key == "" {
				return ms, segErr(pair, pOff, "want key=value")
			}
			if strings.Contains(val, "=") {
				return ms, segErr(pair, pOff, "value of "+key+" contains '='")
			}
			if seen[key] {
				return ms, segErr(pair, pOff, key+" is given twice")
			}
			seen[key] = true
			if key == "policy" {
				id, err := strconv.ParseInt(val, 10, 64)
				if err != nil || id <= 0 {
					return ms, segErr(pair, pOff, "policy must be a positive integer policy id")
				}
				ms.PolicyID = id
				continue
			}
			if !isPolicyKey(key) {
				return ms, segErr(pair, pOff, "unknown key "+strconv.Quote(key)+" (want default, privacy, latency, accuracy, cost, quality or policy)")
			}
			if !inPolicy {
				return ms, segErr(pair, pOff, key+" belongs in the policy section: write policy_"+pair)
			}
			switch key {
			case "default":
				b, err := strconv.ParseBool(val)
				if err != nil || (val != "true" && val != "false") {
					return ms, segErr(pair, pOff, "default must be true or false")
				}
				defaultSet = &b
			case "privacy":
				if !validPrivacy(val) {
					return ms, segErr(pair, pOff, "privacy must be LOCAL, CLOUD_IN_EU_BY_EU_PROVIDER, CLOUD_IN_EU_BY_US_PROVIDER or CLOUD_NOT_IN_EU_BY_US_PROVIDER")
				}
				v := val
				ms.Privacy = &v
				policyKeys++
			default:
				n, err := strconv.ParseInt(val, 10, 32)
				if err != nil {
					return ms, segErr(pair, pOff, key+" must be an integer")
				}
				v := int(n)
				switch key {
				case "latency":
					ms.Latency = &v
				case "accuracy":
					ms.Accuracy = &v
				case "cost":
					ms.Cost = &v
				case "quality":
					ms.Quality = &v
				}
				policyKeys++
			}
		}
		if !more {
			break
		}
		off += len(text) + 2
		tail = next
	}
	if defaultSet != nil {
		if *defaultSet && policyKeys > 0 {
			return ms, &ModelStringError{Input: s, Segment: 1, Text: s[len(ModelStringPrefix)+len(ver)+2:], Offset: len(ModelStringPrefix) + len(ver) + 2, Reason: "default=true cannot be combined with other policy keys; use default=false or leave default out"}
		}
		if !*defaultSet && policyKeys == 0 {
			return ms, &ModelStringError{Input: s, Segment: 1, Text: s[len(ModelStringPrefix)+len(ver)+2:], Offset: len(ModelStringPrefix) + len(ver) + 2, Reason: "default=false needs at least one other policy key (privacy, latency, accuracy, cost or quality)"}
		}
	}
	ms.Default = policyKeys == 0
	return ms, nil
}

// Apply returns base with the fields the model string sets replaced.
func (ms ModelString) Apply(base Policy) Policy {
	if ms.Privacy != nil {
		base.ThresholdPrivacy = *ms.Privacy
	}
	if ms.Latency != nil {
		base.Latency = *ms.Latency
	}
	if ms.Accuracy != nil {
		base.Accuracy = *ms.Accuracy
	}
	if ms.Cost != nil {
		base.Cost = *ms.Cost
	}
	if ms.Quality != nil {
		base.Quality = *ms.Quality
	}
	return base
}

type span struct{ start, end int }

// splitPairs splits s at every '_' that is followed by a lower-case key and
// '='. The pieces are returned as spans of s.
func splitPairs(s string) []span {
	var out []span
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '_' || i == start {
			continue
		}
		j := i + 1
		if j < len(s) && s[j] == '_' {
			j++
		}
		k := j
		for k < len(s) && s[k] >= 'a' && s[k] <= 'z' {
			k++
		}
		if k > j && k < len(s) && s[k] == '=' {
			out = append(out, span{start, i})
			start = j
			i = j - 1
		}
	}
	return append(out, span{start, len(s)})
}

func validVersion(v string) bool {
	if v == "" {
		return false
	}
	for _, part := range strings.Split(v, ".") {
		if part == "" {
			return false
		}
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return false
			}
		}
	}
	return true
}

func isPolicyKey(k string) bool {
	switch k {
	case "default", "privacy", "latency", "accuracy", "cost", "quality":
		return true
	}
	return false
}
