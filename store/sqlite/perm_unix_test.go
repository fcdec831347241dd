//go:build unix

package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/logos-llm/logos/store"
	"github.com/logos-llm/logos/store/sqlite"
)

// TestFileModes reproduces issue 25 item 13: with the common umask 022 the
// database and its -wal and -shm files were created 0644, readable by every
// local user. Now they are 0600; an existing file's mode is left alone.
func TestFileModes(t *testing.T) {
	old := syscall.Umask(0o022) // process-wide: this test must not run in parallel
	t.Cleanup(func() { syscall.Umask(old) })

	path := filepath.Join(t.TempDir(), "logos.db")
	s, err := sqlite.Open(t.Context(), sqlite.Config{Path: path, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	// A write makes sure the WAL and shared-memory files exist.
	if _, err := s.CreateUser(context.Background(), store.User{Username: "u"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: mode %v, want -rw-------", filepath.Base(name), m)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// An existing file keeps the mode its operator chose.
	shared := filepath.Join(t.TempDir(), "shared.db")
	if err := os.WriteFile(shared, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(t.Context(), sqlite.Config{Path: shared, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if fi, err := os.Stat(shared); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("existing file: %v %v, want mode -rw-r-----", fi.Mode().Perm(), err)
	}
}
