package catalog_test

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/logos-llm/logos/internal/apikey"
	"github.com/logos-llm/logos/internal/catalog"
	"github.com/logos-llm/logos/store"
)

// TestEnsureSystem: the system identity is created once, found again by
// later and concurrent calls, granted its models, holds no usable key, and
// never takes over a process of another owner.
func TestEnsureSystem(t *testing.T) {
	eachStore(t, func(t *testing.T, s txStore) {
		ctx := t.Context()
		c := catalog.New(s, catalog.Options{Logger: quiet})
		m, err := c.NewModel(ctx, "embedder")
		if err != nil {
			t.Fatal(err)
		}
		const name = "logos-system"
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			ids     []catalog.SystemIdentity
			changes int
		)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id, changed, err := c.EnsureSystem(ctx, name, m.ID)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				ids = append(ids, id)
				if changed {
					changes++
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		if changes == 0 {
			t.Fatal("no call reported creating the system identity")
		}
		for _, id := range ids[1:] {
			if id.Service.ID != ids[0].Service.ID || id.Process.ID != ids[0].Process.ID || id.Profile.ID != ids[0].Profile.ID {
				t.Fatalf("concurrent calls disagree: %+v and %+v", id, ids[0])
			}
		}
		id := ids[0]
		if id.Process.ServiceID != id.Service.ID || id.Process.UserID != 0 || id.Process.KeyPrefix != "" || id.Profile.ProcessID != id.Process.ID {
			t.Fatalf("system identity %+v", id)
		}
		if _, err := s.ProcessByKeyHash(ctx, apikey.Hash("")); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the empty key finds a process: %v", err)
		}
		perms, err := s.ListPermissions(ctx, id.Profile.ID)
		if err != nil || len(perms) != 1 || perms[0].ModelID != m.ID {
			t.Fatalf("permissions %v, %v; want the embedder", perms, err)
		}
		again, changed, err := c.EnsureSystem(ctx, name, m.ID)
		if err != nil || changed || again.Process.ID != id.Process.ID || again.Profile.ID != id.Profile.ID {
			t.Fatalf("second call: %+v changed %v err %v", again, changed, err)
		}
		if err := s.RevokeProcessKey(ctx, id.Process.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		again, changed, err = c.EnsureSystem(ctx, name, m.ID)
		if err != nil || !changed || again.Process.ID != id.Process.ID || !again.Process.RevokedAt.IsZero() {
			t.Fatalf("after a revocation: %+v changed %v err %v", again.Process, changed, err)
		}
		if p, err := s.GetProcess(ctx, id.Process.ID); err != nil || !p.RevokedAt.IsZero() || bytes.Equal(p.KeyHash, id.Process.KeyHash) {
			t.Fatalf("reactivated process %+v, %v: want active with a new key hash", p, err)
		}
		procs, err := s.ListProcesses(ctx)
		if err != nil || len(procs) != 1 {
			t.Fatalf("%d processes (%v); want the system's alone", len(procs), err)
		}

		u, err := c.NewUser(ctx, store.User{Username: "mallory", Role: store.RoleUser})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.NewProcess(ctx, catalog.NewProcessRequest{Name: "taken", UserID: u.ID}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.EnsureSystem(ctx, "taken"); !errors.Is(err, catalog.ErrSystemNameTaken) {
			t.Fatalf("a user's process name: %v, want ErrSystemNameTaken", err)
		}
		if svcs, err := s.ListServices(ctx); err != nil || len(svcs) != 1 {
			t.Fatalf("services %v, %v: the refused call must create none", svcs, err)
		}
	})
}
