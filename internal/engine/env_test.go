package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/graph"
	"github.com/groupwriteback/groupwriteback/internal/graphsim"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/secret"
	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/store"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

// Every engine test runs on the directory openDir gives: the in-memory
// directory (memdir, which passes the directory suite Samba passes) by
// default, so that `go test ./internal/engine` needs no root and no DC;
// a Samba AD DC of the test's own with GROUPWRITEBACK_TEST_DIRECTORY=samba,
// as CI runs them too (scripts/test). Either way, graphsim and a SQLite
// state file.

func TestMain(m *testing.M) { os.Exit(testdc.Main(m)) }

const (
	tenantID = "7a1c3f9e-2b4d-4e8a-9c61-0d5e8f2a1b3c"
	appID    = "5b0f8a8e-3b55-4c5e-9f5c-1f6f0f2d7e10"
	appPass  = "app-secret"
)

// userID is the cloud id of the cloud user synced from fixture user i.
func userID(i int) string { return fmt.Sprintf("3f2b1c4d-%04x-4a5b-8c6d-%012x", i/65536, i) }

// groupID is a cloud group id; its cn suffix is "…" + the last 12 digits.
func groupID(i int) string { return fmt.Sprintf("6a1e0c55-%04d-4f0e-9d3b-2c1a0b%06d", i, i) }

const cloudOnly = "3f2b1c4d-ffff-4a5b-8c6d-ffffffffffff"

// directoryKind is the directory engine tests run on.
func directoryKind() directorytest.Kind {
	if os.Getenv(directorytest.EnvKind) == string(directorytest.Samba) {
		return directorytest.Samba
	}
	return directorytest.Memdir
}

// openDir opens a directory of the schema o for one test: a fresh memdir
// domain, or a Samba DC of the test's own (under a second to start: tests
// that stop it, or write the same names, never meet).
func openDir(t testing.TB, o directorytest.Options) directorytest.Fixture {
	t.Helper()
	if directoryKind() == directorytest.Samba {
		return testdc.OnSamba(t, o, true)
	}
	return directorytest.OnMemdir(t, o)
}

// onlyOn skips a test that says what it needs of a directory the test
// directory does not give, naming why.
func onlyOn(t testing.TB, kind directorytest.Kind, why string) {
	t.Helper()
	if directoryKind() != kind {
		t.Skipf("%s only: %s", kind, why)
	}
}

// env is a directory, a tenant in graphsim, a state file and an engine
// over them.
type env struct {
	t testing.TB
	// ad is the directory and an admin's hand on it; dir is the
	// directory the engine reads and writes.
	ad     directorytest.Fixture
	dir    directorytest.Directory
	sim    *graphsim.Instance
	tenant *graphsim.Tenant
	ou     string
	// users are the AD users cloud users 0..n-1 are synced from.
	users []directorytest.User
	store *store.Store
	eng   *engine.Engine
	// cloud and cfg are what eng was built with.
	cloud *graph.Client
	cfg   engine.Config
}

// baseTenant has one app and cloud users 0..n-1 synced from the
// directory's users 0..n-1 (by SID), plus one cloud-only user.
func baseTenant(t testing.TB, ad directorytest.Fixture, n int) *graphsim.TenantFile {
	t.Helper()
	tf := &graphsim.TenantFile{TenantID: tenantID, Applications: []graphsim.Application{{AppID: appID,
		PasswordCredentials: []graphsim.PasswordCredential{{SecretText: appPass}},
		ExtensionProperties: []graphsim.ExtensionProperty{{Name: "department", TargetObjects: []string{"Group"}}}}}}
	for i, u := range ad.Users(t, n) {
		tf.Users = append(tf.Users, map[string]any{"id": userID(i), "displayName": u.Name, "userPrincipalName": u.Name + "@contoso.test",
			"onPremisesSyncEnabled": true, "onPremisesSecurityIdentifier": u.SID})
	}
	tf.Users = append(tf.Users, map[string]any{"id": cloudOnly, "displayName": "Cloud Only", "userPrincipalName": "co@contoso.onmicrosoft.com"})
	return tf
}

