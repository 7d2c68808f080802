package cloud

import "slices"

// Field names one property of a Group or User that a delta item carried.
// Graph leaves out properties that did not change (with Prefer:
// return=minimal) or were never set, so a delta says which fields it has.
type Field uint32

// Group fields.
const (
	GroupDisplayName Field = 1 << iota
	GroupDescription
	GroupMail
	GroupMailNickname
	GroupMailEnabled
	GroupSecurityEnabled
	GroupTypes
	GroupProxyAddresses
	GroupOnPremisesSyncEnabled
	GroupOnPremisesSecurityIdentifier
	GroupWriteback
	// GroupExtensions: Values.Extensions holds the extensions the item
	// carried; one with no values was cleared.
	GroupExtensions
)

// User fields.
const (
	UserDisplayName Field = 1 << iota
	UserPrincipalName
	UserOnPremisesSyncEnabled
	UserOnPremisesObjectIdentifier
	UserOnPremisesSecurityIdentifier
	UserOnPremisesImmutableID
	UserOnPremisesDistinguishedName
	UserOnPremisesSamAccountName
	UserOnPremisesDomainName
	UserMail
	UserEmployeeID
	UserType
)

// GroupDelta is what one delta round says about one group, merged across the
// pages it was spread over. Values holds the fields named in Present.
type GroupDelta struct {
	ID      string
	Removed Removal
	// Values are the fields Graph sent (those Present says), nil for a
	// removal. TakeGroups takes them as the snapshot's group where the
	// round describes it anew: a round of a whole tenant's groups is never
	// held twice.
	Values  *Group
	Present Field
	// Members, of a group of a full round (Graph's reader sets it so), is
	// its whole member set, and MembersAdded and MembersRemoved are
	// empty: a round of a whole tenant holds each membership as a set
	// does (9 bytes, not a 24-byte ObjectRef), and the snapshot takes the
	// set as it is. Otherwise it is empty, and the lists say what changed.
	Members        Refs
	MembersAdded   []ObjectRef
	MembersRemoved []ObjectRef
	OwnersAdded    []ObjectRef
	OwnersRemoved  []ObjectRef
}

// UserDelta is what one delta round says about one user.
type UserDelta struct {
	ID      string
	Removed Removal
	// Values are the fields Graph sent (those Present says), nil for a
	// removal; a new user's are taken as the snapshot's user.
	Values  *User
	Present Field
}

// Snapshot is the tenant as last read: every group and user groupwriteback
// knows of, keyed by object id, and the tenant default for writing back new
// Microsoft 365 groups (directory setting Group.Unified,
// NewUnifiedGroupWritebackDefault; true when unset).
type Snapshot struct {
	Groups                  map[string]*Group
	Users                   map[string]*User
	UnifiedWritebackDefault bool
}

// NewSnapshot returns an empty snapshot with the tenant default of a tenant
// that never set it.
func NewSnapshot() *Snapshot {
	return &Snapshot{Groups: map[string]*Group{}, Users: map[string]*User{}, UnifiedWritebackDefault: true}
}

// ApplyGroups advances the snapshot by one round of group changes. A full
// round (the first, or one after Graph asked for a resync) describes every
// group that exists, so groups it does not mention are dropped.
func (s *Snapshot) ApplyGroups(full bool, deltas []GroupDelta) { s.applyGroups(full, deltas, false) }

// MemberDelta is what one round changed in the members of a group the
// snapshot held before it: Removed taken out, then Added put in (an id in
// both is a member).
type MemberDelta struct {
	Added, Removed []ObjectRef
}

// then is the change m followed by removed, then added: one change of
// the same effect.
func (m MemberDelta) then(added, removed []ObjectRef) MemberDelta {
	if len(m.Added)+len(m.Removed) == 0 {
		return MemberDelta{Added: added, Removed: removed}
	}
	gone := map[string]bool{}
	for _, r := range removed {
		gone[r.ID] = true
	}
	out := MemberDelta{Removed: append(slices.Clone(m.Removed), removed...)}
	for _, r := range m.Added {
		if !gone[r.ID] {
			out.Added = append(out.Added, r)
		}
	}
	out.Added = append(out.Added, added...)
	return out
}

