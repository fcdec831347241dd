package store

import "context"

// Tx is what a store offers inside a transaction begun by
// [Transactor.InTx]: the identity and catalogue reads and writes. Reads
// through a Tx see the transaction's own writes.
type Tx interface {
	IdentityStore
	CatalogStore
}

// Transactor is an optional capability of a Store, found by type
// assertion: it runs several identity and catalogue writes atomically.
// Package internal/catalog uses it for multi-step writes (a process with its
// profile, a model with its re-ranked neighbours, the grants of a provider,
// a config document); without it those writes are applied one by one.
type Transactor interface {
	// InTx runs fn in one transaction and commits it if fn returns nil; if
	// fn returns an error, nothing fn wrote is kept and InTx
	// returns fn's error. tx is valid only until fn returns. Methods of tx
	// that begin transactions of their own (Bootstrap, LoadCatalog) run
	// inside the outer one. fn must not call the Store InTx was called on:
	// a store with a single writer would wait for itself.
	InTx(ctx context.Context, fn func(tx Tx) error) error
}
