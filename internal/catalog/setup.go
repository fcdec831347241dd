package catalog

import (
	"context"
	"fmt"

	"github.com/logos-llm/logos/internal/apikey"
	"github.com/logos-llm/logos/store"
)

// Names of what setup creates.
const (
	rootUser    = "root"
	rootProcess = "root"
	rootProfile = "root"
)

// Bootstrapper is the part of a store Bootstrap needs.
type Bootstrapper interface {
	Bootstrap(ctx context.Context, p store.BootstrapParams) (store.BootstrapResult, error)
}

// Bootstrap creates the admin user "root", its root process and root
// profile. With an empty key a new one is generated; the key is returned.
// It fails with store.ErrConflict when the store is already set up.
func Bootstrap(ctx context.Context, s Bootstrapper, key string) (store.BootstrapResult, string, error) {
	if key == "" {
		key = apikey.Generate(rootProcess)
	} else if err := apikey.Validate(key); err != nil {
		return store.BootstrapResult{}, "", err
	}
	res, err := s.Bootstrap(ctx, store.BootstrapParams{
		AdminUsername: rootUser,
		ProcessName:   rootProcess,
		ProfileName:   rootProfile,
		KeyHash:       apikey.Hash(key),
		KeyPrefix:     apikey.Prefix(key),
	})
	if err != nil {
		return store.BootstrapResult{}, "", err
	}
	return res, key, nil
}

// SetupProvider is the optional first provider of POST /logosdb/setup.
type SetupProvider struct {
	Name, BaseURL, Type, APIKey string
}

// Setup is what POST /logosdb/setup created.
type Setup struct {
	Result store.BootstrapResult
	Key    string
	// Provider is the first provider, when one was asked for and created.
	Provider *store.Provider
	// ProviderErr is why the first provider was not created after the
	// instance was set up (the key must still reach the caller).
	ProviderErr error
}

// SetUp sets up an empty store (POST /logosdb/setup): the root user,
// process, profile and a new key and, when prov is not nil, a first
// provider whose fields are checked before anything is written. It fails
// with store.ErrConflict when the store is set up already.
func (c *Catalog) SetUp(ctx context.Context, prov *SetupProvider) (Setup, error) {
	var p store.Provider
	if prov != nil {
		var err error
		if p, err = c.setupProvider(*prov); err != nil {
			return Setup{}, err
		}
	}
	res, key, err := Bootstrap(ctx, c.s, "")
	if err != nil {
		return Setup{}, err
	}
	out := Setup{Result: res, Key: key}
	if prov != nil {
		created, err := c.s.CreateProvider(ctx, p)
		if err != nil {
			out.ProviderErr = fmt.Errorf("catalog: creating the first provider: %w", err)
		} else {
			out.Provider = &created
		}
	}
	return out, nil
}

// setupProvider validates the provider fields of a setup request.
func (c *Catalog) setupProvider(f SetupProvider) (store.Provider, error) {
	switch {
	case f.Name == "":
		return store.Provider{}, missing("provider_name")
	case f.BaseURL == "":
		return store.Provider{}, missing("base_url")
	}
	if err := checkHTTPURL("base_url", f.BaseURL); err != nil {
		return store.Provider{}, err
	}
	kind, ok := ProviderKind(f.Type)
	if !ok {
		return store.Provider{}, invalid("provider_type", "must be one of openai, azure, ollama, openai_compatible")
	}
	cred, err := c.sealSecret(f.APIKey)
	if err != nil {
		return store.Provider{}, err
	}
	return store.Provider{Name: f.Name, Kind: kind, BaseURL: f.BaseURL, Credential: cred}, nil
}

// MarkSetUp records that the store is set up without creating anything
// (the config file supplies admins and keys): setup refuses from then on.
func (c *Catalog) MarkSetUp(ctx context.Context) error {
	return c.s.MarkInitialized(ctx)
}

// State is what the config file compares a document with.
type State struct {
	Users    []store.User
	Services []store.Service
	Catalog  store.Catalog
}

// Load reads the users, services and catalogue, through the transaction
// when c belongs to one.
func (c *Catalog) Load(ctx context.Context) (State, error) {
	users, err := c.s.ListUsers(ctx)
	if err != nil {
		return State{}, fmt.Errorf("reading users: %w", err)
	}
	services, err := c.s.ListServices(ctx)
	if err != nil {
		return State{}, fmt.Errorf("reading services: %w", err)
	}
	cat, err := c.s.LoadCatalog(ctx)
	if err != nil {
		return State{}, fmt.Errorf("reading the catalogue: %w", err)
	}
	return State{Users: users, Services: services, Catalog: cat}, nil
}
