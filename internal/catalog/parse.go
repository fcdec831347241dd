package catalog

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/logos-llm/logos/store"
)

// microsPerUnit is how many micros make one currency unit.
const microsPerUnit = 1_000_000

// Errors of ParseMicros.
var (
	// ErrAmount is wrapped by every ParseMicros error.
	ErrAmount = errors.New("invalid amount")
	// ErrAmountTooLarge is wrapped, with ErrAmount, by the error of an
	// amount of 9,223,372,036,854 units or more.
	ErrAmountTooLarge = errors.New("too large")
)

// ParseMicros parses a non-negative decimal amount of currency units into
// millionths of a unit (micros), exactly, without floating point. It is the
// one money grammar of Logos, used for prices in the config file and for
// budget limits in the admin API:
//
//	amount = [ digits ] [ "." [ digits ] ]   with at least one digit
//
// with at most six fractional digits and surrounding white space ignored:
// "2.50", "2.5", "10", "0.000125", ".5" (0.5) and "3." (3) are amounts;
// "", ".", "-1", "+1", "1e3", "1,5" and "0.0000001" are not. Until the
// grammars were merged the budget limit refused ".5" and "3."; the config
// file accepted them, and no amount accepted before is refused now.
func ParseMicros(s string) (int64, error) {
	whole, frac, _ := strings.Cut(strings.TrimSpace(s), ".")
	if whole == "" && frac == "" || len(frac) > 6 || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%w %q: want a non-negative decimal number of currency units with at most six decimals", ErrAmount, s)
	}
	var units int64
	if whole != "" {
		var err error
		if units, err = strconv.ParseInt(whole, 10, 64); err != nil || units > math.MaxInt64/microsPerUnit-1 {
			return 0, fmt.Errorf("%w %q: %w", ErrAmount, s, ErrAmountTooLarge)
		}
	}
	var micros int64
	if frac != "" {
		micros, _ = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64) // six digits always parse
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

// FormatMicros formats micros as the shortest amount ParseMicros reads back:
// no trailing zeros, 2500000 → "2.5", 3000000 → "3", 75000 → "0.075". Config
// documents use it; amounts shown to people use billing.FormatMicros.
func FormatMicros(micros int64) string {
	sign := ""
	u := uint64(micros)
	if micros < 0 {
		sign, u = "-", uint64(-(micros+1))+1
	}
	s := sign + strconv.FormatUint(u/microsPerUnit, 10)
	if frac := u % microsPerUnit; frac != 0 {
		f := strconv.FormatUint(frac+microsPerUnit, 10)[1:] // zero padded to 6 digits
		s += "." + strings.TrimRight(f, "0")
	}
	return s
}

// ErrTime is wrapped by every ParseTime error.
var ErrTime = errors.New("invalid time")

// timeLayouts are the layouts ParseTime accepts, in order.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	time.DateOnly,
}

// ParseTime parses an ISO 8601 time as the catalogue accepts it: RFC 3339
// with a zone or "Z" ("2026-01-01T00:00:00Z", also with a space for the
// "T" and without seconds), a date-time without zone taken as UTC
// ("2026-01-01T08:30"), or a date (midnight UTC). Surrounding white space is
// ignored; the year must be 1 to 9999. The result is in UTC, truncated to
// the microsecond (what every store keeps). It is the one time grammar of a
// price's valid_from, in the admin API (add_billing) and the config file.
// Until they were merged the config file accepted only RFC 3339 and dates;
// it now accepts what add_billing accepted, and refuses nothing it took.
func ParseTime(s string) (time.Time, error) {
	t, err := ParseTimeAsWritten(s)
	if err != nil || t.UTC().Year() < 1 || t.UTC().Year() > 9999 {
		return time.Time{}, timeError(s)
	}
	return t.UTC().Truncate(time.Microsecond), nil
}

// ParseTimeAsWritten parses s with ParseTime's grammar and returns the time
// as written: in its zone (UTC when it has none), to the nanosecond, with
// any year the layouts can hold (0 to 9999). It is the time grammar of the
// statistics' ranges and a budget's starts_at, which accepted RFC 3339 and
// dates before they shared it; they apply their own limits to the result.
func ParseTimeAsWritten(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, timeError(s)
}

// timeError is the error of a time ParseTime refuses.
func timeError(s string) error {
	return fmt.Errorf("%w %q: want an RFC 3339 time such as 2026-01-01T00:00:00Z or a date such as 2026-01-01", ErrTime, strings.TrimSpace(s))
}

// privacyReason is the Reason of a refused privacy level.
const privacyReason = "must be one of LOCAL, CLOUD_IN_EU_BY_EU_PROVIDER, CLOUD_IN_EU_BY_US_PROVIDER, CLOUD_NOT_IN_EU_BY_US_PROVIDER"