// newEnvOn starts graphsim with tf and an engine that writes into a
// fresh OU of ad, writeback enabled.
func newEnvOn(t testing.TB, ad directorytest.Fixture, tf *graphsim.TenantFile, adjust func(*engine.Config)) *env {
	t.Helper()
	e := &env{t: t, ad: ad, dir: ad.Dir, ou: ad.NewOU(t, "wb")}
	n := 0
	for n < len(tf.Users) && tf.Users[n]["id"] == userID(n) {
		n++
	}
	e.users = ad.Users(t, n)
	e.sim, e.cloud = startCloud(t, tf)
	e.tenant = e.sim.Server.Tenant()
	var err error
	if e.store, err = store.Open(context.Background(), filepath.Join(t.TempDir(), "state.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.store.Close() })
	if err := e.store.SetEnablement(context.Background(), state.Enablement{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	cfg := engine.Config{TenantID: tf.TenantID, BaseDN: ad.BaseDN, TargetOU: e.ou, DeleteThreshold: 500,
		Policy: policy.Options{Naming: policy.NamingDisplayName, Exchange: ad.Schema.Exchange, AnchorAttribute: ad.Schema.AnchorAttribute}}
	if adjust != nil {
		adjust(&cfg)
	}
	e.cloud.SelectGroupExtensions(policy.Placement{Rules: cfg.Policy.Placement}.Extensions()) // as wiring does from the configuration
	e.cfg = cfg
	e.eng = engine.New(e.cloud, e.dir, e.dir, e.store, cfg, nil)
	return e
}

// newGroupsEnv has n users in AD synced to cloud users 0..n-1 (by SID),
// and the groups given, each security with writeback on unless it says.
func newGroupsEnv(t testing.TB, n int, groups []map[string]any, adjust func(*engine.Config)) *env {
	t.Helper()
	return newGroupsEnvOn(t, openDir(t, directorytest.Options{}), n, func(directorytest.Fixture) []map[string]any { return groups }, adjust)
}

// newGroupsEnvOn is newGroupsEnv on ad, whose groups are made once the
// directory and its users exist (groups written in place name AD groups
// by SID).
func newGroupsEnvOn(t testing.TB, ad directorytest.Fixture, n int, groupsOf func(directorytest.Fixture) []map[string]any, adjust func(*engine.Config)) *env {
	t.Helper()
	tf := baseTenant(t, ad, n)
	for _, g := range groupsOf(ad) {
		tf.Groups = append(tf.Groups, maps(g, map[string]any{"mailEnabled": false, "securityEnabled": true, "writebackConfiguration": map[string]any{"isEnabled": true}}))
	}
	return newEnvOn(t, ad, tf, adjust)
}

// maps is g with the defaults it does not set.
func maps(g, defaults map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range defaults {
		out[k] = v
	}
	for k, v := range g {
		out[k] = v
	}
	return out
}

// startCloud starts graphsim with tf and returns a Graph client for it.
func startCloud(t testing.TB, tf *graphsim.TenantFile) (*graphsim.Instance, *graph.Client) {
	t.Helper()
	sim, err := graphsim.Start(graphsim.Options{Tenant: tf, CertDir: t.TempDir(), Faults: graphsim.Faults{PageSize: 50}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	gcfg := graph.Config{TenantID: tf.TenantID, ClientID: appID, ClientSecret: secret.New(appPass), GraphURL: sim.URL, AuthorityURL: sim.URL, CAFile: sim.CAFile}
	if err := gcfg.Complete("cloud."); err != nil {
		t.Fatal(err)
	}
	gc, err := gcfg.Open(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return sim, gc
}

// resetStore replaces the state file with an empty one, as if it were lost.
func (e *env) resetStore() {
	e.t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(e.t.TempDir(), "fresh.db"))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { st.Close() })
	if err := st.SetEnablement(context.Background(), state.Enablement{Enabled: true}); err != nil {
		e.t.Fatal(err)
	}
	e.store = st
	e.eng = engine.New(e.cloud, e.dir, e.dir, st, e.cfg, nil)
}

// writes counts the writes the directory took.
func (e *env) writes() int64 { return e.ad.Writes() }

// sync runs one cycle and fails the test on a fatal error; it returns the
// writes the directory took.
func (e *env) sync(o engine.RunOptions) (*engine.Result, int64) {
	e.t.Helper()
	before := e.writes()
	res, err := e.eng.Run(context.Background(), o)
	if err != nil {
		e.t.Fatalf("sync: %v", err)
	}
	return res, e.writes() - before
}

// group reads the written-back group of cloud id, wherever it is in the
// domain, as an admin reads it, or nil.
func (e *env) group(id string) *directorytest.Entry {
	e.t.Helper()
	return e.groupUnder(e.ad.BaseDN, id)
}

// groupUnder is group under base only.
func (e *env) groupUnder(base, id string) *directorytest.Entry {
	e.t.Helper()
	entries := e.ad.Find(e.t, base, "adminDescription", policy.Anchor(id))
	if len(entries) == 0 && e.ad.Schema.AnchorAttribute {
		entries = e.ad.Find(e.t, base, directory.AnchorAttribute, policy.Anchor(id))
	}
	switch len(entries) {
	case 0:
		return nil
	case 1:
		return &entries[0]
	}
	e.t.Fatalf("%d AD groups carry the anchor of %s", len(entries), id)
	return nil
}

// where finds the group carrying id's anchor anywhere in the domain.
func (e *env) where(id string) (dn, guid string, members int) {
	e.t.Helper()
	g := e.group(id)
	if g == nil {
		return "", "", 0
	}
	return g.DN, g.GUID, len(g.Members)
}

// statuses are the groups' statuses by cloud id.
func (e *env) statuses() map[string]state.GroupStatus {
	e.t.Helper()
	sts, err := e.store.Statuses(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]state.GroupStatus{}
	for _, st := range sts {
		out[st.CloudID] = st
	}
	return out
}

// members returns the member DNs of an entry, lower-cased and sorted.
func members(e *directorytest.Entry) []string {
	var out []string
	for _, v := range e.Members {
		out = append(out, strings.ToLower(v))
	}
	sort.Strings(out)
	return out
}

// attr is the values of an attribute, joined with |.
func attr(e *directorytest.Entry, name string) string { return strings.Join(e.Values(name), "|") }

// notOwned skips the objects the tool may write: groups carrying an anchor
// in the env's OU.
func (e *env) notOwned() func(string, directorytest.DumpEntry) bool {
	ou := strings.ToLower(e.ou)
	return func(dn string, en directorytest.DumpEntry) bool {
		anchored := len(en["admindescription"]) > 0 && strings.HasPrefix(en["admindescription"][0], "Group_")
		return anchored && strings.HasSuffix(dn, ","+ou)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// kept are a result's operations as it keeps them (a sync's, written as
// they were planned, from its log).
func kept(res *engine.Result) []reconcile.Op { return slices.Collect(res.Kept()) }
