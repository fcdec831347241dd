package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/logos-llm/logos/store"
)

// DeploymentFields are the optional fields of connect_model_provider; nil
// leaves a value unchanged.
type DeploymentFields struct {
	UpstreamModel    *string
	Endpoint         *string
	APIVersion       *string
	ParallelCapacity *int
}

// applyTo sets the present fields on d.
func (f DeploymentFields) applyTo(d *store.Deployment) {
	if f.UpstreamModel != nil {
		d.UpstreamModel = strings.TrimSpace(*f.UpstreamModel)
	}
	if f.Endpoint != nil {
		d.Endpoint = strings.TrimSpace(*f.Endpoint)
	}
	if f.APIVersion != nil {
		d.APIVersion = strings.TrimSpace(*f.APIVersion)
	}
	if f.ParallelCapacity != nil {
		d.ParallelCapacity = *f.ParallelCapacity
	}
}

// modelAndProvider checks that a model and a provider exist.
func (c *Catalog) modelAndProvider(ctx context.Context, modelID, providerID int64) error {
	if _, err := c.s.GetModel(ctx, modelID); err != nil {
		return object(err, fmt.Sprintf("model %d", modelID), "model_id")
	}
	if _, err := c.s.GetProvider(ctx, providerID); err != nil {
		return object(err, fmt.Sprintf("provider %d", providerID), "provider_id")
	}
	return nil
}

// deploymentOf returns the deployment of a model on a provider, and false if
// there is none.
func (c *Catalog) deploymentOf(ctx context.Context, modelID, providerID int64) (store.Deployment, bool, error) {
	deps, err := c.s.ListDeployments(ctx)
	if err != nil {
		return store.Deployment{}, false, object(err, "deployments", "")
	}
	for _, d := range deps {
		if d.ModelID == modelID && d.ProviderID == providerID {
			return d, true, nil
		}
	}
	return store.Deployment{}, false, nil
}

// Connect deploys a model on a provider (connect_model_provider). It is
// idempotent: for an existing deployment it returns that one, after
// applying the fields f carries.
func (c *Catalog) Connect(ctx context.Context, modelID, providerID int64, f DeploymentFields) (store.Deployment, error) {
	if err := needID("model_id", modelID); err != nil {
		return store.Deployment{}, err
	}
	if err := needID("provider_id", providerID); err != nil {
		return store.Deployment{}, err
	}
	if f.Endpoint != nil {
		if err := checkEndpoint(*f.Endpoint); err != nil {
			return store.Deployment{}, err
		}
	}
	if f.ParallelCapacity != nil && *f.ParallelCapacity < 0 {
		return store.Deployment{}, invalid("parallel_capacity", "must not be negative")
	}
	if err := c.modelAndProvider(ctx, modelID, providerID); err != nil {
		return store.Deployment{}, err
	}
	for attempt := 0; ; attempt++ {
		d, ok, err := c.deploymentOf(ctx, modelID, providerID)
		if err != nil {
			return store.Deployment{}, err
		}
		if ok {
			before := d
			f.applyTo(&d)
			if d != before {
				if _, err := c.s.UpdateDeployment(ctx, d); err != nil {
					return store.Deployment{}, object(err, fmt.Sprintf("deployment %d", d.ID), "")
				}
			}
			return d, nil
		}
		d = store.Deployment{ModelID: modelID, ProviderID: providerID}
		f.applyTo(&d)
		d, err = c.s.CreateDeployment(ctx, d)
		if errors.Is(err, store.ErrConflict) && attempt == 0 {
			continue // created concurrently: answer that one
		}
		if err != nil {
			return store.Deployment{}, object(err, fmt.Sprintf("deployment of model %d on provider %d", modelID, providerID), "")
		}
		return d, nil
	}
}

// SetDeploymentKey sets the credential apiKey (required; sealed; "" removes it) and, when
// endpoint is not nil, the endpoint of the deployment of a model on a
// provider (connect_model_api). ErrNotConnected if there is none.
func (c *Catalog) SetDeploymentKey(ctx context.Context, modelID, providerID int64, apiKey, endpoint *string) (store.Deployment, error) {
	if err := needID("model_id", modelID); err != nil {
		return store.Deployment{}, err
	}
	if err := needID("provider_id", providerID); err != nil {
		return store.Deployment{}, err
	}
	if apiKey == nil {
		return store.Deployment{}, missing("api_key")
	}
	if endpoint != nil {
		if err := checkEndpoint(*endpoint); err != nil {
			return store.Deployment{}, err
		}
	}
	if err := c.modelAndProvider(ctx, modelID, providerID); err != nil {
		return store.Deployment{}, err
	}
	d, ok, err := c.deploymentOf(ctx, modelID, providerID)
	if err != nil {
		return store.Deployment{}, err
	}
	if !ok {
		return store.Deployment{}, ErrNotConnected
	}
	if d.Credential, err = c.sealSecret(*apiKey); err != nil {
		return store.Deployment{}, err
	}
	if endpoint != nil {
		d.Endpoint = strings.TrimSpace(*endpoint)
	}
	if _, err := c.s.UpdateDeployment(ctx, d); err != nil {
		return store.Deployment{}, object(err, fmt.Sprintf("deployment %d", d.ID), "")
	}
	return d, nil
}

