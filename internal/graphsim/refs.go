package graphsim

import "fmt"

// Members and owners, and the exported calls tests and the demo change the
// tenant with, each the in-process form of one of Graph's write calls.

// addRefLocked makes ref a member (or owner) of group gid.
func (t *Tenant) addRefLocked(gid, ref string, owner bool) error {
	g := t.live[gid]
	if g == nil || g.kind != kindGroup {
		return notFound(gid)
	}
	m := t.live[ref]
	if m == nil {
		return notFound(ref)
	}
	set, o, what := g.members, opMemberAdd, "members"
	if owner {
		set, o, what = g.owners, opOwnerAdd, "owners"
	}
	if set[ref] {
		return badRequest(fmt.Sprintf("One or more added object references already exist for the following modified properties: '%s'.", what))
	}
	set[ref] = true
	t.emitLocked(kindGroup, gid, o, nil, ref)
	return nil
}

func (t *Tenant) addRef(gid, ref string, owner bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.addRefLocked(gid, ref, owner)
}

func (t *Tenant) removeRef(gid, ref string, owner bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.live[gid]
	if g == nil || g.kind != kindGroup {
		return notFound(gid)
	}
	set, o := g.members, opMemberRemove
	if owner {
		set, o = g.owners, opOwnerRemove
	}
	if !set[ref] {
		return notFound(ref)
	}
	delete(set, ref)
	t.emitLocked(kindGroup, gid, o, nil, ref)
	return nil
}

// AddMember, RemoveMember, CreateGroup, CreateUser, UpdateGroup, Delete and
// Restore are the in-process form of Graph's write calls, for tests.

// CreateGroup creates a group as POST /groups does and returns its id.
func (t *Tenant) CreateGroup(props map[string]any) (string, error) {
	p, err := t.create(kindGroup, props)
	if err != nil {
		return "", err
	}
	return p["id"].(string), nil
}

// CreateUser creates a user as POST /users does and returns its id.
func (t *Tenant) CreateUser(props map[string]any) (string, error) {
	p, err := t.create(kindUser, props)
	if err != nil {
		return "", err
	}
	return p["id"].(string), nil
}

// UpdateGroup changes a group's properties as PATCH /groups/{id} does.
func (t *Tenant) UpdateGroup(id string, props map[string]any) error {
	return t.update(kindGroup, id, props)
}

// UpdateUser changes a user's properties as PATCH /users/{id} does.
func (t *Tenant) UpdateUser(id string, props map[string]any) error {
	return t.update(kindUser, id, props)
}

// DeleteGroup deletes a group as DELETE /groups/{id} does.
func (t *Tenant) DeleteGroup(id string) error { return t.remove(kindGroup, id) }

// DeleteUser deletes a user as DELETE /users/{id} does.
func (t *Tenant) DeleteUser(id string) error { return t.remove(kindUser, id) }

// Restore restores a deleted item as POST /directory/deletedItems/{id}/restore does.
func (t *Tenant) Restore(id string) error { _, err := t.restore(id); return err }

// PurgeDeleted permanently deletes a deleted item.
func (t *Tenant) PurgeDeleted(id string) error { return t.purge(id) }

// AddMember adds a member as POST /groups/{id}/members/$ref does.
func (t *Tenant) AddMember(groupID, memberID string) error { return t.addRef(groupID, memberID, false) }

// RemoveMember removes a member as DELETE /groups/{id}/members/{id}/$ref does.
func (t *Tenant) RemoveMember(groupID, memberID string) error {
	return t.removeRef(groupID, memberID, false)
}
