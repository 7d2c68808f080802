package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// Plan reads the tenant and AD and decides what a cycle would do, writing
// nothing: the plan Apply carries out, or that plan --out saves. It runs
// in named phases, each reading or deciding one thing for the next:
// begin, read the cloud, select the work, read AD, find the original
// groups of those written in place, reconcile (resolving the members a
// slice of groups at a time), and finish the plan.
func (e *Engine) Plan(ctx context.Context, o RunOptions) (*Plan, error) {
	return e.plan(ctx, o, nil)
}

// plan is Plan; with stream (a cycle's writes, Run), it writes each slice
// of the plan as soon as it is planned, while the next is resolved, and
// keeps of it only what the statuses and the result need: a tenant's
// operations are never all held at once.
func (e *Engine) plan(ctx context.Context, o RunOptions, stream *applying) (*Plan, error) {
	p, err := e.begin(ctx, o)
	if err != nil {
		return nil, err
	}
	p.stream = stream
	if stream != nil {
		p.log = &opLog{}
	}
	if stream == nil && o.ShowOnly && o.Group == "" {
		if p.spool, err = newOpSpool(); err != nil {
			return nil, err
		}
	}
	for _, phase := range []func(context.Context, *planning) error{e.readCloud, e.selectWork, e.readAD, e.findOriginals, e.reconcile} {
		if err := phase(ctx, p); err != nil {
			if p.spool != nil {
				p.spool.close()
			}
			return nil, err
		}
	}
	return e.finishPlan(p), nil
}

// planning is one plan in the making: what each phase read or decided.
type planning struct {
	o     RunOptions
	asked SavedOptions
	mode  string
	en    state.Enablement
	// links are the delta links the rounds start from; kept are those the
	// state holds (a cycle on one group leaves them as they were).
	links, kept state.Links

	// The cloud.
	snap *cloud.Snapshot
	// gr and ur are the rounds read; once applied to snap, only which
	// objects they changed is kept (changedGroups, changedUsers).
	gr                          *cloud.GroupRound
	ur                          *cloud.UserRound
	changedGroups, changedUsers []string
	memberDeltas                map[string]cloud.MemberDelta
	// quiet: Graph said nothing changed, and nothing is left from the
	// last cycle.
	quiet bool
	// enforcement is what AD object enforcement means for the writes,
	// read once (enforcementRead) by the first slice.
	enforcement     *gate.Enforcement
	enforcementRead bool
	// staged: every member list was staged in the state before the
	// groups were decided (stageAll), and each slice's are read back
	// (loadSlice).
	staged bool
	// left are the groups left pending, failed or held by earlier cycles.
	left []state.GroupStatus
	// releases are the admins' releases of held removals that stand;
	// held are the groups earlier runs held back.
	releases []state.Release
	held     map[string]bool
	// before fingerprints the snapshot before a full cycle's rounds (to
	// tell drift from cloud changes).
	before prints
	// changes are the groups that may be planned from their member
	// changes alone.
	changes map[string]*memberChanges
	// bare are the groups loaded without their member users (a delta
	// cycle's changed groups): completeMembers loads those of the ones
	// planned in full.
	bare          map[string]bool
	behaviourRead []string
	full          bool
	// target is the one group of RunOptions.Group.
	target string

	// The work.
	res       *Result
	dirty     map[string]bool
	decisions []policy.Decision
	work      []policy.Decision
	tr        *Trace
	managed   []string
	ropts     reconcile.Options

	// AD, and the decision.
	actual []reconcile.ADGroup
	// originals are the original AD groups of the groups written in
	// place, by cloud id.
	originals map[string]*reconcile.ADGroup
	plan      reconcile.Plan

	// The slices. ops are the operations of the slices planned, a list a
	// slice: all of them, or, with stream, what is kept of those written
	// (thinned).
	// checked are the problems the checks of each slice found, claimed
	// the sAMAccountNames the slices write (lower case), adopted the
	// groups they adopt.
	// spool, for a plan made to be shown (ShowOnly), holds the slices'
	// operations whole; ops keeps them thinned.
	ops     [][]reconcile.Op
	checked []reconcile.Problem
	claimed map[uint64]string
	adopted map[string]bool
	// creating are the groups the slices so far create (or restore).
	creating map[string]bool
	// deletedRead: whether CN=Deleted Objects holds any anchored group was
	// read (once a cycle); noneDeleted: it holds none, so no create's
	// anchor is looked up there.
	deletedRead, noneDeleted bool
	stream                   *applying
	spool                    *opSpool
	// sams are the sAMAccountNames of the AD groups read, by cloud id,
	// once a slice's statuses need them (settle).
	sams map[string]string
	// log, with stream, is what the cycle keeps of every operation it
	// wrote, for its result; unsettled are those (thinned) of the groups
	// not recorded as their slice was written (settle), which the end of
	// the cycle records; the last slice's begin at sliceAt.
	log       *opLog
	unsettled []reconcile.Op
	sliceAt   int
	// parted are the groups planned in parts (resolveParts): recorded at
	// the end of the cycle, from all their operations.
	parted map[string]bool
}

