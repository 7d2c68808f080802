package directory

import (
	"context"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// showDeletedOID is LDAP_SERVER_SHOW_DELETED_OID: a search with it sees
// deleted objects (tombstones, and with the Recycle Bin deleted objects)
// under the domain's Deleted Objects container.
const showDeletedOID = "1.2.840.113556.1.4.417"

func showDeleted() []ldap.Control {
	return []ldap.Control{ldap.NewControlString(showDeletedOID, true, "")}
}

// recycleBinFeature is the Recycle Bin optional feature's object under
// CN=Optional Features (MS-ADTS 3.1.1.9.1): a forest that enabled it lists
// it in msDS-EnabledFeature of CN=Partitions.
const recycleBinFeature = "CN=Recycle Bin Feature,"

// A written-back group deleted in AD (by hand, or by the tool after a
// cloud delete later undone) keeps, in its tombstone, its objectGUID,
// objectSid, sAMAccountName and msDS-ExternalDirectoryObjectId (measured
// on Samba 4.17: shared/reference/facts-2026.md). Restored, it is the
// same object, with the same SID: every ACL and nesting that named it
// holds (reconcile.Deleted).

// DeletedByAnchor finds the deleted groups that carry the anchors, by
// msDS-ExternalDirectoryObjectId (adminDescription does not survive in a
// tombstone), keyed by lower-case anchor. Nothing when the schema has no
// such attribute. A bind account that may not list the Deleted Objects
// container (Windows' default for all but administrators) finds nothing.
// A recycled object is marked Recycled when the forest's Recycle Bin is
// on (AD no longer restores it); without the Recycle Bin every tombstone
// is marked isRecycled, and is restored.
func (c *Client) DeletedByAnchor(ctx context.Context, anchors []string) (map[string]reconcile.Deleted, error) {
	out := map[string]reconcile.Deleted{}
	if !c.schema.AnchorAttribute || len(anchors) == 0 {
		return out, nil
	}
	base := "CN=Deleted Objects," + c.cfg.BaseDN
	attrs := []string{AnchorAttribute, "objectGUID", "objectSid", "sAMAccountName", "lastKnownParent", "isRecycled"}
	recycled := false
	for start := 0; start < len(anchors); start += lookupBatch {
		var or strings.Builder
		for _, a := range anchors[start:min(start+lookupBatch, len(anchors))] {
			or.WriteString("(" + AnchorAttribute + "=" + ldap.EscapeFilter(a) + ")")
		}
		entries, err := c.searchWith(ctx, base, ldap.ScopeSingleLevel, "(&(isDeleted=TRUE)(objectClass=group)(|"+or.String()+"))", attrs, showDeleted())
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			d := reconcile.Deleted{DN: e.DN, Anchor: e.GetAttributeValue(AnchorAttribute), GUID: GUIDString(e.GetRawAttributeValue("objectGUID")),
				SID: SIDString(e.GetRawAttributeValue("objectSid")), SAM: e.GetAttributeValue("sAMAccountName"), LastKnownParent: e.GetAttributeValue("lastKnownParent"),
				Recycled: strings.EqualFold(e.GetAttributeValue("isRecycled"), "TRUE")}
			recycled = recycled || d.Recycled
			k := strings.ToLower(d.Anchor)
			if prev, ok := out[k]; ok && !prev.Recycled && d.Recycled {
				continue // the same anchor deleted twice: the one AD can restore
			}
			out[k] = d
		}
	}
	if recycled {
		on, err := c.RecycleBin(ctx)
		if err != nil {
			return nil, err
		}
		for k, d := range out {
			d.Recycled = d.Recycled && on
			out[k] = d
		}
	}
	return out, nil
}

// AnyDeleted reports whether CN=Deleted Objects holds, as the bind account
// sees it, any deleted group carrying an anchor of the tool's (one search,
// size limit 1): a cycle that finds none looks up no create's anchor there
// (a first writeback of a large tenant, an account without the rights).
func (c *Client) AnyDeleted(ctx context.Context) (bool, error) {
	if !c.schema.AnchorAttribute {
		return false, nil
	}
	base := "CN=Deleted Objects," + c.cfg.BaseDN
	req := ldap.NewSearchRequest(base, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 1, 0, false,
		"(&(isDeleted=TRUE)(objectClass=group)("+AnchorAttribute+"=Group_*))", []string{"1.1"}, showDeleted())
	c.searches.Add(1)
	var res *ldap.SearchResult
	err := c.do(ctx, "search", func(conn *ldap.Conn) (err error) { res, err = conn.Search(req); return err })
	switch {
	case err != nil && ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
		return false, nil
	case err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded):
		return false, wrap("search", base, err)
	}
	return res != nil && len(res.Entries) > 0, nil
}

// RecycleBin reports whether the forest's Recycle Bin is on: whether
// CN=Partitions of the configuration lists the Recycle Bin feature in
// msDS-EnabledFeature.
func (c *Client) RecycleBin(ctx context.Context) (bool, error) {
	root, err := c.search(ctx, "", ldap.ScopeBaseObject, "(objectClass=*)", []string{"configurationNamingContext"})
	if err != nil || len(root) == 0 {
		return false, err
	}
	parts, err := c.search(ctx, "CN=Partitions,"+root[0].GetAttributeValue("configurationNamingContext"), ldap.ScopeBaseObject, "(objectClass=*)", []string{"msDS-EnabledFeature"})
	if err != nil || len(parts) == 0 {
		return false, err
	}
	return slices.ContainsFunc(parts[0].GetAttributeValues("msDS-EnabledFeature"), func(f string) bool {
		return strings.HasPrefix(strings.ToUpper(f), strings.ToUpper(recycleBinFeature))
	}), nil
}
