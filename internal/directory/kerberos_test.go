package directory_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/go-ldap/ldap/v3/gssapi"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
	"github.com/groupwriteback/groupwriteback/internal/directory/kerberos"
	"github.com/groupwriteback/groupwriteback/internal/secret"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

// kerberosConfig binds as the delegated account with its keytab, through
// the DC's own KDC.
func kerberosConfig(t testing.TB, dc *testdc.DC, url string) directory.Config {
	t.Helper()
	kt, err := dc.Keytab(testdc.DelegatedUser)
	if err != nil {
		t.Fatal(err)
	}
	return directory.Config{URL: url, Auth: directory.AuthKerberos, CAFile: dc.CAFile, BaseDN: testdc.BaseDN,
		Kerberos: directory.Kerberos{Principal: testdc.DelegatedUser, Realm: testdc.Realm, Keytab: kt, KDCs: []string{dc.KDC()}}}
}

// The whole directory suite, as the delegated account, over ldap:// on
// 389 signed and sealed with Kerberos: the DC requires signing.
func TestKerberosConformance(t *testing.T) {
	directorytest.Run(t, func(t testing.TB, o directorytest.Options) directorytest.Fixture {
		if o != (directorytest.Options{}) {
			t.Skip("the Kerberos DC has the plain schema: TestConformance runs the schema cases over LDAPS")
		}
		dc := testdc.Shared(t, testdc.Options{Kerberos: true})
		cfg := kerberosConfig(t, dc, "ldap://"+dc.Addr)
		c, err := cfg.Open(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if c.Protection() != "Kerberos signing and sealing" {
			t.Fatalf("protection %q", c.Protection())
		}
		return dc.FixtureOf(c)
	})
}

func TestKerberosBinds(t *testing.T) {
	dc := testdc.Shared(t, testdc.Options{Kerberos: true})
	cases := []struct {
		name, url  string
		edit       func(*directory.Config)
		protection string
		fails      string // in the error, with Fix naming what mends it
		fix        string
	}{
		{name: "keytab on ldap://", url: "ldap://" + dc.Addr, protection: "Kerberos signing and sealing"},
		{name: "password on ldap://", url: "ldap://" + dc.Addr, protection: "Kerberos signing and sealing",
			edit: func(c *directory.Config) { c.Kerberos.Keytab, c.Password = "", secret.New(testdc.DelegatedPassword) }},
		{name: "principal with its realm", url: "ldap://" + dc.Addr, protection: "Kerberos signing and sealing",
			edit: func(c *directory.Config) {
				c.Kerberos.Principal, c.Kerberos.Realm = testdc.DelegatedUser+"@"+testdc.Realm, ""
			}},
		{name: "LDAPS", url: dc.URL, protection: "TLS"},
		{name: "StartTLS", url: "ldap://" + dc.Addr, protection: "TLS", edit: func(c *directory.Config) { c.StartTLS = true }},
		{name: "the SPN given", url: "ldap://" + dc.Addr, protection: "Kerberos signing and sealing",
			edit: func(c *directory.Config) { c.Kerberos.SPN = "ldap/" + testdc.FQDN }},
		{name: "wrong password", url: "ldap://" + dc.Addr, fails: "KDC_ERR_PREAUTH_FAILED", fix: "password or the keytab",
			edit: func(c *directory.Config) { c.Kerberos.Keytab, c.Password = "", secret.New("not-it") }},
		{name: "unknown account", url: "ldap://" + dc.Addr, fails: "KDC_ERR_C_PRINCIPAL_UNKNOWN", fix: "knows no such account",
			edit: func(c *directory.Config) {
				c.Kerberos.Keytab, c.Kerberos.Principal, c.Password = "", "nobody", secret.New("x")
			}},
		{name: "no SPN for the DC's name", url: "ldap://" + dc.Addr, fails: "KDC_ERR_S_PRINCIPAL_UNKNOWN", fix: "FQDN",
			edit: func(c *directory.Config) { c.Kerberos.SPN = "ldap/alias.contoso.test" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := kerberosConfig(t, dc, tc.url)
			if tc.edit != nil {
				tc.edit(&cfg)
			}
			if err := cfg.Validate("directory."); err != nil {
				t.Fatal(err)
			}
			c, err := cfg.Open(context.Background(), nil)
			if tc.fails != "" {
				if err == nil {
					c.Close()
					t.Fatal("bound")
				}
				if !strings.Contains(err.Error(), tc.fails) || !strings.Contains(kerberos.Fix(err), tc.fix) {
					t.Fatalf("%v (fix: %s), want %s and a fix naming %q", err, kerberos.Fix(err), tc.fails, tc.fix)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Protection() != tc.protection {
				t.Fatalf("protection %q, want %q", c.Protection(), tc.protection)
			}
			a, err := c.BindAccount(context.Background())
			if err != nil || a.DN != testdc.DelegatedDN {
				t.Fatalf("bound as %+v, %v", a, err)
			}
		})
	}
}

// What goes over ldap:// with Kerberos is sealed: a search's filter and
// the DNs of its answers never cross the wire in clear. And the DC does
// require signing: go-ldap's own GSSAPI client, which negotiates no
// security layer, is refused on the same port.
func TestKerberosSealsTheWire(t *testing.T) {
	dc := testdc.Shared(t, testdc.Options{Kerberos: true})
	p := newProxy(t, net.JoinHostPort(dc.Addr, "389"))
	cfg := kerberosConfig(t, dc, "ldap://"+p.ln.Addr().String())
	cfg.Kerberos.SPN = "ldap/" + dc.Addr
	c, err := cfg.Open(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ou := dc.NewOU(t, "sealed")
	directorytest.MustApply(t, directorytest.GateOver(c, nil, ou), directorytest.CreateOp("Sealed secret name_9f8e7d6c5b4a", ou, "6a1e0c55-0a01-4f0e-9d3b-9f8e7d6c5b4a"))
	if got := directorytest.Owned(t, c, ou); len(got) != 1 {
		t.Fatalf("%d groups read back", len(got))
	}
	for _, s := range []string{"Sealed secret name", "OU=sealed", testdc.BaseDN} {
		if p.seen(s) {
			t.Errorf("%q crossed the wire in clear", s)
		}
	}

	krb5conf := filepath.Join(t.TempDir(), "krb5.conf")
	conf := "[libdefaults]\n default_realm = " + testdc.Realm + "\n dns_lookup_kdc = false\n\n[realms]\n " + testdc.Realm + " = {\n  kdc = " + dc.KDC() + "\n }\n"
	if err := os.WriteFile(krb5conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	stock, err := gssapi.NewClientWithPassword(testdc.DelegatedUser, testdc.Realm, testdc.DelegatedPassword, krb5conf)
	if err != nil {
		t.Fatal(err)
	}
	defer stock.Close()
	conn, err := ldap.DialURL("ldap://" + dc.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.GSSAPIBind(stock, "ldap/"+dc.Addr, "")
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultStrongAuthRequired) {
		t.Fatalf("an unsigned GSSAPI bind on 389: %v, want strong authentication required", err)
	}
}

func TestKerberosConfigValidation(t *testing.T) {
	keytab := filepath.Join(t.TempDir(), "svc.keytab")
	if err := os.WriteFile(keytab, []byte{5, 2}, 0o600); err != nil {
		t.Fatal(err)
	}
	base := directory.Config{URL: "ldap://dc1.contoso.com", Auth: directory.AuthKerberos, BaseDN: "DC=c,DC=d",
		Kerberos: directory.Kerberos{Principal: "svc", Realm: "CONTOSO.COM", Keytab: keytab}}
	if err := base.Validate("directory."); err != nil {
		t.Fatalf("ldap:// with Kerberos, no bind_dn, no password: %v", err)
	}
	for _, tc := range []struct {
		edit func(*directory.Config)
		says string
	}{
		{func(c *directory.Config) { c.Auth = "ntlm" }, `auth: "ntlm" is not simple or kerberos`},
		{func(c *directory.Config) { c.Kerberos.Principal = "" }, "kerberos.principal: required"},
		{func(c *directory.Config) { c.Kerberos.Realm = "" }, "kerberos.realm: required"},
		{func(c *directory.Config) { c.Kerberos.Keytab = "" }, "kerberos.keytab: required"},
		{func(c *directory.Config) { c.Password = secret.New("x") }, "kerberos.keytab: give a keytab or a password, not both"},
		{func(c *directory.Config) { c.Kerberos.Keytab = "/nonexistent.keytab" }, "kerberos.keytab: stat /nonexistent.keytab"},
		{func(c *directory.Config) { c.Kerberos.CurrentIdentity = true }, "kerberos.current_identity: binds as the service's own account"},
		{func(c *directory.Config) { c.URL, c.Domain, c.Kerberos.SPN = "", "contoso.com", "ldap/dc1" }, "kerberos.spn: applies to one DC only"},
		{func(c *directory.Config) { c.Auth = "" }, "url: ldap:// without start_tls"},
	} {
		c := base
		tc.edit(&c)
		if err := c.Validate("directory."); err == nil || !strings.Contains(err.Error(), "directory."+tc.says) {
			t.Errorf("%v, want %q", err, tc.says)
		}
	}
	id := base
	id.Kerberos = directory.Kerberos{CurrentIdentity: true}
	if err := id.Validate("directory."); err != nil {
		t.Fatalf("current_identity alone: %v", err)
	}
}
