package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/logos-llm/logos/store"
)

var identityTests = []test{
	{"Bootstrap", testBootstrap},
	{"BootstrapConcurrent", testBootstrapConcurrent},
	{"MarkInitialized", testMarkInitialized},
	{"BootstrapRefusedWithIdentities", testBootstrapRefusedWithIdentities},
	{"Users", testUsers},
	{"Services", testServices},
	{"Processes", testProcesses},
	{"ProcessOwner", testProcessOwner},
	{"ProcessInvalid", testProcessInvalid},
	{"ProcessDefaultPriority", testProcessDefaultPriority},
	{"UpdateProcess", testUpdateProcess},
	{"ProcessKeys", testProcessKeys},
	{"ProcessSettings", testProcessSettings},
	{"Profiles", testProfiles},
	{"DeleteProcessCascades", testDeleteProcessCascades},
	{"NotFound", testNotFound},
	{"EmptyNames", testEmptyNames},
}

func testBootstrap(t *testing.T, s store.Store) {
	ctx := t.Context()
	if ok := must(s.Initialized(ctx))(t); ok {
		t.Fatal("Initialized() = true on an empty store, want false")
	}

	p := store.BootstrapParams{
		AdminUsername: "admin",
		ProcessName:   "root",
		ProfileName:   "default",
		KeyHash:       keyHash("root-key"),
		KeyPrefix:     "lg-root",
	}
	res := must(s.Bootstrap(ctx, p))(t)
	checkID(t, "bootstrap user", res.User.ID)
	checkID(t, "bootstrap process", res.Process.ID)
	checkID(t, "bootstrap profile", res.Profile.ID)
	if res.User.Username != p.AdminUsername || res.User.Role != store.RoleAdmin {
		t.Errorf("bootstrap user = %+v, want username %q with role %q", res.User, p.AdminUsername, store.RoleAdmin)
	}
	if res.Process.Name != p.ProcessName || res.Process.UserID != res.User.ID || res.Process.ServiceID != 0 ||
		string(res.Process.KeyHash) != string(p.KeyHash) || res.Process.KeyPrefix != p.KeyPrefix ||
		!res.Process.RevokedAt.IsZero() {
		t.Errorf("bootstrap process = %+v, want %q owned by user %d with the given key and no revocation",
			res.Process, p.ProcessName, res.User.ID)
	}
	if res.Profile.Name != p.ProfileName || res.Profile.ProcessID != res.Process.ID {
		t.Errorf("bootstrap profile = %+v, want %q of process %d", res.Profile, p.ProfileName, res.Process.ID)
	}

	if ok := must(s.Initialized(ctx))(t); !ok {
		t.Error("Initialized() = false after Bootstrap, want true")
	}
	diff(t, "GetUser of the admin", res.User, must(s.GetUser(ctx, res.User.ID))(t))
	diff(t, "GetProcess of the root process", res.Process, must(s.GetProcess(ctx, res.Process.ID))(t))
	diff(t, "GetProfile of the root profile", res.Profile, must(s.GetProfile(ctx, res.Profile.ID))(t))
	diff(t, "ProcessByKeyHash of the root key", res.Process, must(s.ProcessByKeyHash(ctx, p.KeyHash))(t))

	// A second bootstrap, even with fresh names, must fail and leave nothing behind.
	_, err := s.Bootstrap(ctx, store.BootstrapParams{
		AdminUsername: "admin2", ProcessName: "root2", ProfileName: "default2",
		KeyHash: keyHash("root-key-2"), KeyPrefix: "lg-root2",
	})
	wantConflict(t, "second Bootstrap", err)
	if ok := must(s.Initialized(ctx))(t); !ok {
		t.Error("Initialized() = false after a failed second Bootstrap, want true")
	}
	diff(t, "users after a failed second Bootstrap", []store.User{res.User}, must(s.ListUsers(ctx))(t))
	diff(t, "processes after a failed second Bootstrap", []store.Process{res.Process}, must(s.ListProcesses(ctx))(t))
	diff(t, "profiles after a failed second Bootstrap", []store.Profile{res.Profile}, must(s.ListProfiles(ctx, res.Process.ID))(t))
	_, err = s.ProcessByKeyHash(ctx, keyHash("root-key-2"))
	wantNotFound(t, "ProcessByKeyHash of the second bootstrap key", err)
}

