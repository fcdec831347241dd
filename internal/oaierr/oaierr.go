// Package oaierr writes errors in the OpenAI envelope
// {"error":{"message","type","param","code"}}, the one format every Logos error
// uses, with the error type OpenAI SDKs expect for each status.
package oaierr

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Error is one OpenAI-format error with its HTTP status.
type Error struct {
	Status  int
	Message string
	Type    string // empty: derived from Status
	Param   string // the offending field or header, if any
	Code    string // a machine-readable code, if any
	// RetryAfter, when positive, is sent as the Retry-After header (seconds).
	RetryAfter int
}

// Error implements error.
func (e *Error) Error() string { return e.Message }

// New returns an error with the type derived from status.
func New(status int, message string) *Error {
	return &Error{Status: status, Message: message}
}

// WithParam sets Param and returns e.
func (e *Error) WithParam(p string) *Error { e.Param = p; return e }

// WithCode sets Code and returns e.
func (e *Error) WithCode(c string) *Error { e.Code = c; return e }

// TypeFor returns the OpenAI error type for an HTTP status.
func TypeFor(status int) string {
	switch {
	case status == http.StatusBadRequest, status == http.StatusUnprocessableEntity:
		return "invalid_request_error"
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusPaymentRequired:
		return "insufficient_quota"
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusNotFound:
		return "not_found_error"
	case status == http.StatusConflict:
		return "conflict_error"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status == http.StatusGatewayTimeout:
		return "timeout_error"
	case status >= 400 && status < 500:
		return "invalid_request_error"
	default:
		return "api_error"
	}
}

type body struct {
	Error payload `json:"error"`
}

type payload struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// Marshal returns the JSON envelope of e.
func (e *Error) Marshal() []byte {
	p := payload{Message: e.Message, Type: e.Type}
	if p.Type == "" {
		p.Type = TypeFor(e.Status)
	}
	if e.Param != "" {
		p.Param = &e.Param
	}
	if e.Code != "" {
		p.Code = &e.Code
	}
	b, _ := json.Marshal(body{Error: p}) // cannot fail: strings only
	return b
}

// Write sends e as the response. It must be called before anything else was
// written to w.
func Write(w http.ResponseWriter, e *Error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(append(e.Marshal(), '\n'))
}
