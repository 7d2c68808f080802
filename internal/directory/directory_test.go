package directory_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
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

func open(t testing.TB, dc *testdc.DC) *directory.Client {
	t.Helper()
	cfg := config(dc)
	c, err := cfg.Open(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// The directory suite runs against Samba here and against memdir there.
// The client binds as the delegated account with exactly the rights
// docs/permissions.md gives, as in production.
func TestConformance(t *testing.T) {
	directorytest.Run(t, func(t testing.TB, o directorytest.Options) directorytest.Fixture {
		return testdc.OnSamba(t, o, false)
	})
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

func TestNamesRoundTrip(t *testing.T) {
	dc := testdc.Shared(t, testdc.Options{})
	c := open(t, dc)
	ou := dc.NewOU(t, "names")
	names := []string{`a,b+c"d\e<f>g;h=i`, "#leading hash", " leading space", "trailing space ", "Отдел продаж 営業部", strings.Repeat("long name ", 8), "emoji 😀 group"}
	for i, display := range names {
		id := fmt.Sprintf("6a1e0c55-02%02d-4f0e-9d3b-2c1a0b9f8e7d", i)
		cn := policy.CommonName(policy.NamingDisplayName, id, display)
		directorytest.MustApply(t, directorytest.GateOver(c, nil, ou), directorytest.CreateOp(cn, ou, id))
		g := directorytest.Owned(t, c, ou)[id]
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
	op := directorytest.CreateOp("Large_2c1a0b9f8e7d", ou, id, dns[:1000]...)
	var adds []reconcile.Op
	for start := 1000; start < len(dns); start += 1000 {
		adds = append(adds, reconcile.Op{Action: reconcile.AddMembers, CloudID: id, DN: op.DN, Anchor: op.Anchor, Members: dns[start:min(start+1000, len(dns))]})
	}
	directorytest.MustApply(t, directorytest.GateOver(c, nil, ou), append([]reconcile.Op{op}, adds...)...)
	if g := directorytest.Owned(t, c, ou)[id]; len(g.Members) != 5000 {
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

// A create that meets another object of the same name says which, and what
// to do: rename or remove it, or adopt it with the group's anchor.
func TestNameTakenSaysWhatToDo(t *testing.T) {
	dc := testdc.Shared(t, testdc.Options{})
	c := open(t, dc)
	ou := dc.NewOU(t, "taken")
	dc.AddGroup(t, ou, "Taken_2c1a0b9f8e7d") // someone's group, no anchor
	ours := directorytest.CreateOp("Taken_2c1a0b9f8e7d", ou, "6a1e0c55-0902-4f0e-9d3b-2c1a0b9f8e7d")
	err := directorytest.GateOver(c, nil, ou).Apply(context.Background(), ours)
	if !directory.IsCode(err, ldap.LDAPResultEntryAlreadyExists) {
		t.Fatalf("err = %v, want LDAP 68", err)
	}
	for _, want := range []string{"a group (objectGUID ", "no anchor", "Rename or remove it", "adopt it: set its adminDescription to " + ours.Anchor, "writeback.naming"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %v", want, err)
		}
	}
}

// Samba, like AD, refuses a second holder of a sAMAccountName anywhere in
// the domain; the error names the holder.
func TestSAMAccountNameUniqueInTheDomain(t *testing.T) {
	dc := testdc.Shared(t, testdc.Options{})
	c := open(t, dc)
	ou, other := dc.NewOU(t, "sam"), dc.NewOU(t, "sam-other")
	us := dc.AddUsers(t, other, []string{"Dup_2c1a0b9f8e7d"})
	op := directorytest.CreateOp("Dup_2c1a0b9f8e7d", ou, "6a1e0c55-0903-4f0e-9d3b-2c1a0b9f8e7d")
	err := directorytest.GateOver(c, nil, ou).Apply(context.Background(), op)
	if err == nil || !strings.Contains(err.Error(), "is held by "+us[0].DN) {
		t.Fatalf("err = %v", err)
	}
}

func TestCarriesAnchor(t *testing.T) {
	const a = "Group_6a1e0c55-0001-4f0e-9d3b-2c1a0b9f8e7d"
	for _, tc := range []struct {
		admin, ext string
		ours       bool
	}{
		{a, "", true}, {a, a, true}, {"", a, true}, // the last: restored from a tombstone
		{"", "", false}, {"Group_other", "", false}, {a, "Group_other", false}, {"Group_other", a, false},
	} {
		if got := directory.CarriesAnchor(tc.admin, tc.ext, a); got != tc.ours {
			t.Errorf("adminDescription %q, ext %q: %v, want %v", tc.admin, tc.ext, got, tc.ours)
		}
	}
}
