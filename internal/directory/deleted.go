package directory

import (
	"context"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// showDeletedOID is LDAP_SERVER_SHOW_DELETED_OID: a search with it sees
// deleted objects (tombstones, and with the Recycle Bin deleted objects)
// under the domain's Deleted Objects container.
const showDeletedOID = "1.2.840.113556.1.4.417"

// Deleted is a deleted group found by its anchor: a written-back group
// deleted in AD (by hand, or by the tool after a cloud delete later
// undone) keeps, in its tombstone, its objectGUID, objectSid,
// sAMAccountName and msDS-ExternalDirectoryObjectId (measured on Samba
// 4.17: shared/reference/facts-2026.md). Reanimated, it is the same
// object, with the same SID: every ACL and nesting that named it holds.
type Deleted struct {
	DN, Anchor, GUID, SID, SAM string
	// LastKnownParent is the container it was deleted from.
	LastKnownParent string
}

// DeletedByAnchor finds the deleted groups that carry the anchors, by
// msDS-ExternalDirectoryObjectId (adminDescription does not survive in a
// tombstone), keyed by anchor. Nothing when the schema has no such
// attribute. A bind account that may not list the Deleted Objects
// container (Windows' default for all but administrators) finds nothing.
func (c *Client) DeletedByAnchor(ctx context.Context, anchors []string) (map[string]Deleted, error) {
	out := map[string]Deleted{}
	if !c.schema.AnchorAttribute || len(anchors) == 0 {
		return out, nil
	}
	base := "CN=Deleted Objects," + c.cfg.BaseDN
	attrs := []string{AnchorAttribute, "objectGUID", "objectSid", "sAMAccountName", "lastKnownParent"}
	for start := 0; start < len(anchors); start += lookupBatch {
		var or strings.Builder
		for _, a := range anchors[start:min(start+lookupBatch, len(anchors))] {
			or.WriteString("(" + AnchorAttribute + "=" + ldap.EscapeFilter(a) + ")")
		}
		entries, err := c.searchWith(ctx, base, ldap.ScopeSingleLevel, "(&(isDeleted=TRUE)(objectClass=group)(|"+or.String()+"))", attrs,
			[]ldap.Control{ldap.NewControlString(showDeletedOID, true, "")})
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			d := Deleted{DN: e.DN, Anchor: e.GetAttributeValue(AnchorAttribute), GUID: GUIDString(e.GetRawAttributeValue("objectGUID")),
				SID: SIDString(e.GetRawAttributeValue("objectSid")), SAM: e.GetAttributeValue("sAMAccountName"), LastKnownParent: e.GetAttributeValue("lastKnownParent")}
			out[d.Anchor] = d
		}
	}
	return out, nil
}