// TakeGroups is ApplyGroups that takes the round's member and owner lists,
// and the values of each group it describes anew as the snapshot's group:
// each delta's are let go once applied (nil Values), so that a full round
// of a large tenant is not held twice (as the round, and as the snapshot). It
// returns, for a round that is not full, the member changes of each group
// the snapshot held before and still holds: what a state saves as the
// rows they change, rather than comparing the whole member list with what
// it stored (and what a group whose members were loaded in part must be
// saved from). A group the round made anew is not in it.
func (s *Snapshot) TakeGroups(full bool, deltas []GroupDelta) map[string]MemberDelta {
	return s.applyGroups(full, deltas, true)
}

func (s *Snapshot) applyGroups(full bool, deltas []GroupDelta, take bool) map[string]MemberDelta {
	var members map[string]MemberDelta
	if full {
		s.Groups = make(map[string]*Group, len(deltas))
	} else if take {
		members = map[string]MemberDelta{}
	}
	// Groups the round made anew (new, restored) are described whole: no
	// member changes are kept for them, whatever else the round says.
	anew := map[string]bool{}
	for i := range deltas {
		d := &deltas[i]
		switch d.Removed {
		case HardDeleted, RemovedUnknown:
			delete(s.Groups, d.ID)
			continue
		case SoftDeleted:
			g := s.Groups[d.ID]
			if g == nil {
				g = &Group{ID: d.ID}
				s.Groups[d.ID] = g
			}
			g.Removed = SoftDeleted
			continue
		}
		g, v := s.Groups[d.ID], d.Values
		if v == nil {
			v = &Group{} // nothing sent but its id: a field present is cleared
		}
		fresh, whole := g == nil || g.Removed != NotRemoved, !d.Members.IsZero()
		if fresh {
			// New, or back after a removal (restored): Graph describes
			// it in full, so nothing from before carries over. Taken from
			// the round, it keeps only the fields Graph sent.
			g, v = takeOrNew(take, &d.Values, v, Group{ID: d.ID})
			s.Groups[d.ID] = g
		}
		if fresh || whole {
			// Its members are the round's whole (a group given its
			// members whole keeps its other fields): no change to keep.
			anew[d.ID] = true
			delete(members, d.ID)
		} else if members != nil && !anew[d.ID] {
			// A group named twice (never, from Graph, which merges a
			// group's pages; possible from a caller) keeps both changes.
			members[d.ID] = members[d.ID].then(d.MembersAdded, d.MembersRemoved)
		}
		applyGroupFields(g, v, d.Present)
		if whole {
			g.Members = d.Members
			if !take {
				g.Members = RefsOf(d.Members.List()...) // the round keeps its own
			}
		}
		g.Members.Apply(d.MembersAdded, d.MembersRemoved)
		if len(d.OwnersAdded)+len(d.OwnersRemoved) > 0 {
			owners := g.OwnerRefs()
			owners.Apply(d.OwnersAdded, d.OwnersRemoved)
			g.Owners = nil
			if owners.Len() > 0 {
				g.Owners = &owners
			}
		}
		if take {
			d.Members, d.MembersAdded, d.MembersRemoved, d.OwnersAdded, d.OwnersRemoved = Refs{}, nil, nil, nil, nil
		}
	}
	return members
}

// applyGroupFields sets on g the fields of v that p says are present.
func applyGroupFields(g, v *Group, p Field) {
	set := func(f Field, apply func()) {
		if p&f != 0 {
			apply()
		}
	}
	set(GroupDisplayName, func() { g.DisplayName = v.DisplayName })
	set(GroupDescription, func() { g.Description = v.Description })
	set(GroupMail, func() { g.Mail = v.Mail })
	set(GroupMailNickname, func() { g.MailNickname = v.MailNickname })
	set(GroupMailEnabled, func() { g.MailEnabled = v.MailEnabled })
	set(GroupSecurityEnabled, func() { g.SecurityEnabled = v.SecurityEnabled })
	set(GroupTypes, func() { g.GroupTypes = v.GroupTypes })
	set(GroupProxyAddresses, func() { g.ProxyAddresses = v.ProxyAddresses })
	set(GroupOnPremisesSyncEnabled, func() { g.OnPremisesSyncEnabled = v.OnPremisesSyncEnabled })
	set(GroupOnPremisesSecurityIdentifier, func() { g.OnPremisesSecurityIdentifier = v.OnPremisesSecurityIdentifier })
	set(GroupWriteback, func() { g.Writeback = v.Writeback })
	set(GroupExtensions, func() {
		for name, vals := range v.Extensions {
			if len(vals) == 0 {
				delete(g.Extensions, name)
				continue
			}
			if g.Extensions == nil {
				g.Extensions = map[string][]string{}
			}
			g.Extensions[name] = vals
		}
	})
}

