package policy

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"
)

// Limits Windows AD enforces (rangeUpper in the schema) that Samba does not
// always: the tool enforces them itself. Lengths are in UTF-16 code units,
// as AD counts them.
const (
	maxCN          = 64
	maxCNName      = 51 // the display-name part of a display_name cn
	maxSAM         = 64
	maxDisplayName = 256
	maxDescription = 448
	maxNickname    = 64
)

// utf16Len is the length of s as AD counts it.
func utf16Len(s string) int { return len(utf16.Encode([]rune(s))) }

// leftUTF16 keeps the longest prefix of s of at most n UTF-16 code units,
// never splitting a surrogate pair.
func leftUTF16(s string, n int) string {
	units := 0
	for i, r := range s {
		w := 1
		if r >= 0x10000 {
			w = 2
		}
		if units+w > n {
			return s[:i]
		}
		units += w
	}
	return s
}

// unsafeRune reports whether r must not reach a name or a description in
// AD: control characters (which AD refuses in names and Samba silently
// stores), the line and paragraph separators, the bidirectional controls
// that make a name read differently from what it is (U+202E turns
// "Admins\u202Etxt.exe" around), and non-characters (U+FFFE, U+FFFF and the
// like, and the replacement character left by bad UTF-8).
func unsafeRune(r rune) bool {
	switch {
	case unicode.IsControl(r), r == unicode.ReplacementChar:
		return true
	case r == 0x2028 || r == 0x2029: // line and paragraph separators
		return true
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r == 0x200E, r == 0x200F, r == 0x061C: // bidi controls
		return true
	case r >= 0xFDD0 && r <= 0xFDEF, r&0xFFFE == 0xFFFE: // non-characters
		return true
	}
	return false
}

// cleanText replaces the runes unsafeRune refuses with spaces and trims
// the result.
func cleanText(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unsafeRune(r) {
			return ' '
		}
		return r
	}, s))
}

// cleanDescription is cleanText that keeps line breaks and tabs, which a
// multi-line description may carry.
func cleanDescription(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r != '\n' && r != '\t' && unsafeRune(r) {
			return ' '
		}
		return r
	}, strings.ReplaceAll(s, "\r\n", "\n")))
}

// hasUnsafe reports whether s holds a rune cleanText replaces.
func hasUnsafe(s string, keepBreaks bool) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return unsafeRune(r) && !(keepBreaks && (r == '\n' || r == '\t' || r == '\r'))
	})
}

// idSuffix is the last 12 hex digits of an object id.
func idSuffix(id string) string {
	hex := strings.ToLower(strings.ReplaceAll(id, "-", ""))
	if len(hex) > 12 {
		hex = hex[len(hex)-12:]
	}
	return hex
}

// CommonName is the cn of a written-back group: with NamingDisplayName,
// Left(Trim(displayName), 51) + "_" + the last 12 hex digits of the object
// id; with NamingObjectID, Group_<objectId>. It is never longer than 64
// UTF-16 code units and carries no control characters.
func CommonName(naming, objectID, displayName string) string {
	if naming == NamingObjectID {
		return Anchor(objectID)
	}
	name := strings.TrimSpace(leftUTF16(cleanText(displayName), maxCNName))
	return name + "_" + idSuffix(objectID)
}