// begin reads what the state says of the cycle to come: the enablement,
// the binding, and whether the configuration changed since the last cycle
// (then it is a full one).
func (e *Engine) begin(ctx context.Context, o RunOptions) (*planning, error) {
	p := &planning{o: o, asked: SavedOptions{Full: o.Full, Group: o.Group, AllowDeletes: o.AllowDeletes}, mode: "delta"}
	if o.Full {
		p.mode = "full"
	}
	var err error
	if p.en, err = e.store.Enablement(ctx); err != nil {
		return nil, err
	}
	if o.WithoutExchange != nil {
		p.en.WithoutExchange = *o.WithoutExchange
	}
	if err := e.checkBinding(ctx, false); err != nil {
		return nil, err
	}
	if p.snap, p.links, err = e.store.LoadHead(ctx); err != nil {
		return nil, err
	}
	if last, err := e.store.Meta(ctx, "config"); err != nil {
		return nil, err
	} else if last != "" && last != e.configPrint() && !o.Full && o.Group == "" {
		// A delta cycle would leave groups the new scope, naming or target
		// concern untouched until the daily full one.
		e.logger.Info("the configuration's scope, naming, target or delete policies changed since the last cycle: this cycle is a full one")
		p.o.Full = true
	}
	if p.releases, err = e.store.Releases(ctx); err != nil {
		return nil, err
	}
	held, err := e.store.Statuses(ctx, state.Held)
	if err != nil {
		return nil, err
	}
	p.held = map[string]bool{}
	for _, st := range held {
		p.held[st.CloudID] = true
	}
	p.kept = p.links
	if p.o.Full {
		p.links = state.Links{}
	}
	return p, nil
}

