package directory

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

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

// DCTime reads the clock of the DC at u (the rootDSE's currentTime,
// which needs no bind): Kerberos fails when the two clocks are more than
// five minutes apart.
func (c *Config) DCTime(ctx context.Context, u string) (time.Time, error) {
	conn, _, err := c.connect(ctx, u, c.UsesKerberos())
	if err != nil {
		return time.Time{}, err
	}
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"currentTime"}, nil))
	if err != nil {
		return time.Time{}, wrap("read the clock of", u, err)
	}
	if len(res.Entries) != 1 {
		return time.Time{}, fmt.Errorf("directory: %s: no rootDSE", u)
	}
	raw := res.Entries[0].GetAttributeValue("currentTime")
	t, err := time.Parse("20060102150405.0Z", raw)
	if err != nil {
		return time.Time{}, fmt.Errorf("directory: %s: currentTime %q: %w", u, raw, err)
	}
	return t, nil
}