// rootParams are bootstrap parameters for the tests that expect a refusal.
var rootParams = store.BootstrapParams{
	AdminUsername: "root", ProcessName: "root", ProfileName: "root",
	KeyHash: keyHash("late-root-key"), KeyPrefix: "lg-root",
}

// testMarkInitialized: a store marked as set up (by a config file) refuses
// Bootstrap, also when it holds no user at all; marking is idempotent.
func testMarkInitialized(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.MarkInitialized(ctx); err != nil {
		t.Fatalf("MarkInitialized: %v", err)
	}
	if err := s.MarkInitialized(ctx); err != nil {
		t.Fatalf("second MarkInitialized: %v", err)
	}
	if ok := must(s.Initialized(ctx))(t); !ok {
		t.Error("Initialized() = false after MarkInitialized, want true")
	}
	_, err := s.Bootstrap(ctx, rootParams)
	wantConflict(t, "Bootstrap after MarkInitialized", err)
	diff(t, "users after a refused Bootstrap", []store.User(nil), must(s.ListUsers(ctx))(t))
	_, err = s.ProcessByKeyHash(ctx, rootParams.KeyHash)
	wantNotFound(t, "ProcessByKeyHash of the refused bootstrap key", err)
}

// testBootstrapRefusedWithIdentities: a store that holds a user, or only a
// service's process, is set up even without the instance mark (a store
// configured before the mark existed) and refuses Bootstrap.
func testBootstrapRefusedWithIdentities(t *testing.T, s store.Store) {
	ctx := t.Context()
	svc := must(s.CreateService(ctx, store.Service{Name: "svc"}))(t)
	if ok := must(s.Initialized(ctx))(t); ok {
		t.Fatal("Initialized() = true with only a service, want false")
	}
	must(s.CreateProcess(ctx, store.Process{Name: "svc-app", ServiceID: svc.ID, KeyHash: keyHash("svc-key"), KeyPrefix: "lg-svc"}))(t)
	if ok := must(s.Initialized(ctx))(t); !ok {
		t.Error("Initialized() = false with a process, want true")
	}
	_, err := s.Bootstrap(ctx, rootParams)
	wantConflict(t, "Bootstrap with a process", err)
	must(s.CreateUser(ctx, store.User{Username: "admin", Role: store.RoleAdmin}))(t)
	_, err = s.Bootstrap(ctx, rootParams)
	wantConflict(t, "Bootstrap with a user", err)
	_, err = s.ProcessByKeyHash(ctx, rootParams.KeyHash)
	wantNotFound(t, "ProcessByKeyHash of the refused bootstrap key", err)
}

func testBootstrapConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 10
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		results [n]store.BootstrapResult
		errs    [n]error
	)
	for i := range n {
		wg.Go(func() {
			<-start
			// Distinct names, so only the once-per-store rule can make them fail.
			results[i], errs[i] = s.Bootstrap(ctx, store.BootstrapParams{
				AdminUsername: fmt.Sprintf("admin-%d", i),
				ProcessName:   fmt.Sprintf("root-%d", i),
				ProfileName:   "default",
				KeyHash:       keyHash(fmt.Sprintf("root-key-%d", i)),
				KeyPrefix:     fmt.Sprintf("lg-%d", i),
			})
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("Bootstrap %d and %d both succeeded", winner, i)
		case err == nil:
			winner = i
		default:
			wantConflict(t, fmt.Sprintf("concurrent Bootstrap %d", i), err)
		}
	}
	if winner < 0 {
		t.Fatal("no concurrent Bootstrap succeeded")
	}
	if ok := must(s.Initialized(ctx))(t); !ok {
		t.Error("Initialized() = false after Bootstrap, want true")
	}
	res := results[winner]
	diff(t, "users after concurrent Bootstraps", []store.User{res.User}, must(s.ListUsers(ctx))(t))
	diff(t, "processes after concurrent Bootstraps", []store.Process{res.Process}, must(s.ListProcesses(ctx))(t))
}

func testUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	in := []store.User{
		{Username: "alice", Prename: "Alice", Name: "Liddell", Role: store.RoleUser},
		{Username: "bob", Role: store.RoleAdmin},
		{Username: "Çelik-ß", Prename: "Ümit", Name: "Çelik", Role: store.RoleUser},
	}
	var created []store.User
	for _, u := range in {
		got := must(s.CreateUser(ctx, u))(t)
		checkID(t, "CreateUser", got.ID)
		checkAssignedTime(t, "User.CreatedAt", got.CreatedAt)
		diff(t, "CreateUser", u, got, cmpopts.IgnoreFields(store.User{}, "ID", "CreatedAt"))
		diff(t, "GetUser", got, must(s.GetUser(ctx, got.ID))(t))
		created = append(created, got)
	}
	diff(t, "ListUsers", created, sortedByID(must(s.ListUsers(ctx))(t), userID))

	_, err := s.CreateUser(ctx, store.User{Username: "alice", Role: store.RoleAdmin})
	wantConflict(t, "CreateUser with a duplicate username", err)
	_, err = s.CreateUser(ctx, store.User{Username: "carol", Role: "superuser"})
	wantInvalid(t, "CreateUser with an unknown role", err)
	diff(t, "ListUsers after refused creates", created, sortedByID(must(s.ListUsers(ctx))(t), userID))
}

func testServices(t *testing.T, s store.Store) {
	ctx := t.Context()
	var created []store.Service
	for _, name := range []string{"ingest", "batch-runner", "サービス"} {
		got := must(s.CreateService(ctx, store.Service{Name: name}))(t)
		checkID(t, "CreateService", got.ID)
		checkAssignedTime(t, "Service.CreatedAt", got.CreatedAt)
		if got.Name != name {
			t.Errorf("CreateService(%q) returned name %q", name, got.Name)
		}
		diff(t, "GetService", got, must(s.GetService(ctx, got.ID))(t))
		created = append(created, got)
	}
	diff(t, "ListServices", created, sortedByID(must(s.ListServices(ctx))(t), serviceID))

	_, err := s.CreateService(ctx, store.Service{Name: "ingest"})
	wantConflict(t, "CreateService with a duplicate name", err)
	diff(t, "ListServices after a refused create", created, sortedByID(must(s.ListServices(ctx))(t), serviceID))
}

// processIgnore ignores the store-assigned fields of a process.
var processIgnore = cmpopts.IgnoreFields(store.Process{}, "ID", "CreatedAt")