// readCloud reads the groups and users rounds from Graph and applies them
// to the tenant as last read. That snapshot is loaded only when there is
// work: a delta cycle that Graph says nothing changed for, with nothing
// left from the last one, takes the same time whatever the tenant's size.
func (e *Engine) readCloud(ctx context.Context, p *planning) error {
	var err error
	// A cycle that writes its slices as it plans them stages a full round
	// of users as it is read, rather than hold it: a --full cycle keeps
	// them (its drift check compares them), and so does a plan.
	var spill cloud.UserSpill
	if p.stream != nil && !p.o.Full && p.o.Group == "" {
		spill = cloud.SpillFunc(e.store.StageUsers)
	}
	if p.gr, p.ur, err = e.readRounds(ctx, p.links, spill); err != nil {
		return err
	}
	if !p.o.Full && p.o.Group == "" {
		if p.left, err = e.store.Statuses(ctx, state.Unsettled...); err != nil {
			return err
		}
	}
	switch {
	case quiet(p.o, p.gr, p.ur, p.left):
		p.quiet = true
	case !p.o.Full && p.o.Group == "" && !p.gr.Full && !p.ur.Full:
		// A delta with changes: the groups and users they concern, not
		// the tenant.
		changed := groupIDs(p.gr.Changes)
		members := append(slices.Clone(changed), userIDs(p.ur.Changes)...)
		ids := slices.Clone(changed)
		for _, st := range p.left {
			ids = append(ids, st.CloudID)
		}
		var named []string
		for _, d := range p.gr.Changes {
			for _, r := range slices.Concat(d.MembersAdded, d.MembersRemoved) {
				named = append(named, r.ID)
			}
		}
		// The changed groups' member users are loaded only when a group
		// is planned in full (completeMembers): one planned from its
		// member changes needs the members changed alone.
		p.bare = map[string]bool{}
		for _, id := range changed {
			p.bare[id] = true
		}
		if p.snap, _, err = e.store.LoadPart(ctx, state.Part{Groups: ids, Members: members, Named: named, Bare: changed}); err != nil {
			return err
		}
	case p.ur.Spilled:
		// The users are staged: each slice reads its members' (loadUsers).
		if p.snap, _, err = e.store.LoadGroups(ctx); err != nil {
			return err
		}
	default:
		if p.snap, _, err = e.store.LoadCloud(ctx); err != nil {
			return err
		}
	}
	if p.o.Full {
		p.before = fingerprints(p.snap)
	}
	p.changes = byChanges(p.snap, p.gr)                         // read before the round is applied
	p.memberDeltas = p.snap.TakeGroups(p.gr.Full, p.gr.Changes) // its member lists are read above, not after
	p.snap.TakeUsers(p.ur.Full, p.ur.Changes)
	if err := e.confirmRemovedUsers(ctx, p.snap, p.ur.Changes); err != nil {
		return err
	}
	if p.behaviourRead, err = e.readSyncBehavior(ctx, p.snap, p.gr); err != nil {
		return err
	}
	p.snap.UnifiedWritebackDefault = e.tenantDefault(ctx, p.snap.UnifiedWritebackDefault)
	if p.full = p.o.Full || p.gr.Full || p.ur.Full; p.full {
		p.mode = "full"
	}
	return nil
}

// selectWork decides which groups the cycle works on: one (a cycle on one
// group), every one (full), or those the rounds changed and those left
// from before (delta); and decides each in scope or not.
func (e *Engine) selectWork(ctx context.Context, p *planning) error {
	if p.o.Group != "" {
		var err error
		if p.target, err = e.target(ctx, p.o.Group, p.snap); err != nil {
			return err
		}
		p.mode, p.full = "group", false
	}
	if err := e.checkPlaces(ctx, p.full); err != nil {
		return err
	}
	p.res = &Result{Mode: p.mode, Quiet: p.quiet, Counts: Counts{MembersNotWritten: map[string]int{}}}
	var otherwise map[string]bool
	switch {
	case p.target != "":
		p.dirty, p.changes = map[string]bool{p.target: true}, nil
	case !p.full:
		p.dirty, otherwise = dirtyGroups(p.snap, p.gr, p.ur, p.left)
	default:
		p.changes = nil
	}
	// The rounds are applied: keep only which objects they changed, and let
	// the collector have the rest before planning, the cycle's peak.
	// (A full round's save writes every object: it names none.)
	if !p.gr.Full {
		p.changedGroups = groupIDs(p.gr.Changes)
	}
	if !p.ur.Full {
		p.changedUsers = userIDs(p.ur.Changes)
	}
	p.gr.Changes, p.ur.Changes = nil, nil
	narrow(p.changes, otherwise)
	// Members are listed by resolve, a slice of groups at a time.
	if err := e.stageAll(ctx, p); err != nil {
		return err
	}
	po := e.policyOptions(p.en)
	po.LetGoAttrs = true // made again a slice at a time (reconcile)
	p.decisions = policy.DecideSome(p.snap, po, map[string]bool{})
	if p.target != "" {
		p.tr = newTrace(p.target, decisionOf(p.decisions, p.target))
	}
	p.managed = e.managed()
	p.ropts = e.reconcileOptions(p.managed, p.o)
	p.ropts.Held = p.held
	p.ropts.Released = map[string]string{}
	for _, r := range p.releases {
		if r.Action != state.ActionKeep {
			p.ropts.Released[r.CloudID] = r.DN
		}
	}
	return e.keepByChanges(ctx, p.changes, p.decisions, p.snap)
}

