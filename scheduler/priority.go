package scheduler

import (
	"strconv"
	"strings"
)

// ParsePriority reads a priority name, case-insensitively and ignoring
// surrounding space: "low" and "l" are PriorityLow; "normal", "medium", "mid",
// "n" and "m" are PriorityNormal; "high", "critical", "h" and "c" are
// PriorityHigh; the numbers "1", "5" and "10" are the level of that value.
// Anything else, including other numbers and the empty string, is
// PriorityNormal.
func ParsePriority(s string) Priority {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "low", "l", "1":
		return PriorityLow
	case "high", "critical", "h", "c", "10":
		return PriorityHigh
	default: // "normal", "medium", "mid", "n", "m", "5" and anything unknown
		return PriorityNormal
	}
}

// PriorityFromInt maps an integer, such as a process's or a policy's
// priority, onto a level. The level values 1, 5 and 10 map to themselves and 0
// means unset, which is PriorityNormal (as in the original gateway, where a
// policy's default priority 0 ran as normal). Any other value is clamped to
// the nearest band: n <= 3 (including negative values) is PriorityLow, n >= 8
// is PriorityHigh, and 4, 6 and 7 are PriorityNormal.
func PriorityFromInt(n int) Priority {
	switch {
	case n == 0:
		return PriorityNormal
	case n <= 3:
		return PriorityLow
	case n >= 8:
		return PriorityHigh
	default:
		return PriorityNormal
	}
}

// Normalize returns the level a scheduler queues p at: PriorityFromInt(int(p)),
// so the zero Priority of a Job that set none is PriorityNormal.
func (p Priority) Normalize() Priority { return PriorityFromInt(int(p)) }

// String returns "low", "normal" or "high" for the three levels and the
// decimal value for anything else.
func (p Priority) String() string {
	switch p {
	case PriorityLow:
		return "low"
	case PriorityNormal:
		return "normal"
	case PriorityHigh:
		return "high"
	default:
		return strconv.Itoa(int(p))
	}
}
