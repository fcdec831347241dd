// Package db holds the SQL of Logos: goose migrations and sqlc queries for each
// supported database. The migrations are embedded so stores can apply them on start.
package db

import (
	"embed"
	"io/fs"
)

//go:embed migrations/postgres/*.sql
var postgresFS embed.FS

//go:embed migrations/sqlite/*.sql
var sqliteFS embed.FS

// PostgresMigrations returns the PostgreSQL migrations, named NNNNN_name.sql at the root.
func PostgresMigrations() fs.FS { return sub(postgresFS, "migrations/postgres") }

// SQLiteMigrations returns the SQLite migrations, named NNNNN_name.sql at the root.
func SQLiteMigrations() fs.FS { return sub(sqliteFS, "migrations/sqlite") }

func sub(f embed.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		// fs.Sub only fails for an invalid path, which is a constant here.
		panic(err)
	}
	return s
}
