package directory

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// Apply carries out one planned operation. Before it writes to an existing
// object it reads the object's anchor again: if it is not the one the plan
// expects, it writes nothing and returns an error wrapping
// reconcile.ErrNotOwned that says what it expected and found.
func (c *Client) Apply(ctx context.Context, op reconcile.Op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if op.SID != "" {
		// An original AD group written in place: only its members and
		// names change, and only while it is the group of that SID.
		switch op.Action {
		case reconcile.Update, reconcile.AddMembers, reconcile.RemoveMembers:
		default:
			return fmt.Errorf("directory: %s of %s refused: a group written in place is never created, renamed, moved or deleted: %w", op.Action, op.DN, reconcile.ErrNotOwned)
		}
		if err := c.checkSID(ctx, op.DN, op.SID); err != nil {
			return err
		}
	} else if op.Action != reconcile.Create {
		if err := c.checkOwned(ctx, op.DN, op.Anchor); err != nil {
			return err
		}
	}
	switch op.Action {
	case reconcile.Create:
		return c.create(ctx, op)
	case reconcile.Update:
		return c.update(ctx, op)
	case reconcile.Move:
		rdn, _ := policy.SplitDN(op.DN)
		return c.modifyDN(ctx, "move", op, rdn, op.NewParent, rdn+","+op.NewParent)
	case reconcile.Rename:
		_, parent := policy.SplitDN(op.DN)
		return c.modifyDN(ctx, "rename", op, op.NewRDN, "", op.NewRDN+","+parent)
	case reconcile.AddMembers:
		return c.members(ctx, op.DN, op.Members, true)
	case reconcile.RemoveMembers:
		return c.members(ctx, op.DN, op.Members, false)
	case reconcile.Delete:
		c.deletes.Add(1)
		err := c.do(ctx, "delete", func(conn *ldap.Conn) error { return conn.Del(ldap.NewDelRequest(op.DN, nil)) })
		if IsCode(err, ldap.LDAPResultNoSuchObject) {
			return nil // already gone: a retry after a lost connection whose first try was done
		}
		return wrap("delete", op.DN, err)
	}
	return fmt.Errorf("directory: unknown operation %q", op.Action)
}

// modifyDN renames or moves op.DN to newDN. If the object is no longer at
// op.DN but an object with the anchor is at newDN, the first try was done
// (its answer lost with the connection).
func (c *Client) modifyDN(ctx context.Context, what string, op reconcile.Op, rdn, parent, newDN string) error {
	c.renames.Add(1)
	err := c.do(ctx, "modrdn", func(conn *ldap.Conn) error { return conn.ModifyDN(ldap.NewModifyDNRequest(op.DN, rdn, true, parent)) })
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

// checkSID checks that dn is a group with objectSid sid.
func (c *Client) checkSID(ctx context.Context, dn, sid string) error {
	entries, err := c.search(ctx, dn, ldap.ScopeBaseObject, "(objectClass=group)", []string{"objectSid"})
	if err != nil {
		return err
	}
	if len(entries) != 1 {
		return &Error{Op: "check the SID of", DN: dn, Code: ldap.LDAPResultNoSuchObject, Message: "no such group", Err: reconcile.ErrNotOwned}
	}
	if got := SIDString(entries[0].GetRawAttributeValue("objectSid")); !strings.EqualFold(got, sid) {
		return fmt.Errorf("directory: %s: expected the group with SID %s, found %s: %w", dn, sid, got, reconcile.ErrNotOwned)
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

func (c *Client) create(ctx context.Context, op reconcile.Op) error {
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
	err := c.do(ctx, "add", func(conn *ldap.Conn) error { return conn.Add(req) })
	if IsCode(err, ldap.LDAPResultEntryAlreadyExists) {
		if c.checkOwned(ctx, op.DN, op.Anchor) == nil {
			return nil // ours: a retry after a lost connection whose first try was done
		}
		return c.nameTaken(ctx, op)
	}
	return wrap("add", op.DN, err)
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

func (c *Client) update(ctx context.Context, op reconcile.Op) error {
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
	return wrap("modify", op.DN, c.do(ctx, "modify", func(conn *ldap.Conn) error { return conn.Modify(req) }))
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
func (c *Client) members(ctx context.Context, dn string, values []string, add bool) error {
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
		return wrap(op, dn, c.do(ctx, "modify", func(conn *ldap.Conn) error { return conn.Modify(req) }))
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
