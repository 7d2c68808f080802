package directory

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// PrivilegedGroup is a group the write gate treats as protected because of
// where it sits, as doctor reports it.
type PrivilegedGroup struct {
	DN, SID string
	// Anchor is its Group_ anchor, when the tool wrote it.
	Anchor string
	// Why names the privileged group it is, or is nested in.
	Why string
}

// PrivilegedGroups walks down from the domain's built-in privileged
// groups, and the groups AD marks adminCount=1, through their member
// groups at any depth: every group met is protected (the gate adds no
// member to it). Doctor names those the tool wrote. The walk reads this
// domain only: Enterprise and Schema Admins of another domain of the
// forest are seen from its DCs.
func (c *Client) PrivilegedGroups(ctx context.Context) ([]PrivilegedGroup, error) {
	root, err := c.search(ctx, c.cfg.BaseDN, ldap.ScopeBaseObject, "(objectClass=*)", []string{"objectSid"})
	if err != nil || len(root) == 0 {
		return nil, fmt.Errorf("directory: read the domain's SID: %w", err)
	}
	var f strings.Builder
	f.WriteString("(&(objectClass=group)(|(adminCount=1)")
	for _, sid := range gate.PrivilegedSIDs(SIDString(root[0].GetRawAttributeValue("objectSid"))) {
		f.WriteString("(objectSid=" + sid + ")")
	}
	f.WriteString("))")
	roots, err := c.search(ctx, c.cfg.BaseDN, ldap.ScopeWholeSubtree, f.String(), []string{"objectSid", "adminCount"})
	if err != nil {
		return nil, err
	}
	attrs := []string{"adminDescription", "objectSid"}
	if c.schema.AnchorAttribute {
		attrs = append(attrs, AnchorAttribute)
	}
	// chain is, for each group met, the path up to the privileged group:
	// "CN=Inner, in CN=Helpdesk, in CN=Domain Admins (Domain Admins)".
	why, chain := map[string]string{}, map[string]string{}
	var queue []string
	for _, e := range roots {
		name := gate.PrivilegedName(SIDString(e.GetRawAttributeValue("objectSid")))
		if name == "" {
			name = "marked adminCount=1"
		}
		k := strings.ToLower(e.DN)
		chain[k] = fmt.Sprintf("%s (%s)", e.DN, name)
		why[k] = "it is " + chain[k]
		queue = append(queue, e.DN)
	}
	var out []PrivilegedGroup
	for len(queue) > 0 {
		dn := queue[0]
		queue = queue[1:]
		g, err := c.ReadGroup(ctx, dn, attrs)
		if err != nil {
			return nil, err
		}
		if g == nil {
			continue
		}
		sid := ""
		if v := g.Attrs["objectSid"]; len(v) > 0 {
			sid = SIDString([]byte(v[0]))
		}
		out = append(out, PrivilegedGroup{DN: g.DN, SID: sid, Anchor: g.Anchor, Why: why[strings.ToLower(dn)]})
		if len(g.Members) == 0 {
			continue
		}
		objs, err := c.Lookup(ctx, reconcile.ByDN, c.cfg.BaseDN, g.Members)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			k := strings.ToLower(o.DN)
			if !o.IsGroup() || why[k] != "" {
				continue
			}
			why[k] = "in " + chain[strings.ToLower(dn)]
			chain[k] = o.DN + ", " + why[k]
			queue = append(queue, o.DN)
		}
		if len(out) > maxHolders {
			return nil, fmt.Errorf("directory: %w (more than %d groups under the privileged ones)", ErrTooManyHolders, maxHolders)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DN < out[j].DN })
	return out, nil
}
