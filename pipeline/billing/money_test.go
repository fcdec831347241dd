package billing

import "testing"

func TestMoney(t *testing.T) {
	for s, want := range map[string]int64{"50": 50_000_000, "50.00": 50_000_000, "0.000125": 125, "1.5": 1_500_000, "0": 0} {
		if got, err := ParseMicros(s); err != nil || got != want {
			t.Errorf("ParseMicros(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", ".5", "5.", "-1", "+1", "1e3", "1.0000001", "1,5", "99999999999999999999"} {
		if _, err := ParseMicros(s); err == nil {
			t.Errorf("ParseMicros(%q) succeeded", s)
		}
	}
	for m, want := range map[int64]string{50_000_000: "50.00", 1_234_567: "1.234567", 950_000: "0.95", 0: "0.00", -500_000: "-0.50", 10: "0.00001"} {
		if got := FormatMicros(m); got != want {
			t.Errorf("FormatMicros(%d) = %q; want %q", m, got, want)
		}
	}
}
