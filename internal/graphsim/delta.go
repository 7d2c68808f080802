package graphsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// deltaTokenLifetime is how long Graph keeps a directory delta token valid.
const deltaTokenLifetime = 7 * 24 * time.Hour

// deltaState is what a $deltatoken encodes: where the last round ended and
// the query it was made with.
type deltaState struct {
	Generation string   `json:"g"`
	Kind       kind     `json:"k"`
	API        string   `json:"a"`
	Version    uint64   `json:"v"`
	Select     []string `json:"s,omitempty"`
	Filter     []string `json:"f,omitempty"`
	Issued     int64    `json:"t"`
}

func (d deltaState) encode() string {
	b, _ := json.Marshal(d)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeDeltaState(s string) (deltaState, error) {
	var d deltaState
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return d, err
	}
	err = json.Unmarshal(b, &d)
	return d, err
}

// plan is one round of a delta query, computed when the round starts so
// that every page of it describes the same moment (as Graph's state tokens
// do), and kept until its last page is read.
type plan struct {
	items   []map[string]any
	next    deltaState
	created time.Time
}

type objChange struct {
	full    bool
	props   map[string]bool
	members []refChange
	owners  []refChange
}

type refChange struct {
	id    string
	added bool
}

// netRefs keeps the last change per reference, in first-seen order.
func netRefs(changes []refChange) []refChange {
	last := map[string]int{}
	var out []refChange
	for _, c := range changes {
		if i, ok := last[c.id]; ok {
			out[i].added = c.added
			continue
		}
		last[c.id] = len(out)
		out = append(out, c)
	}
	return out
}

// planOptions are how a round is rendered, faults included.
type planOptions struct {
	minimal        bool
	replay         uint64
	membersPerItem int
	// lag leaves the last lag changes out of an incremental round; the
	// next round carries them (replication lag: "recent changes may not
	// appear in the delta link's results").
	lag uint64
	// initialRemovals puts @removed items (soft-deleted objects) and
	// removed member references into an initial round, as Graph may.
	initialRemovals bool
	// interleave spreads one object's items across the round, between
	// other objects' items, instead of keeping them together.
	interleave bool
}

func (t *Tenant) buildPlanWithLocked(from deltaState, o planOptions) *plan {
	minimal, replay, membersPerItem := o.minimal, o.replay, o.membersPerItem
	initial := from.Version == 0
	start := from.Version
	if !initial && replay > 0 {
		// Fault: widen the round backwards so changes already delivered
		// come again, as Graph's replays do.
		if start > replay {
			start -= replay
		} else {
			start = 1
		}
	}
	filter := map[string]bool{}
	for _, id := range from.Filter {
		filter[id] = true
	}
	changes := map[string]*objChange{}
	var order []string
	end := t.version
	if !initial && o.lag > 0 && end-start > o.lag {
		end -= o.lag
	}
	i := sort.Search(len(t.log), func(i int) bool { return t.log[i].v > start })
	for _, e := range t.log[i:] {
		if e.v > end {
			break
		}
		if e.kind != from.Kind || (len(filter) > 0 && !filter[e.id]) {
			continue
		}
		c := changes[e.id]
		if c == nil {
			c = &objChange{props: map[string]bool{}}
			changes[e.id] = c
			order = append(order, e.id)
		}
		switch e.op {
		case opCreate, opRestore:
			c.full = true
		case opUpdate:
			for _, p := range e.props {
				c.props[p] = true
			}
		case opMemberAdd, opMemberRemove:
			c.members = append(c.members, refChange{e.ref, e.op == opMemberAdd})
		case opOwnerAdd, opOwnerRemove:
			c.owners = append(c.owners, refChange{e.ref, e.op == opOwnerAdd})
		}
	}
	sel := selection(from.Kind, from.API, from.Select)
	p := &plan{next: from, created: t.nowLocked()}
	p.next.Version = end
	p.next.Issued = p.created.Unix()
	var byObject [][]map[string]any
	for _, id := range order {
		// With initialRemovals, an initial round is rendered as a later one
		// over the whole history: deleted objects come as @removed items
		// and removed members as removed references.
		byObject = append(byObject, t.renderLocked(id, changes[id], sel, initial && !o.initialRemovals, minimal, membersPerItem))
	}
	if o.interleave {
		// Round-robin: the first item of every object, then the second …
		for n := 0; ; n++ {
			more := false
			for _, items := range byObject {
				if n < len(items) {
					p.items, more = append(p.items, items[n]), true
				}
			}
			if !more {
				break
			}
		}
		return p
	}
	for _, items := range byObject {
		p.items = append(p.items, items...)
	}
	return p
}

