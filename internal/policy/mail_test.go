package policy

import (
	"reflect"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

func TestCheckSMTPAddress(t *testing.T) {
	cases := []struct {
		addr string
		ok   bool
	}{
		{"marketing@contoso.com", true},
		{"first.last+tag@sub.contoso.co.uk", true},
		{"o'brien@contoso.com", true},
		{"x@xn--bcher-kva.example", true},
		{"not a mail address", false},
		{"@@", false},
		{"a@b@c", false},
		{"a@localhost", false},
		{".lead@contoso.com", false},
		{"trail.@contoso.com", false},
		{"two..dots@contoso.com", false},
		{"sp ace@contoso.com", false},
		{`"quoted"@contoso.com`, false},
		{"a@[192.0.2.1]", false},
		{"a@-bad.com", false},
		{"a@bad-.com", false},
		{"a@con_toso.com", false},
		{"a@contoso..com", false},
		{strings.Repeat("l", 65) + "@contoso.com", false},
		{"a@" + strings.Repeat("d", 64) + ".com", false},
		{"é@contoso.com", false},
		{"", false},
	}
	for _, tc := range cases {
		t.Run(tc.addr, func(t *testing.T) {
			err := CheckSMTPAddress(tc.addr)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckSMTPAddress(%q) = %v, want ok %v", tc.addr, err, tc.ok)
			}
		})
	}
}

func TestCheckMailNickname(t *testing.T) {
	for nick, ok := range map[string]bool{
		"marketing": true, "team.alpha": true, "a-b_c": true,
		"with space": false, "at@sign": false, ".lead": false, "trail.": false, "": false, "a..b": false,
		strings.Repeat("n", 65): false, "tab\tin": false,
	} {
		if err := CheckMailNickname(nick); (err == nil) != ok {
			t.Errorf("CheckMailNickname(%q) = %v, want ok %v", nick, err, ok)
		}
	}
}

// TestMailFieldNotes: a bad mail field is reported on its field and the
// rest of the group is still written.
func TestMailFieldNotes(t *testing.T) {
	cases := []struct {
		name    string
		mod     func(*cloud.Group)
		field   string
		mail    string // the mail attribute written, "" for none
		proxies string
	}{
		{"bad mail", func(g *cloud.Group) { g.Mail = "not a mail address" }, "mail", "", ""},
		{"nickname with space", func(g *cloud.Group) { g.MailNickname = "mar keting" }, "mailNickname", "", ""},
		{"nickname with @", func(g *cloud.Group) { g.MailNickname = "mark@eting" }, "mailNickname", "", ""},
		{"bad secondary dropped", func(g *cloud.Group) {
			g.ProxyAddresses = []string{"SMTP:marketing@contoso.com", "smtp:@@", "smtp:a@b@c", "smtp:ok@contoso.com"}
		}, "proxyAddresses", "marketing@contoso.com", "SMTP:marketing@contoso.com|smtp:ok@contoso.com"},
		{"X500 kept, bad X500 dropped", func(g *cloud.Group) {
			g.ProxyAddresses = []string{"X500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=abc", "x500:nonsense"}
		}, "proxyAddresses", "marketing@contoso.com",
			"SMTP:marketing@contoso.com|X500:/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=abc"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := decideOne(m365(tc.mod), baseOpts)
			if d.Desired == nil || d.Problem != nil {
				t.Fatalf("the group is not written: %+v", d.Problem)
			}
			if len(d.Notes) == 0 || d.Notes[0].Field != tc.field || !strings.Contains(d.Notes[0].Error(), idM365) {
				t.Fatalf("notes = %+v, want one on %s naming the group", d.Notes, tc.field)
			}
			if got := strings.Join(d.Desired.Attrs["mail"], "|"); got != tc.mail {
				t.Errorf("mail = %q, want %q", got, tc.mail)
			}
			if got := strings.Join(d.Desired.Attrs["proxyAddresses"], "|"); got != tc.proxies {
				t.Errorf("proxyAddresses = %q, want %q", got, tc.proxies)
			}
			if d.Desired.Attrs["displayName"][0] != "Marketing" || d.Desired.Attrs["groupType"][0] != "8" {
				t.Errorf("the rest of the group was not kept: %v", d.Desired.Attrs)
			}
		})
	}
}

