package directory

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// ownedFilter finds groups that carry a Group_ anchor; objectCategory is
// indexed in AD, adminDescription is not.
const ownedFilter = "(&(objectCategory=group)(adminDescription=Group_*))"

// OwnedGroups reads every group under base that carries the tool's anchor,
// with the managed attributes and all members. Where the schema has
// msDS-ExternalDirectoryObjectId, a group carrying the anchor only there
// counts too: a tombstone keeps that attribute (not adminDescription), so a
// group restored from deleted objects is found again.
func (c *Client) OwnedGroups(ctx context.Context, base string, managed []string) ([]reconcile.ADGroup, error) {
	filter := ownedFilter
	if c.schema.AnchorAttribute {
		filter = "(&(objectCategory=group)(|(adminDescription=Group_*)(" + AnchorAttribute + "=Group_*)))"
	}
	return c.readGroups(ctx, base, filter, managed, true)
}

// GroupsByAnchor reads the groups under base whose anchor is one of
// anchors, in batches.
func (c *Client) GroupsByAnchor(ctx context.Context, base string, anchors []string, managed []string) ([]reconcile.ADGroup, error) {
	return c.groupsByAnchor(ctx, base, anchors, managed, true)
}

// GroupAttrsByAnchor is GroupsByAnchor without the members: one search
// however large the groups (reconcile.ADGroup.MembersUnread).
func (c *Client) GroupAttrsByAnchor(ctx context.Context, base string, anchors []string, managed []string) ([]reconcile.ADGroup, error) {
	return c.groupsByAnchor(ctx, base, anchors, managed, false)
}

func (c *Client) groupsByAnchor(ctx context.Context, base string, anchors []string, managed []string, members bool) ([]reconcile.ADGroup, error) {
	var out []reconcile.ADGroup
	for start := 0; start < len(anchors); start += 100 {
		var f strings.Builder
		f.WriteString("(&(objectCategory=group)(|")
		for _, a := range anchors[start:min(start+100, len(anchors))] {
			f.WriteString("(adminDescription=" + ldap.EscapeFilter(a) + ")")
			if c.schema.AnchorAttribute {
				f.WriteString("(" + AnchorAttribute + "=" + ldap.EscapeFilter(a) + ")")
			}
		}
		f.WriteString("))")
		gs, err := c.readGroups(ctx, base, f.String(), managed, members)
		if err != nil {
			return nil, err
		}
		out = append(out, gs...)
	}
	return out, nil
}

// ReadGroup reads the group at dn with attrs and all its members (ranged
// retrieval), or returns nil when there is none.
func (c *Client) ReadGroup(ctx context.Context, dn string, attrs []string) (*reconcile.ADGroup, error) {
	gs, err := c.readGroups(ctx, dn, "(objectClass=group)", attrs, true)
	if err != nil || len(gs) == 0 {
		return nil, err
	}
	for i := range gs {
		if policy.SameDN(gs[i].DN, dn) {
			return &gs[i], nil
		}
	}
	return nil, nil
}

// readGroups reads the groups filter finds under base, with the managed
// attributes and, when members is set, all their members.
func (c *Client) readGroups(ctx context.Context, base, filter string, managed []string, members bool) ([]reconcile.ADGroup, error) {
	attrs := append([]string{"objectGUID", "adminDescription"}, managed...)
	if members {
		attrs = append(attrs, "member")
	}
	if c.schema.AnchorAttribute {
		attrs = append(attrs, AnchorAttribute)
	}
	entries, err := c.search(ctx, base, ldap.ScopeWholeSubtree, filter, attrs)
	if err != nil {
		return nil, err
	}
	canonical := map[string]string{}
	for _, m := range managed {
		canonical[strings.ToLower(m)] = m
	}
	out := make([]reconcile.ADGroup, 0, len(entries))
	for _, e := range entries {
		g := reconcile.ADGroup{DN: e.DN, GUID: GUIDString(e.GetRawAttributeValue("objectGUID")), Attrs: map[string][]string{}, MembersUnread: !members}
		g.Anchor = GroupAnchor(e.GetAttributeValue("adminDescription"), e.GetAttributeValue(AnchorAttribute))
		rangeNext := -1
		for _, a := range e.Attributes {
			name, rng, _ := strings.Cut(a.Name, ";")
			switch {
			case strings.EqualFold(name, "member"):
				g.Members = append(g.Members, a.Values...)
				if next, ok := nextRange(rng); ok {
					rangeNext = next
				}
			case canonical[strings.ToLower(name)] != "":
				g.Attrs[canonical[strings.ToLower(name)]] = a.Values
			}
		}
		if rangeNext >= 0 {
			rest, err := c.rangedMembers(ctx, e.DN, rangeNext)
			if err != nil {
				return nil, err
			}
			g.Members = append(g.Members, rest...)
		}
		c.memberValues.Add(int64(len(g.Members)))
		out = append(out, g)
	}
	return out, nil
}

// nextRange reads "range=0-1499" and returns 1500; "range=3000-*" is the
// last part and returns false.
func nextRange(rng string) (int, bool) {
	r, ok := strings.CutPrefix(strings.ToLower(rng), "range=")
	if !ok {
		return 0, false
	}
	_, hi, _ := strings.Cut(r, "-")
	if hi == "*" {
		return 0, false
	}
	n, err := strconv.Atoi(hi)
	if err != nil {
		return 0, false
	}
	return n + 1, true
}

// rangedMembers reads member values from index start on, a range at a
// time, as AD hands out at most MaxValRange (1,500) values per read.
func (c *Client) rangedMembers(ctx context.Context, dn string, start int) ([]string, error) {
	var out []string
	for {
		entries, err := c.search(ctx, dn, ldap.ScopeBaseObject, "(objectClass=*)", []string{fmt.Sprintf("member;range=%d-*", start)})
		if err != nil {
			return nil, err
		}
		if len(entries) != 1 {
			return out, nil
		}
		more := false
		for _, a := range entries[0].Attributes {
			name, rng, _ := strings.Cut(a.Name, ";")
			if !strings.EqualFold(name, "member") {
				continue
			}
			out = append(out, a.Values...)
			start, more = nextRange(rng)
		}
		if !more {
			return out, nil
		}
	}
}

// GroupAnchor is policy.GroupAnchor.
func GroupAnchor(adminDescription, ext string) string {
	return policy.GroupAnchor(adminDescription, ext)
}

// CarriesAnchor is policy.CarriesAnchor.
func CarriesAnchor(adminDescription, ext, anchor string) bool {
	return policy.CarriesAnchor(adminDescription, ext, anchor)
}
