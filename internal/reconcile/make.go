package reconcile

import (
	"cmp"
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/groupwriteback/groupwriteback/internal/policy"
)

// Make plans the operations that bring actual to desired. undesired gives,
// for known cloud groups that are not wanted in AD, what to do with their
// AD copy; an owned AD group whose cloud group is neither desired nor
// undesired no longer exists in the cloud and is deleted. It is a Maker
// given every desired group in one slice.
func Make(desired []Desired, actual []ADGroup, undesired map[string]Disposition, o Options) Plan {
	groups := make([]*policy.DesiredGroup, len(desired))
	for i, d := range desired {
		groups[i] = d.Group
	}
	mk := NewMaker(groups, actual, undesired, o)
	return mk.Finish(mk.Converge(desired))
}

// Maker plans in slices of groups, so that the members of a whole tenant
// are never resolved and held at once, and a slice can be written while
// the next is planned:
//   - NewMaker indexes the AD groups and places every wanted group (a
//     nested group names another by where the plan leaves it);
//   - Converge plans one slice of wanted groups at a time (the caller may
//     let each slice go after);
//   - Hold keeps back, until Finish, the member values of a slice's
//     operations that name a group of a later slice whose DN the plan
//     changes (created, renamed or moved there): written now, they would
//     name an object not there yet;
//   - Finish plans what becomes of the groups no longer wanted, over the
//     whole plan (the delete threshold counts every removal, whatever
//     slice it would fall in), and orders the operations.
type Maker struct {
	m *maker
	// waiting counts the groups of m.moving not planned yet.
	waiting int
	// held are the operations Hold kept back; holding, the groups they
	// write to.
	held    []Op
	holding map[string]bool
}

// NewMaker starts a plan for the wanted groups (each one Converge will
// be given), the AD groups found, and the dispositions of the groups not
// wanted (see Make).
func NewMaker(wanted []*policy.DesiredGroup, actual []ADGroup, undesired map[string]Disposition, o Options) *Maker {
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	m := &maker{o: o, p: Plan{NotWritten: map[string][]MemberProblem{}}, wanted: make(map[string]bool, len(wanted)), undesired: undesired}
	for _, g := range wanted {
		m.wanted[g.CloudID] = false
	}
	m.index(actual)
	m.placeFinal(wanted)
	return &Maker{m: m, waiting: len(m.moving)}
}

// placeFinal works out where each written-back group will be once the
// plan has run (nested groups name it there), and which groups it
// creates or moves.
func (m *maker) placeFinal(wanted []*policy.DesiredGroup) {
	m.finalDN, m.moving, m.movedFrom = map[string]string{}, map[uint64]moved{}, map[uint64]string{}
	for _, g := range wanted {
		if g.InPlaceSID != "" {
			continue // written in place, found by its SID: no anchor to place
		}
		a := m.byID[g.CloudID]
		switch {
		case a == nil:
			m.finalDN[g.Anchor] = g.DN
			m.moving[m.dnKey(g.DN)] = moved{id: g.CloudID, created: true}
		case a.DN != "":
			final := renamedDN(homeDN(a.DN, g, m.o), g.CN)
			m.finalDN[g.Anchor] = final
			if !strings.EqualFold(final, a.DN) {
				m.moving[m.dnKey(final)] = moved{id: g.CloudID}
				m.movedFrom[m.dnKey(a.DN)] = final
			}
		}
	}
}

// afterMoves is a with its member values naming groups the plan renames
// or moves by the DNs they will have (a itself when none does; a copy of
// its members only when one does).
func (m *maker) afterMoves(a *ADGroup) *ADGroup {
	if len(m.movedFrom) == 0 {
		return a
	}
	var out *ADGroup
	for i, dn := range a.Members {
		final, ok := m.movedFrom[m.dnKey(dn)]
		if !ok {
			continue
		}
		if out == nil {
			c := *a
			c.Members = slices.Clone(a.Members)
			out = &c
		}
		out.Members[i] = final
	}
	if out == nil {
		return a
	}
	return out
}

// moved is a group whose DN the plan changes: created, or renamed or
// moved.
type moved struct {
	id      string
	created bool
}

// movedTo is the group the plan puts at dn, if any. Two DNs of one key
// (a chance in tens of millions at a million groups) would at worst make
// a member value wait for nothing, or be written before its group is
// there, which fails that group's operation until the next cycle.
func (m *maker) movedTo(dn string) (moved, bool) {
	g, ok := m.moving[m.dnKey(dn)]
	return g, ok
}

// dnKey is a 64-bit hash of dn, case aside (as strings.ToLower folds it):
// moving is keyed by it, not by a lower-cased copy of every DN.
func (m *maker) dnKey(dn string) uint64 {
	m.lower = appendLower(m.lower[:0], dn)
	return maphash.Bytes(dnSeed, m.lower)
}

