package graph

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unique"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

// The properties read. Groups come from the beta endpoint, the only one
// that has writebackConfiguration.
var (
	groupSelect = []string{"displayName", "description", "mail", "mailEnabled", "mailNickname", "securityEnabled",
		"groupTypes", "proxyAddresses", "onPremisesSyncEnabled", "onPremisesSecurityIdentifier",
		"writebackConfiguration", "members", "owners"}
	userSelect = []string{"displayName", "userPrincipalName", "onPremisesSyncEnabled", "onPremisesImmutableId",
		"onPremisesSecurityIdentifier", "onPremisesDistinguishedName", "onPremisesSamAccountName", "onPremisesDomainName"}
)

// maxResyncs bounds how often one round restarts on Graph's request.
const maxResyncs = 3

// maxSamePages is how many times in a row the same page may come, each
// with a new next link, before a round counts as looping. (Graph repeats a
// group's items across pages, but not whole pages.)
const maxSamePages = 5

// defaultMaxPages bounds one round: a million pages is far more than the
// largest tenant needs (100,000 groups of 1,000 members at 100 items a
// page is about 1,000,000 member chunks, but Graph packs many to an item).
const defaultMaxPages = 1_000_000

// pageBody is what identifies a page's content.
func pageBody(p deltaPage) []byte {
	b, _ := json.Marshal(p.Value) // raw messages Graph sent, already parsed: cannot fail
	return b
}

// deltaPage is one page of a delta response.
type deltaPage struct {
	Value     []map[string]json.RawMessage `json:"value"`
	NextLink  string                       `json:"@odata.nextLink"`
	DeltaLink string                       `json:"@odata.deltaLink"`
}

// readRound follows one delta round from link (or from initial when link is
// empty) to its delta link, feeding each item to add. On a resync it calls
// reset and starts again from initial.
func (c *Client) readRound(ctx context.Context, what, initial, link string, add func(map[string]json.RawMessage) bool, reset func()) (full bool, deltaLink string, st cloud.RoundStats, err error) {
	full = link == ""
	next := link
	if full {
		next = initial
	}
	seen := map[string]int{}
	var lastPage [32]byte
	same := 0
	for {
		// A round that never ends must not hang a cycle: a next link seen
		// before, the same page again and again, or more pages than any
		// tenant needs end it with an error.
		if seen[next]++; seen[next] > maxSamePages {
			return false, "", st, fmt.Errorf("graph: %s delta round: Graph sent the same next link %d times (%s): it pages in a loop; stopping the round", what, seen[next], pathOf(next))
		}
		if st.Pages >= c.maxPages {
			return false, "", st, fmt.Errorf("graph: %s delta round: more than %d pages; stopping the round (Graph may be paging in a loop)", what, c.maxPages)
		}
		if err := c.checkLink(next); err != nil {
			return false, "", st, err
		}
		var page deltaPage
		err := c.get(ctx, next, nil, &page)
		if err != nil && !errors.Is(err, ErrResyncRequired) && next != initial && refusedLink(err) {
			// A link Graph no longer takes, with a code it does not
			// document (Directory_ExpiredPageToken, …): start again once.
			err = fmt.Errorf("%w: %w", ErrResyncRequired, err)
		}
		if errors.Is(err, ErrResyncRequired) {
			if st.Resyncs++; st.Resyncs > maxResyncs {
				return false, "", st, fmt.Errorf("graph: resync asked for %d times in one round: %w", st.Resyncs, err)
			}
			c.logger.Warn("graph asked for a full resync; reading everything again", "path", pathOf(next), "error", err)
			reset()
			full, next = true, initial
			seen, same = map[string]int{}, 0
			continue
		}
		if err != nil {
			return false, "", st, err
		}
		st.Pages++
		if h := sha256.Sum256(pageBody(page)); h == lastPage && len(page.Value) > 0 {
			if same++; same >= maxSamePages {
				return false, "", st, fmt.Errorf("graph: %s delta round: Graph sent the same page %d times in a row, each with a new next link; stopping the round", what, same+1)
			}
		} else {
			lastPage, same = h, 0
		}
		for _, item := range page.Value {
			st.Items++
			if !add(item) {
				st.Skipped++
			}
		}
		if c.progress != nil {
			c.progress(what, st.Items)
		}
		switch {
		case page.NextLink != "":
			next = page.NextLink
		case page.DeltaLink != "":
			if err := c.checkLink(page.DeltaLink); err != nil {
				return false, "", st, err
			}
			return full, page.DeltaLink, st, nil
		default:
			return false, "", st, fmt.Errorf("graph: GET %s: page has neither @odata.nextLink nor @odata.deltaLink", pathOf(next))
		}
	}
}

// DeltaProbe is one of the first delta requests a sync makes, asked with
// $deltatoken=latest so that Graph answers at once with an empty round: if
// Graph no longer takes the URL (a property dropped from $select, the beta
// endpoint changed), doctor says so as one failed check.
type DeltaProbe struct {
	// Name says what is read: "groups (beta)" or "users".
	Name string
	// URL is the sync's own first request; the probe adds $deltatoken=latest.
	URL string
}

// DeltaProbes are the sync's first delta requests, as it makes them.
func (c *Client) DeltaProbes() []DeltaProbe {
	return []DeltaProbe{{"groups (beta)", c.deltaURL("beta", "groups", c.groupSelect())}, {"users", c.deltaURL("v1.0", "users", userSelect)}}
}

