package engine

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// What becomes of each slice of a plan once it is planned: checked, then
// written or spooled, and what the cycle no longer needs of it let go.

// letGo lets go, in a plan made to be shown, what the groups of a slice
// planned no longer need: never applied in this process, it keeps no
// tenant to save and no decision to record. The operations it spooled
// hold what they write. The members read from Graph are kept for a --full
// plan, whose drift compares them with what it read before.
func (p *planning) letGo(planned []policy.Decision) {
	for i := range planned {
		if planned[i].Desired == nil {
			continue
		}
		planned[i].Desired = nil
		if g := p.snap.Groups[planned[i].CloudID]; g != nil && !p.o.Full {
			g.Members = cloud.Refs{}
		}
	}
}

// stagesLists says whether the cycle stages member lists in the state: a
// full cycle of every group that writes its slices as it plans them (a
// first writeback, a resync). A --full cycle keeps them for its drift
// check; a plan made to be shown writes no state.
func (p *planning) stagesLists() bool {
	return p.stream != nil && p.gr.Full && !p.o.Full && p.target == ""
}

// stageAll, in a cycle that stages its lists, stages every group's member
// list in the state before the groups are decided, and keeps of each only
// its members that are groups (the nesting checks read them) and a count
// of the others: no structure holds the tenant's memberships while it is
// planned and written. Each slice reads its lists back (loadSlice) and
// lets them go once written (letGoWritten); the snapshot's save moves the
// stage into the state.
func (e *Engine) stageAll(ctx context.Context, p *planning) error {
	if !p.stagesLists() {
		return nil
	}
	batch := map[string]cloud.Refs{}
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		// The first batch clears what an earlier cycle left staged.
		if err := e.store.StageMembers(ctx, !p.staged, batch); err != nil {
			return err
		}
		p.staged = true
		for id, all := range batch {
			var groups cloud.Refs
			for m, kind := range all.All() {
				if p.snap.Groups[m] != nil {
					groups.Append(m, kind)
				}
			}
			groups.Clip()
			p.snap.Groups[id].Members = cloud.InPart(groups, all.Len()-groups.Len())
		}
		clear(batch)
		n = 0
		return nil
	}
	for _, id := range slices.Sorted(maps.Keys(p.snap.Groups)) {
		m := p.snap.Groups[id].Members
		if m.Len() == 0 || m.Partial() {
			continue
		}
		batch[id], n = m, n+m.Len()
		if n >= resolveSlice {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// loadSlice reads back from the stage the member lists of a slice's
// groups that stageAll let go, each checked whole against its count.
func (e *Engine) loadSlice(ctx context.Context, p *planning, slice []policy.Decision) error {
	if !p.staged {
		return nil
	}
	var ids []string
	for _, d := range slice {
		if g := p.snap.Groups[d.CloudID]; g != nil && g.Members.Partial() {
			ids = append(ids, d.CloudID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	lists, err := e.store.StagedMembers(ctx, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		g := p.snap.Groups[id]
		if got := lists[id]; got.Len() != g.Members.Len() {
			return fmt.Errorf("engine: read back the members of group %s: %d staged, %d read from Graph: %w", id, got.Len(), g.Members.Len(), cloud.ErrPartial)
		}
		g.Members = lists[id]
	}
	return nil
}

// stagedPart reads back from the stage (stageAll) a part of the members
// of a group planned in parts whose list was let go (the at-th to the
// to-th, those after after), so that the whole list is never read back
// at once.
func (e *Engine) stagedPart(ctx context.Context, id string, at, to int, after string) (cloud.Refs, error) {
	part, err := e.store.StagedMembersAfter(ctx, id, after, to-at)
	if err != nil {
		return cloud.Refs{}, err
	}
	if part.Len() != to-at {
		return cloud.Refs{}, fmt.Errorf("engine: read back members %d to %d of group %s: %d staged: %w", at, to, id, part.Len(), cloud.ErrPartial)
	}
	return part, nil
}

// loadUsers, in a cycle whose full round of users is staged (spilled as
// it was read), reads from the stage the users the member lists sets
// name, in place of those the last slice read: the snapshot holds a
// slice's users at a time.
func (e *Engine) loadUsers(ctx context.Context, p *planning, sets []cloud.Refs) error {
	seen := map[string]bool{}
	var ids []string
	for _, set := range sets {
		for m, kind := range set.All() {
			if kind != cloud.TypeGroup && p.snap.Groups[m] == nil && !seen[m] {
				seen[m] = true
				ids = append(ids, m)
			}
		}
	}
	users, err := e.store.StagedUsers(ctx, ids)
	if err != nil {
		return err
	}
	p.snap.Users = users
	return nil
}

// letGoWritten, in a cycle that staged its lists (stageAll), lets go the
// member lists of the slice's groups once written (read back for the
// slice by loadSlice; the stage keeps them for the snapshot's save), with
// what else their decisions hold beyond what the statuses need.
func (p *planning) letGoWritten(planned []policy.Decision) {
	if !p.stagesLists() {
		return
	}
	for _, d := range planned {
		if d.Desired == nil {
			continue
		}
		if g := p.snap.Groups[d.CloudID]; g != nil && p.staged && !g.Members.Partial() {
			g.Members = cloud.InPart(cloud.Refs{}, g.Members.Len())
		}
		d.Desired.Settle()
	}
}

// settle records, in a cycle that writes its slices as it plans them, the
// state of each group of the slice just written whose writes are over:
// written whole, with nothing failed, refused (by the slice's checks or
// the plan itself: not mk.Done) or kept back for the end of the plan. Its
// decision is let go (zeroed in the work, which the cycle's end then
// skips), and its operations are left to the log (opLog) alone: a first
// writeback never holds every group's decision and operations until its
// end. The other groups are recorded at the end, as before, from the
// operations kept (unsettled), and so is a group planned in parts
// (parted: its slice holds only its last part's operations); a cycle on
// one group (traced) and one whose writes stopped settle nothing here.
func (e *Engine) settle(ctx context.Context, p *planning, mk *reconcile.Maker, planned []policy.Decision) error {
	a := p.stream
	if a == nil || p.target != "" || a.fatal != nil || ctx.Err() != nil {
		return nil
	}
	if p.sams == nil {
		p.sams = samOf(p.actual)
	}
	slice := p.unsettled[p.sliceAt:]
	o := cycleOutcome{Plan: reconcile.Plan{Ops: slice, NotWritten: map[string][]reconcile.MemberProblem{}},
		Failed: a.failed, Unfinished: a.unfinished, QuarantineOU: e.cfg.QuarantineOU, SAM: p.sams}
	var done []int
	for i, d := range planned {
		id := d.CloudID
		if d.Desired == nil || a.failed[id] != nil || a.unfinished[id] || p.changes[id] != nil || p.parted[id] || !mk.Done(id) {
			continue
		}
		if mps := mk.NotWritten(id); len(mps) > 0 {
			o.Plan.NotWritten[id] = mps
		}
		o.Work, done = append(o.Work, d), append(done, i)
	}
	if len(done) == 0 {
		return nil
	}
	f := fatesOf(o)
	sts := make([]state.GroupStatus, len(o.Work))
	for i, d := range o.Work {
		sts[i] = f.status(o, d)
	}
	if err := e.store.SetStatus(context.WithoutCancel(ctx), sts); err != nil {
		return fmt.Errorf("engine: record the groups written: %w", err)
	}
	settled := make(map[string]bool, len(done))
	for _, i := range done {
		settled[planned[i].CloudID] = true
		a.done.settle(planned[i].CloudID)
		planned[i] = policy.Decision{}
	}
	kept := slice[:0]
	for _, op := range slice {
		if !settled[op.CloudID] {
			kept = append(kept, op)
		}
	}
	clear(slice[len(kept):])
	p.unsettled = p.unsettled[:p.sliceAt+len(kept)]
	return nil
}

// takeSlice takes one slice of the plan's operations: out of it what AD
// or the gate would refuse (as problems), the groups it adopts and the
// names it changes noted, the member values that must wait for a later
// slice held back. It keeps the rest in the plan, or, when the cycle
// writes its slices as they are planned, writes it and keeps what the
// result needs. It says whether to go on: a cycle whose writes stopped
// (interrupted, the DC or the lease lost) plans no more slices.
func (e *Engine) takeSlice(ctx context.Context, p *planning, mk *reconcile.Maker, ops []reconcile.Op) (bool, error) {
	ops, err := e.restoreDeleted(ctx, p, ops)
	if err != nil {
		return false, err
	}
	ops, problems, err := e.checkSAMs(ctx, ops, p.claimed)
	if err != nil {
		return false, err
	}
	p.checked = append(p.checked, problems...)
	mk.Refuse(problems)
	if ops, problems, err = e.checkProtected(ctx, ops); err != nil {
		return false, err
	}
	p.checked = append(p.checked, problems...)
	mk.Refuse(problems)
	if ops, problems, err = e.checkEnforced(ctx, p, ops); err != nil {
		return false, err
	}
	p.checked = append(p.checked, problems...)
	mk.Refuse(problems)
	if err := e.noteAdoptions(ctx, p, ops); err != nil {
		return false, err
	}
	warnSAMChanges(e.logger, ops)
	ops = mk.Hold(ops)
	a := p.stream
	if a == nil {
		if p.spool != nil {
			if err := p.spool.add(ops); err != nil {
				return false, err
			}
			ops = thinned(ops, nil)
			for i := range ops {
				if ops[i].Creates() {
					ops[i].Changes = nil // its sAMAccountName is for a cycle's statuses
				}
			}
		}
		p.ops = append(p.ops, ops)
		return true, nil
	}
	if !a.opened {
		if err := e.readyWrites(ctx); err != nil {
			return false, err
		}
		if err := e.openWrites(ctx, a, p.releases); err != nil {
			return false, err
		}
	}
	a.streamed = true
	names := make(map[string]string, len(ops))
	for _, op := range ops {
		names[op.CloudID] = nameOf(p.snap, op.CloudID)
	}
	e.applyOps(ctx, a, ops, names)
	kept := thinned(ops, p.tr)
	p.log.add(kept)
	p.sliceAt = len(p.unsettled)
	p.unsettled = append(p.unsettled, kept...)
	return a.fatal == nil && ctx.Err() == nil, nil
}

// thinned returns what is kept of the operations of a slice written or
// spooled (thin), but those of the group traced, which the trace shows
// whole.
func thinned(ops []reconcile.Op, tr *Trace) []reconcile.Op {
	kept := make([]reconcile.Op, len(ops))
	for i, op := range ops {
		if tr == nil || op.CloudID != tr.CloudID {
			op = thin(op)
		}
		kept[i] = op
	}
	return kept
}

// warnSAMChanges warns of every sAMAccountName the operations change on a
// group already written.
func warnSAMChanges(logger *slog.Logger, ops []reconcile.Op) {
	for _, op := range ops {
		if ch, ok := op.Change("sAMAccountName"); ok && op.Action == reconcile.Update && len(ch.Old) > 0 {
			logger.Warn("the sAMAccountName of a written group changes: sssd, scripts and applications that key on it see a new name", "cloud_id", op.CloudID,
				"dn", op.DN, "old", strings.Join(ch.Old, ""), "new", strings.Join(ch.New, ""))
		}
	}
}

// joinSlices returns the operations of the slices kept, then rest, in one
// list; each slice is let go once copied, so that a sync's kept operations
// are not all held twice while they are joined.
func joinSlices(kept [][]reconcile.Op, rest []reconcile.Op) []reconcile.Op {
	n := len(rest)
	for _, ops := range kept {
		n += len(ops)
	}
	out := make([]reconcile.Op, 0, n)
	for i := range kept {
		out = append(out, kept[i]...)
		kept[i] = nil
	}
	return append(out, rest...)
}