func testProcesses(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := must(s.CreateUser(ctx, store.User{Username: "owner", Role: store.RoleUser}))(t)
	svc := must(s.CreateService(ctx, store.Service{Name: "svc"}))(t)

	in := []store.Process{
		{
			Name: "chat-ui", KeyHash: keyHash("k1"), KeyPrefix: "lg-abc", UserID: u.ID,
			LogLevel: store.LogFull, Priority: 10, Settings: json.RawMessage(`{"rpm":60,"budget":{"eur":12.5}}`),
		},
		{
			Name: "nightly", KeyHash: keyHash("k2"), KeyPrefix: "lg-def", ServiceID: svc.ID,
			LogLevel: store.LogBilling, Priority: 1, Settings: json.RawMessage(`{"tags":["a","b"]}`),
		},
	}
	var created []store.Process
	for _, p := range in {
		got := must(s.CreateProcess(ctx, p))(t)
		checkID(t, "CreateProcess", got.ID)
		checkAssignedTime(t, "Process.CreatedAt", got.CreatedAt)
		diff(t, "CreateProcess", p, got, processIgnore)
		diff(t, "GetProcess", got, must(s.GetProcess(ctx, got.ID))(t))
		diff(t, "GetProcessByName", got, must(s.GetProcessByName(ctx, p.Name))(t))
		diff(t, "ProcessByKeyHash", got, must(s.ProcessByKeyHash(ctx, p.KeyHash))(t))
		created = append(created, got)
	}
	diff(t, "ListProcesses", created, sortedByID(must(s.ListProcesses(ctx))(t), processID))

	_, err := s.GetProcessByName(ctx, "Chat-UI")
	wantNotFound(t, "GetProcessByName with other case", err)
	_, err = s.ProcessByKeyHash(ctx, keyHash("unknown"))
	wantNotFound(t, "ProcessByKeyHash of an unknown hash", err)

	dupName := newProcess("chat-ui", u.ID, 0)
	_, err = s.CreateProcess(ctx, dupName)
	wantConflict(t, "CreateProcess with a duplicate name", err)
	dupHash := newProcess("other", u.ID, 0)
	dupHash.KeyHash = keyHash("k1")
	_, err = s.CreateProcess(ctx, dupHash)
	wantConflict(t, "CreateProcess with a duplicate key hash", err)
	diff(t, "ListProcesses after refused creates", created, sortedByID(must(s.ListProcesses(ctx))(t), processID))
}

func testProcessOwner(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := must(s.CreateUser(ctx, store.User{Username: "owner", Role: store.RoleUser}))(t)
	svc := must(s.CreateService(ctx, store.Service{Name: "svc"}))(t)

	_, err := s.CreateProcess(ctx, newProcess("ownerless", 0, 0))
	wantInvalid(t, "CreateProcess with neither UserID nor ServiceID", err)
	_, err = s.CreateProcess(ctx, newProcess("two-owners", u.ID, svc.ID))
	wantInvalid(t, "CreateProcess with both UserID and ServiceID", err)
	_, err = s.CreateProcess(ctx, newProcess("ghost-user", 999999, 0))
	wantDangling(t, "CreateProcess with an unknown UserID", err)
	_, err = s.CreateProcess(ctx, newProcess("ghost-service", 0, 999999))
	wantDangling(t, "CreateProcess with an unknown ServiceID", err)
	if ps := must(s.ListProcesses(ctx))(t); len(ps) != 0 {
		t.Errorf("ListProcesses after refused creates = %+v, want none", ps)
	}
}

func testProcessInvalid(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := must(s.CreateUser(ctx, store.User{Username: "owner", Role: store.RoleUser}))(t)
	p := newProcess("verbose", u.ID, 0)
	p.LogLevel = "DEBUG"
	_, err := s.CreateProcess(ctx, p)
	wantInvalid(t, "CreateProcess with an unknown log level", err)

	ok := must(s.CreateProcess(ctx, newProcess("fine", u.ID, 0)))(t)
	bad := ok
	bad.LogLevel = "full" // log levels are case-sensitive
	_, err = s.UpdateProcess(ctx, bad)
	wantInvalid(t, "UpdateProcess with an unknown log level", err)
	diff(t, "process after a refused update", ok, must(s.GetProcess(ctx, ok.ID))(t))
}

func testProcessDefaultPriority(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := must(s.CreateUser(ctx, store.User{Username: "owner", Role: store.RoleUser}))(t)
	p := newProcess("default-priority", u.ID, 0)
	p.Priority = 0 // "Zero means normal."
	got := must(s.CreateProcess(ctx, p))(t)
	if got.Priority != 0 && got.Priority != 5 {
		t.Errorf("CreateProcess with Priority 0 returned Priority %d, want 0 or 5 (normal)", got.Priority)
	}
	diff(t, "GetProcess", got, must(s.GetProcess(ctx, got.ID))(t))
}

