package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// Write carries out one operation the write gate approved (the gate read
// the object and checked it first). Before each request it sends, retries
// after a lost connection included, it asks the fence (a.Permit) whether
// this instance may still write until the request's deadline.
func (c *Client) Write(ctx context.Context, a *gate.Approved) error {
	op, err := a.Op()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	switch op.Action {
	case reconcile.Create:
		return c.create(ctx, a, op)
	case reconcile.Restore:
		return c.restore(ctx, a, op)
	case reconcile.Update, reconcile.ChangeScope:
		return c.update(ctx, a, op)
	case reconcile.Move:
		rdn, _ := policy.SplitDN(op.DN)
		return c.modifyDN(ctx, a, "move", op, rdn, op.NewParent, op.FinalDN())
	case reconcile.Rename:
		return c.modifyDN(ctx, a, "rename", op, op.NewRDN, "", op.FinalDN())
	case reconcile.AddMembers:
		return c.members(ctx, a, op.DN, op.Members, true)
	case reconcile.RemoveMembers:
		return c.members(ctx, a, op.DN, op.Members, false)
	case reconcile.Delete:
		c.deletes.Add(1)
		err := c.write(ctx, a, "delete", func(conn *ldap.Conn) error { return conn.Del(ldap.NewDelRequest(op.DN, nil)) })
		if IsCode(err, ldap.LDAPResultNoSuchObject) {
			return nil // already gone: a retry after a lost connection whose first try was done
		}
		return wrap("delete", op.DN, err)
	}
	return fmt.Errorf("directory: unknown operation %q", op.Action)
}

// write is do for a request that changes AD: the fence is asked
// immediately before each try, retries after a reconnect included; under
// a writer lease, the request is abandoned when the lease runs out here,
// so that its answer cannot be taken for a write made under it.
func (c *Client) write(ctx context.Context, a *gate.Approved, op string, f func(conn *ldap.Conn) error) error {
	return c.do(ctx, op, func(conn *ldap.Conn) error {
		until, err := a.Permit()
		if err != nil {
			return err
		}
		if !until.IsZero() {
			if left := time.Until(until); left < c.cfg.Timeout {
				conn.SetTimeout(left)
				defer conn.SetTimeout(c.cfg.Timeout)
			}
		}
		return f(conn)
	})
}

