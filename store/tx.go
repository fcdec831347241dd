package store

import "context"

// Transactor is an optional capability of a Store, found by type
// assertion: it runs several identity and catalogue writes atomically.
// Package internal/catalog uses it for writes of several steps (a process
// with its profile, a model with its re-ranked neighbours, the grants of a
// provider, a config document); without it those writes are applied one by
// one.
//
// The transaction travels in the context: every identity and catalogue
// method called with the context InTx hands to fn runs in it, also when it
// is called through a wrapper that embeds the store (an instrumented or a
// fault-injecting Store), and reads see the transaction's own writes.
type Transactor interface {
	// InTx runs fn with a context carrying one transaction, and commits it
	// if fn returns nil; if fn returns an error, nothing written with that
	// context is kept and InTx returns fn's error. A write that fails
	// inside (a duplicate answered with ErrConflict) undoes only itself.
	// Methods that begin transactions of their own (Bootstrap, LoadCatalog)
	// run inside the outer one. The context is valid only until fn returns;
	// InTx called with it runs fn inside the same transaction.
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}
