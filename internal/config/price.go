package config

import (
	"errors"

	"github.com/logos-llm/logos/internal/catalog"
)

// errPrice is the message of every malformed price.
var errPrice = errors.New("must be a non-negative decimal with at most 6 fractional digits, such as 2.50")

// parseMicros parses a decimal amount of currency units ("2.50") into micros
// (2500000) with catalog.ParseMicros, the one money grammar of Logos, and
// words its errors for a document.
func parseMicros(s string) (int64, error) {
	m, err := catalog.ParseMicros(s)
	switch {
	case err == nil:
		return m, nil
	case errors.Is(err, catalog.ErrAmountTooLarge):
		return 0, errors.New("is too large")
	default:
		return 0, errPrice
	}
}

// formatMicros formats micros as the shortest amount parseMicros reads back:
// 2500000 → "2.5", 3000000 → "3", 75000 → "0.075".
func formatMicros(micros int64) string { return catalog.FormatMicros(micros) }