func testUpdateProcess(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	orig := f.Process

	upd := orig
	upd.Name = "renamed"
	upd.LogLevel = store.LogFull
	upd.Priority = 9
	upd.Settings = json.RawMessage(`{"rpm": 10}`)
	// UpdateProcess replaces only name, log level, priority and settings.
	upd.KeyHash = keyHash("not-the-key")
	upd.KeyPrefix = "lg-nope"
	upd.RevokedAt = oddTime

	got := must(s.UpdateProcess(ctx, upd))(t)
	want := orig
	want.Name, want.LogLevel, want.Priority, want.Settings = upd.Name, upd.LogLevel, upd.Priority, upd.Settings
	diff(t, "UpdateProcess", want, got)
	diff(t, "GetProcess after UpdateProcess", want, must(s.GetProcess(ctx, orig.ID))(t))
	diff(t, "GetProcessByName after rename", want, must(s.GetProcessByName(ctx, "renamed"))(t))
	_, err := s.GetProcessByName(ctx, orig.Name)
	wantNotFound(t, "GetProcessByName of the old name", err)
	diff(t, "ProcessByKeyHash after UpdateProcess", want, must(s.ProcessByKeyHash(ctx, orig.KeyHash))(t))

	dup := got
	dup.Name = f.Process2.Name
	_, err = s.UpdateProcess(ctx, dup)
	wantConflict(t, "UpdateProcess to another process's name", err)
	diff(t, "GetProcess after a refused rename", want, must(s.GetProcess(ctx, orig.ID))(t))
}

func testProcessKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	p := f.Process

	// Revocation keeps the key resolvable; callers check RevokedAt.
	noErr(t, s.RevokeProcessKey(ctx, p.ID, oddTime))
	revoked := must(s.ProcessByKeyHash(ctx, p.KeyHash))(t)
	checkTime(t, "RevokedAt after RevokeProcessKey", oddTime, revoked.RevokedAt)
	want := p
	want.RevokedAt = utcMicros(oddTime)
	diff(t, "ProcessByKeyHash of a revoked key", want, revoked)
	diff(t, "GetProcess of a revoked key", want, must(s.GetProcess(ctx, p.ID))(t))

	// A new key replaces hash and prefix and clears the revocation.
	newHash := keyHash("rotated")
	noErr(t, s.SetProcessKey(ctx, p.ID, newHash, "lg-rot"))
	_, err := s.ProcessByKeyHash(ctx, p.KeyHash)
	wantNotFound(t, "ProcessByKeyHash of the replaced hash", err)
	want = p
	want.KeyHash, want.KeyPrefix = newHash, "lg-rot"
	diff(t, "ProcessByKeyHash of the new hash", want, must(s.ProcessByKeyHash(ctx, newHash))(t))
	diff(t, "GetProcess after SetProcessKey", want, must(s.GetProcess(ctx, p.ID))(t))

	// Key hashes stay unique.
	err = s.SetProcessKey(ctx, f.Process2.ID, newHash, "lg-dup")
	wantConflict(t, "SetProcessKey to another process's hash", err)
	diff(t, "GetProcess of the other process after a refused SetProcessKey", f.Process2, must(s.GetProcess(ctx, f.Process2.ID))(t))
	diff(t, "ProcessByKeyHash after a refused SetProcessKey", want, must(s.ProcessByKeyHash(ctx, newHash))(t))

	// Revoking a second time moves the revocation time.
	later := oddTime.Add(36 * time.Hour)
	noErr(t, s.RevokeProcessKey(ctx, p.ID, oddTime))
	noErr(t, s.RevokeProcessKey(ctx, p.ID, later))
	checkTime(t, "RevokedAt after a second RevokeProcessKey", later, must(s.GetProcess(ctx, p.ID))(t).RevokedAt)
}

