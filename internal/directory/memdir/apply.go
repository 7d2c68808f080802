package memdir

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// Write carries out one operation the write gate approved, with
// directory.Client's contract: it asks the fence before it writes, and a
// retry that finds its work done succeeds.
func (d *Directory) Write(ctx context.Context, a *gate.Approved) error {
	op, err := a.Op()
	if err != nil {
		return err
	}
	if err := d.answer(ctx); err != nil {
		return err
	}
	if _, err := a.Permit(); err != nil {
		return err
	}
	return d.apply(op)
}

// Edit makes a change as an AD admin would, outside the tool (no gate, no
// ownership): tests use it for hand edits the tool must meet, as they use
// an admin's connection on Samba.
func (d *Directory) Edit(op reconcile.Op) error { return d.apply(op) }

func (d *Directory) apply(op reconcile.Op) (err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !op.Creates() && d.lookupDN(op.DN) == nil {
		if op.Action == reconcile.Delete {
			return nil // already gone: a retry whose first try was done
		}
		return d.fail(string(op.Action), op.DN, ldap.LDAPResultNoSuchObject, "no such object")
	}
	switch op.Action {
	case reconcile.Create:
		err = d.create(op)
	case reconcile.Restore:
		err = d.restore(op)
	case reconcile.Update, reconcile.ChangeScope:
		err = d.update(op)
	case reconcile.Move, reconcile.Rename:
		err = d.moveTo(d.lookupDN(op.DN), op.FinalDN())
	case reconcile.AddMembers:
		err = d.members(d.lookupDN(op.DN), op.Members, true)
	case reconcile.RemoveMembers:
		err = d.members(d.lookupDN(op.DN), op.Members, false)
	case reconcile.Delete:
		d.bury(d.lookupDN(op.DN))
	default:
		return fmt.Errorf("directory: unknown operation %q", op.Action)
	}
	if err == nil {
		d.writes.Add(1)
	}
	return err
}

// Inspect reads the object at dn for the write gate, as
// directory.Client.Inspect does (holders: every group holding it, at any
// depth).
func (d *Directory) Inspect(ctx context.Context, dn string, holders bool) (*gate.Object, error) {
	if err := d.answer(ctx); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.lookupDN(dn)
	if e == nil && d.listDeleted {
		e = d.lookupDeleted(dn)
	}
	if e == nil {
		return nil, nil
	}
	o := &gate.Object{DN: e.dn, Class: slices.Clone(e.class), AdminDescription: e.get("adminDescription"), ExternalID: e.get(directory.AnchorAttribute),
		SID: e.sid, AdminCount: e.get("adminCount") == "1", Critical: e.critical, GroupType: e.get("groupType"),
		Deleted: e.lastKnownParent != "", LastKnownParent: e.lastKnownParent}
	if holders {
		seen := map[*entry]bool{}
		queue := d.heldBy(e)
		for len(queue) > 0 {
			h := queue[0]
			queue = queue[1:]
			if seen[h] {
				continue
			}
			seen[h] = true
			o.Holders = append(o.Holders, gate.Holder{DN: h.dn, SID: h.sid, AdminCount: h.get("adminCount") == "1"})
			queue = append(queue, d.heldBy(h)...)
		}
	}
	return o, nil
}

