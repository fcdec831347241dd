package billing

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// errAmount is wrapped by every ParseMicros error.
var errAmount = errors.New("invalid amount")

// ParseMicros parses a non-negative decimal amount in currency units ("50",
// "50.00", "0.000125") into millionths of a unit. At most six decimals are
// allowed; signs, exponents and thousands separators are not.
func ParseMicros(s string) (int64, error) {
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || (dot && frac == "") || len(frac) > 6 || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%w %q: want a decimal number of currency units with at most six decimals", errAmount, s)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > math.MaxInt64/1_000_000-1 {
		return 0, fmt.Errorf("%w %q: too large", errAmount, s)
	}
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	}
	return w*1_000_000 + f, nil
}

// digits reports whether s consists of ASCII digits only (true for "").
func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// FormatMicros formats millionths of a currency unit as a decimal amount with
// at least two and at most six decimals: 50000000 is "50.00", 1234567 is
// "1.234567", -500000 is "-0.50".
func FormatMicros(m int64) string {
	sign := ""
	u := uint64(m)
	if m < 0 {
		sign, u = "-", uint64(-(m+1))+1
	}
	frac := strings.TrimRight(fmt.Sprintf("%06d", u%1_000_000), "0")
	for len(frac) < 2 {
		frac += "0"
	}
	return fmt.Sprintf("%s%d.%s", sign, u/1_000_000, frac)
}
