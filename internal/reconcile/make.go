package reconcile

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/policy"
)

// Make plans the operations that bring actual to desired. undesired gives,
// for known cloud groups that are not wanted in AD, what to do with their
// AD copy; an owned AD group whose cloud group is neither desired nor
// undesired no longer exists in the cloud and is deleted.
func Make(desired []Desired, actual []ADGroup, undesired map[string]Disposition, o Options) Plan {
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	m := &maker{o: o, p: Plan{NotWritten: map[string][]MemberProblem{}}, wanted: make(map[string]bool, len(desired)), undesired: undesired}
	for _, d := range desired {
		m.wanted[d.Group.CloudID] = true
	}
	m.index(actual)
	m.placeFinal(desired)
	ops := m.converge(desired)
	removals, owned := m.removals()
	ops = append(ops, m.threshold(removals, owned)...)
	sort.SliceStable(ops, func(i, j int) bool {
		ai, aj := slices.Index(actionOrder, ops[i].Action), slices.Index(actionOrder, ops[j].Action)
		if ai != aj {
			return ai < aj
		}
		return ops[i].CloudID < ops[j].CloudID
	})
	m.p.Ops = ops
	for id, mps := range m.p.NotWritten {
		for i := range mps {
			if mps[i].Code == "" {
				mps[i].Code = policy.MemberReasonCode(mps[i].Reason)
			}
		}
		m.p.NotWritten[id] = mps
	}
	return m.p
}

// maker is one plan in the making.
type maker struct {
	o         Options
	p         Plan
	wanted    map[string]bool
	undesired map[string]Disposition
	// byID are the owned AD groups by cloud id; one with an empty DN is
	// reported and left alone (outside the OUs, or a second with the
	// anchor).
	byID map[string]*ADGroup
	// finalDN is where each written-back group will be once the plan has
	// run, by anchor; pending are the DNs of the groups it creates.
	finalDN map[string]string
	pending map[string]bool
}

func (m *maker) problem(pr Problem) { m.p.Problems = append(m.p.Problems, pr) }

// index finds the owned AD groups by cloud id, reporting those it leaves
// alone: no anchor of the tool's, outside the OUs, or a second copy.
func (m *maker) index(actual []ADGroup) {
	o := m.o
	m.byID = map[string]*ADGroup{}
	for i := range actual {
		a := &actual[i]
		id := policy.CloudIDFromAnchor(a.Anchor)
		switch {
		case id == "":
			m.problem(Problem{DN: a.DN, Err: ErrNotOwned, Message: fmt.Sprintf("anchor %q is not Group_<objectId>; left alone", a.Anchor)})
		case o.home(a.DN) == "" && !(o.QuarantineOU != "" && under(a.DN, o.QuarantineOU)) && !(o.MoveBack && m.wanted[id]):
			if _, known := m.undesired[id]; !known && !m.wanted[id] {
				continue // another tenant's, or long gone: not ours to report
			}
			// Never duplicated: the group is left where it is, and not
			// created again in the target OU.
			m.problem(Problem{CloudID: id, DN: a.DN, Err: ErrNotOwned,
				Message: fmt.Sprintf("carries the anchor but lies outside %s; left alone (not created again)", o.placesText())})
			m.byID[id] = &ADGroup{DN: ""}
		case m.byID[id] != nil:
			m.problem(Problem{CloudID: id, DN: a.DN, Err: ErrNotOwned,
				Message: fmt.Sprintf("a second AD group carries the anchor %s (the first is %s); both left alone until one is removed", a.Anchor, m.byID[id].DN)})
			m.byID[id] = &ADGroup{DN: ""} // poison: touch neither
		default:
			m.byID[id] = a
		}
	}
}

// placeFinal works out where each written-back group will be once the
// plan has run: nested groups name it there.
func (m *maker) placeFinal(desired []Desired) {
	m.finalDN, m.pending = map[string]string{}, map[string]bool{}
	for _, d := range desired {
		if d.Group.InPlaceSID != "" {
			continue // written in place, found by its SID: no anchor to place
		}
		a := m.byID[d.Group.CloudID]
		switch {
		case a == nil:
			m.finalDN[d.Group.Anchor] = d.Group.DN
			m.pending[strings.ToLower(d.Group.DN)] = true
		case a.DN != "":
			m.finalDN[d.Group.Anchor] = renamedDN(homeDN(a.DN, d.Group, m.o), d.Group.CN)
		}
	}
}