// heldBy are the groups e is a direct member of.
func (d *Directory) heldBy(e *entry) []*entry {
	var out []*entry
	for guid := range d.holders[e.guid] {
		if g := d.byGUID[guid]; g != nil {
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(a, b *entry) int { return strings.Compare(a.dn, b.dn) })
	return out
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
	if err := d.checkSchema("add", op.DN, changed(op)); err != nil {
		return err
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

// restore brings the deleted group at op.From back at op.DN with op's
// attributes, as directory.Client's one modify does; a retry that finds
// it back already succeeds.
func (d *Directory) restore(op reconcile.Op) error {
	e := d.lookupDeleted(op.From)
	if e == nil || !d.listDeleted {
		if d.checkOwned(op.DN, op.Anchor) == nil {
			return nil // ours: a retry whose first try was done
		}
		return d.fail("restore", op.From, ldap.LDAPResultNoSuchObject, "no such deleted object")
	}
	if !d.reanimate {
		return d.fail("restore", op.From, ldap.LDAPResultInsufficientAccessRights, "the account lacks the Reanimate Tombstones right on the domain")
	}
	if err := d.checkSchema("modify", op.From, changed(op)); err != nil {
		return err
	}
	sam := ""
	if ch, ok := op.Change("sAMAccountName"); ok && len(ch.New) > 0 {
		sam = ch.New[0]
	}
	if err := d.revive(e, op.DN, sam); err != nil {
		return err
	}
	for _, ch := range op.Changes {
		if len(ch.New) > 0 {
			e.set(ch.Name, directory.UniqueValues(ch.New, ch.Name == "proxyAddresses"))
		}
	}
	return nil
}

// AnyDeleted reports whether a deleted group carrying an anchor is there,
// as the account sees it (directory.Client.AnyDeleted).
func (d *Directory) AnyDeleted(ctx context.Context) (bool, error) {
	if err := d.answer(ctx); err != nil {
		return false, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.listDeleted {
		return false, nil
	}
	for _, e := range d.tombstones {
		if e.isGroup() && strings.HasPrefix(e.get(directory.AnchorAttribute), "Group_") {
			return true, nil
		}
	}
	return false, nil
}

// DeletedByAnchor finds the deleted groups carrying the anchors, as
// directory.Client does (by msDS-ExternalDirectoryObjectId, which a
// tombstone keeps), by lower-case anchor.
func (d *Directory) DeletedByAnchor(ctx context.Context, anchors []string) (map[string]reconcile.Deleted, error) {
	if err := d.answer(ctx); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	want := make(map[string]bool, len(anchors))
	for _, a := range anchors {
		want[strings.ToLower(a)] = true
	}
	out := map[string]reconcile.Deleted{}
	if !d.listDeleted {
		return out, nil
	}
	for _, e := range d.tombstones {
		a := e.get(directory.AnchorAttribute)
		if a != "" && e.isGroup() && want[strings.ToLower(a)] {
			out[strings.ToLower(a)] = reconcile.Deleted{DN: e.dn, Anchor: a, GUID: e.guid, SID: e.sid, SAM: e.get("sAMAccountName"), LastKnownParent: e.lastKnownParent}
		}
	}
	return out, nil
}

func (d *Directory) samTaken(sam string, except *entry) bool {
	e := d.bySAM[strings.ToLower(sam)]
	return e != nil && e != except
}

func (d *Directory) update(op reconcile.Op) error {
	e := d.lookupDN(op.DN)
	if err := d.checkSchema("modify", op.DN, changed(op)); err != nil {
		return err
	}
	for _, ch := range op.Changes {
		if len(ch.New) == 0 && len(ch.Old) > 0 && e.attrs[strings.ToLower(ch.Name)] == nil {
			return d.fail("modify", op.DN, ldap.LDAPResultNoSuchAttribute, "no "+ch.Name+" to delete")
		}
		if strings.EqualFold(ch.Name, "groupType") && len(ch.New) == 1 {
			if why := d.scopeChangeRefused(e, ch.New[0]); why != "" {
				return d.fail("modify", op.DN, ldap.LDAPResultUnwillingToPerform, why)
			}
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
	if add {
		for _, r := range refs {
			if why := d.nestingRefused(e, r); why != "" {
				return d.fail(op, e.dn, ldap.LDAPResultUnwillingToPerform, r.dn+": "+why)
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

// scopeOf is e's group scope ("" for an account).
func scopeOf(e *entry) string {
	s, _ := policy.ScopeOfGroupType(e.get("groupType"))
	return s
}

// nestingRefused says why Windows AD refuses holder holding member, by
// their group scopes ("" when it does not): a universal group holds no
// domain-local group; a global group only accounts and global groups of
// its own domain. (Samba 4.17 allows all of these, measured: memdir keeps
// AD's rules, as the tool must.)
func (d *Directory) nestingRefused(holder, member *entry) string {
	hs, ms := scopeOf(holder), scopeOf(member)
	switch {
	case hs == policy.ScopeUniversal && ms == policy.ScopeDomainLocal:
		return "a universal group cannot hold a domain-local group"
	case hs == policy.ScopeGlobal && (ms == policy.ScopeUniversal || ms == policy.ScopeDomainLocal):
		return "a global group holds only accounts and global groups"
	case hs == policy.ScopeGlobal && d.domainOf(member.dn) != d.domainOf(holder.dn):
		return "a global group holds members of its own domain only"
	}
	return ""
}

// scopeChangeRefused says why Windows AD refuses to change e's groupType
// to gt ("" when it does not): global and domain local change into each
// other only through universal; universal becomes global only holding no
// universal or domain-local group; global becomes universal only while no
// global group holds it; domain local becomes universal only holding no
// domain-local group. (Samba 4.17 refuses the first alone, measured.)
func (d *Directory) scopeChangeRefused(e *entry, gt string) string {
	from, _ := policy.ScopeOfGroupType(e.get("groupType"))
	to, _ := policy.ScopeOfGroupType(gt)
	holds := func(scopes ...string) bool {
		for _, g := range e.members {
			if m := d.byGUID[g]; m != nil && slices.Contains(scopes, scopeOf(m)) {
				return true
			}
		}
		return false
	}
	switch {
	case from == "" || to == "" || from == to:
	case from == policy.ScopeGlobal && to == policy.ScopeDomainLocal, from == policy.ScopeDomainLocal && to == policy.ScopeGlobal:
		return "a change between global and domain local goes through universal"
	case from == policy.ScopeUniversal && to == policy.ScopeGlobal && holds(policy.ScopeUniversal, policy.ScopeDomainLocal):
		return "a universal group holding universal or domain-local groups cannot become global"
	case from == policy.ScopeDomainLocal && to == policy.ScopeUniversal && holds(policy.ScopeDomainLocal):
		return "a domain-local group holding domain-local groups cannot become universal"
	case from == policy.ScopeGlobal && to == policy.ScopeUniversal:
		for _, h := range d.heldBy(e) {
			if scopeOf(h) == policy.ScopeGlobal {
				return "a global group held by a global group (" + h.dn + ") cannot become universal"
			}
		}
	}
	return ""
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
		if e.dir != nil {
			if e.dir.holders[guid] == nil {
				e.dir.holders[guid] = map[string]bool{}
			}
			e.dir.holders[guid][e.guid] = true
		}
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
	if e.dir != nil {
		delete(e.dir.holders[guid], e.guid)
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
	for guid := range d.holders[e.guid] {
		if g := d.byGUID[guid]; g != nil {
			g.removeMember(e.guid)
		}
	}
	delete(d.holders, e.guid)
	for _, m := range e.members {
		delete(d.holders[m], e.guid)
	}
}

// changed are the attributes op writes.
func changed(op reconcile.Op) []string {
	var out []string
	for _, ch := range op.Changes {
		out = append(out, ch.Name)
	}
	return out
}
