package router

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/logos-llm/logos/internal/oaierr"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		oaierr.Write(w, oaierr.New(http.StatusInternalServerError, "Internal server error"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// bodyGrowStep is the most a body buffer grows by at once when the body's
// length is not announced.
const bodyGrowStep = 1 << 20

// readBody reads a request body of at most limit bytes. It returns an
// OpenAI-format error for a body that is too large or cannot be read. A
// Content-Length over the limit is refused before a byte is read; the
// buffer is sized from Content-Length, or grows in steps of at most 1 MiB.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *oaierr.Error) {
	if r.ContentLength > limit {
		return nil, bodyTooLarge(limit)
	}
	size := int64(512)
	if r.ContentLength >= 0 {
		size = r.ContentLength + 1 // room to see io.EOF without growing
	}
	body, err := readAll(http.MaxBytesReader(w, r.Body, limit), min(size, limit+1))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, bodyTooLarge(limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, oaierr.New(http.StatusRequestTimeout, "The request body was not sent in time").WithCode("request_timeout")
	case err != nil:
		return nil, oaierr.New(http.StatusBadRequest, "Could not read the request body").WithCode("invalid_body")
	}
	return body, nil
}

// bodyTooLarge is the 413 for a body over limit bytes.
func bodyTooLarge(limit int64) *oaierr.Error {
	return oaierr.New(http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body exceeds the limit of %d bytes", limit)).WithCode("request_too_large")
}

// readAll is io.ReadAll with a first buffer of size bytes that then grows
// by at most bodyGrowStep at a time.
func readAll(r io.Reader, size int64) ([]byte, error) {
	buf := make([]byte, 0, max(size, 1))
	for {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), len(buf)+min(max(len(buf), 512), bodyGrowStep))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// decodeObject decodes an optional JSON object body into v. An empty body or
// JSON null leaves v unchanged.
func decodeObject(body []byte, v any) *oaierr.Error {
	if len(body) == 0 || string(body) == "null" {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return oaierr.New(http.StatusBadRequest, fmt.Sprintf("Field %q must be of type %s", typeErr.Field, typeErr.Type)).WithParam(typeErr.Field).WithCode("invalid_type")
		}
		return oaierr.New(http.StatusBadRequest, "Request body must be a JSON object").WithCode("invalid_json")
	}
	return nil
}
