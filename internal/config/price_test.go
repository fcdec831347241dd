package config

import "testing"

func TestParseMicros(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"2.50", 2_500_000, true},
		{"2.5", 2_500_000, true},
		{"10", 10_000_000, true},
		{"0", 0, true},
		{"0.075", 75_000, true},
		{".5", 500_000, true},
		{"3.", 3_000_000, true},
		{"0.000001", 1, true},
		{"1234567.123456", 1_234_567_123_456, true},
		{"0.0000001", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1e3", 0, false},
		{"2.5.0", 0, false},
		{".", 0, false},
		{"", 0, false},
		{"99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		got, err := parseMicros(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseMicros(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestFormatMicros(t *testing.T) {
	for micros, want := range map[int64]string{
		0:                 "0",
		1:                 "0.000001",
		75_000:            "0.075",
		2_500_000:         "2.5",
		10_000_000:        "10",
		1_234_567_123_456: "1234567.123456",
	} {
		if got := formatMicros(micros); got != want {
			t.Errorf("formatMicros(%d) = %q, want %q", micros, got, want)
		}
		if back, err := parseMicros(want); err != nil || back != micros {
			t.Errorf("parseMicros(formatMicros(%d)) = %d, %v", micros, back, err)
		}
	}
}