// dnSeed seeds dnKey: one for the process, so that a plan's keys agree.
var dnSeed = maphash.MakeSeed()

// created reports whether dn is a group the plan creates.
func (m *maker) created(dn string) bool {
	g, ok := m.movedTo(dn)
	return ok && g.created
}

// Converge plans the operations of a slice of wanted groups. A group
// NewMaker was not given, or given again, is reported and not planned:
// its place was not reserved, or its operations are planned already.
func (mk *Maker) Converge(desired []Desired) []Op {
	slice := desired[:0:0]
	for _, d := range desired {
		id := d.Group.CloudID
		if d.More {
			_, seen := mk.m.byID[id]
			switch {
			case !mk.m.wanted[id] || seen:
				mk.m.problem(Problem{CloudID: id, DN: d.Group.DN, Message: "more members planned for a group the plan does not create, or before the group; left as it is"})
			case !mk.m.blocked[id]: // else its first part was refused, and said why
				slice = append(slice, d)
			}
			continue
		}
		if converged, wanted := mk.m.wanted[id]; !wanted || converged {
			mk.m.problem(Problem{CloudID: id, DN: d.Group.DN, Message: "planned outside its place in the plan (not announced, or twice); left as it is"})
			continue
		}
		mk.m.wanted[id] = true
		slice = append(slice, d)
		if g, ok := mk.m.movedTo(mk.m.finalDN[d.Group.Anchor]); ok && g.id == id && d.Group.InPlaceSID == "" {
			mk.waiting--
		}
	}
	return mk.m.converge(slice)
}

// Refuse notes that the caller's checks refused operations of the groups
// of problems (AD or the write gate would refuse them): the plan writes
// no more of them (their later parts, Desired.More, are dropped), and
// none is Done.
func (mk *Maker) Refuse(problems []Problem) {
	for _, pr := range problems {
		mk.m.block(pr.CloudID)
	}
}

// Creates reports whether the plan creates group id: wanted, found in AD
// by no anchor, and not refused. Such a group's members may be given in
// parts: the group with the first, then more (Desired.More).
func (mk *Maker) Creates(id string) bool {
	_, seen := mk.m.byID[id]
	return mk.m.isWanted(id) && !seen && !mk.m.blocked[id]
}

// Hold returns the operations of the slices converged so far that can be
// written now, in the order they are written (creates first, then moves,
// renames, updates, member removals and adds), and keeps back for Finish
// the member values that name a group whose DN a slice not converged yet
// changes.
func (mk *Maker) Hold(ops []Op) []Op {
	if mk.waiting == 0 {
		sortOps(ops)
		return ops
	}
	now := make([]Op, 0, len(ops))
	for _, op := range ops {
		if op.Action != Create && op.Action != AddMembers && op.Action != RemoveMembers || !slices.ContainsFunc(op.Members, mk.waits) {
			now = append(now, op)
			continue
		}
		var ready, wait []string
		for _, dn := range op.Members {
			if mk.waits(dn) {
				wait = append(wait, dn)
			} else {
				ready = append(ready, dn)
			}
		}
		if op.Action == Create || len(ready) > 0 {
			first := op
			first.Members = ready
			now = append(now, first)
		}
		action := op.Action
		if action == Create {
			action = AddMembers
		}
		mk.held = append(mk.held, batches(action, op.CloudID, op.DN, op.Anchor, wait, mk.m.o.BatchSize)...)
		if mk.holding == nil {
			mk.holding = map[string]bool{}
		}
		mk.holding[op.CloudID] = true
	}
	sortOps(now)
	return now
}

// Done reports whether the operations of group id are over once those
// of its slice are written: Hold kept back none of its member values for
// Finish, the plan holds no problem of it, and the caller refused none of
// its operations (Refuse).
func (mk *Maker) Done(id string) bool { return !mk.holding[id] && !mk.m.blocked[id] }

// NotWritten are the members of group id that the slices planned so far
// do not write, and why, each with its reason's code.
func (mk *Maker) NotWritten(id string) []MemberProblem { return withCodes(mk.m.p.NotWritten[id]) }

// withCodes gives each of mps its reason's code, and returns them.
func withCodes(mps []MemberProblem) []MemberProblem {
	for i := range mps {
		if mps[i].Code == "" {
			mps[i].Code = policy.MemberReasonCode(mps[i].Reason)
		}
	}
	return mps
}

// sortOps puts operations in the order a plan writes them: by action
// (actionOrder), then by cloud id, each group's in the order planned.
func sortOps(ops []Op) {
	sort.SliceStable(ops, func(i, j int) bool {
		ai, aj := slices.Index(actionOrder, ops[i].Action), slices.Index(actionOrder, ops[j].Action)
		if ai != aj {
			return ai < aj
		}
		return ops[i].CloudID < ops[j].CloudID
	})
}

