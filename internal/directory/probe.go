package directory

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// Exists reports whether an object exists at dn.
func (c *Client) Exists(ctx context.Context, dn string) (bool, error) {
	entries, err := c.search(ctx, dn, ldap.ScopeBaseObject, "(objectClass=*)", []string{"objectClass"})
	if err != nil {
		return false, err
	}
	return len(entries) == 1, nil
}

// CanCreateGroups reports whether the bound account may create groups in ou,
// from the OU's allowedChildClassesEffective (no write needed to know).
func (c *Client) CanCreateGroups(ctx context.Context, ou string) (bool, error) {
	entries, err := c.search(ctx, ou, ldap.ScopeBaseObject, "(objectClass=*)", []string{"allowedChildClassesEffective"})
	if err != nil || len(entries) != 1 {
		return false, err
	}
	return slices.ContainsFunc(entries[0].GetAttributeValues("allowedChildClassesEffective"), func(c string) bool {
		return strings.EqualFold(c, "group")
	}), nil
}

// ProbeWrites creates a group in ou, changes it and deletes it, the
// operations writeback needs, and says which failed. The probe group
// carries no anchor and is removed on every path that allows it.
func (c *Client) ProbeWrites(ctx context.Context, ou string) error {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "groupwriteback-doctor-" + hex.EncodeToString(b[:])
	dn := "CN=" + name + "," + ou
	add := ldap.NewAddRequest(dn, nil)
	add.Attribute("objectClass", []string{"top", "group"})
	add.Attribute("sAMAccountName", []string{name[:20] + hex.EncodeToString(b[:2])})
	add.Attribute("groupType", []string{"-2147483640"})
	add.Attribute("description", []string{"made and removed at once by groupwriteback doctor"})
	if err := c.conn.Add(add); err != nil {
		return wrap("create a probe group in", ou, err)
	}
	mod := ldap.NewModifyRequest(dn, nil)
	mod.Replace("description", []string{"modified by groupwriteback doctor"})
	modErr := wrap("modify the probe group", dn, c.conn.Modify(mod))
	if err := c.conn.Del(ldap.NewDelRequest(dn, nil)); err != nil {
		return fmt.Errorf("%w; the probe group %s is left behind: delete it by hand", wrap("delete the probe group", dn, err), dn)
	}
	return modErr
}
