package catalog

import (
	"errors"
	"testing"
	"time"
)

// TestParseMicros pins the one money grammar. ".5" and "3." are amounts:
// the config file accepted them and the budget limit did not; the merged
// grammar keeps what either accepted.
func TestParseMicros(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"2.50", 2_500_000, true},
		{"2.5", 2_500_000, true},
		{"50", 50_000_000, true},
		{"50.00", 50_000_000, true},
		{"0", 0, true},
		{"0.000125", 125, true},
		{"0.000001", 1, true},
		{".5", 500_000, true},
		{"3.", 3_000_000, true},
		{" 7 ", 7_000_000, true},
		{"1234567.123456", 1_234_567_123_456, true},
		{"0.0000001", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1e3", 0, false},
		{"1,5", 0, false},
		{"2.5.0", 0, false},
		{".", 0, false},
		{"", 0, false},
		{"99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseMicros(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseMicros(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrAmount) {
			t.Errorf("ParseMicros(%q) error %v does not wrap ErrAmount", tt.in, err)
		}
	}
	if _, err := ParseMicros("99999999999999999999"); !errors.Is(err, ErrAmountTooLarge) {
		t.Errorf("too large an amount: %v, want ErrAmountTooLarge", err)
	}
}

func TestFormatMicros(t *testing.T) {
	for micros, want := range map[int64]string{
		0: "0", 1: "0.000001", 75_000: "0.075", 2_500_000: "2.5", 10_000_000: "10",
		1_234_567_123_456: "1234567.123456", -500_000: "-0.5",
	} {
		if got := FormatMicros(micros); got != want {
			t.Errorf("FormatMicros(%d) = %q, want %q", micros, got, want)
		}
		if micros < 0 {
			continue
		}
		if back, err := ParseMicros(want); err != nil || back != micros {
			t.Errorf("ParseMicros(FormatMicros(%d)) = %d, %v", micros, back, err)
		}
	}
}

// TestParseTime pins the one time grammar of valid_from. The config file
// accepted only RFC 3339 and dates; it now also takes the date-times
// without zone (as UTC) and the other ISO 8601 forms add_billing took.
func TestParseTime(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2026-01-01T00:00:00Z", utc(2026, 1, 1, 0, 0, 0, 0), true},
		{"2026-01-01T02:00:00+02:00", utc(2026, 1, 1, 0, 0, 0, 0), true},
		{"2026-01-01T00:00:00.1234567Z", utc(2026, 1, 1, 0, 0, 0, 123_456_000), true},
		{"2026-01-01", utc(2026, 1, 1, 0, 0, 0, 0), true},
		{" 2026-01-01 ", utc(2026, 1, 1, 0, 0, 0, 0), true},
		{"2026-01-01T08:30", utc(2026, 1, 1, 8, 30, 0, 0), true},
		{"2026-01-01T08:30:15", utc(2026, 1, 1, 8, 30, 15, 0), true},
		{"2026-01-01 08:30:15", utc(2026, 1, 1, 8, 30, 15, 0), true},
		{"2026-01-01 08:30:15+01:00", utc(2026, 1, 1, 7, 30, 15, 0), true},
		{"2026-01-01T08:30Z", utc(2026, 1, 1, 8, 30, 0, 0), true},
		{"yesterday", time.Time{}, false},
		{"01/02/2026", time.Time{}, false},
		{"", time.Time{}, false},
		{"0000-01-01", time.Time{}, false},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in)
		if (err == nil) != tt.ok || !got.Equal(tt.want) || (err == nil && got.Location() != time.UTC) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrTime) {
			t.Errorf("ParseTime(%q) error %v does not wrap ErrTime", tt.in, err)
		}
	}
}

// TestParseTimeAsWritten: the grammar ParseTime limits to the stores'
// years and precision, as the statistics and budgets use it: the time as
// written, in its zone, any year the layouts hold, to the nanosecond.
func TestParseTimeAsWritten(t *testing.T) {
	plus2 := time.FixedZone("", 2*3600)
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2026-01-01T02:00:00.123456789+02:00", time.Date(2026, 1, 1, 2, 0, 0, 123456789, plus2), true},
		{"0000-01-01T00:00:00Z", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"0000-01-01", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"2026-01-01T08:30", time.Date(2026, 1, 1, 8, 30, 0, 0, time.UTC), true},
		{"yesterday", time.Time{}, false},
	} {
		got, err := ParseTimeAsWritten(tc.in)
		if (err == nil) != tc.ok || !got.Equal(tc.want) {
			t.Errorf("ParseTimeAsWritten(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if err == nil {
			if _, off := got.Zone(); off != func() int { _, o := tc.want.Zone(); return o }() {
				t.Errorf("ParseTimeAsWritten(%q) = %v: not in the zone written", tc.in, got)
			}
		}
		if err != nil && !errors.Is(err, ErrTime) {
			t.Errorf("ParseTimeAsWritten(%q) error %v does not wrap ErrTime", tc.in, err)
		}
	}
}

func TestProviderKind(t *testing.T) {
	for in, want := range map[string]string{"": "openai_compatible", "cloud": "openai_compatible", "OpenWebUI": "openai_compatible", "Azure": "azure", " ollama ": "ollama"} {
		if got, ok := ProviderKind(in); !ok || string(got) != want {
			t.Errorf("ProviderKind(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if _, ok := ProviderKind("bedrock"); ok {
		t.Error("ProviderKind(bedrock) accepted")
	}
}

// TestEndpointProblem pins the one check of deployment endpoints and
// provider URLs that the admin API and the config file share: a host without
// a scheme is refused with a reason that says what is wanted.
func TestEndpointProblem(t *testing.T) {
	const noScheme = "has no scheme: want http:// or https://"
	for _, tc := range []struct{ in, endpoint, url string }{
		{"", "", noScheme},
		{"http://gpu:8000/v1", "", ""},
		{"HTTPS://api.example.com", "", ""},
		{" https://api.example.com/v1 ", "", "is not a valid URL: want http:// or https://"},
		{"/v1/chat/completions", "", noScheme},
		{"chat/completions?api-version=2024-06-01", "", noScheme},
		{"v1/models/gemini:generateContent", "", noScheme},
		{"localhost:8080/v1", noScheme + " (or a path such as /v1/chat/completions)", noScheme},
		{"localhost:8080", noScheme + " (or a path such as /v1/chat/completions)", noScheme},
		{"10.0.0.5:8000/v1", noScheme + " (or a path such as /v1/chat/completions)", noScheme},
		{"//gpu-box/v1", noScheme, noScheme},
		{"ftp://x/y", `has scheme "ftp": want http:// or https://`, `has scheme "ftp": want http:// or https://`},
		{"http:///v1", "has no host: want http://host or https://host", "has no host: want http://host or https://host"},
		{"%zz", "is neither a path nor a URL: want a path such as /v1/chat/completions, or http:// or https://", noScheme},
	} {
		if got := EndpointProblem(tc.in); got != tc.endpoint {
			t.Errorf("EndpointProblem(%q) = %q, want %q", tc.in, got, tc.endpoint)
		}
		if got := HTTPURLProblem(tc.in); got != tc.url {
			t.Errorf("HTTPURLProblem(%q) = %q, want %q", tc.in, got, tc.url)
		}
		if err := checkEndpoint(tc.in); (err == nil) != (tc.endpoint == "") {
			t.Errorf("checkEndpoint(%q) = %v", tc.in, err)
		}
	}
}
