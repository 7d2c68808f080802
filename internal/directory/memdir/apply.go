package memdir

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// Apply carries out one planned operation with directory.Client's
// contract: an object it did not create is checked for the plan's anchor
// (or, written in place, its SID) first, and nothing is written when the
// check fails; a retry that finds its work done succeeds.
func (d *Directory) Apply(ctx context.Context, op reconcile.Op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if op.SID != "" {
		switch op.Action {
		case reconcile.Update, reconcile.AddMembers, reconcile.RemoveMembers:
		default:
			return fmt.Errorf("directory: %s of %s refused: a group written in place is never created, renamed, moved or deleted: %w", op.Action, op.DN, reconcile.ErrNotOwned)
		}
		if err := d.checkSID(op.DN, op.SID); err != nil {
			return err
		}
	} else if op.Action != reconcile.Create {
		if err := d.checkOwned(op.DN, op.Anchor); err != nil {
			return err
		}
	}
	var err error
	switch op.Action {
	case reconcile.Create:
		err = d.create(op)
	case reconcile.Update:
		err = d.update(op)
	case reconcile.Move:
		rdn, _ := policy.SplitDN(op.DN)
		err = d.moveTo(d.lookupDN(op.DN), rdn+","+op.NewParent)
	case reconcile.Rename:
		_, parent := policy.SplitDN(op.DN)
		err = d.moveTo(d.lookupDN(op.DN), op.NewRDN+","+parent)
	case reconcile.AddMembers:
		err = d.members(d.lookupDN(op.DN), op.Members, true)
	case reconcile.RemoveMembers:
		err = d.members(d.lookupDN(op.DN), op.Members, false)
	case reconcile.Delete:
		d.remove(d.lookupDN(op.DN))
	default:
		return fmt.Errorf("directory: unknown operation %q", op.Action)
	}
	if err == nil {
		d.writes.Add(1)
	}
	return err
}

func (d *Directory) checkOwned(dn, anchor string) error {
	e := d.lookupDN(dn)
	if e == nil || !e.isGroup() {
		return &directory.Error{Op: "check owner of", DN: dn, Code: ldap.LDAPResultNoSuchObject, Message: "no such group", Err: reconcile.ErrNotOwned}
	}
	found, ext := e.get("adminDescription"), e.get(directory.AnchorAttribute)
	if !directory.CarriesAnchor(found, ext, anchor) {
		return fmt.Errorf("directory: %s: expected anchor %s, found adminDescription %q and %s %q: %w", dn, anchor, found, directory.AnchorAttribute, ext, reconcile.ErrNotOwned)
	}
	return nil
}

func (d *Directory) checkSID(dn, sid string) error {
	e := d.lookupDN(dn)
	if e == nil || !e.isGroup() {
		return &directory.Error{Op: "check the SID of", DN: dn, Code: ldap.LDAPResultNoSuchObject, Message: "no such group", Err: reconcile.ErrNotOwned}
	}
	if !strings.EqualFold(e.sid, sid) {
		return fmt.Errorf("directory: %s: expected the group with SID %s, found %s: %w", dn, sid, e.sid, reconcile.ErrNotOwned)
	}
	return nil
}

func (d *Directory) create(op reconcile.Op) error {
	if d.lookupDN(op.DN) != nil {
		if d.checkOwned(op.DN, op.Anchor) == nil {
			return nil // ours: a retry whose first try was done
		}
		return d.fail("add", op.DN, ldap.LDAPResultEntryAlreadyExists, "an object of that name exists")
	}
	for _, ch := range op.Changes {
		if strings.EqualFold(ch.Name, "sAMAccountName") && len(ch.New) > 0 && d.samTaken(ch.New[0], nil) {
			return d.fail("add", op.DN, ldap.LDAPResultEntryAlreadyExists, "the sAMAccountName "+ch.New[0]+" is in use in the domain")
		}
	}
	members, err := d.resolve("add", op.DN, op.Members)
	if err != nil {
		return err
	}
	e, err := d.addChecked(op.DN, []string{"top", "group"})
	if err != nil {
		return err
	}
	for _, ch := range op.Changes {
		e.set(ch.Name, directory.UniqueValues(ch.New, ch.Name == "proxyAddresses"))
	}
	for _, m := range members {
		e.addMember(m.guid)
	}
	return nil
}

func (d *Directory) samTaken(sam string, except *entry) bool {
	e := d.bySAM[strings.ToLower(sam)]
	return e != nil && e != except
}