// samReplacer replaces the characters AD refuses in sAMAccountName.
var samReplacer = strings.NewReplacer(`"`, "_", "/", "_", `\`, "_", "[", "_", "]", "_", ":", "_", ";", "_",
	"|", "_", "=", "_", ",", "_", "+", "_", "*", "_", "?", "_", "<", "_", ">", "_", "@", "_")

// SAMAccountName derives a group's pre-Windows 2000 name from its cn: the
// same text with AD's forbidden characters replaced by "_", no trailing
// period, at most 64 UTF-16 code units. The cn's id suffix keeps it unique.
func SAMAccountName(cn string) string {
	s := samReplacer.Replace(cleanText(cn))
	if onlyDigitsDotsSpaces(s) {
		s = "g" + s // Windows refuses a group name of digits, periods and spaces alone
	}
	s = leftUTF16(s, maxSAM)
	for strings.HasSuffix(s, ".") || strings.HasSuffix(s, " ") {
		s = s[:len(s)-1] + "_"
	}
	// Windows crops leading periods and spaces: write what it would keep.
	for strings.HasPrefix(s, ".") || strings.HasPrefix(s, " ") {
		s = "_" + s[1:]
	}
	return s
}

func onlyDigitsDotsSpaces(s string) bool {
	return strings.Trim(s, "0123456789. ") == ""
}

// ValidSAMAccountName checks s against Windows AD's rules for a group's
// sAMAccountName, which Samba applies only in part: 1 to 64 UTF-16 code
// units; none of " / \ [ ] : ; | = , + * ? < > @ nor a control character;
// no leading period or space, no trailing period; not digits, periods and
// spaces alone. (Uniqueness across the domain is AD's to say.)
func ValidSAMAccountName(s string) error {
	switch n := len(utf16.Encode([]rune(s))); {
	case n == 0:
		return errors.New("sAMAccountName is empty")
	case n > maxSAM:
		return fmt.Errorf("sAMAccountName %q is %d characters long; Windows takes at most %d for a group", s, n, maxSAM)
	}
	for _, r := range s {
		if strings.ContainsRune(`"/\[]:;|=,+*?<>@`, r) || unicode.IsControl(r) {
			return fmt.Errorf("sAMAccountName %q holds %q, which Windows refuses", s, r)
		}
	}
	switch {
	case strings.HasPrefix(s, ".") || strings.HasPrefix(s, " "):
		return fmt.Errorf("sAMAccountName %q starts with a period or a space, which Windows crops", s)
	case strings.HasSuffix(s, "."):
		return fmt.Errorf("sAMAccountName %q ends with a period, which Windows refuses", s)
	case onlyDigitsDotsSpaces(s):
		return fmt.Errorf("sAMAccountName %q is digits, periods and spaces alone, which Windows refuses for a group", s)
	}
	return nil
}

// EscapeRDNValue escapes an attribute value for use in a DN: RFC 4514 (as
// go-ldap does it) plus "=", which Samba refuses unescaped.
func EscapeRDNValue(v string) string {
	return strings.ReplaceAll(ldap.EscapeDN(v), "=", `\3D`)
}

// GroupDN is the DN of a group with common name cn in ou.
func GroupDN(cn, ou string) string { return "CN=" + EscapeRDNValue(cn) + "," + ou }

// Anchor is the value of adminDescription (and msDS-ExternalDirectoryObjectId)
// that marks an AD group as the written-back copy of a cloud group. Connect
// Sync and Cloud Sync use the same form.
func Anchor(objectID string) string { return "Group_" + objectID }

// AnchorAttribute is the attribute Windows Server 2016's schema added for
// the anchor; the tool writes it beside adminDescription where it exists.
const AnchorAttribute = "msDS-ExternalDirectoryObjectId"

// GroupAnchor is the anchor a group carries, from its adminDescription and
// msDS-ExternalDirectoryObjectId: the first, or the second alone (a group
// restored from a tombstone, whose adminDescription comes back on the next
// update); two different ones are no anchor of the tool's.
func GroupAnchor(adminDescription, ext string) string {
	anchor := adminDescription
	if anchor == "" {
		anchor = ext
	}
	if ext != "" && ext != anchor {
		return "adminDescription " + anchor + ", " + AnchorAttribute + " " + ext
	}
	return anchor
}

// CarriesAnchor reports whether a group with these two attributes is the
// one of anchor: what every write to an existing group checks first.
func CarriesAnchor(adminDescription, ext, anchor string) bool {
	return GroupAnchor(adminDescription, ext) == anchor
}

// CloudIDFromAnchor returns the object id in an anchor, or "" if s is none.
func CloudIDFromAnchor(s string) string {
	id, ok := strings.CutPrefix(s, "Group_")
	if !ok || len(id) != 36 {
		return ""
	}
	return strings.ToLower(id)
}