// renderLocked turns one object's changes into delta items: usually one, or
// several when its member changes are too many for one item.
func (t *Tenant) renderLocked(id string, c *objChange, sel map[string]bool, initial, minimal bool, membersPerItem int) []map[string]any {
	o := t.live[id]
	if o == nil {
		if initial {
			return nil // created and deleted before the first round
		}
		reason := "deleted"
		if t.deleted[id] != nil {
			reason = "changed"
		}
		return []map[string]any{{"id": id, "@removed": map[string]any{"reason": reason}}}
	}
	full := c.full || initial
	item := map[string]any{"id": id}
	for prop := range sel {
		if prop == "members" || prop == "owners" {
			continue
		}
		v, set := o.props[prop]
		switch {
		case full || !minimal:
			if set {
				item[prop] = v
			} else if c.props[prop] {
				item[prop] = nil // cleared in this round
			}
		case c.props[prop]:
			item[prop] = v // nil when the property was cleared
		}
	}
	var members, owners []refChange
	if sel["members"] {
		members = t.refsLocked(o.members, c.members, full, initial)
	}
	if sel["owners"] {
		owners = t.refsLocked(o.owners, c.owners, full, initial)
	}
	touched := full || len(members) > 0 || len(owners) > 0
	for prop := range c.props {
		touched = touched || sel[prop]
	}
	if !touched {
		return nil // only unselected properties changed
	}
	if len(owners) > 0 {
		item["owners@delta"] = t.refItemsLocked(owners)
	}
	if len(members) == 0 {
		// Graph omits members@delta when there is nothing to say.
		return []map[string]any{item}
	}
	var out []map[string]any
	for start := 0; start < len(members); start += membersPerItem {
		end := min(start+membersPerItem, len(members))
		chunk := copyProps(item)
		if start > 0 {
			delete(chunk, "owners@delta")
		}
		chunk["members@delta"] = t.refItemsLocked(members[start:end])
		out = append(out, chunk)
	}
	return out
}

// refsLocked lists an object's member (or owner) changes: the net changes
// of the round, or, for an object described in full, every current
// reference plus (outside the initial round) those removed in the round.
func (t *Tenant) refsLocked(current map[string]bool, changes []refChange, full, initial bool) []refChange {
	if !full {
		return netRefs(changes)
	}
	ids := make([]string, 0, len(current))
	for id := range current {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]refChange, len(ids))
	for i, id := range ids {
		out[i] = refChange{id, true}
	}
	if !initial {
		for _, c := range netRefs(changes) {
			if !c.added && !current[c.id] {
				out = append(out, c)
			}
		}
	}
	return out
}

func (t *Tenant) refItemsLocked(refs []refChange) []any {
	out := make([]any, len(refs))
	for i, r := range refs {
		m := map[string]any{"@odata.type": "#microsoft.graph." + t.typeOfLocked(r.id), "id": r.id}
		if !r.added {
			m["@removed"] = map[string]any{"reason": "deleted"}
		}
		out[i] = m
	}
	return out
}

func (t *Tenant) typeOfLocked(id string) string {
	o := t.live[id]
	if o == nil {
		o = t.deleted[id]
	}
	if o != nil && o.kind == kindGroup {
		return "group"
	}
	return "user"
}

var (
	// Default delta selections when the client gives no $select.
	defaultUserDelta  = []string{"displayName", "userPrincipalName", "mail", "givenName", "surname", "jobTitle"}
	defaultGroupDelta = []string{"displayName", "description", "mail", "mailEnabled", "mailNickname", "securityEnabled", "groupTypes", "proxyAddresses", "visibility", "createdDateTime", "members"}
)

// knownProp reports whether the resource has prop in that API version, by
// Graph's published metadata (graphprops.go).
func knownProp(k kind, api, prop string) bool {
	return slices.Contains(graphProperties[api][k], prop) || slices.Contains(graphNavigation[k], prop)
}

// validateSelect checks a $select list and returns it split and trimmed:
// Graph's properties of the resource, and the directory extensions the
// tenant's apps define for it.
func (t *Tenant) validateSelect(k kind, api, raw string) ([]string, error) {
	if raw == "" {
		return nil, nil
	}
	var out []string
	for _, p := range strings.Split(raw, ",") {
		p = strings.TrimSpace(p)
		if p == "" || p == "id" {
			continue
		}
		if !knownProp(k, api, p) && !t.extensions[k][p] {
			typ := "user"
			if k == kindGroup {
				typ = "group"
			}
			return nil, &apiError{status: 400, code: "Request_BadRequest",
				msg: fmt.Sprintf("Could not find a property named '%s' on type 'microsoft.graph.%s'.", p, typ)}
		}
		out = append(out, p)
	}
	return out, nil
}

func selection(k kind, api string, sel []string) map[string]bool {
	if len(sel) == 0 {
		sel = defaultUserDelta
		if k == kindGroup {
			sel = defaultGroupDelta
		}
	}
	m := map[string]bool{}
	for _, p := range sel {
		m[p] = true
	}
	return m
}

// parseIDFilter understands the one $filter delta supports:
// "id eq 'x' or id eq 'y'", at most 50 ids.
func parseIDFilter(raw string) ([]string, error) {
	if raw == "" {
		return nil, nil
	}
	var ids []string
	for _, part := range strings.Split(raw, " or ") {
		f := strings.Fields(part)
		if len(f) != 3 || f[0] != "id" || f[1] != "eq" || !strings.HasPrefix(f[2], "'") || !strings.HasSuffix(f[2], "'") {
			return nil, badRequest("Unsupported filter: delta supports only id eq '...' joined by or.")
		}
		ids = append(ids, strings.Trim(f[2], "'"))
	}
	if len(ids) > 50 {
		return nil, badRequest("Too many objects in filter: the limit is 50.")
	}
	return ids, nil
}
