package engine

import (
	"context"
	"maps"
	"sort"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// A delta cycle plans a group from Graph's report of its changes alone
// when that report is all that changed since the group was last in step:
// it then reads the AD group without its members and looks up only the
// members added and removed, so that one member more in a group of a
// million is one lookup and one modify of one value. Anything else (a new
// or restored group, a member user that changed, a group left failed, an
// AD group missing or due to move) is compared in full, as is every group
// in a full cycle, which also brings back whatever drifted by hand.

// memberChanges are what the round said changed in a group's members.
type memberChanges struct {
	// refs are the members Graph named added or removed.
	refs []cloud.ObjectRef
	// was and is say which of them were members before the round, and
	// which are after it.
	was, is map[string]bool
	// notWritten counts its members not written, by reason, as last
	// recorded: the count after the cycle is worked out from it.
	notWritten map[string]int
	// added and removed are refs split by whether they are members now.
	added, removed []policy.MemberRef
	// removedNotWritten are the codes of the removed members that could
	// not be written, by cloud id.
	removedNotWritten map[string]string
}

// byChanges lists the groups of a delta round that may be planned from
// their changes: existing groups, neither removed nor restored. It reads
// snap before the round is applied to it.
func byChanges(snap *cloud.Snapshot, gr *cloud.GroupRound) map[string]*memberChanges {
	if gr.Full {
		return nil
	}
	out := map[string]*memberChanges{}
	gone := map[string]bool{}
	for i := range gr.Changes {
		d := &gr.Changes[i]
		g := snap.Groups[d.ID]
		if d.Removed != cloud.NotRemoved || g == nil || g.Removed != cloud.NotRemoved || gone[d.ID] {
			gone[d.ID] = true
			delete(out, d.ID)
			continue
		}
		c := out[d.ID]
		if c == nil {
			c = &memberChanges{was: map[string]bool{}, is: map[string]bool{}}
			out[d.ID] = c
		}
		for _, refs := range [][]cloud.ObjectRef{d.MembersAdded, d.MembersRemoved} {
			for _, r := range refs {
				if _, seen := c.was[r.ID]; !seen {
					c.was[r.ID] = g.Members.Has(r.ID)
					c.refs = append(c.refs, r)
				}
			}
		}
	}
	return out
}

// narrow drops, from the groups byChanges listed, those dirty for another
// reason (otherwise).
func narrow(changes map[string]*memberChanges, otherwise map[string]bool) {
	for id := range otherwise {
		delete(changes, id)
	}
}

// deltaWork is what a delta cycle decided before reading AD.
type deltaWork struct {
	decisions []policy.Decision
	// dirty are the groups it works on; changes those it may plan from
	// their changes.
	dirty   map[string]bool
	changes map[string]*memberChanges
}

// readDelta reads from AD the groups a delta cycle works on: those it
// plans from their changes (keepByChanges kept) without their members,
// the others with all of them. A group that cannot be planned from its
// changes is dropped from w.changes and read in full.
func (e *Engine) readDelta(ctx context.Context, w deltaWork, managed []string, o reconcile.Options) ([]reconcile.ADGroup, error) {
	actual, err := e.readByChanges(ctx, w.changes, w.decisions, managed, o)
	if err != nil {
		return nil, err
	}
	var anchors []string
	for id := range w.dirty {
		if w.changes[id] == nil {
			anchors = append(anchors, policy.Anchor(id))
		}
	}
	sort.Strings(anchors)
	rest, err := e.reader.GroupsByAnchor(ctx, e.cfg.BaseDN, anchors, managed)
	return append(actual, rest...), err
}

// countNotWritten adds every group's members not written, by reason, to
// total, and returns those of the groups planned from their changes (for
// which the plan names only the members changed).
func countNotWritten(plan reconcile.Plan, changes map[string]*memberChanges, total map[string]int) map[string]map[string]int {
	byChanges := map[string]map[string]int{}
	for id, c := range changes {
		byChanges[id] = c.notWrittenAfter(plan.NotWritten[id])
		for code, n := range byChanges[id] {
			total[code] += n
		}
	}
	for id, mps := range plan.NotWritten {
		if changes[id] == nil {
			for _, mp := range mps {
				total[mp.Code]++
			}
		}
	}
	return byChanges
}

// keepByChanges keeps, of the groups byChanges listed, those last recorded
// in step and planned by policy for writing as a copy.
func (e *Engine) keepByChanges(ctx context.Context, cands map[string]*memberChanges, decisions []policy.Decision, snap *cloud.Snapshot) error {
	if len(cands) == 0 {
		return nil
	}
	for _, d := range decisions {
		if c := cands[d.CloudID]; c != nil && (d.Desired == nil || d.Desired.InPlaceSID != "") {
			delete(cands, d.CloudID)
		}
	}
	ids := make([]string, 0, len(cands))
	for id := range cands {
		ids = append(ids, id)
	}
	sts, err := e.store.StatusesOf(ctx, ids)
	if err != nil {
		return err
	}
	inStep := map[string]map[string]int{}
	for _, st := range sts {
		if st.State == state.InStep {
			inStep[st.CloudID] = st.MembersNotWritten
		}
	}
	for id, c := range cands {
		counts, ok := inStep[id]
		if !ok {
			delete(cands, id)
			continue
		}
		c.notWritten = counts
		var now, gone []cloud.ObjectRef
		for _, r := range c.refs {
			if snap.Groups[id].Members.Has(r.ID) {
				c.is[r.ID] = true
				now = append(now, r)
			} else {
				gone = append(gone, r)
			}
		}
		c.added = policy.MemberRefsOf(snap, decisions, id, now, e.cfg.Policy.Match)
		c.removed = policy.MemberRefsOf(snap, decisions, id, gone, e.cfg.Policy.Match)
	}
	return nil
}

// readByChanges reads the AD groups of cands without their members and
// keeps, of cands, those whose AD group is found once and where it
// belongs, dropping the others (to compare in full); it returns the
// groups read for those kept.
func (e *Engine) readByChanges(ctx context.Context, cands map[string]*memberChanges, decisions []policy.Decision, managed []string, o reconcile.Options) ([]reconcile.ADGroup, error) {
	if len(cands) == 0 {
		return nil, nil
	}
	anchors := make([]string, 0, len(cands))
	for id := range cands {
		anchors = append(anchors, policy.Anchor(id))
	}
	sort.Strings(anchors)
	heads, err := e.reader.GroupAttrsByAnchor(ctx, e.cfg.BaseDN, anchors, managed)
	if err != nil {
		return nil, err
	}
	found := map[string][]int{}
	for i := range heads {
		id := cloudID(heads[i])
		found[id] = append(found[id], i)
	}
	var kept []reconcile.ADGroup
	for _, d := range decisions {
		if cands[d.CloudID] == nil {
			continue
		}
		if at := found[d.CloudID]; len(at) == 1 && reconcile.Stays(&heads[at[0]], d.Desired, o) {
			kept = append(kept, heads[at[0]])
			continue
		}
		delete(cands, d.CloudID)
	}
	return kept, nil
}

// notWrittenAfter counts, for a group planned from its changes, its
// members not written after the cycle: the last count, less the changed
// members that were members, plus those that are, each counted by why it
// is not written now (problems are the plan's, for the members added).
func (c *memberChanges) notWrittenAfter(problems []reconcile.MemberProblem) map[string]int {
	counts := maps.Clone(c.notWritten)
	if counts == nil {
		counts = map[string]int{}
	}
	code := maps.Clone(c.removedNotWritten)
	if code == nil {
		code = map[string]string{}
	}
	for _, p := range problems {
		code[p.CloudID] = p.Code
	}
	for _, r := range c.refs {
		if code[r.ID] == "" {
			continue // written (or, removed, it was)
		}
		if c.was[r.ID] {
			counts[code[r.ID]]--
		}
		if c.is[r.ID] {
			counts[code[r.ID]]++
		}
	}
	for k, n := range counts {
		if n <= 0 {
			delete(counts, k)
		}
	}
	return counts
}