// readAD reads the groups the work touches from AD. Anchored groups are
// looked for in the whole domain, so that one moved out of the target OU
// (or written by another tool elsewhere) is reported rather than
// duplicated.
func (e *Engine) readAD(ctx context.Context, p *planning) error {
	var err error
	if p.full {
		p.actual, err = e.reader.OwnedGroups(ctx, e.cfg.BaseDN, p.managed)
	} else {
		p.actual, err = e.readDelta(ctx, deltaWork{decisions: p.decisions, dirty: p.dirty, changes: p.changes}, p.managed, p.ropts)
	}
	if err != nil {
		return fmt.Errorf("engine: read groups from AD: %w", err)
	}
	if p.full {
		p.work = p.decisions // every group: the same list, not a copy
		return nil
	}
	for _, d := range p.decisions {
		if p.dirty[d.CloudID] {
			p.work = append(p.work, d)
		}
	}
	return nil
}

// findOriginals loads the member users the work still lacks, and finds
// the original AD groups of the groups written in place.
func (e *Engine) findOriginals(ctx context.Context, p *planning) error {
	if err := e.completeMembers(ctx, p); err != nil {
		return err
	}
	var err error
	p.originals, err = e.placeOriginals(ctx, p.work)
	return err
}

// completeMembers loads the member users of the groups loaded bare that
// are planned in full after all (not from their member changes): a group
// new to the cycle's plan by changes, one left failed, one whose AD copy
// must be read whole.
func (e *Engine) completeMembers(ctx context.Context, p *planning) error {
	if err := e.wholeLists(ctx, p); err != nil {
		return err
	}
	var missing []string
	for _, d := range p.work {
		g := p.snap.Groups[d.CloudID]
		if !p.bare[d.CloudID] || p.changes[d.CloudID] != nil || g == nil {
			continue
		}
		for m := range g.Members.All() {
			if p.snap.Users[m] == nil && p.snap.Groups[m] == nil {
				missing = append(missing, m)
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	more, _, err := e.store.LoadPart(ctx, state.Part{Named: missing})
	if err != nil {
		return err
	}
	addMissing(p.snap, more)
	return nil
}

// wholeLists loads the whole member list of each group of the work whose
// list was loaded in part (a bare group of a delta cycle) and that is
// planned in full after all, with the round's member changes applied
// again, and its member users.
func (e *Engine) wholeLists(ctx context.Context, p *planning) error {
	var ids []string
	for _, d := range p.work {
		if g := p.snap.Groups[d.CloudID]; g != nil && p.bare[d.CloudID] && g.Members.Partial() && p.changes[d.CloudID] == nil {
			ids = append(ids, d.CloudID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	more, _, err := e.store.LoadPart(ctx, state.Part{Groups: ids})
	if err != nil {
		return err
	}
	for _, id := range ids {
		whole := more.Groups[id]
		if whole == nil || whole.Members.Partial() {
			return fmt.Errorf("engine: load the members of group %s: the state no longer holds them whole", id)
		}
		d := p.memberDeltas[id]
		whole.Members.Apply(d.Added, d.Removed)
		p.snap.Groups[id].Members = whole.Members
	}
	addMissing(p.snap, more)
	return nil
}

// addMissing adds to snap the users and groups of more that it lacks.
func addMissing(snap, more *cloud.Snapshot) {
	for id, u := range more.Users {
		if snap.Users[id] == nil {
			snap.Users[id] = u
		}
	}
	for id, g := range more.Groups {
		if snap.Groups[id] == nil {
			snap.Groups[id] = g
		}
	}
}

// reconcile decides what becomes of each group of the work (written, kept,
// deleted, quarantined), resolves the members of the groups written and
// plans their operations a slice of groups at a time, plans the removals
// over them all, and takes out of the plan what AD would refuse (a taken
// sAMAccountName) and what the write gate would (a member added to a
// protected group), as problems.
func (e *Engine) reconcile(ctx context.Context, p *planning) error {
	undesired := map[string]reconcile.Disposition{}
	var wanted []*policy.DesiredGroup
	for _, d := range p.work {
		switch {
		case d.Desired != nil:
			wanted = append(wanted, d.Desired)
			p.res.Counts.InScope++
			p.res.Notes = append(p.res.Notes, d.Notes...)
		case d.InScope:
			// Not writable now: its AD copy, if any, is kept as it is.
			p.res.Counts.InScope++
			p.res.Counts.NotWritable++
			undesired[d.CloudID] = reconcile.Disposition{Fate: reconcile.Keep, Reason: d.Problem.Error()}
		default:
			undesired[d.CloudID] = reconcile.Disposition{Fate: e.cfg.Fates.of(d.Cause), Reason: d.Reason}
			p.res.Skipped = append(p.res.Skipped, d)
		}
	}
	if err := e.checkGone(ctx, p.snap, p.actual, undesired); err != nil {
		return err
	}
	if !p.full && mayRemove(p.actual, wanted) {
		// A delta cycle reads only the groups it works on from AD: the
		// share of deletes is taken of every group written.
		var err error
		if p.ropts.OwnedTotal, err = e.store.CountWritten(ctx); err != nil {
			return err
		}
	}
	mk := reconcile.NewMaker(wanted, p.actual, undesired, p.ropts)
	p.claimed, p.adopted = map[uint64]string{}, map[string]bool{}
	if p.stream != nil {
		p.stream.who.adopted = p.adopted // a slice's writes say "adopt" of the groups noted so far
	}
	load := func(ctx context.Context, slice []policy.Decision) error { return e.loadSlice(ctx, p, slice) }
	each := func(slice []reconcile.Desired, planned []policy.Decision) (bool, error) {
		for _, d := range slice {
			if d.More {
				if p.parted == nil {
					p.parted = map[string]bool{}
				}
				p.parted[d.Group.CloudID] = true
			}
		}
		for i := range slice {
			slice[i].Original = p.originals[slice[i].Group.CloudID]
			slice[i].Group.LoadAttrs()
			if ms := slice[i].Matched; len(ms) > 0 {
				if p.res.MembersMatched == nil {
					p.res.MembersMatched = map[string][]reconcile.MemberMatch{}
				}
				id := slice[i].Group.CloudID
				p.res.MembersMatched[id] = append(p.res.MembersMatched[id], ms...)
			}
		}
		ops := mk.Converge(slice)
		for _, d := range slice {
			d.Group.LetGoAttrs() // planned: its operations hold what they write
		}
		if p.spool != nil {
			p.letGo(planned)
		}
		more, err := e.takeSlice(ctx, p, mk, ops)
		if err == nil && more {
			p.letGoWritten(planned)
			err = e.settle(ctx, p, mk, planned)
		}
		return more, err
	}
	in := resolving{list: policy.NewLister(p.snap, p.decisions, e.cfg.Policy.Match), changes: p.changes, creates: mk.Creates, tr: p.tr, load: load, part: e.stagedPart, each: each}
	if p.ur.Spilled {
		in.users = func(ctx context.Context, sets ...cloud.Refs) error { return e.loadUsers(ctx, p, sets) }
	}
	left, err := e.resolve(ctx, p.work, in)
	if err != nil {
		if p.stream == nil || !p.stream.opened {
			return err
		}
		// Some slices are written: the cycle stops as it would for a DC
		// lost, recording what it wrote and leaving the rest pending.
		p.stream.fatal = fmt.Errorf("engine: the cycle stopped after writing part of its plan: %w", err)
		e.logger.Error("the cycle cannot plan the rest of its work; stopping it", "error", err)
	}
	switch {
	case p.spool != nil:
		p.plan = mk.Finish() // after the slices spooled, in the order planned
	case p.stream == nil:
		p.plan = mk.Finish(p.ops...)
		p.ops = nil
	default:
		p.plan = mk.Finish() // what is left to write
		for _, d := range left {
			if d.Desired != nil {
				p.stream.unfinished[d.CloudID] = true // never planned: the writes stopped first
			}
		}
	}
	p.plan.Problems = append(p.plan.Problems, p.checked...)
	return e.noteAdoptions(ctx, p, p.plan.Ops)
}

// finishPlan makes the result and the plan: its problems and failures,
// the trace of one group, drift found by a full cycle, the counts, and
// what Apply needs of what was read.
func (e *Engine) finishPlan(p *planning) *Plan {
	res, plan, snap := p.res, p.plan, p.snap
	written := 0 // the operations of a streamed cycle's slices, written, kept in the plan
	switch {
	case p.stream != nil:
		// Those of the groups recorded as their slice was written are in
		// the log alone.
		plan.Ops = slices.Concat(p.unsettled, plan.Ops)
		written, p.unsettled = len(p.unsettled), nil
		res.log, res.logged = p.log, written
	case p.spool != nil:
		plan.Ops = joinSlices(p.ops, plan.Ops)
		p.ops = nil
	}
	res.spool = p.spool
	slices.Sort(res.Adopted)
	for _, pr := range plan.Problems {
		if pr.CloudID != "" {
			res.Failures = append(res.Failures, Failure{CloudID: pr.CloudID, Name: nameOf(snap, pr.CloudID), DN: pr.DN, State: state.Failed, Message: pr.Message})
		}
	}
	res.Plan = plan
	if p.tr != nil {
		p.tr.finish(plan, p.actual, snap)
		res.Trace = p.tr
	}
	if p.full {
		res.Restored = restored(res.Kept(), e.cfg.QuarantineOU)
		res.Counts.Restored = len(res.Restored)
		for _, id := range res.Restored {
			e.logger.Info("restored from quarantine: the group comes back to the target OU with its members (the tool quarantined it)", "cloud_id", id, "name", nameOf(snap, id))
		}
	}
	if p.o.Full {
		res.Drift = drift(res.Kept(), p.before, snap, res.Restored)
		res.Counts.Drifted = len(res.Drift)
		for _, id := range res.Drift {
			e.logger.Warn("drift: the AD group was changed by hand; overwriting it with the cloud's values", "cloud_id", id, "name", nameOf(snap, id))
		}
	}
	for _, id := range res.Adopted {
		e.logger.Info("adopt: a group this state never wrote, found in AD by its anchor, is taken over", "cloud_id", id, "name", nameOf(snap, id))
	}
	for id := range res.MembersMatched {
		if res.GroupNames == nil {
			res.GroupNames = map[string]string{}
		}
		res.GroupNames[id] = nameOf(snap, id)
	}
	for id := range plan.NotWritten {
		if res.GroupNames == nil {
			res.GroupNames = map[string]string{}
		}
		res.GroupNames[id] = nameOf(snap, id)
	}
	res.Counts.Unchanged = plan.Unchanged
	res.Counts.planned(plan.Ops, e.cfg.QuarantineOU)
	notWritten := countNotWritten(plan, p.changes, res.Counts.MembersNotWritten)
	for _, d := range p.work {
		if d.Problem != nil {
			res.Failures = append(res.Failures, Failure{CloudID: d.CloudID, Name: d.Name, State: state.NotWritable, Message: d.Problem.Error()})
		}
	}
	// What Apply checks again (the AD objects as seen, the groups' names)
	// it needs of the operations not written yet: a cycle's slices were
	// written a moment after they were planned.
	out := e.newPlan(res, p.actual, p.originals, written, state.Links{Groups: p.gr.DeltaLink, Users: p.ur.DeltaLink}, func(id string) string { return nameOf(snap, id) })
	out.fresh = &freshState{snap: snap, gr: p.gr, ur: p.ur, changedGroups: append(p.changedGroups, p.behaviourRead...), changedUsers: p.changedUsers,
		memberDeltas: p.memberDeltas, actual: p.actual, sams: p.sams, work: p.work, notWritten: notWritten, releases: p.releases}
	if p.target != "" {
		out.fresh.oneGroup, out.fresh.kept = true, p.kept
	}
	if p.stream != nil {
		out.fresh.stream, out.fresh.written = p.stream, written
	}
	out.Options = p.asked
	for _, op := range plan.Ops {
		if r, ok := releaseFor(p.releases, op); ok {
			if out.Releases == nil {
				out.Releases = map[string]state.Release{}
			}
			out.Releases[op.CloudID] = r
		}
	}
	return out
}
