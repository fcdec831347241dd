package ratelimit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Limits are the rate limits of one key. A zero field means no limit of that
// kind.
type Limits struct {
	// RequestsPerMinute is how many requests may be admitted per minute.
	RequestsPerMinute int64 `json:"requests_per_minute,omitempty"`
	// TokensPerMinute is how many tokens (prompt and completion, counted
	// after each request completes) may be used per minute; a request is
	// refused while the minute's recorded tokens have reached it.
	TokensPerMinute int64 `json:"tokens_per_minute,omitempty"`
}

// IsZero reports whether l limits nothing.
func (l Limits) IsZero() bool { return l.RequestsPerMinute <= 0 && l.TokensPerMinute <= 0 }

// Or returns l with each unset (zero) field taken from def, e.g. process
// settings over defaults from the config file.
func (l Limits) Or(def Limits) Limits {
	if l.RequestsPerMinute <= 0 {
		l.RequestsPerMinute = def.RequestsPerMinute
	}
	if l.TokensPerMinute <= 0 {
		l.TokensPerMinute = def.TokensPerMinute
	}
	return l
}

// Key returns the rate-limit key of a process (model empty) or of a process's
// use of one model. Per-model limits are counted separately from (and in
// addition to) the process's own.
func Key(processID int64, model string) string {
	k := "process:" + strconv.FormatInt(processID, 10)
	if model != "" {
		k += "/model:" + model
	}
	return k
}

// ParseLimits reads the rate limits from a process's settings, a JSON object
// (as stored in store.Process.Settings and written from the config file's
// process settings):
//
//	{
//	  "requests_per_minute": 60,
//	  "tokens_per_minute": 100000,
//	  "models": {
//	    "gpt-4o": {"requests_per_minute": 10, "tokens_per_minute": 20000}
//	  }
//	}
//
// The top-level fields limit the process as a whole; each entry of "models"
// limits the process's requests for that model name, in addition. Every field
// is optional; absent or 0 means no limit. Limits must be non-negative
// integers. Other settings keys are ignored; empty or null settings have no
// limits.
func ParseLimits(settings json.RawMessage) (perProcess Limits, perModel map[string]Limits, err error) {
	raw := bytes.TrimSpace(settings)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return Limits{}, nil, nil
	}
	var doc struct {
		RequestsPerMinute json.RawMessage            `json:"requests_per_minute"`
		TokensPerMinute   json.RawMessage            `json:"tokens_per_minute"`
		Models            map[string]json.RawMessage `json:"models"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return Limits{}, nil, fmt.Errorf("ratelimit: settings: %w", err)
	}
	perProcess, err = parseLimitFields("", doc.RequestsPerMinute, doc.TokensPerMinute)
	if err != nil {
		return Limits{}, nil, err
	}
	for name, v := range doc.Models {
		var m struct {
			RequestsPerMinute json.RawMessage `json:"requests_per_minute"`
			TokensPerMinute   json.RawMessage `json:"tokens_per_minute"`
		}
		if err := json.Unmarshal(v, &m); err != nil {
			return Limits{}, nil, fmt.Errorf("ratelimit: settings: models[%q]: %w", name, err)
		}
		l, err := parseLimitFields(fmt.Sprintf("models[%q].", name), m.RequestsPerMinute, m.TokensPerMinute)
		if err != nil {
			return Limits{}, nil, err
		}
		if l.IsZero() {
			continue
		}
		if perModel == nil {
			perModel = make(map[string]Limits)
		}
		perModel[name] = l
	}
	return perProcess, perModel, nil
}

// parseLimitFields decodes the two limit fields; prefix locates them in
// error messages.
func parseLimitFields(prefix string, rpm, tpm json.RawMessage) (Limits, error) {
	var l Limits
	var err error
	if l.RequestsPerMinute, err = parseLimit(prefix+"requests_per_minute", rpm); err != nil {
		return Limits{}, err
	}
	if l.TokensPerMinute, err = parseLimit(prefix+"tokens_per_minute", tpm); err != nil {
		return Limits{}, err
	}
	return l, nil
}

// parseLimit decodes one limit: absent or null is 0, else a non-negative
// integer.
func parseLimit(field string, raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, nil
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("ratelimit: settings: %s: %s is not an integer", field, raw)
	}
	if n < 0 {
		return 0, fmt.Errorf("ratelimit: settings: %s: %d is negative", field, n)
	}
	return n, nil
}
