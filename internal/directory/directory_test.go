package directory_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/secret"
	"github.com/groupwriteback/groupwriteback/internal/testca"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

func TestMain(m *testing.M) { os.Exit(testdc.Main(m)) }

func config(dc *testdc.DC) directory.Config {
	return directory.Config{URL: dc.URL, BindDN: testdc.AdminDN, Password: secret.New(testdc.AdminPassword), CAFile: dc.CAFile, BaseDN: testdc.BaseDN}
}

func open(t *testing.T, dc *testdc.DC) *directory.Client {
	t.Helper()
	cfg := config(dc)
	c, err := cfg.Open(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestOpenFailures(t *testing.T) {
	dc := testdc.Shared(t, testdc.Options{})
	otherCA, err := testca.New("someone else")
	if err != nil {
		t.Fatal(err)
	}
	otherCAFile, err := otherCA.WriteFile(t.TempDir(), "other.pem")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		edit  func(*directory.Config)
		check func(error) bool
	}{
		{"wrong password", func(c *directory.Config) { c.Password = secret.New("nope") },
			func(err error) bool { return directory.IsCode(err, ldap.LDAPResultInvalidCredentials) }},
		{"untrusted certificate", func(c *directory.Config) { c.CAFile = otherCAFile },
			func(err error) bool { return strings.Contains(err.Error(), "certificate signed by unknown authority") }},
		{"nothing listening", func(c *directory.Config) { c.URL = "ldaps://127.0.0.1:1" },
			func(err error) bool { return strings.Contains(err.Error(), "connect to ldaps://127.0.0.1:1") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config(dc)
			tc.edit(&cfg)
			c, err := cfg.Open(context.Background(), nil)
			if err == nil {
				c.Close()
				t.Fatal("opened")
			}
			if !tc.check(err) {
				t.Fatalf("err = %v", err)
			}
			if strings.Contains(err.Error(), testdc.AdminPassword) {
				t.Fatal("error leaks the password")
			}
		})
	}
}

func TestStartTLS(t *testing.T) {
	dc := testdc.Shared(t, testdc.Options{})
	cfg := config(dc)
	cfg.URL, cfg.StartTLS = "ldap://"+dc.Addr+":389", true
	c, err := cfg.Open(context.Background(), nil)
	if err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	defer c.Close()
	if c.Schema().NamingContext != testdc.BaseDN {
		t.Fatalf("schema over StartTLS: %+v", c.Schema())
	}
}

func TestSchemaProbe(t *testing.T) {
	for _, opts := range []testdc.Options{{}, {Exchange: true, Anchor: true}} {
		t.Run(fmt.Sprintf("exchange=%v", opts.Exchange), func(t *testing.T) {
			s := open(t, testdc.Shared(t, opts)).Schema()
			if s.Exchange != opts.Exchange || s.AnchorAttribute != opts.Anchor || s.NamingContext != testdc.BaseDN {
				t.Fatalf("schema = %+v", s)
			}
			if !opts.Exchange && !slices.Contains(s.Missing, "msExchRecipientTypeDetails") {
				t.Fatalf("missing = %v", s.Missing)
			}
		})
	}
}

var managed = []string{"sAMAccountName", "groupType", "displayName", "description", "adminDescription"}

func createOp(cn, ou, id string, members ...string) reconcile.Op {
	anchor := policy.Anchor(id)
	return reconcile.Op{Action: reconcile.Create, CloudID: id, DN: policy.GroupDN(cn, ou), Anchor: anchor, Members: members,
		Changes: []reconcile.AttrChange{{Name: "sAMAccountName", New: []string{policy.SAMAccountName(cn)}},
			{Name: "groupType", New: []string{"-2147483640"}}, {Name: "displayName", New: []string{cn}}, {Name: "adminDescription", New: []string{anchor}}}}
}

func mustApply(t *testing.T, c *directory.Client, ops ...reconcile.Op) {
	t.Helper()
	for _, op := range ops {
		if err := c.Apply(context.Background(), op); err != nil {
			t.Fatalf("%s %s: %v", op.Action, op.DN, err)
		}
	}
}

func owned(t *testing.T, c *directory.Client, ou string) map[string]reconcile.ADGroup {
	t.Helper()
	gs, err := c.OwnedGroups(context.Background(), ou, managed)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]reconcile.ADGroup{}
	for _, g := range gs {
		out[policy.CloudIDFromAnchor(g.Anchor)] = g
	}
	return out
}

