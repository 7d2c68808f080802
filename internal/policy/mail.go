package policy

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// The mail attributes AD stores for a mail-enabled group are validated
// before they are written, with the rules Exchange applies to them (an
// address Exchange would refuse breaks mail flow for the whole group in a
// hybrid organisation):
//   - mail and SMTP proxy addresses: an RFC 5321 mailbox in its plain form,
//     local@domain, where the local part is a dot-atom (RFC 5322 atext and
//     single dots, not first or last) of at most 64 octets and the domain is
//     a host name of at least two labels (letters, digits, hyphens; no label
//     starts or ends with a hyphen), the whole at most 254 octets.
//     Quoted local parts and address literals are legal in RFC 5321 but
//     refused by Exchange for recipients, so they are refused here too.
//   - mailNickname (the Exchange alias): atext and single dots, not first
//     or last, at most 64 characters: no spaces, no "@".
//   - X500 proxy addresses (Exchange hybrid keeps the cloud group's
//     legacyExchangeDN as one, so that replies to old messages still
//     reach it): "X500:" and a path starting with "/", no control
//     characters, at most 1,123 characters (proxyAddresses' rangeUpper).
//     Other address types (SIP, SPO, EUM …) belong to Exchange Online and are
//     not written back.

const (
	maxLocalPart   = 64
	maxAddress     = 254
	maxProxyLength = 1123
)

// isAtext reports whether c is an RFC 5322 atext character.
func isAtext(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// dotAtom checks s is atext runs joined by single dots.
func dotAtom(s string) error {
	if s == "" {
		return fmt.Errorf("is empty")
	}
	if s[0] == '.' || s[len(s)-1] == '.' {
		return fmt.Errorf("starts or ends with a period")
	}
	if strings.Contains(s, "..") {
		return fmt.Errorf("has two periods in a row")
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '.' && !isAtext(s[i]) {
			return fmt.Errorf("has the character %q, which Exchange does not accept", s[i])
		}
	}
	return nil
}

// CheckSMTPAddress says why addr is not an SMTP address Exchange accepts,
// or returns nil.
func CheckSMTPAddress(addr string) error {
	if len(addr) > maxAddress {
		return fmt.Errorf("%q is longer than %d characters", addr, maxAddress)
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return fmt.Errorf("%q has no @", addr)
	}
	local, domain := addr[:at], addr[at+1:]
	if len(local) > maxLocalPart {
		return fmt.Errorf("%q: the part before @ is longer than %d characters", addr, maxLocalPart)
	}
	if err := dotAtom(local); err != nil {
		return fmt.Errorf("%q: the part before @ %v", addr, err)
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return fmt.Errorf("%q: the domain %q is not a fully qualified host name", addr, domain)
	}
	for _, l := range labels {
		if err := checkLabel(l); err != nil {
			return fmt.Errorf("%q: the domain %q %v", addr, domain, err)
		}
	}
	return nil
}

func checkLabel(l string) error {
	if l == "" || len(l) > 63 {
		return fmt.Errorf("has an empty or over-long label")
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return fmt.Errorf("has a label that starts or ends with a hyphen")
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("has the character %q", c)
		}
	}
	return nil
}

// CheckMailNickname says why nick is not an alias Exchange accepts, or
// returns nil.
func CheckMailNickname(nick string) error {
	if utf16Len(nick) > maxNickname {
		return fmt.Errorf("%q is longer than AD's %d characters", nick, maxNickname)
	}
	if err := dotAtom(nick); err != nil {
		return fmt.Errorf("%q %v", nick, err)
	}
	return nil
}

// checkX500 says why an X500 address (after "X500:") is not one to write.
func checkX500(path string) error {
	switch {
	case !strings.HasPrefix(path, "/") || !strings.Contains(path, "="):
		return fmt.Errorf("X500:%s is not an X.500 path (/o=…/cn=…)", path)
	case hasUnsafe(path, false):
		return fmt.Errorf("X500:%q has control or invisible characters", path)
	case len(path)+5 > maxProxyLength:
		return fmt.Errorf("X500:%s is longer than %d characters", path, maxProxyLength)
	}
	return nil
}