// AddDeployment stores a deployment record as given (the config file).
func (c *Catalog) AddDeployment(ctx context.Context, d store.Deployment) (store.Deployment, error) {
	return c.s.CreateDeployment(ctx, d)
}

// ChangeDeployment replaces a stored deployment's fields with d's.
func (c *Catalog) ChangeDeployment(ctx context.Context, d store.Deployment) (store.Deployment, error) {
	return c.s.UpdateDeployment(ctx, d)
}

// RemoveDeployment deletes a deployment.
func (c *Catalog) RemoveDeployment(ctx context.Context, id int64) error {
	return c.s.DeleteDeployment(ctx, id)
}

// ---- Permissions -----------------------------------------------------------

// Permit lets a profile use a model (connect_profile_model) after checking
// both exist. Permitting it again changes nothing.
func (c *Catalog) Permit(ctx context.Context, profileID, modelID int64) error {
	if err := needID("profile_id", profileID); err != nil {
		return err
	}
	if err := needID("model_id", modelID); err != nil {
		return err
	}
	if _, err := c.s.GetProfile(ctx, profileID); err != nil {
		return object(err, fmt.Sprintf("profile %d", profileID), "profile_id")
	}
	if _, err := c.s.GetModel(ctx, modelID); err != nil {
		return object(err, fmt.Sprintf("model %d", modelID), "model_id")
	}
	if err := c.s.GrantModel(ctx, profileID, modelID); err != nil && !errors.Is(err, store.ErrConflict) {
		return object(err, fmt.Sprintf("permission of profile %d for model %d", profileID, modelID), "")
	}
	return nil
}

// PermitProvider lets a profile use every model deployed on a provider that
// it may not use yet (connect_process_provider), in one transaction, and
// returns how many it granted.
func (c *Catalog) PermitProvider(ctx context.Context, profileID, providerID int64) (int, error) {
	if err := needID("profile_id", profileID); err != nil {
		return 0, err
	}
	if err := needID("provider_id", providerID); err != nil {
		return 0, err
	}
	var granted int
	err := c.Atomically(ctx, func(ctx context.Context) error {
		granted = 0
		if _, err := c.s.GetProfile(ctx, profileID); err != nil {
			return object(err, fmt.Sprintf("profile %d", profileID), "profile_id")
		}
		if _, err := c.s.GetProvider(ctx, providerID); err != nil {
			return object(err, fmt.Sprintf("provider %d", providerID), "provider_id")
		}
		deps, err := c.s.ListDeployments(ctx)
		if err != nil {
			return object(err, "deployments", "")
		}
		perms, err := c.s.ListPermissions(ctx, profileID)
		if err != nil {
			return object(err, fmt.Sprintf("profile %d", profileID), "profile_id")
		}
		has := make(map[int64]bool, len(perms))
		for _, p := range perms {
			has[p.ModelID] = true
		}
		for _, d := range deps {
			if d.ProviderID != providerID || has[d.ModelID] {
				continue
			}
			has[d.ModelID] = true
			switch err := c.s.GrantModel(ctx, profileID, d.ModelID); {
			case err == nil:
				granted++
			case errors.Is(err, store.ErrConflict):
				// Granted concurrently.
			case errors.Is(err, store.ErrInvalid):
				// The profile or the model was deleted concurrently: the
				// first ends the call, the second only skips that model.
				if _, err := c.s.GetProfile(ctx, profileID); err != nil {
					return object(err, fmt.Sprintf("profile %d", profileID), "profile_id")
				}
			default:
				return object(err, fmt.Sprintf("permission of profile %d for model %d", profileID, d.ModelID), "")
			}
		}
		return nil
	})
	return granted, err
}

// Grant lets a profile use a model (the config file), reporting whether it
// was not permitted before; a permission that exists is not an error.
func (c *Catalog) Grant(ctx context.Context, profileID, modelID int64) (bool, error) {
	err := c.s.GrantModel(ctx, profileID, modelID)
	if errors.Is(err, store.ErrConflict) {
		return false, nil
	}
	return err == nil, err
}

// Ungrant stops a profile from using a model.
func (c *Catalog) Ungrant(ctx context.Context, profileID, modelID int64) error {
	return c.s.RevokeModel(ctx, profileID, modelID)
}
