package router

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/logos-llm/logos/internal/httpbody"
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

// readBody reads a request body of at most limit bytes (see httpbody.Read).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *oaierr.Error) {
	return httpbody.Read(w, r, limit)
}

// bodyTooLarge is the 413 for a body over limit bytes.
func bodyTooLarge(limit int64) *oaierr.Error { return httpbody.TooLarge(limit) }

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
