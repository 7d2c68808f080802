package graph

import (
	"encoding/json"
	"errors"
	"fmt"
	"unique"

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
		id = unique.Make(id).Value() // the same string as in members@delta
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

// refAcc keeps a group's reference changes as they come, 24 bytes each:
// split keeps the last change to each reference, in first-seen order. A
// round of a whole tenant holds every membership here until it ends, so
// no map is kept per group while the round is read.
type refAcc struct {
	log []refState
}

type refState struct {
	id    string
	typ   cloud.ObjectType
	added bool
}

func (a *refAcc) add(s refState) { a.log = append(a.log, s) }

// split returns the references added and removed, each once, by its last
// change, in the order they were first seen; the log is let go.
func (a *refAcc) split() (added, removed []cloud.ObjectRef) {
	log := a.log
	a.log = nil
	last := make(map[string]int, len(log)) // an id's last change, by index
	for i, s := range log {
		last[s.id] = i
	}
	nAdded := 0
	for _, i := range last {
		if log[i].added {
			nAdded++
		}
	}
	if nAdded > 0 {
		added = make([]cloud.ObjectRef, 0, nAdded)
	}
	if n := len(last) - nAdded; n > 0 {
		removed = make([]cloud.ObjectRef, 0, n)
	}
	for _, s := range log {
		i, first := last[s.id]
		if !first {
			continue // listed already, by its first sighting
		}
		delete(last, s.id)
		if ls := log[i]; ls.added {
			added = append(added, cloud.ObjectRef{ID: s.id, Type: ls.typ})
		} else {
			removed = append(removed, cloud.ObjectRef{ID: s.id, Type: ls.typ})
		}
	}
	return added, removed
}

func (g *groupAcc) finish() cloud.GroupDelta {
	d := g.d
	d.MembersAdded, d.MembersRemoved = g.members.split()
	d.OwnersAdded, d.OwnersRemoved = g.owners.split()
	return d
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

func mergeGroupItem(m *merger[groupAcc], item map[string]json.RawMessage, c *Client) bool {
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
	present, err := decodeFields(item, groupFields(&acc.d.Values))
	acc.d.Present |= present
	if err == nil {
		var ext bool
		if ext, err = c.decodeExtensions(item, &acc.d.Values); ext {
			acc.d.Present |= cloud.GroupExtensions
		}
	}
	if err == nil {
		err = decodeRefs(item["members@delta"], &acc.members)
	}
	if err == nil {
		err = decodeRefs(item["owners@delta"], &acc.owners)
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
	present, err := decodeFields(item, userFields(&d.Values))
	d.Present |= present
	if err != nil {
		c.logger.Warn("user delta item has a malformed property; keeping the rest", "id", id, "error", err)
	}
	return true
}

// decodeRefs reads a members@delta or owners@delta array.
func decodeRefs(raw json.RawMessage, acc *refAcc) error {
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
	for _, r := range refs {
		if r.ID == "" {
			continue
		}
		// One copy of each id however many groups it is a member of: a
		// tenant's memberships outnumber its objects by far.
		acc.add(refState{id: unique.Make(r.ID).Value(), typ: cloud.TypeFromOData(r.Type), added: len(r.Removed) == 0 || string(r.Removed) == "null"})
	}
	return nil
}