// ApplyUsers advances the snapshot by one round of user changes, as
// ApplyGroups does for groups. Users are kept only while they exist: a
// deleted user can no longer be a member of anything.
func (s *Snapshot) ApplyUsers(full bool, deltas []UserDelta) { s.applyUsers(full, deltas, false) }

// TakeUsers is ApplyUsers that takes the round's values of each user it
// describes anew as the snapshot's user (the round's Values become nil):
// a round of a whole tenant's users is never held twice.
func (s *Snapshot) TakeUsers(full bool, deltas []UserDelta) { s.applyUsers(full, deltas, true) }

func (s *Snapshot) applyUsers(full bool, deltas []UserDelta, take bool) {
	if full {
		s.Users = make(map[string]*User, len(deltas))
	}
	for i := range deltas {
		d := &deltas[i]
		switch d.Removed {
		case HardDeleted:
			delete(s.Users, d.ID)
			continue
		case SoftDeleted, RemovedUnknown:
			if u := s.Users[d.ID]; u != nil {
				u.Removed = d.Removed // keeps its keys and its memberships
			}
			continue
		}
		u, v := s.Users[d.ID], d.Values
		if v == nil {
			v = &User{} // nothing sent but its id: a field present is cleared
		}
		if u == nil || u.Removed != NotRemoved {
			// New, or restored: Graph describes it in full (taken, as
			// applyGroups takes a group).
			u, v = takeOrNew(take, &d.Values, v, User{ID: d.ID})
			s.Users[d.ID] = u
		}
		applyUserFields(u, v, d.Present)
	}
}

// takeOrNew is the object a round describes anew, blank (its id alone) but for
// the fields applied after, and the values to apply (v, the round's or
// nothing's). With take and the round's values, the object is the round's
// own, taken from it (*values becomes nil), and the values a copy of what
// it said; otherwise a new object.
func takeOrNew[T any](take bool, values **T, v *T, blank T) (obj, sent *T) {
	if take && *values != nil {
		said := *v
		obj, *values = *values, nil
		*obj = blank
		return obj, &said
	}
	return &blank, v
}

// applyUserFields sets on u the fields of v that p says are present.
func applyUserFields(u, v *User, p Field) {
	set := func(f Field, dst *string, src string) {
		if p&f != 0 {
			*dst = src
		}
	}
	set(UserDisplayName, &u.DisplayName, v.DisplayName)
	set(UserPrincipalName, &u.UserPrincipalName, v.UserPrincipalName)
	set(UserOnPremisesObjectIdentifier, &u.OnPremisesObjectIdentifier, v.OnPremisesObjectIdentifier)
	set(UserOnPremisesSecurityIdentifier, &u.OnPremisesSecurityIdentifier, v.OnPremisesSecurityIdentifier)
	set(UserOnPremisesImmutableID, &u.OnPremisesImmutableID, v.OnPremisesImmutableID)
	set(UserOnPremisesDistinguishedName, &u.OnPremisesDistinguishedName, v.OnPremisesDistinguishedName)
	set(UserOnPremisesSamAccountName, &u.OnPremisesSamAccountName, v.OnPremisesSamAccountName)
	set(UserOnPremisesDomainName, &u.OnPremisesDomainName, v.OnPremisesDomainName)
	set(UserMail, &u.Mail, v.Mail)
	set(UserEmployeeID, &u.EmployeeID, v.EmployeeID)
	set(UserType, &u.UserType, v.UserType)
	if p&UserOnPremisesSyncEnabled != 0 {
		u.OnPremisesSyncEnabled = v.OnPremisesSyncEnabled
	}
}