// Inspect reads the object at dn for the write gate: its class, anchor,
// SID, adminCount and isCriticalSystemObject, and whether it is deleted
// (read with the Show Deleted control, so that the gate sees a deleted
// object as one); with holders, every group that holds it at any depth,
// walked up memberOf (nil, nil when nothing is at dn).
func (c *Client) Inspect(ctx context.Context, dn string, holders bool) (*gate.Object, error) {
	attrs := []string{"objectClass", "adminDescription", "objectSid", "adminCount", "isCriticalSystemObject", "groupType", "isDeleted", "lastKnownParent"}
	if c.schema.AnchorAttribute {
		attrs = append(attrs, AnchorAttribute)
	}
	if holders {
		attrs = append(attrs, "memberOf")
	}
	entries, err := c.searchWith(ctx, dn, ldap.ScopeBaseObject, "(objectClass=*)", attrs, showDeleted())
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	e := entries[0]
	o := &gate.Object{DN: e.DN, Class: e.GetAttributeValues("objectClass"), AdminDescription: e.GetAttributeValue("adminDescription"),
		ExternalID: e.GetAttributeValue(AnchorAttribute), SID: SIDString(e.GetRawAttributeValue("objectSid")),
		AdminCount: e.GetAttributeValue("adminCount") == "1", Critical: strings.EqualFold(e.GetAttributeValue("isCriticalSystemObject"), "TRUE"),
		GroupType: e.GetAttributeValue("groupType"), Deleted: strings.EqualFold(e.GetAttributeValue("isDeleted"), "TRUE"),
		LastKnownParent: e.GetAttributeValue("lastKnownParent")}
	if o.DN == "" {
		o.DN = dn
	}
	if holders {
		if o.Holders, err = c.holders(ctx, e.GetAttributeValues("memberOf")); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// maxHolders bounds the walk up memberOf: a group held by more groups than
// this is refused as if protected (the gate fails closed).
const maxHolders = 10000

// ErrTooManyHolders: the walk up memberOf found more groups than it reads.
var ErrTooManyHolders = errors.New("held by too many groups to check")

// holders walks up memberOf from the groups given: every group that holds
// them, at any depth, once each. memberOf is read on this DC's domain
// partition: a group of another domain of the forest that holds the
// object through a universal group is seen only where the DC is a global
// catalog (docs/operating.md says so).
func (c *Client) holders(ctx context.Context, first []string) ([]gate.Holder, error) {
	var out []gate.Holder
	seen := map[string]bool{}
	queue := slices.Clone(first)
	for len(queue) > 0 {
		dn := queue[0]
		queue = queue[1:]
		if seen[strings.ToLower(dn)] {
			continue
		}
		seen[strings.ToLower(dn)] = true
		if len(seen) > maxHolders {
			return nil, fmt.Errorf("directory: %w (more than %d)", ErrTooManyHolders, maxHolders)
		}
		entries, err := c.search(ctx, dn, ldap.ScopeBaseObject, "(objectClass=*)", []string{"objectSid", "adminCount", "memberOf"})
		if err != nil {
			return nil, err
		}
		if len(entries) == 0 {
			continue // gone since memberOf was read
		}
		e := entries[0]
		out = append(out, gate.Holder{DN: dn, SID: SIDString(e.GetRawAttributeValue("objectSid")), AdminCount: e.GetAttributeValue("adminCount") == "1"})
		queue = append(queue, e.GetAttributeValues("memberOf")...)
	}
	return out, nil
}

// modifyDN renames or moves op.DN to newDN. If the object is no longer at
// op.DN but an object with the anchor is at newDN, the first try was done
// (its answer lost with the connection).
func (c *Client) modifyDN(ctx context.Context, a *gate.Approved, what string, op reconcile.Op, rdn, parent, newDN string) error {
	c.renames.Add(1)
	err := c.write(ctx, a, "modrdn", func(conn *ldap.Conn) error { return conn.ModifyDN(ldap.NewModifyDNRequest(op.DN, rdn, true, parent)) })
	if IsCode(err, ldap.LDAPResultNoSuchObject) && c.checkOwned(ctx, newDN, op.Anchor) == nil {
		return nil
	}
	return wrap(what, op.DN, err)
}

func (c *Client) checkOwned(ctx context.Context, dn, anchor string) error {
	attrs := []string{"adminDescription"}
	if c.schema.AnchorAttribute {
		attrs = append(attrs, AnchorAttribute)
	}
	entries, err := c.search(ctx, dn, ldap.ScopeBaseObject, "(objectClass=group)", attrs)
	if err != nil {
		return err
	}
	if len(entries) != 1 {
		return &Error{Op: "check owner of", DN: dn, Code: ldap.LDAPResultNoSuchObject, Message: "no such group", Err: reconcile.ErrNotOwned}
	}
	found := entries[0].GetAttributeValue("adminDescription")
	ext := entries[0].GetAttributeValue(AnchorAttribute)
	if !CarriesAnchor(found, ext, anchor) {
		return fmt.Errorf("directory: %s: expected anchor %s, found adminDescription %q and %s %q: %w", dn, anchor, found, AnchorAttribute, ext, reconcile.ErrNotOwned)
	}
	return nil
}

// UniqueValues drops repeated values, as AD refuses them in one write:
// folding case when fold (member DNs, proxyAddresses).
func UniqueValues(vals []string, fold bool) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range vals {
		k := v
		if fold {
			k = strings.ToLower(v)
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, v)
		}
	}
	return out
}

func (c *Client) create(ctx context.Context, a *gate.Approved, op reconcile.Op) error {
	req := ldap.NewAddRequest(op.DN, nil)
	req.Attribute("objectClass", []string{"top", "group"})
	for _, ch := range op.Changes {
		if len(ch.New) > 0 {
			req.Attribute(ch.Name, UniqueValues(ch.New, ch.Name == "proxyAddresses"))
		}
	}
	if len(op.Members) > 0 {
		req.Attribute("member", UniqueValues(op.Members, true))
	}
	c.adds.Add(1)
	err := c.write(ctx, a, "add", func(conn *ldap.Conn) error { return conn.Add(req) })
	if IsCode(err, ldap.LDAPResultEntryAlreadyExists) {
		if c.checkOwned(ctx, op.DN, op.Anchor) == nil {
			return nil // ours: a retry after a lost connection whose first try was done
		}
		return c.nameTaken(ctx, op)
	}
	return wrap("add", op.DN, err)
}

// restore brings a deleted group back to op.DN with the attributes of a
// create, in one modify with the Show Deleted control that removes
// isDeleted and replaces distinguishedName (MS-ADTS 3.1.1.5.3.7, the
// undelete operation: the attributes are written and the object moved in
// one transaction). If the deleted object is gone but a group carrying
// the anchor is at op.DN, the first try was done (its answer lost with
// the connection).
func (c *Client) restore(ctx context.Context, a *gate.Approved, op reconcile.Op) error {
	mod := ldap.NewModifyRequest(op.From, showDeleted())
	mod.Delete("isDeleted", nil)
	mod.Replace("distinguishedName", []string{op.DN})
	for _, ch := range op.Changes {
		if len(ch.New) > 0 {
			mod.Replace(ch.Name, UniqueValues(ch.New, ch.Name == "proxyAddresses"))
		}
	}
	c.modifies.Add(1)
	err := c.write(ctx, a, "restore", func(conn *ldap.Conn) error { return conn.Modify(mod) })
	switch {
	case err == nil:
		return nil
	case IsCode(err, ldap.LDAPResultNoSuchObject) || IsCode(err, ldap.LDAPResultOperationsError):
		if c.checkOwned(ctx, op.DN, op.Anchor) == nil {
			return nil
		}
	case IsCode(err, ldap.LDAPResultEntryAlreadyExists):
		return c.nameTaken(ctx, op)
	}
	return wrap("restore", op.From, err)
}

