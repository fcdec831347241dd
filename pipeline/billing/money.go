package billing

import (
	"fmt"
	"strings"
)

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
