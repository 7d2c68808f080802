package graph

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

// merger collects a round's items per object id, in first-seen order:
// Graph may return one object on several pages, or more than once.
type merger[T any] struct {
	items map[string]*T
	order []string
}

func newMerger[T any]() *merger[T] { return &merger[T]{items: map[string]*T{}} }

func (m *merger[T]) reset() { m.items, m.order = map[string]*T{}, nil }

// get returns the entry for id, fresh when it is new or when replace is set.
func (m *merger[T]) get(id string, replace bool) *T {
	e, ok := m.items[id]
	if !ok {
		m.order = append(m.order, id)
	}
	if !ok || replace {
		e = new(T)
		m.items[id] = e
	}
	return e
}

// itemHead reads an item's id and @removed reason.
func itemHead(item map[string]json.RawMessage) (id string, removed cloud.Removal, err error) {
	if raw, ok := item["id"]; ok {
		if err := json.Unmarshal(raw, &id); err != nil {
			return "", "", fmt.Errorf("id: %w", err)
		}
	}
	if raw, ok := item["@removed"]; ok {
		var r struct {
			Reason string `json:"reason"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return id, "", fmt.Errorf("@removed: %w", err)
		}
		switch r.Reason {
		case string(cloud.SoftDeleted):
			removed = cloud.SoftDeleted
		case string(cloud.HardDeleted):
			removed = cloud.HardDeleted
		default:
			// "might include additional information": no reason is no
			// licence to take the destructive path.
			removed = cloud.RemovedUnknown
		}
	}
	return id, removed, nil
}

// groupAcc accumulates one group's items within a round.
type groupAcc struct {
	d       cloud.GroupDelta
	members refAcc
	owners  refAcc
}

// groupMerger collects a round's groups, and numbers the ids their
// references name.
type groupMerger struct {
	*merger[groupAcc]
	refs refNumbers
}

func newGroupMerger() *groupMerger {
	return &groupMerger{merger: newMerger[groupAcc](), refs: newRefNumbers()}
}

// finish returns the delta of group id, its references each once, and
// lets its logs go. Of a group of a round that describes every group
// (whole), its members are its whole set (cloud.GroupDelta.Members), not
// a list of additions: a tenant's memberships are held as a set holds
// them, and the snapshot takes the set as it is.
func (m *groupMerger) finish(id string, whole bool) cloud.GroupDelta {
	g := m.items[id]
	d := g.d
	added, removed := g.members.split(&m.refs)
	if whole {
		d.Members.Apply(added, removed)
	} else {
		d.MembersAdded, d.MembersRemoved = added, removed
	}
	d.OwnersAdded, d.OwnersRemoved = g.owners.split(&m.refs)
	return d
}

// refNumbers numbers the ids a round's references name, so that a reference
// change is kept in 4 bytes (refAcc) rather than in a string header
// and flags (24): a round of a whole tenant holds every membership until
// it ends.
type refNumbers struct {
	num map[string]uint32
	ids []string
}

func newRefNumbers() refNumbers { return refNumbers{num: map[string]uint32{}} }

// maxRefNumbers is how many ids a round's references can name (28 bits).
const maxRefNumbers = 1 << 28

// of returns id's number, numbering it if it is new.
func (t *refNumbers) of(id string) (uint32, error) {
	if n, ok := t.num[id]; ok {
		return n, nil
	}
	if len(t.ids) >= maxRefNumbers {
		return 0, fmt.Errorf("a round names more than %d objects in its references", maxRefNumbers)
	}
	// One copy of each id however many groups it is a member of (the
	// members end as 16 bytes each in cloud.Refs).
	n := uint32(len(t.ids))
	t.num[id] = n
	t.ids = append(t.ids, id)
	return n, nil
}

// refAcc keeps a group's reference changes as they come, each one
// packed: the id's number (refNumbers), its kind, and whether it was added.
// split keeps the last change to each reference, in first-seen order; no
// map is kept per group while the round is read.
type refAcc struct {
	log []uint32
}

const (
	refAdded     = 1
	refTypeShift = 1
	refTypeBits  = 3
	refIDShift   = refTypeShift + refTypeBits
)

// Every kind fits in refTypeBits (a compile error otherwise).
var _ = [1 << refTypeBits]struct{}{}[cloud.TypeServicePrincipal]

func (a *refAcc) add(n uint32, typ cloud.ObjectType, added bool) {
	v := n<<refIDShift | uint32(typ&(1<<refTypeBits-1))<<refTypeShift
	if added {
		v |= refAdded
	}
	a.log = append(a.log, v)
}

// split returns the references added and removed, each once, by its last
// change, in the order they were first seen; the log is let go.
func (a *refAcc) split(t *refNumbers) (added, removed []cloud.ObjectRef) {
	log := a.log
	a.log = nil
	last := make(map[uint32]int, len(log)) // an id's last change, by index
	for i, v := range log {
		last[v>>refIDShift] = i
	}
	nAdded := 0
	for _, i := range last {
		if log[i]&refAdded != 0 {
			nAdded++
		}
	}
	if nAdded > 0 {
		added = make([]cloud.ObjectRef, 0, nAdded)
	}
	if n := len(last) - nAdded; n > 0 {
		removed = make([]cloud.ObjectRef, 0, n)
	}
	for _, v := range log {
		n := v >> refIDShift
		i, first := last[n]
		if !first {
			continue // listed already, by its first sighting
		}
		delete(last, n)
		ls := log[i]
		ref := cloud.ObjectRef{ID: t.ids[n], Type: cloud.ObjectType(ls >> refTypeShift & (1<<refTypeBits - 1))}
		if ls&refAdded != 0 {
			added = append(added, ref)
		} else {
			removed = append(removed, ref)
		}
	}
	return added, removed
}

// groupFields maps each group property to its Field and its destination.
func groupFields(v *cloud.Group) map[string]fieldDest {
	return map[string]fieldDest{
		"displayName":                  {cloud.GroupDisplayName, &v.DisplayName},
		"description":                  {cloud.GroupDescription, &v.Description},
		"mail":                         {cloud.GroupMail, &v.Mail},
		"mailNickname":                 {cloud.GroupMailNickname, &v.MailNickname},
		"mailEnabled":                  {cloud.GroupMailEnabled, &v.MailEnabled},
		"securityEnabled":              {cloud.GroupSecurityEnabled, &v.SecurityEnabled},
		"groupTypes":                   {cloud.GroupTypes, &v.GroupTypes},
		"proxyAddresses":               {cloud.GroupProxyAddresses, &v.ProxyAddresses},
		"onPremisesSyncEnabled":        {cloud.GroupOnPremisesSyncEnabled, &v.OnPremisesSyncEnabled},
		"onPremisesSecurityIdentifier": {cloud.GroupOnPremisesSecurityIdentifier, &v.OnPremisesSecurityIdentifier},
		"writebackConfiguration":       {cloud.GroupWriteback, &v.Writeback},
	}
}

// userFields are the user properties read. onPremisesObjectIdentifier (the
// objectGUID) is not among them: it is in neither v1.0's nor beta's user
// metadata, and selecting it would make Graph answer 400.
func userFields(v *cloud.User) map[string]fieldDest {
	return map[string]fieldDest{
		"displayName":                  {cloud.UserDisplayName, &v.DisplayName},
		"userPrincipalName":            {cloud.UserPrincipalName, &v.UserPrincipalName},
		"onPremisesSyncEnabled":        {cloud.UserOnPremisesSyncEnabled, &v.OnPremisesSyncEnabled},
		"onPremisesSecurityIdentifier": {cloud.UserOnPremisesSecurityIdentifier, &v.OnPremisesSecurityIdentifier},
		"onPremisesImmutableId":        {cloud.UserOnPremisesImmutableID, &v.OnPremisesImmutableID},
		"onPremisesDistinguishedName":  {cloud.UserOnPremisesDistinguishedName, &v.OnPremisesDistinguishedName},
		"onPremisesSamAccountName":     {cloud.UserOnPremisesSamAccountName, &v.OnPremisesSamAccountName},
		"onPremisesDomainName":         {cloud.UserOnPremisesDomainName, &v.OnPremisesDomainName},
		"mail":                         {cloud.UserMail, &v.Mail},
		"employeeId":                   {cloud.UserEmployeeID, &v.EmployeeID},
		"userType":                     {cloud.UserType, &v.UserType},
	}
}

type fieldDest struct {
	field cloud.Field
	dst   any
}

// decodeFields sets every known property present in item, null included
// (a cleared property), and returns the fields it set.
func decodeFields(item map[string]json.RawMessage, fields map[string]fieldDest) (cloud.Field, error) {
	var present cloud.Field
	for name, raw := range item {
		f, ok := fields[name]
		if !ok {
			continue
		}
		if string(raw) == "null" {
			// A null clears the property: reset the destination to zero.
			if err := json.Unmarshal([]byte(zeroJSON(f.dst)), f.dst); err != nil {
				return present, fmt.Errorf("%s: %w", name, err)
			}
		} else if err := json.Unmarshal(raw, f.dst); err != nil {
			return present, fmt.Errorf("%s: %w", name, err)
		}
		present |= f.field
	}
	return present, nil
}

func zeroJSON(dst any) string {
	switch dst.(type) {
	case *string:
		return `""`
	case *bool:
		return `false`
	case *[]string:
		return `[]`
	case *cloud.WritebackConfiguration:
		return `{}`
	}
	return `null`
}

func mergeGroupItem(m *groupMerger, item map[string]json.RawMessage, c *Client) bool {
	id, removed, err := itemHead(item)
	if err == nil && id == "" {
		err = errors.New("item has no id")
	}
	if err != nil {
		c.logger.Warn("skipping a group delta item Graph sent malformed", "id", id, "error", err)
		return false
	}
	if removed != cloud.NotRemoved {
		acc := m.get(id, true)
		acc.d = cloud.GroupDelta{ID: id, Removed: removed}
		return true
	}
	acc := m.get(id, m.items[id] != nil && m.items[id].d.Removed != cloud.NotRemoved)
	acc.d.ID = id
	if acc.d.Values == nil {
		acc.d.Values = &cloud.Group{}
	}
	present, err := decodeFields(item, groupFields(acc.d.Values))
	acc.d.Present |= present
	if err == nil {
		var ext bool
		if ext, err = c.decodeExtensions(item, acc.d.Values); ext {
			acc.d.Present |= cloud.GroupExtensions
		}
	}
	if err == nil {
		err = decodeRefs(item["members@delta"], &acc.members, &m.refs)
	}
	if err == nil {
		err = decodeRefs(item["owners@delta"], &acc.owners, &m.refs)
	}
	if err != nil {
		c.logger.Warn("group delta item has a malformed property; keeping the rest", "id", id, "error", err)
	}
	return true
}

func mergeUserItem(m *merger[cloud.UserDelta], item map[string]json.RawMessage, c *Client) bool {
	id, removed, err := itemHead(item)
	if err == nil && id == "" {
		err = errors.New("item has no id")
	}
	if err != nil {
		c.logger.Warn("skipping a user delta item Graph sent malformed", "id", id, "error", err)
		return false
	}
	if removed != cloud.NotRemoved {
		*m.get(id, true) = cloud.UserDelta{ID: id, Removed: removed}
		return true
	}
	d := m.get(id, m.items[id] != nil && m.items[id].Removed != cloud.NotRemoved)
	d.ID = id
	if d.Values == nil {
		d.Values = &cloud.User{}
	}
	present, err := decodeFields(item, userFields(d.Values))
	d.Present |= present
	if err != nil {
		c.logger.Warn("user delta item has a malformed property; keeping the rest", "id", id, "error", err)
	}
	return true
}

// decodeRefs reads a members@delta or owners@delta array.
func decodeRefs(raw json.RawMessage, acc *refAcc, t *refNumbers) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var refs []struct {
		Type    string          `json:"@odata.type"`
		ID      string          `json:"id"`
		Removed json.RawMessage `json:"@removed"`
	}
	if err := json.Unmarshal(raw, &refs); err != nil {
		return fmt.Errorf("members@delta: %w", err)
	}
	// Room for the whole array at once: a group's members mostly come in
	// one array, and a log grown by append would hold a third more than
	// it keeps until the round ends.
	acc.log = slices.Grow(acc.log, len(refs))
	for _, r := range refs {
		if r.ID == "" {
			continue
		}
		n, err := t.of(r.ID)
		if err != nil {
			return err
		}
		acc.add(n, cloud.TypeFromOData(r.Type), len(r.Removed) == 0 || string(r.Removed) == "null")
	}
	return nil
}