// ParsePrivacy parses a privacy level, case-insensitively; the error is a
// *FieldError for field.
func ParsePrivacy(field, s string) (store.Privacy, error) {
	p := store.Privacy(strings.ToUpper(strings.TrimSpace(s)))
	if !p.Valid() {
		return "", invalid(field, privacyReason)
	}
	return p, nil
}

// ProviderKind maps a provider type as the admin API accepts it to a kind:
// the four kinds themselves (case-insensitive), and the original's "cloud"
// and "openwebui" as openai_compatible. Empty means openai_compatible.
func ProviderKind(typ string) (store.ProviderKind, bool) {
	switch t := store.ProviderKind(strings.ToLower(strings.TrimSpace(typ))); t {
	case "", "cloud", "openwebui":
		return store.KindOpenAICompatible, true
	default:
		return t, t.Valid()
	}
}

// IsHTTPURL reports whether s is an absolute http(s) URL with a host.
func IsHTTPURL(s string) bool { return HTTPURLProblem(s) == "" }

// wantHTTP ends the reasons of HTTPURLProblem and EndpointProblem.
const wantHTTP = "want http:// or https://"

// HTTPURLProblem says why s is not an absolute http:// or https:// URL with
// a host (a provider's base_url or admin_url), or returns "" when it is one.
// The reason never repeats s, which may carry a credential, and reads after
// the field's name: "has no scheme: want http:// or https://". The admin API
// and the config file check URLs with it, so that they accept the same ones.
func HTTPURLProblem(s string) string {
	u, err := url.Parse(s)
	// "localhost:8080/v1" parses with the scheme "localhost".
	noScheme := !strings.Contains(s, "://") && (err != nil || u.Scheme == "" || (u.Scheme != "http" && u.Scheme != "https"))
	switch {
	case noScheme:
		return "has no scheme: " + wantHTTP
	case err != nil:
		return "is not a valid URL: " + wantHTTP
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("has scheme %q: %s", u.Scheme, wantHTTP)
	case u.Host == "":
		return "has no host: want http://host or https://host"
	}
	return ""
}

// EndpointProblem says why s is not a deployment endpoint, or returns ""
// when it is one: empty, a path (with an optional query) joined to the
// provider's base URL, or an absolute http(s) URL (HTTPURLProblem). A value
// that names a host without a scheme ("localhost:8080/v1",
// "10.0.0.5:8000/v1", "//gpu-box/v1") is refused, not taken for a path: the
// provider could not resolve it. The admin API and the config file check
// endpoints with it, so that they accept the same ones.
func EndpointProblem(s string) string {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return ""
	case strings.Contains(s, "://"):
		return HTTPURLProblem(s)
	case strings.HasPrefix(s, "//"):
		return "has no scheme: " + wantHTTP
	}
	u, err := url.Parse(s)
	first, _, _ := strings.Cut(s, "/")
	switch {
	case (err == nil && u.Scheme != "") || (err != nil && strings.Contains(first, ":")):
		return "has no scheme: " + wantHTTP + " (or a path such as /v1/chat/completions)"
	case err != nil:
		return "is neither a path nor a URL: want a path such as /v1/chat/completions, or http:// or https://"
	}
	return ""
}

// checkHTTPURL checks that field's value s is an absolute http(s) URL.
func checkHTTPURL(field, s string) error {
	if r := HTTPURLProblem(s); r != "" {
		return invalid(field, r)
	}
	return nil
}

// checkEndpoint checks a deployment endpoint (EndpointProblem).
func checkEndpoint(s string) error {
	if r := EndpointProblem(s); r != "" {
		return invalid("endpoint", r)
	}
	return nil
}

// CheckID checks a required id field: 0 is missing, a negative id invalid.
func CheckID(field string, id int64) error { return needID(field, id) }

// needID checks a required id field: 0 is missing, a negative id invalid.
// It is the one id rule of the catalogue and the admin API.
func needID(field string, id int64) error {
	switch {
	case id == 0:
		return missing(field)
	case id < 0:
		return invalid(field, "must be a positive integer")
	}
	return nil
}

// currency checks and normalises a currency code; empty is EUR.
func currency(field, s string) (string, error) {
	c := strings.ToUpper(strings.TrimSpace(s))
	if c == "" {
		return "EUR", nil
	}
	if !IsCurrency(c) {
		return "", invalid(field, "must be a three-letter ISO 4217 code")
	}
	return c, nil
}

// IsCurrency reports whether s is three upper-case ASCII letters, the form
// of an ISO 4217 code.
func IsCurrency(s string) bool {
	return len(s) == 3 && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == ""
}