func testProcessSettings(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := must(s.CreateUser(ctx, store.User{Username: "owner", Role: store.RoleUser}))(t)
	cases := []struct {
		name     string
		settings json.RawMessage
		want     json.RawMessage
	}{
		{"nil", nil, json.RawMessage(`{}`)},
		{"empty object", json.RawMessage(`{}`), json.RawMessage(`{}`)},
		{"whitespace and key order", json.RawMessage("{ \"z\" : 1,\n\t\"a\": {\"y\": [1, 2.5, \"x\"], \"b\": null} }"), nil},
		{"unicode", json.RawMessage(`{"name":"模型 ü","emoji":"😀","esc":"\u00e9\n"}`), nil},
		{"large numbers", json.RawMessage(`{"budget_micros":9007199254740993,"ratio":0.1}`), nil},
		// Every JSON column passes through store.SanitizeJSON.
		{"NUL escape", json.RawMessage(`{"note":"a\u0000b"}`), json.RawMessage(`{"note":"ab"}`)},
		{"not JSON", json.RawMessage(`rpm=60`), json.RawMessage(`"rpm=60"`)},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want == nil {
				want = tc.settings
			}
			p := newProcess(fmt.Sprintf("settings-%d", i), u.ID, 0)
			p.Settings = tc.settings
			created := must(s.CreateProcess(ctx, p))(t)
			checkJSON(t, "Settings returned by CreateProcess", want, created.Settings)
			got := must(s.GetProcess(ctx, created.ID))(t)
			checkJSON(t, "Settings after CreateProcess", want, got.Settings)

			// The same value through UpdateProcess, starting from other settings.
			got.Settings = json.RawMessage(`{"before":true}`)
			must(s.UpdateProcess(ctx, got))(t)
			got.Settings = tc.settings
			updated := must(s.UpdateProcess(ctx, got))(t)
			checkJSON(t, "Settings returned by UpdateProcess", want, updated.Settings)
			checkJSON(t, "Settings after UpdateProcess", want, must(s.GetProcess(ctx, created.ID))(t).Settings)
		})
	}
}

// checkJSON fails t unless got is valid JSON semantically equal to want.
func checkJSON(t testing.TB, what string, want, got json.RawMessage) {
	t.Helper()
	if len(got) > 0 && !json.Valid(got) {
		t.Errorf("%s = %q, which is not valid JSON", what, got)
		return
	}
	if !jsonEqual(want, got) {
		t.Errorf("%s = %s, want JSON equal to %s", what, got, want)
	}
}

func testProfiles(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	pid := f.Process.ID

	// Names in an order that differs from creation order.
	want := []store.Profile{f.Profile}
	for _, name := range []string{"zeta", "alpha", "Mitte"} {
		got := must(s.CreateProfile(ctx, store.Profile{Name: name, ProcessID: pid}))(t)
		checkID(t, "CreateProfile", got.ID)
		checkAssignedTime(t, "Profile.CreatedAt", got.CreatedAt)
		if got.Name != name || got.ProcessID != pid {
			t.Errorf("CreateProfile(%q, %d) = %+v", name, pid, got)
		}
		diff(t, "GetProfile", got, must(s.GetProfile(ctx, got.ID))(t))
		want = append(want, got)
	}
	list := must(s.ListProfiles(ctx, pid))(t)
	if !isSortedByID(list, profileID) {
		t.Errorf("ListProfiles is not ordered by id: %+v", list)
	}
	diff(t, "ListProfiles", sortedByID(want, profileID), list)

	// Names are unique within a process only.
	_, err := s.CreateProfile(ctx, store.Profile{Name: "alpha", ProcessID: pid})
	wantConflict(t, "CreateProfile with a duplicate name in the same process", err)
	other := must(s.CreateProfile(ctx, store.Profile{Name: "alpha", ProcessID: f.Process2.ID}))(t)
	diff(t, "ListProfiles of another process", []store.Profile{other}, must(s.ListProfiles(ctx, f.Process2.ID))(t))
	_, err = s.CreateProfile(ctx, store.Profile{Name: "orphan", ProcessID: 999999})
	wantDangling(t, "CreateProfile of an unknown process", err)
	if got := must(s.ListProfiles(ctx, 999999))(t); len(got) != 0 {
		t.Errorf("ListProfiles of an unknown process = %+v, want none", got)
	}

	noErr(t, s.DeleteProfile(ctx, want[1].ID))
	_, err = s.GetProfile(ctx, want[1].ID)
	wantNotFound(t, "GetProfile after DeleteProfile", err)
	wantNotFound(t, "DeleteProfile twice", s.DeleteProfile(ctx, want[1].ID))
	diff(t, "ListProfiles after DeleteProfile", sortedByID(append(want[:1:1], want[2:]...), profileID), must(s.ListProfiles(ctx, pid))(t))
}

