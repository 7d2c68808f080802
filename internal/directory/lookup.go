package directory

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// Lookup finds objects by one kind of key, in batches of OR filters, and
// returns them by the key value as given. Values that match nothing are
// absent from the result; malformed values are skipped.
func (c *Client) Lookup(ctx context.Context, kind reconcile.KeyKind, base string, values []string) (map[string]reconcile.ADObject, error) {
	out := map[string]reconcile.ADObject{}
	type term struct{ filter, value string }
	var terms []term
	for _, v := range values {
		switch kind {
		case reconcile.ByGUID:
			b, err := GUIDBytes(v)
			if err != nil {
				continue
			}
			terms = append(terms, term{"(objectGUID=" + escapeBytes(b) + ")", v})
		case reconcile.BySID:
			b, err := SIDBytes(v)
			if err != nil {
				continue
			}
			terms = append(terms, term{"(objectSid=" + escapeBytes(b) + ")", v})
		case reconcile.ByImmutableID:
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil || len(b) != 16 {
				continue
			}
			terms = append(terms, term{"(|(mS-DS-ConsistencyGuid=" + escapeBytes(b) + ")(objectGUID=" + escapeBytes(b) + "))", v})
		case reconcile.ByDN:
			terms = append(terms, term{"(distinguishedName=" + ldap.EscapeFilter(v) + ")", v})
		case reconcile.ByAnchor:
			terms = append(terms, term{"(adminDescription=" + ldap.EscapeFilter(v) + ")", v})
		case reconcile.BySAM:
			terms = append(terms, term{"(sAMAccountName=" + ldap.EscapeFilter(v) + ")", v})
		}
	}
	attrs := []string{"objectGUID", "objectSid", "objectClass", "groupType", "mS-DS-ConsistencyGuid", "adminDescription", "isCriticalSystemObject", "sAMAccountName"}
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
			o := reconcile.ADObject{DN: e.DN, GUID: GUIDString(e.GetRawAttributeValue("objectGUID")), SID: SIDString(e.GetRawAttributeValue("objectSid")),
				Class: e.GetAttributeValues("objectClass"), Critical: strings.EqualFold(e.GetAttributeValue("isCriticalSystemObject"), "TRUE")}
			o.GroupType, _ = strconv.ParseInt(e.GetAttributeValue("groupType"), 10, 64)
			// Map the entry back to the values it answers.
			var keys []string
			switch kind {
			case reconcile.ByGUID:
				keys = []string{o.GUID}
			case reconcile.BySID:
				keys = []string{o.SID}
			case reconcile.ByImmutableID:
				keys = []string{base64.StdEncoding.EncodeToString(e.GetRawAttributeValue("objectGUID")),
					base64.StdEncoding.EncodeToString(e.GetRawAttributeValue("mS-DS-ConsistencyGuid"))}
			case reconcile.ByAnchor:
				keys = []string{e.GetAttributeValue("adminDescription")}
			case reconcile.BySAM:
				keys = []string{e.GetAttributeValue("sAMAccountName")}
			case reconcile.ByDN:
				keys = []string{e.DN}
			}
			for _, t := range batch {
				for _, k := range keys {
					if k != "" && (t.value == k || (kind != reconcile.ByImmutableID && strings.EqualFold(t.value, k)) || (kind == reconcile.ByDN && policy.SameDN(t.value, k))) {
						out[t.value] = o
					}
				}
			}
		}
	}
	return out, nil
}
