package policy

import (
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// DN handling, in one place: parsing DNs as AD writes them, comparing
// them, and telling whether one lies in another. "Within" counts a base as
// within itself; "Below" does not. Every package asks here, so that none
// disagrees on whether an OU is in the target OU.

// Within reports whether dn is base or lies below it.
func Within(dn, base string) bool {
	d, b, ok := parsePair(dn, base)
	return ok && (b.AncestorOfFold(d) || b.EqualFold(d))
}

// Below reports whether dn lies below base (base itself is not).
func Below(dn, base string) bool {
	d, b, ok := parsePair(dn, base)
	return ok && b.AncestorOfFold(d)
}

// SameDN reports whether two DNs name the same object (case and spacing
// aside). Unparsable DNs are never the same.
func SameDN(a, b string) bool {
	da, db, ok := parsePair(a, b)
	return ok && da.EqualFold(db)
}

func parsePair(a, b string) (*ldap.DN, *ldap.DN, bool) {
	da, err1 := ParseDN(a)
	db, err2 := ParseDN(b)
	return da, db, err1 == nil && err2 == nil
}

// SplitDN splits a DN as written into its first RDN and its parent, at the
// first comma that is not escaped.
func SplitDN(dn string) (rdn, parent string) {
	for i := 0; i < len(dn); i++ {
		switch dn[i] {
		case '\\':
			i++
		case ',':
			return dn[:i], dn[i+1:]
		}
	}
	return dn, ""
}

// ParseDN parses a DN as Active Directory and Samba write them. They
// escape more than RFC 4514 asks (Samba returns "CN=a\?b" for a cn of
// "a?b"), which a strict RFC 4514 parser refuses: a backslash before a
// character that needs no escape is dropped before parsing. Every DN the
// tool reads from AD is parsed here, so that a group named "Why?" is known
// to lie in the target OU.
func ParseDN(s string) (*ldap.DN, error) {
	dn, err := ldap.ParseDN(s)
	if err == nil {
		return dn, nil
	}
	if lenient := relaxEscapes(s); lenient != s {
		if dn, err2 := ldap.ParseDN(lenient); err2 == nil {
			return dn, nil
		}
	}
	return nil, err
}

// relaxEscapes drops the backslash of "\c" where c is neither an RFC 4514
// special character nor the start of a hex pair.
func relaxEscapes(s string) string {
	isHex := func(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		next := s[i+1]
		switch {
		case strings.IndexByte(` "#+,;<=>\`, next) >= 0:
			b.WriteByte('\\')
			b.WriteByte(next)
		case i+2 < len(s) && isHex(next) && isHex(s[i+2]):
			b.WriteString(s[i : i+3])
			i++
		default:
			b.WriteByte(next) // "\?" is "?"
		}
		i++
	}
	return b.String()
}

// RDNValue is the value of a DN's first RDN, unescaped ("Team 1_0001" for
// "CN=Team 1_0001,OU=Cloud,DC=contoso,DC=com"): the name a report gives an
// AD group whose cloud group is gone. It is "" for an empty DN and the DN
// itself when it does not parse.
func RDNValue(dn string) string {
	if dn == "" {
		return ""
	}
	d, err := ParseDN(dn)
	if err != nil || len(d.RDNs) == 0 || len(d.RDNs[0].Attributes) == 0 {
		return dn
	}
	return d.RDNs[0].Attributes[0].Value
}