func TestWriteCycle(t *testing.T) {
	dc := testdc.Shared(t, testdc.Options{})
	c := open(t, dc)
	ou := dc.NewOU(t, "cycle")
	us := dc.AddUsers(t, ou, []string{"cycle-u1", "cycle-u2", "cycle-u3"})
	const id = "6a1e0c55-0101-4f0e-9d3b-2c1a0b9f8e7d"
	op := createOp("Cycle_2c1a0b9f8e7d", ou, id, us[0].DN, us[1].DN)
	mustApply(t, c, op)
	g := owned(t, c, ou)[id]
	if g.DN != op.DN || len(g.Members) != 2 || g.Attrs["groupType"][0] != "-2147483640" || g.GUID == "" {
		t.Fatalf("after create: %+v", g)
	}
	newDN := policy.GroupDN("Cycle 2_2c1a0b9f8e7d", ou)
	mustApply(t, c,
		reconcile.Op{Action: reconcile.Rename, DN: op.DN, NewRDN: "CN=" + policy.EscapeRDNValue("Cycle 2_2c1a0b9f8e7d"), Anchor: op.Anchor},
		reconcile.Op{Action: reconcile.Update, DN: newDN, Anchor: op.Anchor, Changes: []reconcile.AttrChange{
			{Name: "description", New: []string{"now described"}}, {Name: "displayName", New: []string{"Cycle 2"}}}},
		reconcile.Op{Action: reconcile.RemoveMembers, DN: newDN, Anchor: op.Anchor, Members: []string{us[0].DN}},
		// us[1] is a member already: Samba answers 68, the client steps over it.
		reconcile.Op{Action: reconcile.AddMembers, DN: newDN, Anchor: op.Anchor, Members: []string{us[1].DN, us[2].DN}},
	)
	g = owned(t, c, ou)[id]
	if g.DN != newDN || g.GUID != owned(t, c, ou)[id].GUID || g.Attrs["description"][0] != "now described" ||
		!slices.Equal(sortedLower(g.Members), sortedLower([]string{us[1].DN, us[2].DN})) {
		t.Fatalf("after changes: %+v", g)
	}
	mustApply(t, c, reconcile.Op{Action: reconcile.Update, DN: newDN, Anchor: op.Anchor, Changes: []reconcile.AttrChange{{Name: "description", Old: []string{"now described"}}}})
	if d := owned(t, c, ou)[id].Attrs["description"]; d != nil {
		t.Fatalf("description not removed: %v", d)
	}
	mustApply(t, c, reconcile.Op{Action: reconcile.Delete, DN: newDN, Anchor: op.Anchor})
	if len(owned(t, c, ou)) != 0 {
		t.Fatal("group still there after delete")
	}
}

func sortedLower(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strings.ToLower(v)
	}
	slices.Sort(out)
	return out
}

func TestNamesRoundTrip(t *testing.T) {
	dc := testdc.Shared(t, testdc.Options{})
	c := open(t, dc)
	ou := dc.NewOU(t, "names")
	names := []string{`a,b+c"d\e<f>g;h=i`, "#leading hash", " leading space", "trailing space ", "Отдел продаж 営業部", strings.Repeat("long name ", 8), "emoji 😀 group"}
	for i, display := range names {
		id := fmt.Sprintf("6a1e0c55-02%02d-4f0e-9d3b-2c1a0b9f8e7d", i)
		cn := policy.CommonName(policy.NamingDisplayName, id, display)
		mustApply(t, c, createOp(cn, ou, id))
		g := owned(t, c, ou)[id]
		parsed, err := ldap.ParseDN(g.DN)
		if err != nil {
			t.Fatalf("%q: DN %q from AD does not parse: %v", display, g.DN, err)
		}
		if got := parsed.RDNs[0].Attributes[0].Value; got != cn {
			t.Errorf("%q: cn read back %q, want %q", display, got, cn)
		}
		if got := g.Attrs["sAMAccountName"]; len(got) != 1 || got[0] != policy.SAMAccountName(cn) {
			t.Errorf("%q: sAMAccountName %v", display, got)
		}
	}
}