// ProbeDelta makes the request of p with $deltatoken=latest.
func (c *Client) ProbeDelta(ctx context.Context, p DeltaProbe) error {
	var page deltaPage
	if err := c.get(ctx, p.URL+"&$deltatoken=latest", nil, &page); err != nil {
		return err
	}
	if page.DeltaLink == "" && page.NextLink == "" {
		return fmt.Errorf("graph: GET %s: the answer has neither @odata.deltaLink nor @odata.nextLink", pathOf(p.URL))
	}
	return nil
}

func (c *Client) deltaURL(api, collection string, sel []string) string {
	return c.endpoint("/"+api+"/"+collection+"/delta", url.Values{"$select": {strings.Join(sel, ",")}})
}

// groupSelect is groupSelect with the extension properties asked for.
func (c *Client) groupSelect() []string {
	sel := slices.Clone(groupSelect)
	for _, name := range c.groupExtensions {
		prop := name
		if isExtensionAttribute(name) {
			prop = "onPremisesExtensionAttributes"
		}
		if !slices.Contains(sel, prop) {
			sel = append(sel, prop)
		}
	}
	return sel
}

// isExtensionAttribute reports whether name is one of the fifteen
// extensionAttributeN of onPremisesExtensionAttributes.
func isExtensionAttribute(name string) bool {
	n, ok := strings.CutPrefix(name, "extensionAttribute")
	i, err := strconv.Atoi(n)
	return ok && err == nil && i >= 1 && i <= 15 && n == strconv.Itoa(i)
}

// decodeExtensions reads the asked-for extension properties item carries
// into g.Extensions, and reports whether it carried any. A null (or, in
// an onPremisesExtensionAttributes object, an absent one) is a cleared
// property: no values.
func (c *Client) decodeExtensions(item map[string]json.RawMessage, g *cloud.Group) (bool, error) {
	found := false
	var attrs map[string]json.RawMessage
	if raw, ok := item["onPremisesExtensionAttributes"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &attrs); err != nil {
			return false, fmt.Errorf("onPremisesExtensionAttributes: %w", err)
		}
	}
	for _, name := range c.groupExtensions {
		var raw json.RawMessage
		if isExtensionAttribute(name) {
			if _, ok := item["onPremisesExtensionAttributes"]; !ok {
				continue
			}
			raw = attrs[name]
		} else {
			var ok bool
			if raw, ok = item[name]; !ok {
				continue
			}
		}
		vals, err := extensionValues(raw)
		if err != nil {
			return found, fmt.Errorf("%s: %w", name, err)
		}
		if g.Extensions == nil {
			g.Extensions = map[string][]string{}
		}
		g.Extensions[name] = vals
		found = true
	}
	return found, nil
}

// extensionValues are an extension property's values as text: a string,
// number or boolean is one, a collection its items, null none.
func extensionValues(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var items []json.RawMessage
	if raw[0] != '[' {
		items = []json.RawMessage{raw}
	} else if err := json.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	var out []string
	for _, it := range items {
		if string(it) == "null" {
			continue
		}
		var s string
		if err := json.Unmarshal(it, &s); err == nil {
			out = append(out, s)
			continue
		}
		var v any
		if err := json.Unmarshal(it, &v); err != nil {
			return nil, err
		}
		out = append(out, strings.TrimSpace(string(it)))
	}
	return out, nil
}

// GroupsDelta reads one round of group changes: all groups when link is
// empty, else the changes since the round that returned link.
func (c *Client) GroupsDelta(ctx context.Context, link string) (*cloud.GroupRound, error) {
	m := newMerger[groupAcc]()
	full, dl, st, err := c.readRound(ctx, "groups", c.deltaURL("beta", "groups", c.groupSelect()), link,
		func(item map[string]json.RawMessage) bool { return mergeGroupItem(m, item, c) }, m.reset)
	if err != nil {
		return nil, err
	}
	r := &cloud.GroupRound{Full: full, DeltaLink: dl, Stats: st}
	for _, id := range m.order {
		r.Changes = append(r.Changes, m.items[id].finish())
	}
	return r, nil
}

// UsersDelta reads one round of user changes, as GroupsDelta does for groups.
func (c *Client) UsersDelta(ctx context.Context, link string) (*cloud.UserRound, error) {
	m := newMerger[cloud.UserDelta]()
	full, dl, st, err := c.readRound(ctx, "users", c.deltaURL("v1.0", "users", userSelect), link,
		func(item map[string]json.RawMessage) bool { return mergeUserItem(m, item, c) }, m.reset)
	if err != nil {
		return nil, err
	}
	r := &cloud.UserRound{Full: full, DeltaLink: dl, Stats: st}
	for _, id := range m.order {
		r.Changes = append(r.Changes, *m.items[id])
	}
	return r, nil
}

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

// refAcc keeps the last change to each reference, in first-seen order.
type refAcc struct {
	state map[string]refState
	order []string
}

type refState struct {
	typ   cloud.ObjectType
	added bool
}

func (a *refAcc) add(id string, s refState) {
	if a.state == nil {
		a.state = map[string]refState{}
	}
	if _, ok := a.state[id]; !ok {
		a.order = append(a.order, id)
	}
	a.state[id] = s
}

func (a *refAcc) split() (added, removed []cloud.ObjectRef) {
	for _, id := range a.order {
		s := a.state[id]
		if s.added {
			added = append(added, cloud.ObjectRef{ID: id, Type: s.typ})
		} else {
			removed = append(removed, cloud.ObjectRef{ID: id, Type: s.typ})
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
		acc.add(unique.Make(r.ID).Value(), refState{typ: cloud.TypeFromOData(r.Type), added: len(r.Removed) == 0 || string(r.Removed) == "null"})
	}
	return nil
}