// converge plans what brings each wanted group's AD copy to it: a create,
// or the moves, renames, updates and member changes of one it has.
func (m *maker) converge(desired []Desired) []Op {
	o := m.o
	var ops []Op
	for _, d := range desired {
		g := d.Group
		if len(d.NotWritten) > 0 {
			m.p.NotWritten[g.CloudID] = d.NotWritten
		}
		members, missing := resolve(d.Members, m.finalDN)
		for _, id := range missing {
			m.p.NotWritten[g.CloudID] = append(m.p.NotWritten[g.CloudID], MemberProblem{CloudID: id, Reason: policy.MemberGroupNoADObject})
		}
		if g.InPlaceSID != "" {
			if d.Original == nil {
				continue // reported by whoever could not find it
			}
			before := len(ops)
			if ops = append(ops, inPlace(g, d.Original, members, o)...); len(ops) == before {
				m.p.Unchanged++
			}
			continue
		}
		a, seen := m.byID[g.CloudID]
		switch {
		case seen && a.DN == "":
			continue // duplicate anchors, reported above
		case d.Changes != nil && (!seen || !Stays(a, g, o)):
			// Its members were not all resolved: never create or move it
			// with only some of them.
			m.problem(Problem{CloudID: g.CloudID, DN: g.DN, Message: "planned from its member changes alone, but its AD group is " +
				"missing or must move: left as it is; the next cycle compares it in full"})
			continue
		case !seen && o.home(g.DN) == "":
			m.problem(Problem{CloudID: g.CloudID, DN: g.DN, Err: ErrNotOwned, Message: "would be created outside " + o.placesText()})
			continue
		case !seen:
			ops = append(ops, create(g, members, m.pending, o)...)
			continue
		}
		before := len(ops)
		if d.Changes != nil {
			removed, _ := resolve(d.Changes.Removed, m.finalDN)
			ops = append(ops, byChanges(g, a, members, removed, o)...)
		} else {
			ops = append(ops, converge(g, a, members, o)...)
		}
		if len(ops) == before {
			m.p.Unchanged++
		}
	}
	return ops
}

// removals plans what becomes of the owned groups no longer wanted, each
// by its fate; it also counts the groups owned.
func (m *maker) removals() (removals []Op, owned int) {
	for id, a := range m.byID {
		if a.DN == "" {
			continue
		}
		owned++
		if m.wanted[id] {
			continue
		}
		disp, known := m.undesired[id]
		if !known {
			disp = Disposition{Fate: DeleteIt, Reason: "the cloud group no longer exists"}
		}
		switch disp.Fate {
		case DeleteIt:
			removals = append(removals, Op{Action: Delete, CloudID: id, DN: a.DN, Anchor: a.Anchor, Reason: disp.Reason})
		case Quarantine:
			if m.o.QuarantineOU == "" {
				m.problem(Problem{CloudID: id, DN: a.DN, Message: "quarantine asked for but writeback.quarantine_ou is not set; kept"})
				continue
			}
			if under(a.DN, m.o.QuarantineOU) {
				continue // already there
			}
			moved := childDN(a.DN, m.o.QuarantineOU)
			removals = append(removals, Op{Action: Move, CloudID: id, DN: a.DN, NewParent: m.o.QuarantineOU, Anchor: a.Anchor, Reason: disp.Reason})
			removals = append(removals, batches(RemoveMembers, id, moved, a.Anchor, a.Members, m.o.BatchSize)...)
		}
	}
	return removals, owned
}

// threshold lets the removals through, or holds them all back when they
// are more than the delete threshold allows. Removals an admin released
// go through whatever the others do, and are not counted.
func (m *maker) threshold(removals []Op, owned int) []Op {
	o := m.o
	limit := o.DeleteThreshold
	if o.DeleteThresholdPercent > 0 {
		limit = min(limit, max(1, max(owned, o.OwnedTotal)*o.DeleteThresholdPercent/100))
	}
	if o.AllowDeletes > limit {
		limit = o.AllowDeletes
	}
	released := map[string]bool{}
	for _, op := range removals {
		if dn, ok := o.Released[op.CloudID]; ok && (op.Action == Delete || op.Action == Move) && policy.SameDN(dn, op.DN) {
			released[op.CloudID] = true
		}
	}
	gone, waiting := map[string]bool{}, map[string]bool{}
	var through, rest, held []Op
	for _, op := range removals {
		switch {
		case released[op.CloudID]:
			through = append(through, op)
		case o.Held[op.CloudID]:
			waiting[op.CloudID] = true
			held = append(held, op)
		default:
			gone[op.CloudID] = true
			rest = append(rest, op)
		}
	}
	all := len(gone) + len(waiting)
	if o.AllowDeletes >= all && all > 0 {
		return removals // the admin let this many through
	}
	if len(gone) <= limit {
		if len(held) > 0 {
			m.problem(Problem{Err: ErrThresholdExceeded, Message: fmt.Sprintf(
				"%d groups held back by an earlier run stay held until released (`groupwriteback release GROUP… --reason …`, or %s --allow-deletes %d)",
				len(waiting), cmp.Or(o.Command, "sync"), all)})
			m.p.HeldBack = held
		}
		return append(through, rest...)
	}
	m.problem(Problem{Err: ErrThresholdExceeded, Message: fmt.Sprintf(
		"this run would delete or quarantine %d groups, more than the threshold of %d: it deletes and quarantines none of them; "+
			"release them one by one with `groupwriteback release GROUP… --reason …`, or run %s --allow-deletes %d to let them all through",
		all, limit, cmp.Or(o.Command, "sync"), all)})
	m.p.HeldBack = append(held, rest...)
	return through
}
