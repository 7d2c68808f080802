package policy

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"
)

// FuzzNaming checks the naming invariants for any display name: the cn
// fits AD's 64 units and ends with the id suffix, the DN parses back to the
// same cn, and sAMAccountName holds no character AD refuses.
func FuzzNaming(f *testing.F) {
	for _, s := range []string{"Marketing", `a,b+c"d\e<f>g;h=i`, "#x", " lead", "trail ", "Отдел", "😀😀", "a\x00b", "...", "x\u202Ey", "\u2028\uFFFF", strings.Repeat("=", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, display string) {
		if !utf8.ValidString(display) {
			t.Skip()
		}
		const id = "6a1e0c55-0001-4f0e-9d3b-2c1a0b9f8e7d"
		cn := CommonName(NamingDisplayName, id, display)
		if n := utf16Len(cn); n > maxCN {
			t.Fatalf("cn %q is %d units", cn, n)
		}
		if !strings.HasSuffix(cn, "_2c1a0b9f8e7d") {
			t.Fatalf("cn %q lost the id suffix", cn)
		}
		if strings.ContainsFunc(cn, unicode.IsControl) || strings.ContainsFunc(cn, unsafeRune) {
			t.Fatalf("cn %q has a control, bidi or non-character rune", cn)
		}
		dn := GroupDN(cn, "OU=Cloud Groups,DC=contoso,DC=test")
		parsed, err := ldap.ParseDN(dn)
		if err != nil {
			t.Fatalf("DN %q does not parse: %v", dn, err)
		}
		if got := parsed.RDNs[0].Attributes[0].Value; got != cn || len(parsed.RDNs) != 4 {
			t.Fatalf("DN %q parses to cn %q (%d RDNs), want %q", dn, got, len(parsed.RDNs), cn)
		}
		sam := SAMAccountName(cn)
		if err := ValidSAMAccountName(sam); err != nil {
			t.Fatalf("sAMAccountName of cn %q breaks Windows AD's rules: %v", cn, err)
		}
	})
}

// FuzzMailAddress checks that what the mail checks accept is what AD and
// Exchange can store: one @, only atext and dots before it, an LDH host
// name after it, and that proxyAddresses never carries an address the
// checks refuse, nor one twice.
func FuzzMailAddress(f *testing.F) {
	for _, s := range []string{"a@contoso.com", "@@", "a@b@c", "smtp:x@y.z", "not a mail", "o'brien@x.co", "a..b@c.d", "é@x.com", "X500:/o=x/cn=y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		if CheckSMTPAddress(addr) == nil {
			local, domain, _ := strings.Cut(addr, "@")
			if strings.Count(addr, "@") != 1 || len(addr) > maxAddress || dotAtom(local) != nil || !strings.Contains(domain, ".") ||
				strings.ContainsFunc(addr, func(r rune) bool { return r <= ' ' || r > '~' }) {
				t.Fatalf("accepted %q", addr)
			}
		}
		if CheckMailNickname(addr) == nil && strings.ContainsAny(addr, " @\t\n") {
			t.Fatalf("nickname %q accepted", addr)
		}
		out, _ := proxyAddresses("primary@contoso.com", []string{addr, "smtp:" + addr, "SMTP:" + addr, "x500:" + addr})
		seen := map[string]bool{}
		for _, p := range out[1:] {
			scheme, a, _ := strings.Cut(p, ":")
			switch scheme {
			case "smtp":
				if CheckSMTPAddress(a) != nil {
					t.Fatalf("proxyAddresses kept %q", p)
				}
			case "X500":
				if checkX500(a) != nil {
					t.Fatalf("proxyAddresses kept %q", p)
				}
			default:
				t.Fatalf("proxyAddresses kept %q", p)
			}
			if seen[strings.ToLower(p)] {
				t.Fatalf("proxyAddresses has %q twice", p)
			}
			seen[strings.ToLower(p)] = true
		}
	})
}

// FuzzEscapeRDN checks that any attribute value, escaped, makes a DN that
// parses back to exactly that value in one RDN, with no bare "=" (which
// Samba refuses) and nothing that splits the DN.
func FuzzEscapeRDN(f *testing.F) {
	for _, s := range []string{"a,b", "a=b", "#lead", " pad ", `\`, "x+y", "<>;\"", "\x00", "é", "a\nb", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if !utf8.ValidString(v) || v == "" {
			t.Skip()
		}
		esc := EscapeRDNValue(v)
		for i := 0; i < len(esc); i++ {
			if esc[i] == '\\' {
				i++
				continue
			}
			if esc[i] == '=' || esc[i] == ',' || esc[i] == '+' {
				t.Fatalf("%q escapes to %q with a bare %q", v, esc, esc[i])
			}
		}
		dn, err := ldap.ParseDN("CN=" + esc + ",OU=Cloud Groups,DC=contoso,DC=test")
		if err != nil {
			t.Fatalf("%q → %q: %v", v, esc, err)
		}
		if len(dn.RDNs) != 4 || len(dn.RDNs[0].Attributes) != 1 || dn.RDNs[0].Attributes[0].Value != v {
			t.Fatalf("%q → %q parses to %+v", v, esc, dn.RDNs[0])
		}
	})
}
