package config

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// microsPerUnit is how many micros make one currency unit.
const microsPerUnit = 1_000_000

// errPrice is the message of every malformed price.
var errPrice = errors.New("must be a non-negative decimal with at most 6 fractional digits, such as 2.50")

// parseMicros parses a decimal amount of currency units ("2.50") into micros
// (2500000) exactly, without floating point.
func parseMicros(s string) (int64, error) {
	whole, frac, _ := strings.Cut(strings.TrimSpace(s), ".")
	if whole == "" && frac == "" || len(frac) > 6 || !digits(whole) || !digits(frac) {
		return 0, errPrice
	}
	var units int64
	if whole != "" {
		var err error
		if units, err = strconv.ParseInt(whole, 10, 64); err != nil || units > math.MaxInt64/microsPerUnit-1 {
			return 0, errors.New("is too large")
		}
	}
	var micros int64
	if frac != "" {
		frac += strings.Repeat("0", 6-len(frac))
		micros, _ = strconv.ParseInt(frac, 10, 64) // six digits always parse
	}
	return units*microsPerUnit + micros, nil
}

// digits reports whether s holds only ASCII digits (an empty s does).
func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// formatMicros formats micros as a decimal amount of currency units without
// trailing zeros: 2500000 → "2.5", 3000000 → "3", 75000 → "0.075".
func formatMicros(micros int64) string {
	s := strconv.FormatInt(micros/microsPerUnit, 10)
	if frac := micros % microsPerUnit; frac != 0 {
		f := strconv.FormatInt(frac+microsPerUnit, 10)[1:] // zero padded to 6 digits
		s += "." + strings.TrimRight(f, "0")
	}
	return s
}
