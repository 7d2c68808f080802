package doctor_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/config"
	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
	"github.com/groupwriteback/groupwriteback/internal/doctor"
	"github.com/groupwriteback/groupwriteback/internal/graph"
	"github.com/groupwriteback/groupwriteback/internal/graphsim"
	"github.com/groupwriteback/groupwriteback/internal/secret"
	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/store"
	"github.com/groupwriteback/groupwriteback/internal/testca"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
	"github.com/groupwriteback/groupwriteback/internal/testpg"
)

func TestMain(m *testing.M) {
	code := testdc.Main(m)
	testpg.CloseShared()
	os.Exit(code)
}

const tenantID = "7a1c3f9e-2b4d-4e8a-9c61-0d5e8f2a1b3c"

func setup(t *testing.T, opts testdc.Options, perms []string) (*config.Config, *testdc.DC) {
	t.Helper()
	dc := testdc.Shared(t, opts)
	sim, err := graphsim.Start(graphsim.Options{CertDir: t.TempDir(), Tenant: &graphsim.TenantFile{TenantID: tenantID,
		Applications: []graphsim.Application{{AppID: "app", PasswordCredentials: []graphsim.PasswordCredential{{SecretText: "s"}}, GrantedApplicationPermissions: perms}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	cfg := &config.Config{
		Cloud:     graph.Config{TenantID: tenantID, ClientID: "app", ClientSecret: secret.New("s"), GraphURL: sim.URL, AuthorityURL: sim.URL, CAFile: sim.CAFile},
		Directory: directory.Config{URL: dc.URL, BindDN: testdc.DelegatedDN, Password: secret.New(testdc.DelegatedPassword), CAFile: dc.CAFile, BaseDN: testdc.BaseDN},
	}
	cfg.Writeback.TargetOU = dc.NewOU(t, "doctor")
	if err := cfg.Complete(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg, dc
}

func find(t *testing.T, r *doctor.Report, prefix string) doctor.Check {
	t.Helper()
	for _, c := range r.Checks {
		if strings.HasPrefix(c.Name, prefix) {
			return c
		}
	}
	t.Fatalf("no check %q in %+v", prefix, r.Checks)
	return doctor.Check{}
}

func TestHealthy(t *testing.T) {
	// Group.Read.All and User.Read.All are all it needs: no Directory.Read.All.
	cfg, dc := setup(t, testdc.Options{Exchange: true, Anchor: true}, []string{"Group.Read.All", "User.Read.All"})
	dc.DelegateRestore(t, dc.DelegatedSID(t), true) // docs/permissions.md's delegation, restores included
	before, err := dc.Dump()
	if err != nil {
		t.Fatal(err)
	}
	r := doctor.Run(context.Background(), cfg, nil, doctor.Options{})
	for _, c := range r.Checks {
		if c.Status != doctor.Pass {
			t.Errorf("%s: %s: %s", c.Name, c.Status, c.Detail)
		}
	}
	find(t, r, "graph: groups (beta) delta, as sync reads it")
	find(t, r, "graph: users delta, as sync reads it")
	if c := find(t, r, "ldap: bind account holds no privileged group"); !strings.Contains(c.Detail, testdc.NetBIOSDomain+`\`+testdc.DelegatedUser) {
		t.Errorf("the account is not named as AD names it: %q", c.Detail)
	}
	if c := find(t, r, "ldap: written-back groups in privileged groups"); !strings.HasPrefix(c.Detail, "none: of the ") {
		t.Errorf("protected groups: %q", c.Detail)
	}
	find(t, r, "paths: writable")
	if !r.OK() || len(r.Checks) != 20 {
		t.Fatalf("%d checks, ok %v", len(r.Checks), r.OK())
	}
	after, err := dc.Dump()
	if err != nil {
		t.Fatal(err)
	}
	// Samba records each bind on the account itself (lastLogonTimestamp,
	// logonCount): that is the DC's doing, not doctor's.
	bindAccount := strings.ToLower(testdc.DelegatedDN)
	if diff := directorytest.Changed(before, after, func(dn string, _ directorytest.DumpEntry) bool { return dn == bindAccount }); len(diff) > 0 {
		t.Fatalf("doctor left something behind:\n%s", strings.Join(diff, "\n"))
	}
}

func TestFailures(t *testing.T) {
	cases := []struct {
		name  string
		opts  testdc.Options
		perms []string
		edit  func(t *testing.T, c *config.Config, dc *testdc.DC)
		check string
		says  string
		fix   string
	}{
		{"wrong password", testdc.Options{}, nil, func(_ *testing.T, c *config.Config, _ *testdc.DC) { c.Directory.Password = secret.New("wrong") },
			"ldap: bind", "Invalid Credentials", "bind_dn and the password"},
		{"untrusted certificate", testdc.Options{}, nil, func(t *testing.T, c *config.Config, _ *testdc.DC) {
			ca, _ := testca.New("other")
			c.Directory.CAFile, _ = ca.WriteFile(t.TempDir(), "other.pem")
		}, "ldap: TLS verified", "certificate signed by unknown authority", "directory.ca_file"},
		{"missing OU", testdc.Options{}, nil, func(_ *testing.T, c *config.Config, _ *testdc.DC) {
			c.Writeback.TargetOU = "OU=Nowhere," + testdc.BaseDN
		}, "ldap: writeback.target_ou exists", "does not exist", "create the OU"},
		{"no Exchange schema", testdc.Options{}, nil, nil, "schema: Exchange", "absent", "--without-exchange"},
		{"wrong client secret", testdc.Options{}, nil, func(_ *testing.T, c *config.Config, _ *testdc.DC) { c.Cloud.ClientSecret = secret.New("x") },
			"graph: token", "AADSTS7000215", "client_id"},
		{"Graph's certificate not trusted", testdc.Options{}, nil, func(t *testing.T, c *config.Config, _ *testdc.DC) {
			ca, _ := testca.New("other")
			c.Cloud.CAFile, _ = ca.WriteFile(t.TempDir(), "other.pem")
		}, "graph: token", "x509: certificate signed by unknown authority", "not at fault"},
		{"sign-in endpoint refuses connections", testdc.Options{}, nil, func(_ *testing.T, c *config.Config, _ *testdc.DC) {
			c.Cloud.AuthorityURL = "https://127.0.0.1:1"
		}, "graph: token", "connection refused", "reach"},
		{"no permission to read users", testdc.Options{}, []string{"Group.Read.All"}, nil, "graph: read users", "403", "User.Read.All"},
		{"no permission to read users: the sync's users delta", testdc.Options{}, []string{"Group.Read.All"}, nil, "graph: users delta", "403", "User.Read.All"},
		{"an account without rights on the OU", testdc.Options{}, nil, func(t *testing.T, c *config.Config, dc *testdc.DC) {
			c.Directory.BindDN, c.Directory.Password = plainUser(t, dc), secret.New("Un-Privileged-1")
		}, "ldap: may create, modify and delete groups", "may not create groups", "delegate to"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			perms := tc.perms
			if perms == nil {
				perms = []string{"Group.Read.All", "User.Read.All"}
			}
			cfg, dc := setup(t, tc.opts, perms)
			if tc.edit != nil {
				tc.edit(t, cfg, dc)
			}
			r := doctor.Run(context.Background(), cfg, nil, doctor.Options{})
			c := find(t, r, tc.check)
			if r.OK() || c.Status != doctor.Fail || !strings.Contains(c.Detail, tc.says) || !strings.Contains(c.Fix, tc.fix) {
				t.Fatalf("%s: %s %q fix %q", c.Name, c.Status, c.Detail, c.Fix)
			}
			if tc.check == "graph: token" && tc.says != "AADSTS7000215" && strings.Contains(c.Fix, "secret") {
				t.Fatalf("a transport failure sends the admin to the secret: %q", c.Fix)
			}
			if tc.name == "an account without rights on the OU" {
				if left := dc.Search(t, cfg.Writeback.TargetOU, ldap.ScopeSingleLevel, "(objectClass=*)", "cn"); len(left) != 0 {
					t.Fatalf("left %d objects in the OU", len(left))
				}
			}
		})
	}
}

func TestBadConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	os.WriteFile(path, []byte("cloud: {}\n"), 0o600)
	_, err := config.Load(path)
	r := doctor.Run(context.Background(), nil, err, doctor.Options{})
	if r.OK() || len(r.Checks) != 1 || !strings.Contains(r.Checks[0].Detail, "cloud.tenant_id") {
		t.Fatalf("%+v", r.Checks)
	}
}

// plainUser creates an enabled user with a password and no rights beyond
// those of every domain user, and returns its DN.
func plainUser(t *testing.T, dc *testdc.DC) string {
	t.Helper()
	conn, err := dc.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ou := dc.NewOU(t, "people")
	dn := "CN=plain," + ou
	pw := utf16.Encode([]rune(`"Un-Privileged-1"`))
	b := make([]byte, 2*len(pw))
	for i, u := range pw {
		binary.LittleEndian.PutUint16(b[2*i:], u)
	}
	add := ldap.NewAddRequest(dn, nil)
	add.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "user"})
	add.Attribute("sAMAccountName", []string{"plain-" + strings.ToLower(t.Name()[len(t.Name())-4:])})
	add.Attribute("unicodePwd", []string{string(b)})
	add.Attribute("userAccountControl", []string{"512"})
	if err := conn.Add(add); err != nil {
		t.Fatal(err)
	}
	return dn
}

// A Domain Admin as the bind account works, and is warned about.
func TestDomainAdminWarned(t *testing.T) {
	cfg, _ := setup(t, testdc.Options{}, nil)
	cfg.Directory.BindDN, cfg.Directory.Password = testdc.AdminDN, secret.New(testdc.AdminPassword)
	r := doctor.Run(context.Background(), cfg, nil, doctor.Options{WithoutExchange: true})
	c := find(t, r, "ldap: bind account holds no privileged group")
	if c.Status != doctor.Warn || !strings.Contains(c.Detail, `CONTOSO\Administrator is a member of`) || !strings.Contains(c.Detail, "Domain Admins") ||
		!strings.Contains(c.Fix, "--print-delegation") {
		t.Fatalf("%s %q fix %q", c.Status, c.Detail, c.Fix)
	}
}

// kerberize binds cfg with the delegated account's keytab over ldap://,
// signed and sealed.
func kerberize(t *testing.T, cfg *config.Config, dc *testdc.DC) {
	t.Helper()
	kt, err := dc.Keytab(testdc.DelegatedUser)
	if err != nil {
		t.Fatal(err)
	}
	d := &cfg.Directory
	d.URL, d.Auth, d.BindDN, d.Password = "ldap://"+dc.Addr, directory.AuthKerberos, "", secret.Value{}
	d.Kerberos = directory.Kerberos{Principal: testdc.DelegatedUser, Realm: testdc.Realm, Keytab: kt, KDCs: []string{dc.KDC()}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestKerberos(t *testing.T) {
	cfg, dc := setup(t, testdc.Options{Kerberos: true}, []string{"Group.Read.All", "User.Read.All"})
	kerberize(t, cfg, dc)
	r := doctor.Run(context.Background(), cfg, nil, doctor.Options{WithoutExchange: true})
	for _, name := range []string{"kerberos: keytab", "kerberos: clock", "kerberos: ticket-granting ticket", "kerberos: service principal ldap/" + dc.Addr, "ldap: bind", "ldap: may create"} {
		if c := find(t, r, name); c.Status != doctor.Pass {
			t.Errorf("%s: %s: %s", c.Name, c.Status, c.Detail)
		}
	}
	if c := find(t, r, "ldap: bind"); !strings.Contains(c.Detail, "Kerberos signing and sealing") {
		t.Errorf("bind: %s", c.Detail)
	}
	if c := find(t, r, "kerberos: keytab"); !strings.Contains(c.Detail, "aes256-cts-hmac-sha1-96") {
		t.Errorf("keytab: %s", c.Detail)
	}

	cases := []struct {
		name        string
		edit        func(d *directory.Config)
		check, says string
		fix         string
	}{
		{"a keytab of another account", func(d *directory.Config) { d.Kerberos.Principal = "someone-else" },
			"kerberos: keytab", "holds no key for someone-else@" + testdc.Realm, "exportkeytab"},
		{"a DC named by an alias", func(d *directory.Config) { d.Kerberos.SPN = "ldap/alias.contoso.test" },
			"kerberos: service principal ldap/alias.contoso.test", "KDC_ERR_S_PRINCIPAL_UNKNOWN", "FQDN"},
		{"a wrong password", func(d *directory.Config) { d.Kerberos.Keytab, d.Password = "", secret.New("wrong") },
			"kerberos: ticket-granting ticket", "KDC_ERR_PREAUTH_FAILED", "keytab"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := *cfg
			tc.edit(&bad.Directory)
			r := doctor.Run(context.Background(), &bad, nil, doctor.Options{WithoutExchange: true})
			c := find(t, r, tc.check)
			if r.OK() || c.Status != doctor.Fail || !strings.Contains(c.Detail, tc.says) || !strings.Contains(c.Fix, tc.fix) {
				t.Fatalf("%s: %s %q fix %q", c.Name, c.Status, c.Detail, c.Fix)
			}
		})
	}
}

func TestGlobalCatalogCheck(t *testing.T) {
	cfg, dc := setup(t, testdc.Options{}, []string{"Group.Read.All", "User.Read.All"})
	cfg.Directory.GlobalCatalog = "auto"
	r := doctor.Run(context.Background(), cfg, nil, doctor.Options{WithoutExchange: true})
	if c := find(t, r, "ldap: global catalog"); c.Status != doctor.Pass || !strings.Contains(c.Detail, dc.Addr+":3269 answers for 1 domain(s)") {
		t.Fatalf("%s: %s", c.Status, c.Detail)
	}
	cfg.Directory.GlobalCatalog = "ldaps://" + dc.Addr + ":1"
	r = doctor.Run(context.Background(), cfg, nil, doctor.Options{WithoutExchange: true})
	if c := find(t, r, "ldap: global catalog"); c.Status != doctor.Fail || !strings.Contains(c.Fix, "3269") {
		t.Fatalf("%s: %s (%s)", c.Status, c.Detail, c.Fix)
	}
}

// TestSharedState: with state.url, doctor checks the PostgreSQL state
// without writing to it: reachable, its schema, who holds the lease; an
// unreachable one fails with what to check.
func TestSharedState(t *testing.T) {
	ctx := context.Background()
	cfg, _ := setup(t, testdc.Options{Exchange: true, Anchor: true}, []string{"Group.Read.All", "User.Read.All"})
	srv := testpg.Shared(t)
	url := srv.NewDB(t)
	cfg.State.URL = secret.New(url)
	r := doctor.Run(ctx, cfg, nil, doctor.Options{})
	if c := find(t, r, "state: PostgreSQL"); c.Status != doctor.Pass || !strings.Contains(c.Detail, "connected to "+testpg.Superuser+"@127.0.0.1") {
		t.Fatalf("%+v", c)
	}
	if c := find(t, r, "state: schema"); c.Status != doctor.Pass || !strings.Contains(c.Detail, "empty") {
		t.Fatalf("an empty database: %+v", c)
	}
	st, err := store.OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.AcquireLease(ctx, state.WriterLease, "gwb1/abc", time.Minute); err != nil {
		t.Fatal(err)
	}
	r = doctor.Run(ctx, cfg, nil, doctor.Options{})
	if c := find(t, r, "state: schema"); c.Status != doctor.Pass || !strings.Contains(c.Detail, "as this groupwriteback writes it") {
		t.Fatalf("a migrated state: %+v", c)
	}
	if c := find(t, r, "state: writer lease"); !strings.Contains(c.Detail, "held by gwb1 since") {
		t.Fatalf("%+v", c)
	}
	if !r.OK() {
		t.Fatalf("not ok: %+v", r.Checks)
	}
	cfg.State.URL = secret.New(strings.Replace(url, fmt.Sprint(srv.Port), "1", 1))
	r = doctor.Run(ctx, cfg, nil, doctor.Options{})
	if c := find(t, r, "state: PostgreSQL"); c.Status != doctor.Fail || !strings.Contains(c.Fix, "pg_hba.conf") || r.OK() {
		t.Fatalf("an unreachable database: %+v", c)
	}
}

// A group the tool wrote that an admin nested in Domain Admins (here
// through another group) is named: the gate adds no member to it, and
// whoever controls the cloud group must not control a privileged one.
func TestWrittenBackGroupInDomainAdmins(t *testing.T) {
	cfg, dc := setup(t, testdc.Options{}, []string{"Group.Read.All", "User.Read.All"})
	ou := cfg.Writeback.TargetOU
	written, _ := dc.AddGroup(t, ou, "Sales_2c1a0b009901")
	anchor := "Group_6a1e0c55-9901-4f0e-9d3b-2c1a0b009901"
	dc.SetAttribute(t, written, "adminDescription", []string{anchor})
	between, _ := dc.AddGroup(t, ou, "Helpdesk-9901")
	dc.Nest(t, "CN=Domain Admins,CN=Users,"+testdc.BaseDN, between)
	dc.Nest(t, between, written)
	r := doctor.Run(context.Background(), cfg, nil, doctor.Options{})
	c := find(t, r, "ldap: written-back groups in privileged groups")
	if c.Status != doctor.Warn || !strings.Contains(c.Detail, anchor) || !strings.Contains(c.Detail, "Domain Admins") || !strings.Contains(c.Detail, "Helpdesk-9901") {
		t.Fatalf("%s: %s", c.Status, c.Detail)
	}
}

// A first DC that accepts connections and never answers is named as hung,
// and doctor goes on with the next one, as a cycle does: the other checks
// pass on it (doctor used to call the hung one reachable, then fail "TLS
// verified" with advice to fix the CA file).
func TestHungFirstDC(t *testing.T) {
	cfg, dc := setup(t, testdc.Options{Exchange: true, Anchor: true}, []string{"Group.Read.All", "User.Read.All"})
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // accepted, never answered
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	first := "ldaps://" + hung.Addr().String()
	cfg.Directory.URL, cfg.Directory.URLs, cfg.Directory.Timeout = "", []string{first, dc.URL}, 2*time.Second
	start := time.Now()
	r := doctor.Run(context.Background(), cfg, nil, doctor.Options{})
	c := find(t, r, "ldap: reachable: "+first)
	if c.Status != doctor.Warn || !strings.Contains(c.Detail, "hung: it accepts connections but does not answer") {
		t.Fatalf("the hung DC: %s: %s", c.Status, c.Detail)
	}
	if c := find(t, r, "ldap: bind"); c.Status != doctor.Pass {
		t.Fatalf("bind on the next DC: %s: %s", c.Status, c.Detail)
	}
	if !r.OK() {
		for _, c := range r.Checks {
			t.Logf("%s %s: %s", c.Status, c.Name, c.Detail)
		}
		t.Fatal("doctor fails with one DC of two hung")
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("doctor took %s", took)
	}
}

// Microsoft's AD object enforcement, as a DC with the policy object and
// a marked group shows it (Samba does not enforce it: detection and the
// report are what is tested). No policy: pass. An Enforced one that does
// not list the bind account, with a marked group where it writes: fail,
// naming the account's SID and the fix. Audit: warn. The account's SID
// listed: pass.
func TestEnforcementPolicy(t *testing.T) {
	cfg, dc := setup(t, testdc.Options{Exchange: true, Anchor: true}, []string{"Group.Read.All", "User.Read.All"})
	ctx := context.Background()
	const name = "ldap: AD object enforcement"
	if c := find(t, doctor.Run(ctx, cfg, nil, doctor.Options{}), name); c.Status != doctor.Pass || !strings.Contains(c.Detail, "no enforcement policy") {
		t.Fatalf("without a policy: %+v", c)
	}
	admin, err := dc.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	add := func(dn string, attrs map[string][]string) {
		t.Helper()
		req := ldap.NewAddRequest(dn, nil)
		for k, v := range attrs {
			req.Attribute(k, v)
		}
		if err := admin.Add(req); err != nil {
			t.Fatalf("add %s: %v", dn, err)
		}
	}
	policies := "CN=SOA-Policies,CN=System," + testdc.BaseDN
	policy := directory.SOAPolicyDN(testdc.BaseDN)
	add(policies, map[string][]string{"objectClass": {"container"}})
	add(policy, map[string][]string{"objectClass": {"serviceConnectionPoint"}, "msDS-Settings": {"Enforced", "S-1-5-21-1004336348-1177238915-682003330-1234"}})
	t.Cleanup(func() {
		_ = admin.Del(ldap.NewDelRequest(policy, nil))
		_ = admin.Del(ldap.NewDelRequest(policies, nil))
	})
	marked := "CN=Marked by Cloud Sync," + cfg.Writeback.TargetOU
	add(marked, map[string][]string{"objectClass": {"group"}, "sAMAccountName": {"marked-by-cloud-sync"}, "msDS-ObjectSoa": {"Cloud"}})
	// Not marked: no write of the tool is blocked.
	add("CN=Not marked,"+cfg.Writeback.TargetOU, map[string][]string{"objectClass": {"group"}, "sAMAccountName": {"not-marked"}})
	sid := dc.Search(t, testdc.DelegatedDN, ldap.ScopeBaseObject, "(objectClass=*)", "objectSid")[0].GetRawAttributeValue("objectSid")
	delegated := directory.SIDString(sid)
	r := doctor.Run(ctx, cfg, nil, doctor.Options{})
	c := find(t, r, name)
	if c.Status != doctor.Fail || !strings.Contains(c.Detail, "Enforced") || !strings.Contains(c.Detail, "1 group(s)") || !strings.Contains(c.Detail, "CN=Marked by Cloud Sync") ||
		!strings.Contains(c.Fix, delegated) || !strings.Contains(c.Fix, policy) || r.OK() {
		t.Fatalf("an enforced policy without the account: %+v", c)
	}
	replace := func(vals ...string) {
		t.Helper()
		m := ldap.NewModifyRequest(policy, nil)
		m.Replace("msDS-Settings", vals)
		if err := admin.Modify(m); err != nil {
			t.Fatal(err)
		}
	}
	replace("Audit", "S-1-5-21-1004336348-1177238915-682003330-1234")
	if c := find(t, doctor.Run(ctx, cfg, nil, doctor.Options{}), name); c.Status != doctor.Warn || !strings.Contains(c.Detail, "logged as unauthorized") {
		t.Fatalf("an audit policy without the account: %+v", c)
	}
	replace("Enforced", delegated, "not-a-sid")
	c = find(t, doctor.Run(ctx, cfg, nil, doctor.Options{}), name)
	if c.Status != doctor.Pass || !strings.Contains(c.Detail, "is allowed") || !strings.Contains(c.Detail, "not-a-sid") {
		t.Fatalf("a policy that lists the account: %+v", c)
	}
}

// A group deleted in AD comes back with its objectSid only when the
// account may list CN=Deleted Objects and holds Reanimate Tombstones:
// doctor's probe finds out which, deleting and restoring a probe group,
// and says what to delegate; with restore_deleted false it says nothing
// is tried.
func TestRestoreRights(t *testing.T) {
	cfg, dc := setup(t, testdc.Options{Exchange: true, Anchor: true}, []string{"Group.Read.All", "User.Read.All"})
	ctx := context.Background()
	const name = "ldap: may restore deleted groups"
	check := func() doctor.Check { t.Helper(); return find(t, doctor.Run(ctx, cfg, nil, doctor.Options{}), name) }
	if c := check(); c.Status != doctor.Warn || !strings.Contains(c.Detail, "finds nothing in CN=Deleted Objects") || !strings.Contains(c.Fix, "Reanimate Tombstones") ||
		!strings.Contains(c.Fix, "--print-delegation") {
		t.Fatalf("without rights: %+v", c)
	}
	sid := dc.DelegatedSID(t)
	t.Run("list only", func(t *testing.T) {
		dc.DelegateRestore(t, sid, false)
		if c := check(); c.Status != doctor.Warn || !strings.Contains(c.Detail, "AD refuses to restore them") {
			t.Fatalf("with the right to list: %+v", c)
		}
	})
	t.Run("all", func(t *testing.T) {
		dc.DelegateRestore(t, sid, true)
		if c := check(); c.Status != doctor.Pass || !strings.Contains(c.Detail, "comes back with its objectSid") {
			t.Fatalf("with the rights: %+v", c)
		}
		if left := dc.Search(t, cfg.Writeback.TargetOU, ldap.ScopeSingleLevel, "(objectClass=group)", "1.1"); len(left) != 0 {
			t.Fatalf("the probe left %d groups behind", len(left))
		}
	})
	off := false
	cfg.Writeback.RestoreDeleted = &off
	if c := check(); c.Status != doctor.Skip {
		t.Fatalf("restore_deleted false: %+v", c)
	}
}

// writeback.match_unsynced's search bases must exist: doctor names one
// that does not.
func TestMatchSearchBases(t *testing.T) {
	cfg, dc := setup(t, testdc.Options{}, []string{"Group.Read.All", "User.Read.All"})
	staff := dc.NewOU(t, "staff")
	cfg.Writeback.MatchUnsynced.Rules = []string{"employeeId"}
	cfg.Writeback.MatchUnsynced.SearchBases = []string{staff, "OU=Gone," + testdc.BaseDN}
	const name = "ldap: writeback.match_unsynced.search_bases exist"
	if c := find(t, doctor.Run(context.Background(), cfg, nil, doctor.Options{}), name); c.Status != doctor.Fail || !strings.Contains(c.Detail, "OU=Gone,"+testdc.BaseDN+" not found") {
		t.Fatalf("a missing base: %+v", c)
	}
	cfg.Writeback.MatchUnsynced.SearchBases = []string{staff}
	if c := find(t, doctor.Run(context.Background(), cfg, nil, doctor.Options{}), name); c.Status != doctor.Pass {
		t.Fatalf("the bases exist: %+v", c)
	}
}
