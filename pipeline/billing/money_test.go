package billing

import "testing"

func TestMoney(t *testing.T) {
	// Amounts are parsed by internal/catalog.ParseMicros, the one money
	// grammar; its test pins what it accepts.
	for m, want := range map[int64]string{50_000_000: "50.00", 1_234_567: "1.234567", 950_000: "0.95", 0: "0.00", -500_000: "-0.50", 10: "0.00001"} {
		if got := FormatMicros(m); got != want {
			t.Errorf("FormatMicros(%d) = %q; want %q", m, got, want)
		}
	}
}