func (d *Directory) update(op reconcile.Op) error {
	e := d.lookupDN(op.DN)
	for _, ch := range op.Changes {
		if len(ch.New) == 0 && len(ch.Old) > 0 && e.attrs[strings.ToLower(ch.Name)] == nil {
			return d.fail("modify", op.DN, ldap.LDAPResultNoSuchAttribute, "no "+ch.Name+" to delete")
		}
		if strings.EqualFold(ch.Name, "sAMAccountName") && len(ch.New) > 0 && d.samTaken(ch.New[0], e) {
			return d.fail("modify", op.DN, ldap.LDAPResultEntryAlreadyExists, "the sAMAccountName "+ch.New[0]+" is in use in the domain")
		}
	}
	for _, ch := range op.Changes {
		switch {
		case len(ch.New) > 0:
			e.set(ch.Name, directory.UniqueValues(ch.New, ch.Name == "proxyAddresses"))
		case len(ch.Old) > 0:
			e.set(ch.Name, nil)
		}
	}
	return nil
}

// moveTo renames or moves e to newDN; members of other groups follow, as
// AD's linked attributes do.
func (d *Directory) moveTo(e *entry, newDN string) error {
	if policy.SameDN(e.dn, newDN) {
		return nil
	}
	if d.lookupDN(newDN) != nil {
		return d.fail("modrdn", e.dn, ldap.LDAPResultEntryAlreadyExists, "an object of that name exists")
	}
	if _, parent := policy.SplitDN(newDN); d.lookupDN(parent) == nil {
		return d.fail("modrdn", e.dn, ldap.LDAPResultNoSuchObject, "the new parent does not exist")
	}
	old, _ := key(e.dn)
	nk, err := key(newDN)
	if err != nil {
		return d.fail("modrdn", e.dn, ldap.LDAPResultInvalidDNSyntax, err.Error())
	}
	delete(d.byKey, old)
	e.dn = newDN
	d.byKey[nk] = e
	return nil
}

// members adds or removes member values; values already in step are
// stepped over, as directory.Client does. A value naming no object is
// refused, as AD refuses it, and then nothing of the batch is written.
func (d *Directory) members(e *entry, values []string, add bool) error {
	op := "remove members from"
	if add {
		op = "add members to"
	}
	var refs []*entry
	if add {
		var err error
		if refs, err = d.resolve(op, e.dn, values); err != nil {
			return err
		}
	} else {
		for _, v := range values {
			if r := d.lookupDN(v); r != nil {
				refs = append(refs, r)
			}
		}
	}
	for _, r := range refs {
		if add {
			e.addMember(r.guid)
		} else {
			e.removeMember(r.guid)
		}
	}
	return nil
}

// addMember adds the object guid to e's members, unless it is one.
func (e *entry) addMember(guid string) {
	// A set kept beside the list, not one built for each batch: groups
	// of a million members are written a thousand values at a time.
	if e.isMember == nil {
		e.isMember = make(map[string]bool, len(e.members))
		for _, g := range e.members {
			e.isMember[g] = true
		}
	}
	if !e.isMember[guid] {
		e.isMember[guid] = true
		e.members = append(e.members, guid)
	}
}

// removeMember takes the object guid out of e's members.
func (e *entry) removeMember(guid string) {
	if e.isMember != nil && !e.isMember[guid] {
		return
	}
	delete(e.isMember, guid)
	if i := slices.Index(e.members, guid); i >= 0 {
		e.members = slices.Delete(e.members, i, i+1)
	}
}

// resolve finds the object of each member DN; one that names none fails
// the whole operation.
func (d *Directory) resolve(op, dn string, values []string) ([]*entry, error) {
	var out []*entry
	for _, v := range values {
		r := d.lookupDN(v)
		if r == nil {
			return nil, d.fail(op, dn, ldap.LDAPResultNoSuchObject, "the member "+v+" does not exist")
		}
		out = append(out, r)
	}
	return out, nil
}

// remove deletes e and takes it out of every group, as AD does.
func (d *Directory) remove(e *entry) {
	k, _ := key(e.dn)
	delete(d.byKey, k)
	delete(d.byGUID, e.guid)
	delete(d.bySID, strings.ToUpper(e.sid))
	if d.bySAM[strings.ToLower(e.get("sAMAccountName"))] == e {
		delete(d.bySAM, strings.ToLower(e.get("sAMAccountName")))
	}
	for _, g := range d.byKey {
		g.removeMember(e.guid)
	}
}
