package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/logos-llm/logos/internal/header"
	"github.com/logos-llm/logos/store"
)

// ProviderFields are the provider fields add_provider and update_provider
// accept, with their admin API names. A nil field was absent (or JSON null)
// and leaves the provider's value unchanged.
type ProviderFields struct {
	Name             *string `json:"provider_name"`
	Type             *string `json:"provider_type"`
	BaseURL          *string `json:"base_url"`
	APIKey           *string `json:"api_key"`
	AuthName         *string `json:"auth_name"`
	AuthFormat       *string `json:"auth_format"`
	APIVersion       *string `json:"api_version"`
	Privacy          *string `json:"privacy"`
	AdminURL         *string `json:"admin_url"`
	TotalVRAMMB      *int64  `json:"total_vram_mb"`
	ParallelCapacity *int    `json:"parallel_capacity"`
	KeepAliveSeconds *int    `json:"keep_alive_seconds"`
	MaxLoadedModels  *int    `json:"max_loaded_models"`
	// ExtraOperations replaces the provider's list of operations allowed
	// beyond the known ones; [] clears it.
	ExtraOperations *[]string `json:"extra_operations"`
	// Monitoring: admin_url is polled every poll_interval_ms for at most
	// poll_timeout_ms (0 = 5000 each); sleep_mode polls vLLM's /is_sleeping.
	PollIntervalMS *int64 `json:"poll_interval_ms"`
	PollTimeoutMS  *int64 `json:"poll_timeout_ms"`
	SleepMode      *bool  `json:"sleep_mode"`
}

// MaxPollMS bounds poll_interval_ms and poll_timeout_ms: one day.
const MaxPollMS = 24 * 60 * 60 * 1000

// apply validates the present fields and sets them on p. An api_key is
// sealed; an empty one removes the credential. An empty privacy is ignored.
func (c *Catalog) apply(f ProviderFields, p *store.Provider) error {
	if f.Name != nil {
		if p.Name = strings.TrimSpace(*f.Name); p.Name == "" {
			return missing("provider_name")
		}
	}
	if f.Type != nil {
		if strings.TrimSpace(*f.Type) == "" {
			return missing("provider_type")
		}
		kind, ok := ProviderKind(*f.Type)
		if !ok {
			return invalid("provider_type", "must be one of openai, azure, ollama, openai_compatible (or the original's cloud, openwebui)")
		}
		p.Kind = kind
	}
	if f.BaseURL != nil {
		if p.BaseURL = strings.TrimSpace(*f.BaseURL); p.BaseURL == "" {
			return missing("base_url")
		}
		if err := checkHTTPURL("base_url", p.BaseURL); err != nil {
			return err
		}
	}
	if f.AuthName != nil {
		p.AuthHeader = strings.TrimSpace(*f.AuthName)
		if p.AuthHeader != "" && !header.ValidName(p.AuthHeader) {
			return invalid("auth_name", "must be a valid HTTP header name")
		}
	}
	if f.AuthFormat != nil {
		p.AuthFormat = *f.AuthFormat
		if p.AuthFormat != "" && !strings.Contains(p.AuthFormat, "{}") {
			return invalid("auth_format", `must contain the placeholder "{}" for the credential`)
		}
	}
	if f.APIVersion != nil {
		p.APIVersion = strings.TrimSpace(*f.APIVersion)
	}
	if f.ExtraOperations != nil {
		ops := make([]string, 0, len(*f.ExtraOperations))
		for _, op := range *f.ExtraOperations {
			op = strings.TrimSpace(op)
			if err := store.CheckOperationPattern(op); err != nil {
				return invalid("extra_operations", "has an invalid entry: "+err.Error())
			}
			ops = append(ops, op)
		}
		p.ExtraOperations = ops
	}
	if f.Privacy != nil && strings.TrimSpace(*f.Privacy) != "" {
		level, err := ParsePrivacy("privacy", *f.Privacy)
		if err != nil {
			return err
		}
		p.Privacy = level
	}
	if f.AdminURL != nil {
		if p.AdminURL = strings.TrimSpace(*f.AdminURL); p.AdminURL != "" {
			if err := checkHTTPURL("admin_url", p.AdminURL); err != nil {
				return err
			}
		}
	}
	for _, n := range []struct {
		field string
		v     *int
		dst   *int
	}{
		{"parallel_capacity", f.ParallelCapacity, &p.ParallelCapacity},
		{"keep_alive_seconds", f.KeepAliveSeconds, &p.KeepAliveSeconds},
		{"max_loaded_models", f.MaxLoadedModels, &p.MaxLoadedModels},
	} {
		if n.v == nil {
			continue
		}
		if *n.v < 0 {
			return invalid(n.field, "must not be negative")
		}
		*n.dst = *n.v
	}
	for _, n := range []struct {
		field string
		v     *int64
		dst   *time.Duration
	}{
		{"poll_interval_ms", f.PollIntervalMS, &p.PollInterval},
		{"poll_timeout_ms", f.PollTimeoutMS, &p.PollTimeout},
	} {
		if n.v == nil {
			continue
		}
		if *n.v < 0 || *n.v > MaxPollMS {
			return invalid(n.field, "must be between 0 (the default, 5000) and 86400000 (one day)")
		}
		*n.dst = time.Duration(*n.v) * time.Millisecond
	}
	if f.SleepMode != nil {
		p.SleepMode = *f.SleepMode
	}
	if f.TotalVRAMMB != nil {
		if *f.TotalVRAMMB < 0 {
			return invalid("total_vram_mb", "must not be negative")
		}
		p.TotalVRAMMB = *f.TotalVRAMMB
	}
	if f.APIKey != nil {
		sealed, err := c.sealSecret(*f.APIKey)
		if err != nil {
			return err
		}
		p.Credential = sealed
	}
	return nil
}

