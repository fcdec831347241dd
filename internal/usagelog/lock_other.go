//go:build !unix

package usagelog

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir opens the lock file; outside Unix it does not lock it.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("usagelog: %w", err)
	}
	return f, nil
}