// proxyAddresses builds proxyAddresses: the primary SMTP: (the group's
// mail), the valid secondary smtp: addresses and the valid X500: addresses,
// each once (AD compares them case-insensitively). It returns the problem
// of every address it left out.
func proxyAddresses(mail string, proxies []string) (out []string, bad []string) {
	out = []string{"SMTP:" + mail}
	seen := map[string]bool{"smtp:" + strings.ToLower(mail): true}
	for _, p := range proxies {
		scheme, addr, ok := strings.Cut(p, ":")
		if !ok {
			continue
		}
		var v string
		switch {
		case strings.EqualFold(scheme, "smtp"):
			if err := CheckSMTPAddress(addr); err != nil {
				bad = append(bad, err.Error())
				continue
			}
			v = "smtp:" + addr
		case strings.EqualFold(scheme, "x500"):
			if err := checkX500(addr); err != nil {
				bad = append(bad, err.Error())
				continue
			}
			v = "X500:" + addr
		default:
			continue // SPO:, SIP:, EUM: … stay in Exchange Online
		}
		if k := strings.ToLower(v); !seen[k] {
			seen[k] = true
			out = append(out, v)
		}
	}
	return out, bad
}

// smtpOf returns the SMTP addresses (lower case) in a proxyAddresses list.
func smtpOf(proxies []string) []string {
	var out []string
	for _, p := range proxies {
		if scheme, addr, ok := strings.Cut(p, ":"); ok && strings.EqualFold(scheme, "smtp") {
			out = append(out, strings.ToLower(addr))
		}
	}
	return out
}

// uniqueAddresses enforces what Exchange enforces across an organisation:
// one SMTP address, one recipient. An address two written-back groups
// both carry (mail or proxy) is written on neither, and each says so; a
// group whose primary address is taken this way is written without mail
// attributes. Which group an address belongs to is for the cloud to settle.
func uniqueAddresses(ds []Decision, addrs []addresses) {
	owners := map[string][]int{}
	for i := range ds {
		for _, a := range addrs[i].smtp {
			owners[a] = append(owners[a], i)
		}
	}
	shared := make([]string, 0, len(owners))
	for a, is := range owners {
		if len(is) > 1 {
			shared = append(shared, a)
		}
	}
	sort.Strings(shared)
	for _, addr := range shared {
		is := owners[addr]
		for _, i := range is {
			d := &ds[i]
			var others []string
			for _, j := range is {
				if j != i {
					others = append(others, ds[j].CloudID)
				}
			}
			d.Desired.shared = append(d.Desired.shared, addr)
			var field string
			if d.Desired.Attrs != nil {
				field = dropShared(d.Desired.Attrs, addr)
			} else {
				field = addrs[i].drop(addr) // let go: LoadAttrs takes it out
			}
			switch field {
			case "mail":
				d.Notes = append(d.Notes, Problem{CloudID: d.CloudID, Name: d.Name, Field: "mail",
					Message: fmt.Sprintf("%s is also an address of group %s: the group is written without mail attributes", addr, strings.Join(others, ", "))})
			case "proxyAddresses":
				d.Notes = append(d.Notes, Problem{CloudID: d.CloudID, Name: d.Name, Field: "proxyAddresses",
					Message: fmt.Sprintf("smtp:%s is also an address of group %s: left out", addr, strings.Join(others, ", "))})
			}
		}
	}
}

// addresses are a decided group's SMTP addresses (lower case) and its
// primary one, what uniqueAddresses needs of its attributes, which may be
// let go.
type addresses struct {
	smtp []string
	mail string
	// cleared: a shared primary address took every mail attribute.
	cleared bool
}

func addressesOf(attrs map[string][]string) addresses {
	return addresses{smtp: smtpOf(attrs["proxyAddresses"]), mail: first(attrs["mail"])}
}

// drop says which field dropShared takes addr from, on attributes it no
// longer has: as dropShared does it.
func (a *addresses) drop(addr string) string {
	switch {
	case a.cleared:
		return ""
	case strings.EqualFold(a.mail, addr):
		a.cleared = true
		return "mail"
	}
	return "proxyAddresses"
}

// dropShared takes addr, an address another group carries too, out of a
// group's attributes: every mail attribute when it is the primary
// address, else that proxy address. It says which field it took it from
// ("" when the mail attributes were cleared already).
func dropShared(attrs map[string][]string, addr string) string {
	if strings.EqualFold(first(attrs["mail"]), addr) {
		for _, a := range []string{"mail", "mailNickname", "proxyAddresses", "msExchRecipientDisplayType", "msExchRecipientTypeDetails", "msExchRequireAuthToSendTo"} {
			attrs[a] = nil
		}
		return "mail"
	}
	if attrs["proxyAddresses"] == nil {
		return "" // already cleared by another shared address
	}
	attrs["proxyAddresses"] = slices.DeleteFunc(slices.Clone(attrs["proxyAddresses"]), func(p string) bool {
		scheme, a, _ := strings.Cut(p, ":")
		return strings.EqualFold(scheme, "smtp") && strings.EqualFold(a, addr)
	})
	return "proxyAddresses"
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}
