package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/graph"
	"github.com/groupwriteback/groupwriteback/internal/graphsim"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/secret"
	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/store"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

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

// env is a DC, a tenant in graphsim, a state file and an engine over them.
type env struct {
	t      *testing.T
	dc     *testdc.DC
	sim    *graphsim.Instance
	tenant *graphsim.Tenant
	ou     string
	dir    *directory.Client
	store  *store.Store
	eng    *engine.Engine
	cloud  engine.Cloud
	cfg    engine.Config
}

// newEnv starts graphsim with tf (users 0..n-1 of tf are mapped to fixture
// users by SID) and writes into a fresh OU of the DC of the flavour.
func newEnv(t *testing.T, opts testdc.Options, tf *graphsim.TenantFile, adjust func(*engine.Config)) *env {
	t.Helper()
	return newEnvOn(t, testdc.Shared(t, opts), tf, adjust)
}

// newEnvOn is newEnv on a given DC.
func newEnvOn(t *testing.T, dc *testdc.DC, tf *graphsim.TenantFile, adjust func(*engine.Config)) *env {
	t.Helper()
	e := &env{t: t, dc: dc, ou: dc.NewOU(t, "wb")}
	var err error
	var gc *graph.Client
	e.sim, gc = startCloud(t, tf)
	e.tenant = e.sim.Server.Tenant()
	dcfg := directory.Config{URL: dc.URL, BindDN: testdc.DelegatedDN, Password: secret.New(testdc.DelegatedPassword), CAFile: dc.CAFile, BaseDN: testdc.BaseDN}
	if e.dir, err = dcfg.Open(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.dir.Close() })
	if e.store, err = store.Open(context.Background(), filepath.Join(t.TempDir(), "state.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.store.Close() })
	if err := e.store.SetEnablement(context.Background(), state.Enablement{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	cfg := engine.Config{TenantID: tf.TenantID, BaseDN: testdc.BaseDN, TargetOU: e.ou, DeleteThreshold: 500,
		Policy: policy.Options{Naming: policy.NamingDisplayName, Exchange: e.dir.Schema().Exchange, AnchorAttribute: e.dir.Schema().AnchorAttribute}}
	if adjust != nil {
		adjust(&cfg)
	}
	e.cloud, e.cfg = gc, cfg
	e.eng = engine.New(gc, e.dir, e.dir, e.store, cfg, nil)
	return e
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

// baseTenant has one app and cloud users 0..n-1 synced from fixture users
// 0..n-1 (by SID), plus one cloud-only user.
func baseTenant(t *testing.T, dc *testdc.DC, n int) *graphsim.TenantFile {
	tf := &graphsim.TenantFile{TenantID: tenantID, Applications: []graphsim.Application{{AppID: appID,
		PasswordCredentials: []graphsim.PasswordCredential{{SecretText: appPass}}}},
		Settings: graphsim.TenantSettings{}}
	fx := dc.Fixtures(t)
	for i := range n {
		tf.Users = append(tf.Users, map[string]any{"id": userID(i), "displayName": fx[i].Name, "userPrincipalName": fx[i].Name + "@contoso.test",
			"onPremisesSyncEnabled": true, "onPremisesSecurityIdentifier": fx[i].SID})
	}
	tf.Users = append(tf.Users, map[string]any{"id": cloudOnly, "displayName": "Cloud Only", "userPrincipalName": "co@contoso.onmicrosoft.com"})
	return tf
}

const cloudOnly = "3f2b1c4d-ffff-4a5b-8c6d-ffffffffffff"

// sync runs one cycle and fails the test on a fatal error.
func (e *env) sync(o engine.RunOptions) (*engine.Result, int64) {
	e.t.Helper()
	before := e.dir.Counters().Writes()
	res, err := e.eng.Run(context.Background(), o)
	if err != nil {
		e.t.Fatalf("sync: %v", err)
	}
	return res, e.dir.Counters().Writes() - before
}

// group reads the written-back group of cloud id with all attributes.
func (e *env) group(id string) *ldap.Entry {
	e.t.Helper()
	entries := e.dc.Search(e.t, e.ou, ldap.ScopeWholeSubtree, "(adminDescription="+ldap.EscapeFilter(policy.Anchor(id))+")", "*", "member;range=0-*")
	switch len(entries) {
	case 0:
		return nil
	case 1:
		return entries[0]
	}
	e.t.Fatalf("%d AD groups carry the anchor of %s", len(entries), id)
	return nil
}

// members returns the member DNs of an entry, lower-cased and sorted.
func members(e *ldap.Entry) []string {
	var out []string
	for _, a := range e.Attributes {
		if name, _, _ := strings.Cut(a.Name, ";"); strings.EqualFold(name, "member") {
			for _, v := range a.Values {
				out = append(out, strings.ToLower(v))
			}
		}
	}
	sort.Strings(out)
	return out
}

// notOwned skips the objects the tool may write: groups carrying an anchor
// in the env's OU.
func (e *env) notOwned() func(string, testdc.Entry) bool {
	ou := strings.ToLower(e.ou)
	return func(dn string, en testdc.Entry) bool {
		anchored := len(en["admindescription"]) > 0 && strings.HasPrefix(en["admindescription"][0], "Group_")
		return anchored && strings.HasSuffix(dn, ","+ou)
	}
}

func sidOf(e *ldap.Entry) string { return directory.SIDString(e.GetRawAttributeValue("objectSid")) }