// NewProvider creates a provider from the fields of add_provider:
// provider_name, base_url and provider_type are required.
func (c *Catalog) NewProvider(ctx context.Context, f ProviderFields) (store.Provider, error) {
	switch {
	case f.Name == nil:
		return store.Provider{}, missing("provider_name")
	case f.BaseURL == nil:
		return store.Provider{}, missing("base_url")
	case f.Type == nil:
		return store.Provider{}, missing("provider_type")
	}
	var p store.Provider
	if err := c.apply(f, &p); err != nil {
		return store.Provider{}, err
	}
	created, err := c.s.CreateProvider(ctx, p)
	return created, object(err, fmt.Sprintf("provider %q", p.Name), "provider_name")
}

// EditProvider changes the fields present in f of the provider id.
func (c *Catalog) EditProvider(ctx context.Context, id int64, f ProviderFields) (store.Provider, error) {
	if err := needID("provider_id", id); err != nil {
		return store.Provider{}, err
	}
	p, err := c.s.GetProvider(ctx, id)
	if err != nil {
		return store.Provider{}, object(err, fmt.Sprintf("provider %d", id), "provider_id")
	}
	if err := c.apply(f, &p); err != nil {
		return store.Provider{}, err
	}
	updated, err := c.s.UpdateProvider(ctx, p)
	if err != nil {
		field := "provider_id"
		if errors.Is(err, store.ErrConflict) {
			field = "provider_name"
		}
		return store.Provider{}, object(err, fmt.Sprintf("provider %q", p.Name), field)
	}
	return updated, nil
}

// AddProvider stores a provider record as given (its credential sealed
// already): the config file's creation of a provider it validated. Like
// every record-level write (Add*, Change*, Remove*), it returns the store's
// error as it is.
func (c *Catalog) AddProvider(ctx context.Context, p store.Provider) (store.Provider, error) {
	return c.s.CreateProvider(ctx, p)
}

// ChangeProvider replaces a stored provider's fields with p's.
func (c *Catalog) ChangeProvider(ctx context.Context, p store.Provider) (store.Provider, error) {
	return c.s.UpdateProvider(ctx, p)
}

// RemoveProvider deletes a provider and its deployments.
func (c *Catalog) RemoveProvider(ctx context.Context, id int64) error {
	return c.s.DeleteProvider(ctx, id)
}

// Seal encrypts a credential with Options.Seal (as given without it or
// when empty): the config file seals what it compares and stores.
func (c *Catalog) Seal(secret string) (string, error) { return c.sealSecret(secret) }