func testDeleteProcessCascades(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	extra := must(s.CreateProfile(ctx, store.Profile{Name: "extra", ProcessID: f.Process.ID}))(t)
	noErr(t, s.GrantModel(ctx, extra.ID, f.Model.ID))

	noErr(t, s.DeleteProcess(ctx, f.Process.ID))
	_, err := s.GetProcess(ctx, f.Process.ID)
	wantNotFound(t, "GetProcess after DeleteProcess", err)
	_, err = s.GetProcessByName(ctx, f.Process.Name)
	wantNotFound(t, "GetProcessByName after DeleteProcess", err)
	_, err = s.ProcessByKeyHash(ctx, f.Process.KeyHash)
	wantNotFound(t, "ProcessByKeyHash after DeleteProcess", err)
	for _, id := range []int64{f.Profile.ID, extra.ID} {
		_, err = s.GetProfile(ctx, id)
		wantNotFound(t, "GetProfile of a deleted process's profile", err)
	}
	if got := must(s.ListProfiles(ctx, f.Process.ID))(t); len(got) != 0 {
		t.Errorf("ListProfiles of a deleted process = %+v, want none", got)
	}
	wantNotFound(t, "DeleteProcess twice", s.DeleteProcess(ctx, f.Process.ID))

	// Other processes and their profiles are untouched.
	diff(t, "ListProcesses after DeleteProcess", []store.Process{f.Process2}, must(s.ListProcesses(ctx))(t))
	// The freed name and key can be used again.
	must(s.CreateProcess(ctx, newProcess(f.Process.Name, f.User.ID, 0)))(t)
}

func testNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	const id = 987654321
	calls := []struct {
		name string
		call func() error
	}{
		{"GetUser", func() error { _, err := s.GetUser(ctx, id); return err }},
		{"GetService", func() error { _, err := s.GetService(ctx, id); return err }},
		{"GetProcess", func() error { _, err := s.GetProcess(ctx, id); return err }},
		{"GetProcessByName", func() error { _, err := s.GetProcessByName(ctx, "no-such-process"); return err }},
		{"UpdateProcess", func() error {
			p := newProcess("no-such-process", f.User.ID, 0)
			p.ID = id
			_, err := s.UpdateProcess(ctx, p)
			return err
		}},
		{"SetProcessKey", func() error { return s.SetProcessKey(ctx, id, keyHash("nope"), "lg-nope") }},
		{"RevokeProcessKey", func() error { return s.RevokeProcessKey(ctx, id, oddTime) }},
		{"DeleteProcess", func() error { return s.DeleteProcess(ctx, id) }},
		{"GetProfile", func() error { _, err := s.GetProfile(ctx, id); return err }},
		{"DeleteProfile", func() error { return s.DeleteProfile(ctx, id) }},
		{"GetProvider", func() error { _, err := s.GetProvider(ctx, id); return err }},
		{"UpdateProvider", func() error {
			p := newProvider("no-such-provider")
			p.ID = id
			_, err := s.UpdateProvider(ctx, p)
			return err
		}},
		{"DeleteProvider", func() error { return s.DeleteProvider(ctx, id) }},
		{"GetModel", func() error { _, err := s.GetModel(ctx, id); return err }},
		{"GetModelByName", func() error { _, err := s.GetModelByName(ctx, "no-such-model"); return err }},
		{"UpdateModel", func() error {
			m := newModel("no-such-model")
			m.ID = id
			_, err := s.UpdateModel(ctx, m)
			return err
		}},
		{"DeleteModel", func() error { return s.DeleteModel(ctx, id) }},
		{"GetDeployment", func() error { _, err := s.GetDeployment(ctx, id); return err }},
		{"UpdateDeployment", func() error {
			d := f.Deployment
			d.ID = id
			_, err := s.UpdateDeployment(ctx, d)
			return err
		}},
		{"DeleteDeployment", func() error { return s.DeleteDeployment(ctx, id) }},
		{"RevokeModel", func() error { return s.RevokeModel(ctx, f.Profile.ID, f.Model.ID) }},
		{"GetPolicy", func() error { _, err := s.GetPolicy(ctx, id); return err }},
		{"UpdatePolicy", func() error {
			p := f.Policy
			p.ID = id
			p.Name = "no-such-policy"
			_, err := s.UpdatePolicy(ctx, p)
			return err
		}},
		{"DeletePolicy", func() error { return s.DeletePolicy(ctx, id) }},
		{"DeletePrice", func() error { return s.DeletePrice(ctx, id) }},
		{"GetUsage", func() error { _, err := s.GetUsage(ctx, "no-such-request"); return err }},
		{"GetJob", func() error { _, err := s.GetJob(ctx, id); return err }},
		{"UpdateJob", func() error {
			_, err := s.UpdateJob(ctx, store.Job{ID: id, Status: store.JobFailed, ProcessID: f.Process.ID, StatusCode: 500})
			return err
		}},
	}
	for _, c := range calls {
		wantNotFound(t, c.name+" of an unknown row", c.call())
	}
	// Nothing was created by the failed updates.
	diff(t, "ListProcesses", sortedByID([]store.Process{f.Process, f.Process2}, processID), sortedByID(must(s.ListProcesses(ctx))(t), processID))
	diff(t, "ListProviders", []store.Provider{f.Provider}, must(s.ListProviders(ctx))(t))
	diff(t, "ListModels", []store.Model{f.Model}, must(s.ListModels(ctx))(t))
	diff(t, "ListDeployments", []store.Deployment{f.Deployment}, must(s.ListDeployments(ctx))(t))
	diff(t, "ListPolicies", []store.Policy{f.Policy}, must(s.ListPolicies(ctx, f.Process.ID))(t))
}

func testEmptyNames(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	_, err := s.CreateUser(ctx, store.User{Role: store.RoleUser})
	wantInvalid(t, "CreateUser with an empty username", err)
	_, err = s.CreateService(ctx, store.Service{})
	wantInvalid(t, "CreateService with an empty name", err)
	_, err = s.CreateProcess(ctx, newProcess("", f.User.ID, 0))
	wantInvalid(t, "CreateProcess with an empty name", err)
	_, err = s.CreateProfile(ctx, store.Profile{ProcessID: f.Process.ID})
	wantInvalid(t, "CreateProfile with an empty name", err)
	_, err = s.CreateProvider(ctx, newProvider(""))
	wantInvalid(t, "CreateProvider with an empty name", err)
	_, err = s.CreateModel(ctx, newModel(""))
	wantInvalid(t, "CreateModel with an empty name", err)
	_, err = s.CreatePolicy(ctx, store.Policy{ProcessID: f.Process.ID, ThresholdPrivacy: store.PrivacyLocal})
	wantInvalid(t, "CreatePolicy with an empty name", err)
	_, err = s.EnsureTokenType(ctx, "")
	wantInvalid(t, "EnsureTokenType with an empty name", err)
}