// nameTaken says which object holds the name a create wanted, and what the
// admin can do about it.
func (c *Client) nameTaken(ctx context.Context, op reconcile.Op) error {
	if entries, err := c.search(ctx, op.DN, ldap.ScopeBaseObject, "(objectClass=*)", []string{"1.1"}); err == nil && len(entries) == 0 {
		// Nothing at the DN: the sAMAccountName is what another object holds.
		for _, ch := range op.Changes {
			if strings.EqualFold(ch.Name, "sAMAccountName") && len(ch.New) > 0 {
				if held, err := c.Lookup(ctx, reconcile.BySAM, c.cfg.BaseDN, ch.New[:1]); err == nil && len(held) == 1 {
					return &Error{Op: "add", DN: op.DN, Code: ldap.LDAPResultEntryAlreadyExists, Message: fmt.Sprintf(
						"the sAMAccountName %q is held by %s: Windows AD keeps it unique across the domain; rename that object's, or choose other names with writeback.naming",
						ch.New[0], held[ch.New[0]].DN)}
				}
			}
		}
	}
	what := "an object"
	if entries, err := c.search(ctx, op.DN, ldap.ScopeBaseObject, "(objectClass=*)", []string{"objectClass", "objectGUID", "adminDescription", "whenCreated"}); err == nil && len(entries) == 1 {
		e := entries[0]
		classes := e.GetAttributeValues("objectClass")
		what = fmt.Sprintf("a %s (objectGUID %s, created %s", classes[len(classes)-1], GUIDString(e.GetRawAttributeValue("objectGUID")), e.GetAttributeValue("whenCreated"))
		if a := e.GetAttributeValue("adminDescription"); a != "" {
			what += fmt.Sprintf(", adminDescription %q", a)
		} else {
			what += ", no anchor"
		}
		what += ")"
	}
	return &Error{Op: "add", DN: op.DN, Code: ldap.LDAPResultEntryAlreadyExists, Message: fmt.Sprintf("%s already holds this name and is not this group's. "+
		"Rename or remove it; or, if it is this group's copy made by another tool, adopt it: set its adminDescription to %s and the next cycle takes it over; "+
		"or choose other names with writeback.naming", what, op.Anchor)}
}

func (c *Client) update(ctx context.Context, a *gate.Approved, op reconcile.Op) error {
	req := ldap.NewModifyRequest(op.DN, nil)
	for _, ch := range op.Changes {
		switch {
		case len(ch.New) > 0:
			req.Replace(ch.Name, UniqueValues(ch.New, ch.Name == "proxyAddresses"))
		case len(ch.Old) > 0:
			req.Delete(ch.Name, nil)
		}
	}
	if len(req.Changes) == 0 {
		return nil
	}
	c.modifies.Add(1)
	return wrap("modify", op.DN, c.write(ctx, a, "modify", func(conn *ldap.Conn) error { return conn.Modify(req) }))
}

// Result codes that mean a member value was already there (add) or already
// gone (delete). AD honours the permissive-modify control; Samba does not
// for member and answers these instead, so a batch that meets one is
// retried value by value, skipping the values already in step.
var (
	alreadyThere = []uint16{ldap.LDAPResultAttributeOrValueExists, ldap.LDAPResultEntryAlreadyExists}
	alreadyGone  = []uint16{ldap.LDAPResultNoSuchAttribute, ldap.LDAPResultUnwillingToPerform}
)

// members adds or removes member values in one modify, falling back to one
// value at a time when the batch meets a value already in step.
func (c *Client) members(ctx context.Context, a *gate.Approved, dn string, values []string, add bool) error {
	values = UniqueValues(values, true)
	modify := func(vals []string) error {
		req := ldap.NewModifyRequest(dn, nil)
		if add {
			req.Add("member", vals)
		} else {
			req.Delete("member", vals)
		}
		c.modifies.Add(1)
		op := "remove members from"
		if add {
			op = "add members to"
		}
		return wrap(op, dn, c.write(ctx, a, "modify", func(conn *ldap.Conn) error { return conn.Modify(req) }))
	}
	benign := alreadyGone
	if add {
		benign = alreadyThere
	}
	err := modify(values)
	if err == nil || !IsCode(err, benign...) || len(values) == 1 {
		if len(values) == 1 && IsCode(err, benign...) {
			return nil
		}
		return err
	}
	c.logger.Info("member batch met values already in step; applying one by one", "dn", dn, "values", len(values))
	for _, v := range values {
		if err := modify([]string{v}); err != nil && !IsCode(err, benign...) {
			return err
		}
	}
	return nil
}
