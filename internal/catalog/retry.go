package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/logos-llm/logos/store"
)

// Retry fields of a model, as the admin API names them (update_model's
// categories and add_full_model's fields). 0 means the default.
const (
	RetryMaxAttempts    = "retry_max_attempts"
	RetryAttemptTimeout = "retry_attempt_timeout_ms"
	RetryDeadline       = "retry_deadline_ms"
)

// MaxRetryAttempts and MaxRetryMillis bound a model's retry policy (the
// store's ranges): attempts, and the attempt timeout and deadline in ms.
const (
	MaxRetryAttempts = 100
	MaxRetryMillis   = 3_600_000
)

// IsRetryField reports whether name is one of the retry fields of a model.
func IsRetryField(name string) bool {
	return name == RetryMaxAttempts || name == RetryAttemptTimeout || name == RetryDeadline
}

// SetRetryField sets one field of p from its admin API value (attempts, or
// milliseconds), checking the store's range; 0 means the default.
func SetRetryField(p *store.RetryPolicy, name string, v int64) error {
	switch name {
	case RetryMaxAttempts:
		if v < 0 || v > MaxRetryAttempts {
			return invalid(name, "must be between 0 (the default, 3) and 100")
		}
		p.MaxAttempts = int(v)
		return nil
	case RetryAttemptTimeout, RetryDeadline:
		if v < 0 || v > MaxRetryMillis {
			return invalid(name, "must be between 0 (the default) and 3600000 milliseconds")
		}
		d := time.Duration(v) * time.Millisecond
		if name == RetryAttemptTimeout {
			p.AttemptTimeout = d
		} else {
			p.Deadline = d
		}
		return nil
	}
	return invalid("category", "unknown retry field "+name)
}

// setModelRetry sets one retry field of model id (update_model with a
// retry_* category and an integer value).
func (c *Catalog) setModelRetry(ctx context.Context, id int64, field string, value json.RawMessage) error {
	var v int64
	if err := json.Unmarshal(value, &v); err != nil {
		return invalid("value", "must be an integer for the category "+field)
	}
	var p store.RetryPolicy
	if err := SetRetryField(&p, field, v); err != nil {
		err.(*FieldError).Field = "value"
		return err
	}
	c.rank.Lock()
	defer c.rank.Unlock()
	return c.Atomically(ctx, func(ctx context.Context) error {
		m, err := c.s.GetModel(ctx, id)
		if err != nil {
			return object(err, fmt.Sprintf("model %d", id), "id")
		}
		_ = SetRetryField(&m.Retry, field, v)
		_, err = c.s.UpdateModel(ctx, m)
		return object(err, fmt.Sprintf("model %d", id), "id")
	})
}