func TestLargeGroupRangedRead(t *testing.T) {
	dc := testdc.Shared(t, testdc.Options{})
	c := open(t, dc)
	ou := dc.NewOU(t, "large")
	var dns []string
	for _, u := range dc.Fixtures(t) {
		dns = append(dns, u.DN)
	}
	const id = "6a1e0c55-0301-4f0e-9d3b-2c1a0b9f8e7d"
	op := createOp("Large_2c1a0b9f8e7d", ou, id, dns[:1000]...)
	var adds []reconcile.Op
	for start := 1000; start < len(dns); start += 1000 {
		adds = append(adds, reconcile.Op{Action: reconcile.AddMembers, DN: op.DN, Anchor: op.Anchor, Members: dns[start:min(start+1000, len(dns))]})
	}
	mustApply(t, c, append([]reconcile.Op{op}, adds...)...)
	if g := owned(t, c, ou)[id]; len(g.Members) != 5000 {
		t.Fatalf("read %d members, want 5000", len(g.Members))
	}
	// Samba answers a plain read with every value; AD hands out 1,500 at a
	// time. Ask for ranges explicitly, as the client does after AD's first.
	rest, err := c.RangedMembers(context.Background(), op.DN, 1500)
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 3500 {
		t.Fatalf("ranged read from 1500 returned %d values, want 3500", len(rest))
	}
}

func TestNextRange(t *testing.T) {
	cases := []struct {
		in   string
		next int
		more bool
	}{{"range=0-1499", 1500, true}, {"Range=1500-2999", 3000, true}, {"range=3000-*", 0, false}, {"", 0, false}, {"range=x-y", 0, false}}
	for _, tc := range cases {
		if next, more := directory.NextRange(tc.in); next != tc.next || more != tc.more {
			t.Errorf("nextRange(%q) = %d, %v; want %d, %v", tc.in, next, more, tc.next, tc.more)
		}
	}
}

func TestLookup(t *testing.T) {
	dc := testdc.Shared(t, testdc.Options{})
	c := open(t, dc)
	ou := dc.NewOU(t, "lookup")
	us := dc.AddUsers(t, ou, []string{"lookup-a", "lookup-b"})
	const id = "6a1e0c55-0401-4f0e-9d3b-2c1a0b9f8e7d"
	mustApply(t, c, createOp("Lookup_2c1a0b9f8e7d", ou, id))
	guidBytes, _ := directory.GUIDBytes(us[1].GUID)
	immutable := base64.StdEncoding.EncodeToString(guidBytes)
	cases := []struct {
		kind  directory.KeyKind
		value string
		dn    string
	}{
		{directory.ByGUID, strings.ToUpper(us[0].GUID), us[0].DN},
		{directory.BySID, us[1].SID, us[1].DN},
		{directory.ByImmutableID, immutable, us[1].DN},
		{directory.ByDN, strings.ToUpper(us[0].DN), us[0].DN},
		{directory.ByAnchor, policy.Anchor(id), policy.GroupDN("Lookup_2c1a0b9f8e7d", ou)},
	}
	for _, tc := range cases {
		t.Run(string(tc.kind), func(t *testing.T) {
			got, err := c.Lookup(context.Background(), tc.kind, testdc.BaseDN, []string{tc.value, "S-1-5-21-1-2-3-999999", "not even a key"})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || !strings.EqualFold(got[tc.value].DN, tc.dn) {
				t.Fatalf("lookup %s = %+v, want %s", tc.value, got, tc.dn)
			}
		})
	}
}

func TestNeverWritesWhatItDoesNotOwn(t *testing.T) {
	dc := testdc.Shared(t, testdc.Options{})
	c := open(t, dc)
	ou := dc.NewOU(t, "notmine")
	const id = "6a1e0c55-0501-4f0e-9d3b-2c1a0b9f8e7d"
	op := createOp("Theirs_2c1a0b9f8e7d", ou, id)
	op.Changes[3].New = []string{"Group_6a1e0c55-9999-4f0e-9d3b-2c1a0b9f8e7d"} // someone else's anchor
	mustApply(t, c, op)
	before := c.Counters()
	for _, bad := range []reconcile.Op{
		{Action: reconcile.Update, DN: op.DN, Anchor: op.Anchor, Changes: []reconcile.AttrChange{{Name: "description", New: []string{"x"}}}},
		{Action: reconcile.Delete, DN: op.DN, Anchor: op.Anchor},
		{Action: reconcile.AddMembers, DN: "CN=Domain Admins,CN=Users," + testdc.BaseDN, Anchor: op.Anchor, Members: []string{testdc.AdminDN}},
	} {
		err := c.Apply(context.Background(), bad)
		if !errors.Is(err, reconcile.ErrNotOwned) {
			t.Fatalf("%s %s: err = %v, want ErrNotOwned", bad.Action, bad.DN, err)
		}
		if !strings.Contains(err.Error(), "expected anchor "+op.Anchor) && !strings.Contains(err.Error(), "no such group") {
			t.Fatalf("error does not say what it expected: %v", err)
		}
	}
	if w := c.Counters().Writes() - before.Writes(); w != 0 {
		t.Fatalf("%d writes to objects it does not own", w)
	}
}
