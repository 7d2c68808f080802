package directory

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/policy"
)

// KeyKind is the identifier a lookup goes by.
type KeyKind string

// The kinds of key a member is looked up by.
const (
	ByGUID        KeyKind = "objectGUID"
	BySID         KeyKind = "objectSid"
	ByImmutableID KeyKind = "immutableId"
	ByDN          KeyKind = "distinguishedName"
	ByAnchor      KeyKind = "adminDescription"
)

// Object is a directory object a lookup found.
type Object struct {
	DN        string
	GUID      string
	SID       string
	Class     []string
	GroupType int64
	// Critical is isCriticalSystemObject: krbtgt, the built-in accounts and
	// groups, domain controllers. Connect's default rules never sync them.
	Critical bool
}

func (o Object) hasClass(name string) bool {
	for _, c := range o.Class {
		if strings.EqualFold(c, name) {
			return true
		}
	}
	return false
}

// IsUser reports whether the object is a user account: class user (or
// inetOrgPerson, a subclass), and not a computer, which is one too.
func (o Object) IsUser() bool { return o.hasClass("user") && !o.hasClass("computer") }

// IsGroup reports whether the object is a group.
func (o Object) IsGroup() bool { return o.hasClass("group") }

// IsDomainLocal reports whether the object is a domain-local group, which a
// universal group cannot contain.
func (o Object) IsDomainLocal() bool { return o.IsGroup() && o.GroupType&0x4 != 0 }

// Lookup finds objects by one kind of key, in batches of OR filters, and
// returns them by the key value as given. Values that match nothing are
// absent from the result; malformed values are skipped.
func (c *Client) Lookup(ctx context.Context, kind KeyKind, base string, values []string) (map[string]Object, error) {
	out := map[string]Object{}
	type term struct{ filter, value string }
	var terms []term
	for _, v := range values {
		switch kind {
		case ByGUID:
			b, err := GUIDBytes(v)
			if err != nil {
				continue
			}
			terms = append(terms, term{"(objectGUID=" + escapeBytes(b) + ")", v})
		case BySID:
			b, err := SIDBytes(v)
			if err != nil {
				continue
			}
			terms = append(terms, term{"(objectSid=" + escapeBytes(b) + ")", v})
		case ByImmutableID:
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil || len(b) != 16 {
				continue
			}
			terms = append(terms, term{"(|(mS-DS-ConsistencyGuid=" + escapeBytes(b) + ")(objectGUID=" + escapeBytes(b) + "))", v})
		case ByDN:
			terms = append(terms, term{"(distinguishedName=" + ldap.EscapeFilter(v) + ")", v})
		case ByAnchor:
			terms = append(terms, term{"(adminDescription=" + ldap.EscapeFilter(v) + ")", v})
		}
	}
	attrs := []string{"objectGUID", "objectSid", "objectClass", "groupType", "mS-DS-ConsistencyGuid", "adminDescription", "isCriticalSystemObject"}
	for start := 0; start < len(terms); start += 50 {
		batch := terms[start:min(start+50, len(terms))]
		var f strings.Builder
		f.WriteString("(|")
		for _, t := range batch {
			f.WriteString(t.filter)
		}
		f.WriteString(")")
		entries, err := c.search(ctx, base, ldap.ScopeWholeSubtree, f.String(), attrs)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			o := Object{DN: e.DN, GUID: GUIDString(e.GetRawAttributeValue("objectGUID")), SID: SIDString(e.GetRawAttributeValue("objectSid")),
				Class: e.GetAttributeValues("objectClass"), Critical: strings.EqualFold(e.GetAttributeValue("isCriticalSystemObject"), "TRUE")}
			o.GroupType, _ = strconv.ParseInt(e.GetAttributeValue("groupType"), 10, 64)
			// Map the entry back to the values it answers.
			var keys []string
			switch kind {
			case ByGUID:
				keys = []string{o.GUID}
			case BySID:
				keys = []string{o.SID}
			case ByImmutableID:
				keys = []string{base64.StdEncoding.EncodeToString(e.GetRawAttributeValue("objectGUID")),
					base64.StdEncoding.EncodeToString(e.GetRawAttributeValue("mS-DS-ConsistencyGuid"))}
			case ByAnchor:
				keys = []string{e.GetAttributeValue("adminDescription")}
			case ByDN:
				keys = []string{e.DN}
			}
			for _, t := range batch {
				for _, k := range keys {
					if k != "" && (t.value == k || (kind != ByImmutableID && strings.EqualFold(t.value, k)) || (kind == ByDN && policy.SameDN(t.value, k))) {
						out[t.value] = o
					}
				}
			}
		}
	}
	return out, nil
}
