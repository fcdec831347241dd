package catalog

import (
	"context"
	"fmt"

	"github.com/logos-llm/logos/store"
)

// PolicyFields are the settable fields of a policy, with their admin API
// names. Absent (nil) fields take their defaults on NewPolicy and keep their
// values on EditPolicy.
type PolicyFields struct {
	EntityID          *int64  `json:"entity_id"`
	Name              *string `json:"name"`
	Description       *string `json:"description"`
	ThresholdPrivacy  *string `json:"threshold_privacy"`
	ThresholdLatency  *int    `json:"threshold_latency"`
	ThresholdAccuracy *int    `json:"threshold_accuracy"`
	ThresholdCost     *int    `json:"threshold_cost"`
	ThresholdQuality  *int    `json:"threshold_quality"`
	Priority          *int    `json:"priority"`
	Topic             *string `json:"topic"`
}

// ApplyTo validates the present fields and sets them on p. It does not
// check that the process exists.
func (f *PolicyFields) ApplyTo(p *store.Policy) error {
	if f.EntityID != nil {
		if err := needID("entity_id", *f.EntityID); err != nil {
			return err
		}
		p.ProcessID = *f.EntityID
	}
	if f.Name != nil {
		name, err := text("name", *f.Name)
		if err != nil {
			return err
		}
		p.Name = name
	}
	if f.ThresholdPrivacy != nil {
		if !store.Privacy(*f.ThresholdPrivacy).Valid() {
			return invalid("threshold_privacy", privacyReason)
		}
		p.ThresholdPrivacy = store.Privacy(*f.ThresholdPrivacy)
	}
	set(&p.Description, f.Description)
	set(&p.ThresholdLatency, f.ThresholdLatency)
	set(&p.ThresholdAccuracy, f.ThresholdAccuracy)
	set(&p.ThresholdCost, f.ThresholdCost)
	set(&p.ThresholdQuality, f.ThresholdQuality)
	set(&p.Priority, f.Priority)
	set(&p.Topic, f.Topic)
	return nil
}

// set sets *dst to *v when v is not nil (the field was sent).
func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// NewPolicy creates a policy p (add_policy) built with ApplyTo; the caller
// checked that its process exists and may be acted on.
func (c *Catalog) NewPolicy(ctx context.Context, p store.Policy) (store.Policy, error) {
	created, err := c.s.CreatePolicy(ctx, p)
	return created, object(err, fmt.Sprintf("policy %q", p.Name), "name")
}

// EditPolicy stores the changed policy p (update_policy).
func (c *Catalog) EditPolicy(ctx context.Context, p store.Policy) (store.Policy, error) {
	updated, err := c.s.UpdatePolicy(ctx, p)
	return updated, object(err, fmt.Sprintf("policy %q", p.Name), "name")
}

// DropPolicy deletes the policy id (delete_policy).
func (c *Catalog) DropPolicy(ctx context.Context, id int64) error {
	return object(c.s.DeletePolicy(ctx, id), fmt.Sprintf("policy %d", id), "id")
}

// AddPolicy stores a policy record as given (the config file).
func (c *Catalog) AddPolicy(ctx context.Context, p store.Policy) (store.Policy, error) {
	return c.s.CreatePolicy(ctx, p)
}

// ChangePolicy replaces a stored policy's fields with p's (the config file).
func (c *Catalog) ChangePolicy(ctx context.Context, p store.Policy) (store.Policy, error) {
	return c.s.UpdatePolicy(ctx, p)
}

// RemovePolicy deletes a policy (the config file).
func (c *Catalog) RemovePolicy(ctx context.Context, id int64) error {
	return c.s.DeletePolicy(ctx, id)
}