func TestUniqueAddresses(t *testing.T) {
	snap := cloud.NewSnapshot()
	a := m365(func(g *cloud.Group) {
		g.ProxyAddresses = []string{"SMTP:marketing@contoso.com", "smtp:shared@contoso.com"}
	})
	b := m365(func(g *cloud.Group) {
		g.ID, g.DisplayName, g.Mail, g.MailNickname = "6a1e0c55-0002-4f0e-9d3b-2c1a0b9f8e7d", "Sales", "sales@contoso.com", "sales"
		g.ProxyAddresses = []string{"SMTP:sales@contoso.com", "smtp:Shared@contoso.com"}
	})
	c := m365(func(g *cloud.Group) {
		g.ID, g.DisplayName, g.Mail, g.MailNickname = "6a1e0c55-0003-4f0e-9d3b-2c1a0b9f8e7d", "Sales copy", "SALES@contoso.com", "sales2"
		g.ProxyAddresses = nil
	})
	for _, g := range []*cloud.Group{a, b, c} {
		snap.Groups[g.ID] = g
	}
	got := map[string]Decision{}
	ds := Decide(snap, baseOpts)
	for _, d := range ds {
		got[d.CloudID] = d
	}
	madeAgain(t, ds)
	// Decided with each group's attributes let go at once, the notes are
	// the same, and so are the attributes made again.
	lean := baseOpts
	lean.LetGoAttrs = true
	for i, d := range Decide(snap, lean) {
		if d.Desired == nil || d.Desired.Attrs != nil {
			t.Fatalf("%s: decided %+v, attributes kept", d.CloudID, d.Desired)
		}
		if !reflect.DeepEqual(d.Notes, ds[i].Notes) {
			t.Errorf("%s: notes %+v, want %+v", d.CloudID, d.Notes, ds[i].Notes)
		}
		d.Desired.LoadAttrs()
		if !reflect.DeepEqual(d.Desired.Attrs, ds[i].Desired.Attrs) {
			t.Errorf("%s: made again as %v, decided %v", d.CloudID, d.Desired.Attrs, ds[i].Desired.Attrs)
		}
	}
	if p := strings.Join(got[a.ID].Desired.Attrs["proxyAddresses"], "|"); p != "SMTP:marketing@contoso.com" {
		t.Errorf("a: proxyAddresses %q", p)
	}
	for _, id := range []string{b.ID, c.ID} {
		d := got[id]
		if len(d.Desired.Attrs["mail"]) != 0 || len(d.Desired.Attrs["proxyAddresses"]) != 0 {
			t.Errorf("%s keeps the shared primary address: %v", id, d.Desired.Attrs)
		}
		if len(d.Notes) == 0 || d.Notes[0].Field != "mail" {
			t.Errorf("%s: notes %+v", id, d.Notes)
		}
	}
}

func TestUnsafeText(t *testing.T) {
	d := decideOne(security(func(g *cloud.Group) {
		g.DisplayName = "Admins\u202Etxt.exe\u2028\uFFFF"
		g.Description = "line one\r\nline two\x00\x07 end"
	}), baseOpts)
	if d.Desired == nil {
		t.Fatal(d.Problem)
	}
	for _, a := range []string{"cn", "sAMAccountName", "displayName"} {
		v := d.Desired.CN
		if a != "cn" {
			v = d.Desired.Attrs[a][0]
		}
		if strings.ContainsAny(v, "\u202E\u2028\uFFFF") {
			t.Errorf("%s keeps an unsafe rune: %q", a, v)
		}
	}
	if got := d.Desired.Attrs["description"][0]; got != "line one\nline two   end" {
		t.Errorf("description = %q", got)
	}
	fields := map[string]bool{}
	for _, n := range d.Notes {
		fields[n.Field] = true
	}
	if !fields["displayName"] || !fields["description"] {
		t.Errorf("notes = %+v", d.Notes)
	}
}

func TestCycles(t *testing.T) {
	snap := cloud.NewSnapshot()
	ids := []string{"6a1e0c55-0011-4f0e-9d3b-2c1a0b9f8e7d", "6a1e0c55-0012-4f0e-9d3b-2c1a0b9f8e7d", "6a1e0c55-0013-4f0e-9d3b-2c1a0b9f8e7d"}
	for i, id := range ids {
		g := security(func(g *cloud.Group) { g.ID, g.DisplayName = id, "G"+id[9:13] })
		g.Members = cloud.RefsOf(cloud.ObjectRef{ID: ids[(i+1)%2], Type: cloud.TypeGroup}) // 11 ↔ 12; 13 → 12
		snap.Groups[id] = g
	}
	for _, d := range Decide(snap, baseOpts) {
		inCycle := d.CloudID != ids[2]
		noted := len(d.Notes) == 1 && strings.Contains(d.Notes[0].Message, "cycle")
		if noted != inCycle {
			t.Errorf("%s: notes %+v, in cycle %v", d.CloudID, d.Notes, inCycle)
		}
		if len(d.Desired.Members) != 1 || d.Desired.Members[0].NotWritable != "" {
			t.Errorf("%s: the cycle's members are not written: %+v", d.CloudID, d.Desired.Members)
		}
	}
}

func TestParseDNAsADWritesIt(t *testing.T) {
	for in, cn := range map[string]string{
		`CN=pipe|and\?star*_1,OU=x,DC=y`: "pipe|and?star*_1", // Samba escapes "?"
		`CN=a\,b,OU=x`:                   "a,b",
		`CN=a\3Db,OU=x`:                  "a=b",
		`CN=\\back,OU=x`:                 `\back`,
		`CN=\E6\97\A5,OU=x`:              "日",
	} {
		dn, err := ParseDN(in)
		if err != nil || dn.RDNs[0].Attributes[0].Value != cn {
			t.Errorf("ParseDN(%q) = %v, %v; want cn %q", in, dn, err, cn)
		}
	}
	if _, err := ParseDN(`CN=a,,`); err == nil {
		t.Error("a broken DN parsed")
	}
}

// madeAgain checks that each desired group's attributes, let go and made
// again, are the ones decided: the shared addresses taken out again, the
// maps not the same.
func madeAgain(t *testing.T, ds []Decision) {
	t.Helper()
	for _, d := range ds {
		if d.Desired == nil {
			continue
		}
		decided := d.Desired.Attrs
		d.Desired.LetGoAttrs()
		if d.Desired.Attrs != nil {
			t.Fatalf("%s: attributes kept", d.CloudID)
		}
		d.Desired.LoadAttrs()
		if !reflect.DeepEqual(d.Desired.Attrs, decided) {
			t.Errorf("%s: made again as %v, decided %v", d.CloudID, d.Desired.Attrs, decided)
		}
		d.Desired.Attrs["displayName"] = []string{"changed"}
		if decided["displayName"][0] == "changed" {
			t.Errorf("%s: made again into the map decided", d.CloudID)
		}
		d.Desired.Attrs = decided
	}
}
