package engine

import (
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// Trace is what a cycle on one group (RunOptions.Group, Cloud Sync's
// "provision on demand") decided and did: the scope decision and why,
// each member's lookup, and every operation with its attributes old and
// new.
type Trace struct {
	CloudID string `json:"cloudId"`
	Name    string `json:"name"`
	Kind    string `json:"kind,omitempty"`
	// InScope and Decision: whether the group is written back, and the
	// sentence saying why (or why not, or why it cannot be).
	InScope  bool   `json:"inScope"`
	Decision string `json:"decision"`
	// Type and DN are what the group is written as, and where.
	Type string `json:"type,omitempty"`
	DN   string `json:"dn,omitempty"`
	// ADDN is the AD copy the cycle found, if any.
	ADDN    string        `json:"adDn,omitempty"`
	Members []MemberTrace `json:"members,omitempty"`
	// Operations are the group's planned operations: Changes hold each
	// attribute's old and new values, Members the DNs added or removed.
	Operations []reconcile.Op `json:"operations"`
	// HeldBack are operations the delete threshold stopped; Problems say
	// why the plan left the group alone.
	HeldBack []reconcile.Op      `json:"heldBack,omitempty"`
	Problems []reconcile.Problem `json:"problems,omitempty"`
}

// MemberTrace is one cloud member's way to AD.
type MemberTrace struct {
	CloudID string           `json:"cloudId"`
	Type    cloud.ObjectType `json:"type,omitempty"`
	Name    string           `json:"name,omitempty"`
	// Tried are the identifiers looked up, in order, and what each found:
	// up to the first that found the member.
	Tried []KeyTry `json:"tried,omitempty"`
	// Matches, for a user not synced from AD, are writeback.match_unsynced's
	// rules tried, in order, and what each found: up to the first that
	// decided. MatchedBy is the rule whose account is written.
	Matches   []MatchTry `json:"matches,omitempty"`
	MatchedBy string     `json:"matchedBy,omitempty"`
	// DN is the AD object written as the member; NotWritten says why none
	// is.
	DN         string `json:"dn,omitempty"`
	NotWritten string `json:"notWritten,omitempty"`
}

// MatchTry is one writeback.match_unsynced rule tried for a member: the
// cloud value, and the user accounts it found in the search bases.
type MatchTry struct {
	Rule  string `json:"rule"`
	Value string `json:"value"`
	// Enabled and Disabled are the DNs of the accounts found.
	Enabled  []string `json:"enabled,omitempty"`
	Disabled []string `json:"disabled,omitempty"`
}

// KeyTry is one identifier looked up in AD.
type KeyTry struct {
	Key   reconcile.KeyKind `json:"key"`
	Value string            `json:"value"`
	// Found is the DN of the object the value found ("" when none).
	Found string `json:"found,omitempty"`
}

// newTrace starts the trace of cloud group id from its decision (nil when
// the snapshot does not hold the group).
func newTrace(id string, d *policy.Decision) *Trace {
	t := &Trace{CloudID: id, Operations: []reconcile.Op{}}
	if d == nil {
		t.Decision = "not in the cloud snapshot (deleted in the cloud, or never read)"
		return t
	}
	t.Name, t.Kind, t.InScope = d.Name, string(d.Kind), d.InScope
	switch {
	case d.Desired != nil:
		t.Type, t.DN = d.Desired.Type, d.Desired.DN
		t.Decision = "written back as " + d.Desired.Type
		if d.Desired.InPlaceSID != "" {
			t.Decision += ", in place into the original AD group of SID " + d.Desired.InPlaceSID
		}
	case d.Problem != nil:
		t.Decision = "in scope, not writable: " + d.Problem.Error()
	default:
		t.Decision = "not written back: " + d.Reason
	}
	return t
}

// member records the way of one member to AD.
func (t *Trace) member(m policy.MemberRef, r *lookups, dn, notWritten string) {
	found := r.found
	mt := MemberTrace{CloudID: m.CloudID, Type: m.Type, DN: dn, NotWritten: notWritten}
	if len(m.Keys.Match) > 0 {
		for _, mk := range m.Keys.Match {
			try := MatchTry{Rule: string(mk.Rule), Value: mk.Value}
			for _, o := range r.matched[mk.Rule][strings.ToLower(mk.Value)] {
				if o.Disabled {
					try.Disabled = append(try.Disabled, o.DN)
				} else {
					try.Enabled = append(try.Enabled, o.DN)
				}
			}
			mt.Matches = append(mt.Matches, try)
			if len(try.Enabled) > 0 {
				break // the rules after it are not tried
			}
		}
		if dn != "" {
			_, rule, _ := r.matchOf(m.Keys)
			mt.MatchedBy = string(rule)
		}
		t.Members = append(t.Members, mt)
		return
	}
	if dn == "" && notWritten == "" {
		t.Members = append(t.Members, mt) // a member group written in this very cycle: not looked up
		return
	}
	for _, k := range keysOf(m.Keys) {
		try := KeyTry{Key: k.kind, Value: k.v}
		o, ok := found[k.kind][k.v]
		if ok {
			try.Found = o.DN
		}
		mt.Tried = append(mt.Tried, try)
		if ok {
			break // the keys after it are not looked up
		}
	}
	t.Members = append(t.Members, mt)
}

// finish adds what the plan holds for the group, and the members' names.
func (t *Trace) finish(plan reconcile.Plan, actual []reconcile.ADGroup, snap *cloud.Snapshot) {
	for _, op := range plan.Ops {
		if op.CloudID == t.CloudID {
			t.Operations = append(t.Operations, op)
		}
	}
	for _, op := range plan.HeldBack {
		if op.CloudID == t.CloudID {
			t.HeldBack = append(t.HeldBack, op)
		}
	}
	for _, p := range plan.Problems {
		if p.CloudID == t.CloudID {
			t.Problems = append(t.Problems, p)
		}
	}
	for _, a := range actual {
		if policy.CloudIDFromAnchor(a.Anchor) == t.CloudID {
			t.ADDN = a.DN
		}
	}
	for i := range t.Members {
		m := &t.Members[i]
		if u := snap.Users[m.CloudID]; u != nil {
			m.Name = u.DisplayName
		} else if g := snap.Groups[m.CloudID]; g != nil {
			m.Name = g.DisplayName
		}
	}
}

type keyTry struct {
	kind reconcile.KeyKind
	v    string
}

// keysOf are a member's identifiers in the order they are tried:
// objectGUID, objectSid, the immutable id, the DN (which may be stale),
// or for a written-back group its anchor.
func keysOf(k *policy.Keys) []keyTry {
	if k.Anchor != "" {
		return []keyTry{{reconcile.ByAnchor, k.Anchor}}
	}
	var out []keyTry
	for _, t := range []keyTry{{reconcile.ByGUID, k.GUID}, {reconcile.BySID, k.SID}, {reconcile.ByImmutableID, k.ImmutableID}, {reconcile.ByDN, k.DN}} {
		if t.v != "" {
			out = append(out, t)
		}
	}
	return out
}
