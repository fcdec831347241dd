package catalog

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/logos-llm/logos/store"
)

// PriceRequest is a price as add_billing takes it.
type PriceRequest struct {
	// TokenType names the token type (created if needed).
	TokenType string
	// PerThousand is the price per 1,000 tokens in currency units; nil is
	// missing. The admin API sends a JSON number; it is converted to micros
	// per million tokens, rounded to the nearest micro.
	PerThousand *float64
	// ValidFrom is parsed with ParseTime.
	ValidFrom string
	// Currency defaults to EUR.
	Currency string
	// ModelID and ProviderID default to 0, any.
	ModelID, ProviderID int64
}

// NewPrice adds a price (add_billing).
func (c *Catalog) NewPrice(ctx context.Context, r PriceRequest) (store.Price, error) {
	name := strings.TrimSpace(r.TokenType)
	switch {
	case name == "":
		return store.Price{}, missing("type_name")
	case r.PerThousand == nil:
		return store.Price{}, missing("type_cost")
	case *r.PerThousand < 0:
		return store.Price{}, invalid("type_cost", "must not be negative")
	case strings.TrimSpace(r.ValidFrom) == "":
		return store.Price{}, missing("valid_from")
	case r.ModelID < 0:
		return store.Price{}, needID("model_id", r.ModelID)
	case r.ProviderID < 0:
		return store.Price{}, needID("provider_id", r.ProviderID)
	}
	// Price per 1,000 tokens in units → per million tokens in micro-units.
	micros := math.Round(*r.PerThousand * 1000 * 1e6)
	if micros >= math.MaxInt64 {
		return store.Price{}, invalid("type_cost", "is too large")
	}
	from, err := ParseTime(r.ValidFrom)
	if err != nil {
		return store.Price{}, invalid("valid_from", "must be an ISO 8601 date or time, e.g. 2026-01-01T00:00:00Z")
	}
	cur, err := currency("currency", r.Currency)
	if err != nil {
		return store.Price{}, err
	}
	if r.ModelID != 0 {
		if _, err := c.s.GetModel(ctx, r.ModelID); err != nil {
			return store.Price{}, object(err, fmt.Sprintf("model %d", r.ModelID), "model_id")
		}
	}
	if r.ProviderID != 0 {
		if _, err := c.s.GetProvider(ctx, r.ProviderID); err != nil {
			return store.Price{}, object(err, fmt.Sprintf("provider %d", r.ProviderID), "provider_id")
		}
	}
	var p store.Price
	err = c.Atomically(ctx, func(ctx context.Context) error {
		tt, err := c.s.EnsureTokenType(ctx, name)
		if err != nil {
			return object(err, fmt.Sprintf("token type %q", name), "type_name")
		}
		p, err = c.s.CreatePrice(ctx, store.Price{
			TokenTypeID:      tt.ID,
			ModelID:          r.ModelID,
			ProviderID:       r.ProviderID,
			ValidFrom:        from,
			MicrosPerMillion: int64(micros),
			Currency:         cur,
		})
		return object(err, fmt.Sprintf("price of %q from %s", name, from.Format(time.RFC3339)), "valid_from")
	})
	return p, err
}

// TokenType returns the token type with that name, creating it if needed.
func (c *Catalog) TokenType(ctx context.Context, name string) (store.TokenType, error) {
	return c.s.EnsureTokenType(ctx, name)
}

// AddPrice stores a price record as given (the config file).
func (c *Catalog) AddPrice(ctx context.Context, p store.Price) (store.Price, error) {
	return c.s.CreatePrice(ctx, p)
}

// RemovePrice deletes a price.
func (c *Catalog) RemovePrice(ctx context.Context, id int64) error {
	return c.s.DeletePrice(ctx, id)
}