// waits reports whether dn is where a group not converged yet will be.
func (mk *Maker) waits(dn string) bool {
	g, ok := mk.m.movedTo(dn)
	return ok && !mk.m.wanted[g.id]
}

// appendLower appends s lower-cased as strings.ToLower does it.
func appendLower(b []byte, s string) []byte {
	for _, r := range s {
		if r < utf8.RuneSelf {
			if 'A' <= r && r <= 'Z' {
				r += 'a' - 'A'
			}
			b = append(b, byte(r))
			continue
		}
		b = utf8.AppendRune(b, unicode.ToLower(r))
	}
	return b
}

// Finish plans the removals, lets them through the delete threshold or
// holds them back, and returns the plan: the operations of the slices the
// caller keeps in it (kept, a list a slice), those Hold kept back, and the
// removals, in order, in one list made at its size.
func (mk *Maker) Finish(kept ...[]Op) Plan {
	m := mk.m
	removals, owned := m.removals()
	kept = append(kept, mk.held, m.threshold(removals, owned))
	ops := slices.Concat(kept...)
	sortOps(ops)
	m.p.Ops = ops
	for _, mps := range m.p.NotWritten {
		withCodes(mps)
	}
	return m.p
}

// maker is one plan in the making.
type maker struct {
	o Options
	p Plan
	// blocked are the groups of p.Problems, and those the caller's checks
	// refused (Refuse).
	blocked map[string]bool
	// wanted are the groups NewMaker was given, each true once
	// converged (planned by a slice; each once).
	wanted    map[string]bool
	undesired map[string]Disposition
	// byID are the owned AD groups by cloud id; one with an empty DN is
	// reported and left alone (outside the OUs, or a second with the
	// anchor).
	byID map[string]*ADGroup
	// finalDN is where each written-back group will be once the plan has
	// run, by anchor; moving are the groups whose DN it changes, by their
	// final DN's key (dnKey; lower is its buffer).
	finalDN map[string]string
	moving  map[uint64]moved
	// movedFrom are, by the key of the DN they have now, where the groups
	// the plan renames or moves will be: a member value naming one is
	// compared, and removed, by the DN it will have when the member
	// changes are written (after the moves and renames).
	movedFrom map[uint64]string
	lower     []byte
}

// isWanted reports whether the plan writes group id (NewMaker was given
// it).
func (m *maker) isWanted(id string) bool {
	_, ok := m.wanted[id]
	return ok
}

func (m *maker) problem(pr Problem) {
	m.p.Problems = append(m.p.Problems, pr)
	m.block(pr.CloudID)
}

// block notes that the plan writes no more of group id.
func (m *maker) block(id string) {
	if id == "" {
		return
	}
	if m.blocked == nil {
		m.blocked = map[string]bool{}
	}
	m.blocked[id] = true
}

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
		case o.home(a.DN) == "" && !(o.QuarantineOU != "" && under(a.DN, o.QuarantineOU)) && !(o.MoveBack && m.isWanted(id)):
			if _, known := m.undesired[id]; !known && !m.isWanted(id) {
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

// converge plans what brings each wanted group's AD copy to it: a create,
// or the moves, renames, updates and member changes of one it has.
func (m *maker) converge(desired []Desired) []Op {
	o := m.o
	var ops []Op
	for _, d := range desired {
		g := d.Group
		if len(d.NotWritten) > 0 {
			m.p.NotWritten[g.CloudID] = append(m.p.NotWritten[g.CloudID], d.NotWritten...)
		}
		members, missing := resolve(d.Members, m.finalDN)
		for _, id := range missing {
			m.p.NotWritten[g.CloudID] = append(m.p.NotWritten[g.CloudID], MemberProblem{CloudID: id, Reason: policy.MemberGroupNoADObject})
		}
		if d.More {
			ops = append(ops, batches(AddMembers, g.CloudID, g.DN, g.Anchor, members, o.BatchSize)...)
			continue
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
			ops = append(ops, create(g, members, m.created, o)...)
			continue
		}
		before := len(ops)
		if d.Changes != nil {
			removed, _ := resolve(d.Changes.Removed, m.finalDN)
			ops = append(ops, byChanges(g, a, members, removed, o)...)
		} else {
			ops = append(ops, converge(g, m.afterMoves(a), members, o)...)
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
	for _, id := range slices.Sorted(maps.Keys(m.byID)) { // a plan's held-back list in one order
		a := m.byID[id]
		if a.DN == "" {
			continue
		}
		owned++
		if m.isWanted(id) {
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
