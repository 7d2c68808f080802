package directory

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
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
	dn, err := c.addProbe(ou, "made and removed at once by groupwriteback doctor")
	if err != nil {
		return err
	}
	mod := ldap.NewModifyRequest(dn, nil)
	mod.Replace("description", []string{"modified by groupwriteback doctor"})
	modErr := wrap("modify the probe group", dn, c.conn.Modify(mod))
	if err := c.conn.Del(ldap.NewDelRequest(dn, nil)); err != nil {
		return fmt.Errorf("%w; the probe group %s is left behind: delete it by hand", wrap("delete the probe group", dn, err), dn)
	}
	return modErr
}

// addProbe creates a probe group of doctor's in ou, named at random,
// carrying no anchor, described as what is done to it, and returns its DN.
func (c *Client) addProbe(ou, description string) (string, error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "groupwriteback-doctor-" + hex.EncodeToString(b[:])
	dn := "CN=" + name + "," + ou
	add := ldap.NewAddRequest(dn, nil)
	add.Attribute("objectClass", []string{"top", "group"})
	add.Attribute("sAMAccountName", []string{name[:20] + hex.EncodeToString(b[:2])})
	add.Attribute("groupType", []string{"-2147483640"})
	add.Attribute("description", []string{description})
	if err := c.conn.Add(add); err != nil {
		return "", wrap("create a probe group in", ou, err)
	}
	return dn, nil
}

// ErrCannotListDeleted: the bind account finds no deleted object (it may
// not list CN=Deleted Objects, Windows' default for all but
// administrators), so no deleted group is ever found to restore.
var ErrCannotListDeleted = errors.New("the account finds nothing in CN=Deleted Objects (it may not list it)")

// ProbeRestore does what restoring a deleted group needs, on a probe group
// of its own in ou: it creates it, deletes it, finds it in CN=Deleted
// Objects, restores it (the undelete modify the tool sends) and deletes it
// again. It says which step AD refused: ErrCannotListDeleted, or the
// restore's error (insufficient access rights: no Reanimate Tombstones).
// The probe group carries no anchor; its tombstone stays, as any.
func (c *Client) ProbeRestore(ctx context.Context, ou string) error {
	dn, err := c.addProbe(ou, "made, deleted, restored and deleted at once by groupwriteback doctor")
	if err != nil {
		return err
	}
	guid, err := c.search(ctx, dn, ldap.ScopeBaseObject, "(objectClass=*)", []string{"objectGUID"})
	if err != nil || len(guid) != 1 {
		_ = c.conn.Del(ldap.NewDelRequest(dn, nil))
		return fmt.Errorf("directory: read the probe group %s: %v", dn, err)
	}
	raw := guid[0].GetRawAttributeValue("objectGUID")
	if err := c.conn.Del(ldap.NewDelRequest(dn, nil)); err != nil {
		return fmt.Errorf("%w; the probe group %s is left behind: delete it by hand", wrap("delete the probe group", dn, err), dn)
	}
	found, err := c.searchWith(ctx, "CN=Deleted Objects,"+c.cfg.BaseDN, ldap.ScopeSingleLevel, "(objectGUID="+escapeBytes(raw)+")", []string{"1.1"}, showDeleted())
	if err != nil {
		return err
	}
	if len(found) != 1 {
		return ErrCannotListDeleted
	}
	mod := ldap.NewModifyRequest(found[0].DN, showDeleted())
	mod.Delete("isDeleted", nil)
	mod.Replace("distinguishedName", []string{dn})
	if err := c.conn.Modify(mod); err != nil {
		return wrap("restore the probe group from", found[0].DN, err)
	}
	if err := c.conn.Del(ldap.NewDelRequest(dn, nil)); err != nil {
		return fmt.Errorf("%w; the probe group %s is left behind: delete it by hand", wrap("delete the restored probe group", dn, err), dn)
	}
	return nil
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
