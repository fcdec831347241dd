// Package httpbody reads request bodies with a size limit, answering the
// refusals in the OpenAI error format. Package router reads admin bodies
// with it and package pipeline proxied ones.
package httpbody

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/logos-llm/logos/internal/oaierr"
)

// growStep is the most a body buffer grows by at once when the body's
// length is not announced.
const growStep = 1 << 20

// Read reads a request body of at most limit bytes (no limit when limit is
// 0 or less). It returns an OpenAI-format error for a body that is too large
// (413), that did not arrive before the connection's read deadline (408) or
// that cannot be read (400). A Content-Length over the limit is refused
// before a byte is read; the buffer is sized from Content-Length, or grows
// in steps of at most 1 MiB.
func Read(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *oaierr.Error) {
	if limit > 0 && r.ContentLength > limit {
		return nil, TooLarge(limit)
	}
	size := int64(512)
	if r.ContentLength >= 0 {
		size = r.ContentLength + 1 // room to see io.EOF without growing
	}
	src := r.Body
	if limit > 0 {
		src = http.MaxBytesReader(w, r.Body, limit)
		size = min(size, limit+1)
	}
	body, err := readAll(src, size)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, TooLarge(limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, oaierr.New(http.StatusRequestTimeout, "The request body was not sent in time").WithCode("request_timeout")
	case err != nil:
		return nil, oaierr.New(http.StatusBadRequest, "Could not read the request body").WithCode("invalid_body")
	}
	return body, nil
}

// TooLarge is the 413 for a body over limit bytes.
func TooLarge(limit int64) *oaierr.Error {
	return oaierr.New(http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body exceeds the limit of %d bytes", limit)).WithCode("request_too_large")
}

// readAll is io.ReadAll with a first buffer of size bytes that then grows
// by at most growStep at a time.
func readAll(r io.Reader, size int64) ([]byte, error) {
	buf := make([]byte, 0, max(size, 1))
	for {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), len(buf)+min(max(len(buf), 512), growStep))
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
