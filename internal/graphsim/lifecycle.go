package graphsim

import "time"

// Deleting, restoring and purging objects, as Graph and deleted items do.

// remove deletes an object, as DELETE does. Users, Microsoft 365 groups
// and security groups go to deleted items for 30 days; only distribution
// lists go at once (https://learn.microsoft.com/graph/api/group-delete).
// A soft-deleted user keeps its group memberships, and no group delta
// item says anything of it ("Users that have been temporary deleted keep
// their group memberships and won't appear in the delta result until
// they're permanently deleted"); a group leaves the groups it was in.
func (t *Tenant) remove(k kind, id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.live[id]
	if o == nil || o.kind != k {
		return notFound(id)
	}
	delete(t.live, id)
	t.indexLocked(o, false)
	soft := k == kindUser || (k == kindGroup && !isDistributionList(o.props))
	if k == kindUser && soft {
		o.deletedAt = t.nowLocked()
		o.props["deletedDateTime"] = o.deletedAt.Format(time.RFC3339)
		t.deleted[id] = o
		t.emitLocked(k, id, opSoftDelete, nil, "")
		return nil
	}
	// The object leaves every group it was a member or owner of.
	for gid, g := range t.live {
		if g.kind != kindGroup {
			continue
		}
		if g.members[id] {
			delete(g.members, id)
			t.emitLocked(kindGroup, gid, opMemberRemove, nil, id)
			o.memberOf = append(o.memberOf, gid)
		}
		if g.owners[id] {
			delete(g.owners, id)
			t.emitLocked(kindGroup, gid, opOwnerRemove, nil, id)
		}
	}
	if !soft {
		t.emitLocked(k, id, opHardDelete, nil, "")
		return nil
	}
	o.deletedAt = t.nowLocked()
	o.props["deletedDateTime"] = o.deletedAt.Format(time.RFC3339)
	t.deleted[id] = o
	t.emitLocked(k, id, opSoftDelete, nil, "")
	return nil
}

func isUnified(p map[string]any) bool {
	types, _ := p["groupTypes"].([]any)
	for _, x := range types {
		if x == "Unified" {
			return true
		}
	}
	return false
}

// isDistributionList reports whether group properties describe a cloud
// distribution list: mail-enabled, not security-enabled, not Microsoft 365.
func isDistributionList(p map[string]any) bool {
	return p["mailEnabled"] == true && p["securityEnabled"] != true && !isUnified(p)
}

// dropMembershipsLocked removes a purged user from every group, silently:
// "a hard delete may not produce a group delta item at all".
func (t *Tenant) dropMembershipsLocked(id string) {
	for _, g := range t.live {
		if g.kind == kindGroup {
			delete(g.members, id)
			delete(g.owners, id)
		}
	}
}

// restore brings a soft-deleted object back, with the same id.
func (t *Tenant) restore(id string) (map[string]any, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.purgeLocked()
	o := t.deleted[id]
	if o == nil {
		return nil, notFound(id)
	}
	delete(t.deleted, id)
	delete(o.props, "deletedDateTime")
	o.deletedAt = time.Time{}
	t.live[id] = o
	t.indexLocked(o, true)
	t.emitLocked(o.kind, id, opRestore, nil, "")
	for _, gid := range o.memberOf {
		if g := t.live[gid]; g != nil && !g.members[id] {
			g.members[id] = true
			t.emitLocked(kindGroup, gid, opMemberAdd, nil, id)
		}
	}
	o.memberOf = nil
	return copyProps(o.props), nil
}

// purge permanently deletes a soft-deleted object.
func (t *Tenant) purge(id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.deleted[id]
	if o == nil {
		return notFound(id)
	}
	delete(t.deleted, id)
	if o.kind == kindUser {
		t.dropMembershipsLocked(id)
	}
	t.emitLocked(o.kind, id, opHardDelete, nil, "")
	return nil
}
