package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// Apply writes the plan's operations through the write gate, and records
// what became of each group. A plan made in this process (a cycle, or
// disable after its confirmation) is applied as it is, refusing as stale
// the operations of a group whose AD object or cloud group changed since;
// a saved plan (plan --out) is checked, and the engine plans again: a
// group's operations are written only where the engine would plan exactly
// those now (a saved plan is an approval, not an authority). The others
// go on. A cycle's plan whose slices were written as they were planned
// (Run) has only its held-back member values and its removals left to
// write. Apply never changes the plan it is given: the result is new.
func (e *Engine) Apply(ctx context.Context, p *Plan) (*Result, error) {
	a, err := e.approveApply(ctx, p)
	if err != nil {
		return nil, err
	}
	if a.disabling {
		if err := e.markPending(ctx, a); err != nil {
			return nil, err
		}
	}
	started := a.p.runID == 0 // else Run started it, and its logger says so
	if err := e.startRun(ctx, a); err != nil {
		return nil, err
	}
	if started {
		e = e.withLogger(e.logger.With("run_id", a.runID))
	}
	if !a.opened {
		if err := e.openWrites(ctx, a, a.p.fresh.releases); err != nil {
			return nil, err
		}
	}
	a.who.allowDeletes, a.who.releases = a.p.Options.AllowDeletes, a.p.Releases
	if a.saved {
		a.who.approval = ApprovalOf(ctx)
	}
	for _, id := range a.p.Result.Adopted {
		a.who.adopted[id] = true
	}
	e.applyOps(ctx, a, a.ops, a.names)
	if e.cfg.Progress != nil && a.tried > 0 {
		e.cfg.Progress("writing to AD", a.tried, a.tried)
	}
	a.res.Writes = a.writes
	e.countDone(a.done, a.failed, a.res)
	for id, why := range a.stale {
		a.failed[id] = fmt.Errorf("%w: %s; nothing of it was written (the next sync plans it again)", ErrStale, why)
	}
	a.res.Counts.Failed = len(a.failed)
	if !a.disabling {
		if err := e.saveCloud(ctx, a); err != nil {
			return nil, err
		}
	}
	if err := e.useReleases(ctx, a); err != nil {
		return nil, err
	}
	if err := e.recordApply(ctx, a); err != nil {
		return nil, err
	}
	if f := a.p.fresh; f != nil && f.oneGroup && a.res.Trace != nil {
		// A cycle on one group answers for that group: another group not
		// in step is no failure of it (its exit status, its outcome).
		a.res.Failures = slices.DeleteFunc(a.res.Failures, func(fl Failure) bool { return fl.CloudID != a.res.Trace.CloudID })
	}
	return e.finishRun(ctx, a)
}

// applying is one plan being applied.
type applying struct {
	p                *Plan
	saved, disabling bool
	// stale are the groups whose operations are not written, and why.
	stale map[string]string
	res   *Result
	// ops are the operations left to write, names the groups' names.
	ops   []reconcile.Op
	names map[string]string
	mode  string
	runID int64
	// opened: the writes may begin (the binding checked, the writes an
	// earlier process left settled, the admins' decisions audited);
	// streamed: slices were written as they were planned.
	opened, streamed bool
	who              runAudit
	// How the writes went: the operations tried and written, what those
	// applied did (counted), the failed and unfinished groups, and the
	// error that stopped them all (the DC lost, the lease lost).
	tried, writes int
	done          doneOps
	failed        map[string]error
	unfinished    map[string]bool
	fatal         error
	// matched are the groups written, what was written and when
	// (matched.go), in the order first written; started is when the
	// cycle began, noticed when notifications named objects before it.
	matched      map[string]*Matched
	matchedOrder []string
	started      time.Time
	noticed      map[string]time.Time
}

// newApplying is a plan's writes about to begin, in run runID (0: Apply
// starts one).
func newApplying(runID int64) *applying {
	return &applying{runID: runID, failed: map[string]error{}, unfinished: map[string]bool{}, who: runAudit{adopted: map[string]bool{}}}
}

// readyWrites is what precedes a plan's first write: the binding
// checked again, and every write an earlier process left with no outcome
// settled.
func (e *Engine) readyWrites(ctx context.Context) error {
	if err := e.checkBinding(ctx, true); err != nil {
		return err
	}
	e.Settle(ctx)
	return nil
}

// openWrites opens a's writes, once ready: the admins' decisions the plan
// was made with (releases; nil: read them) put in the audit trail before
// any write, and who asks for the writes.
func (e *Engine) openWrites(ctx context.Context, a *applying, releases []state.Release) error {
	if err := e.auditDecisions(ctx, a.runID, releases); err != nil {
		return err
	}
	a.who.actor = ActorOf(ctx)
	a.opened = true
	return nil
}

// approveApply decides what of the plan is written: everything a plan
// made in this process holds but the groups gone stale (and, of a cycle
// whose slices were written as planned, what is left), or, of a saved
// plan, what the engine plans again now. It refuses staging, a disabled
// writeback (but for disable's own plan) and another binding, and settles
// the writes a killed process left with no outcome first.
func (e *Engine) approveApply(ctx context.Context, p *Plan) (*applying, error) {
	if e.cfg.Staging {
		return nil, ErrStaging
	}
	if p.fresh != nil && p.Result.spool != nil {
		return nil, fmt.Errorf("%w: it was made to be shown (ShowOnly); save it and apply the file", ErrPlanRefused)
	}
	a := newApplying(p.runID)
	a.started = e.now()
	if p.fresh != nil && p.fresh.stream != nil {
		a = p.fresh.stream // its slices written: the binding checked, the writes settled
	}
	a.saved, a.disabling = p.fresh == nil, p.fresh != nil && p.fresh.disable
	var refused map[string]string // the groups of a saved plan not applied, and why
	if a.saved {
		if err := e.CheckSaved(ctx, p, 0); err != nil {
			return nil, err
		}
		now, err := e.Plan(ctx, RunOptions{Full: p.Options.Full, Group: p.Options.Group, AllowDeletes: p.Options.AllowDeletes})
		if err != nil {
			return nil, err
		}
		refused = approve(p, now)
		now.fresh.immediate = true // read a moment ago
		p = now
	}
	a.p = p
	en, err := e.store.Enablement(context.WithoutCancel(ctx)) // a streamed cycle interrupted still records what it wrote
	switch {
	case err != nil:
		return nil, err
	case !a.disabling && !en.Enabled:
		return nil, ErrDisabled
	case a.disabling && en.Enabled:
		return nil, ErrNotDisablePlan
	}
	if !a.opened {
		if err := e.readyWrites(ctx); err != nil {
			return nil, err
		}
	}
	if a.stale, err = e.stale(ctx, p); err != nil {
		return nil, err
	}
	for id, why := range refused {
		a.stale[id] = why
	}
	res := *p.Result // the plan's result stays as it was planned
	a.res = &res
	a.res.Failures = nil
	// The plan's counts said what it planned; now they say what was done.
	a.res.Counts.Created, a.res.Counts.Updated, a.res.Counts.Deleted, a.res.Counts.Quarantined = 0, 0, 0, 0
	left := p.Result.Plan.Ops
	if p.fresh != nil {
		left = left[p.fresh.written:]
	}
	a.ops = make([]reconcile.Op, 0, len(left))
	for _, op := range left {
		if a.stale[op.CloudID] == "" {
			a.ops = append(a.ops, op)
		}
	}
	for id, why := range a.stale {
		e.logger.Warn("stale: the plan's operations on this group are not applied", "cloud_id", id, "name", p.Names[id], "why", why)
	}
	a.names = e.namesFor(ctx, p.Names, a.ops)
	a.mode = p.Mode
	if a.saved {
		a.mode = "apply " + p.Mode
	}
	return a, nil
}

// markPending records, before the first write of disable, the groups it
// is about to write as pending.
func (e *Engine) markPending(ctx context.Context, a *applying) error {
	var sts []state.GroupStatus
	for _, op := range a.ops {
		sts = append(sts, state.GroupStatus{CloudID: op.CloudID, Name: a.p.Names[op.CloudID], State: state.Pending})
	}
	return e.store.SetStatus(ctx, sts)
}

// saveCloud records what the cycle read, once its writes are done: the
// tenant as read and the delta links its reads ended with. Killed
// before, the cycle leaves the links where they were, so the next one
// reads the same changes from Graph again and plans them again (what was
// written is found in step, or written again: adds and removals of
// member values are harmless twice). A group whose writes were stopped
// (the DC lost, the lease lost) is recorded pending by recordApply.
func (e *Engine) saveCloud(ctx context.Context, a *applying) error {
	f := a.p.fresh
	links := state.Links{Groups: f.gr.DeltaLink, Users: f.ur.DeltaLink}
	if f.oneGroup {
		links = f.kept // the next cycle reads every other change again
	}
	return e.store.SaveCloud(context.WithoutCancel(ctx), state.CloudUpdate{Snapshot: f.snap, FullGroups: f.gr.Full, FullUsers: f.ur.Full, UsersStaged: f.ur.Spilled,
		ChangedGroups: f.changedGroups, ChangedUsers: f.changedUsers, Members: f.memberDeltas, Links: links})
}

// startRun records the run (unless Run started it before it planned).
func (e *Engine) startRun(ctx context.Context, a *applying) error {
	a.runID = a.p.runID
	if a.runID == 0 {
		var died []int64
		var err error
		if a.runID, died, err = e.store.StartRun(ctx, a.mode); err != nil {
			return err
		}
		e.markDied(died)
	}
	a.res.RunID = a.runID
	return nil
}

// recordApply records what became of each group the plan worked on.
func (e *Engine) recordApply(ctx context.Context, a *applying) error {
	f := a.p.fresh
	if a.disabling {
		if err := e.recordOps(ctx, a.p, a.ops, a.failed, a.unfinished, a.res); err != nil {
			return err
		}
		if err := e.recordDisabled(ctx, a.p, a.failed); err != nil {
			return err
		}
		for _, pr := range a.res.Plan.Problems {
			a.res.Failures = append(a.res.Failures, Failure{CloudID: pr.CloudID, DN: pr.DN, State: state.Failed, Message: pr.Message})
		}
		return nil
	}
	plan := a.res.Plan
	if len(a.stale) > 0 {
		plan.Ops = slices.Concat(a.p.Result.Plan.Ops[:f.written], a.ops)
	}
	if err := e.clearGone(ctx, f.snap, f.actual, plan); err != nil {
		return err
	}
	sams := f.sams
	if sams == nil {
		sams = samOf(f.actual)
	}
	return e.record(ctx, cycleOutcome{Work: f.work, Plan: plan, Failed: a.failed, Unfinished: a.unfinished, NotWritten: f.notWritten, SAM: sams}, a.res)
}

// samOf are the sAMAccountNames of the AD groups read, by cloud id.
func samOf(actual []reconcile.ADGroup) map[string]string {
	out := make(map[string]string, len(actual))
	for _, a := range actual {
		if v := a.Attrs["sAMAccountName"]; len(v) == 1 {
			if id := cloudID(a); id != "" {
				out[id] = v[0]
			}
		}
	}
	return out
}

// finishRun records the run's end and outcome, and, after a cycle that
// wrote all it could, the configuration it was made with.
func (e *Engine) finishRun(ctx context.Context, a *applying) (*Result, error) {
	outcome := state.OutcomeOK
	switch {
	case a.fatal != nil:
		outcome = state.OutcomeFailed
	case ctx.Err() != nil:
		outcome = state.OutcomeInterrupted
	case len(a.res.Failures) > 0:
		outcome = state.OutcomePartial
	}
	// A group is told in step when the cloud changed it: in a cycle whose
	// rounds were incremental, or one on that group. A first writeback or
	// a full cycle writes what was never written or drifted, which its
	// operations' audit entries say.
	if f := a.p.fresh; a.mode == "group" || f != nil && f.gr != nil && f.ur != nil && !f.gr.Full && !f.ur.Full && a.mode != "full" {
		a.res.Matched = a.matchedGroups()
		if err := e.auditMatched(ctx, a.runID, a.who, a.res.Matched); err != nil && a.fatal == nil {
			a.fatal = err
		}
	}
	sum := RunSummary{Counts: a.res.Counts, Actor: ActorOf(ctx)}
	a.res.Quiet = a.res.Quiet && outcome == state.OutcomeOK && a.res.Writes == 0 && !a.disabling
	if a.res.Quiet {
		kept, err := e.store.FinishQuietRun(context.WithoutCancel(ctx), a.runID, a.mode, sum)
		if err != nil {
			return nil, err
		}
		a.res.RunID = kept
	} else if err := e.store.FinishRun(context.WithoutCancel(ctx), a.runID, a.mode, outcome, sum); err != nil {
		return nil, err
	}
	if !a.disabling && !a.p.fresh.oneGroup && a.fatal == nil && ctx.Err() == nil {
		if err := e.store.SetMeta(context.WithoutCancel(ctx), "config", e.configPrint()); err != nil {
			return nil, err
		}
	}
	if a.mode == "full" && e.cfg.HistoryDays > 0 && a.fatal == nil && ctx.Err() == nil {
		e.pruneHistory(ctx)
	}
	if a.fatal != nil {
		return a.res, a.fatal
	}
	return a.res, ctx.Err()
}

// keptRuns are the runs history pruning keeps whatever their age: what
// status, the status page and the console show of a service idle for long.
const keptRuns = 100

// pruneHistory drops the run history and the operation log older than
// state.history_days (the audit trail keeps its own retention). A failure
// is logged, never the cycle's.
func (e *Engine) pruneHistory(ctx context.Context) {
	runs, ops, err := e.store.PruneHistory(context.WithoutCancel(ctx), e.now().AddDate(0, 0, -e.cfg.HistoryDays), keptRuns)
	switch {
	case err != nil:
		e.logger.Warn("the run history could not be pruned", "error", err)
	case runs+ops > 0:
		e.logger.Info("run history pruned", "older_than_days", e.cfg.HistoryDays, "runs", runs, "operations", ops)
	}
}

// applyOps writes operations in order: the plan's, or one slice of it.
// A group whose operation fails gets no further operations this cycle;
// the others go on. It gathers into a the operations applied, the failed
// groups, and those it did not finish because the cycle was interrupted
// or the DC was lost (a.fatal says which DC, and why): once stopped, it
// writes nothing more.
func (e *Engine) applyOps(ctx context.Context, a *applying, ops []reconcile.Op, names map[string]string) {
	logger := e.logger // it carries the run id
	var log []state.Operation
	defer func() {
		if err := e.store.RecordOperations(context.WithoutCancel(ctx), log); err != nil {
			e.logger.Error("cannot record the operation log", "error", err)
		}
	}()
	total := a.tried + len(ops)
	if a.streamed {
		total = 0 // unknown: the slices after this one are not planned yet
	}
	// failedWrite records a write that failed in the operation log and
	// the audit trail; false when the trail refused it (a.fatal: the
	// cycle stops).
	failedWrite := func(op reconcile.Op, opID string, err error, lease gate.Lease) bool {
		log = append(log, state.Operation{RunID: a.runID, CloudID: op.CloudID, Action: string(op.Action), DN: op.DN, Outcome: "failed", Error: err.Error(), At: time.Now()})
		if aerr := e.audit(ctx, a.runID, a.who, opID, op, names[op.CloudID], err, lease); aerr != nil {
			a.fatal = aerr
			return false
		}
		return true
	}
	for i, op := range ops {
		if e.cfg.Progress != nil {
			e.cfg.Progress("writing to AD", a.tried+i, total)
		}
		if ctx.Err() != nil || a.fatal != nil {
			a.unfinished[op.CloudID] = true
			continue
		}
		if a.failed[op.CloudID] != nil {
			continue
		}
		opID := fmt.Sprintf("%d-%d", a.runID, a.tried+i+1)
		lease, err := e.write(ctx, a.runID, a.who, opID, op, names[op.CloudID])
		if err != nil && unrestored(op, err) && ctx.Err() == nil {
			// AD, or the gate, refused the restore (rights, the deleted
			// object gone or recycled): the group is created anew, as it
			// would be without one, and the trail says why.
			logger.Warn("the deleted group could not be restored: it is created anew, with a new objectSid", "cloud_id", op.CloudID, "name", names[op.CloudID],
				"from", op.From, "dn", op.DN, "error", err)
			if !failedWrite(op, opID, err, lease) {
				a.unfinished[op.CloudID] = true
				continue
			}
			op = op.Unrestored(fmt.Sprintf("AD refused the restore of %s: %v", op.From, err))
			ops[i] = op // what the cycle did, for its result
			opID += "-anew"
			lease, err = e.write(ctx, a.runID, a.who, opID, op, names[op.CloudID])
		}
		if err != nil {
			if why, left := stopsCycle(err); why != "" {
				// Not this group's operation: the DC is gone, another
				// instance holds the writer lease now, or the audit trail
				// cannot be written. Nothing more is written here; the
				// operations left stay for the next cycle (here, or the
				// active instance's).
				a.fatal = fmt.Errorf("engine: %w; the operations left were not done %s", err, left)
				a.unfinished[op.CloudID] = true
				logger.Error(why+"; stopping the cycle", "error", err, "operations_left", len(ops)-i)
				continue
			}
			a.failed[op.CloudID] = err
			logger.Error("operation failed", "cloud_id", op.CloudID, "name", names[op.CloudID], "action", op.Action, "dn", op.DN, "error", err)
			failedWrite(op, opID, err, lease)
			continue
		}
		at := time.Now()
		log = append(log, state.Operation{RunID: a.runID, CloudID: op.CloudID, Action: string(op.Action), DN: op.DN, Outcome: "applied", At: at})
		a.writes++
		a.matchedOp(op, names[op.CloudID], at, lease)
		logger.Info("operation applied", "cloud_id", op.CloudID, "name", names[op.CloudID], "action", op.Action, "dn", op.DN, "members", len(op.Members))
		if aerr := e.audit(ctx, a.runID, a.who, opID, op, names[op.CloudID], nil, lease); aerr != nil {
			a.fatal = aerr
			logger.Error("the audit trail cannot be written; stopping the cycle", "error", aerr, "operations_left", len(ops)-i-1)
		}
		a.done.add(op, e.cfg.QuarantineOU)
	}
	a.tried += len(ops)
}

// thin is what a cycle keeps of an operation once it is written: its
// group, action and DN, where it leaves the group, the sAMAccountName it
// writes and how many member values (what the statuses, counts and result
// need); not the values nor the other attributes it writes (the audit
// trail holds them).
func thin(op reconcile.Op) reconcile.Op {
	if op.Members != nil {
		op.MemberCount = len(op.Members)
	}
	if op.Creates() {
		sam, ok := op.Change("sAMAccountName")
		op.Changes = nil
		if ok {
			op.Changes = []reconcile.AttrChange{sam}
		}
	}
	op.Members = nil
	return op
}

// doneOps is what the operations applied did, as the counts need it: of
// each group, whether an operation created it or otherwise wrote to it; the
// deletes and quarantines, one each. (A cycle's operations, thinned, are
// kept in its plan; not a second time here.)
type doneOps struct {
	groups               map[string]uint8
	deleted, quarantined int
	// created and updated count the groups settled (their writes over,
	// none failed), taken out of groups; fromDeleted those of the created
	// that were restored from deleted objects.
	created, updated, fromDeleted int
}

// settle counts group id, whose writes are over with none failed, and
// takes it out of groups: those of a first writeback are not all held to
// its end.
func (d *doneOps) settle(id string) {
	what, ok := d.groups[id]
	switch {
	case !ok:
		return
	case what&doneCreated != 0:
		d.created++
	default:
		d.updated++
	}
	if what&doneFromDeleted != 0 {
		d.fromDeleted++
	}
	delete(d.groups, id)
}

const (
	doneCreated uint8 = 1 << iota
	doneTouched
	doneFromDeleted
)

func (d *doneOps) add(op reconcile.Op, quarantineOU string) {
	if d.groups == nil {
		d.groups = map[string]uint8{}
	}
	switch {
	case op.Action == reconcile.Restore:
		d.groups[op.CloudID] |= doneCreated | doneFromDeleted
	case op.Creates():
		d.groups[op.CloudID] |= doneCreated
	case op.Action == reconcile.Delete:
		d.deleted++
	case op.Quarantines(quarantineOU):
		d.quarantined++
	default:
		d.groups[op.CloudID] |= doneTouched
	}
}

// countDone counts, group by group, what the operations applied did: a
// group whose operation failed counts as failed only.
func (e *Engine) countDone(done doneOps, failed map[string]error, res *Result) {
	res.Counts.Deleted += done.deleted
	res.Counts.Quarantined += done.quarantined
	res.Counts.Created += done.created
	res.Counts.Updated += done.updated
	res.Counts.FromDeleted += done.fromDeleted
	for id, what := range done.groups {
		switch {
		case failed[id] != nil:
		case what&doneCreated != 0:
			res.Counts.Created++
			if what&doneFromDeleted != 0 {
				res.Counts.FromDeleted++
			}
		default:
			res.Counts.Updated++
		}
	}
	res.Counts.Failed = len(failed)
}

// write passes op through the write gate: approved, its intent is
// recorded in the audit trail, then it is sent. It returns the lease the
// write was sent under, and its error: a refusal of the gate, the fence's,
// a read's, or the write's own.
func (e *Engine) write(ctx context.Context, runID int64, who runAudit, opID string, op reconcile.Op, name string) (gate.Lease, error) {
	a, err := e.gate.Approve(ctx, op)
	if err != nil {
		return gate.Lease{}, err
	}
	if e.cfg.Audit != nil {
		intent := e.auditEntry(runID, who, opID, op, name, nil, a.Lease())
		intent.Outcome = OutcomeIntent
		if err := e.cfg.Audit.Audit(context.WithoutCancel(ctx), intent); err != nil {
			return a.Lease(), &auditError{err}
		}
	}
	err = e.gate.Write(ctx, a)
	return a.Lease(), err
}

// auditError: the audit trail refused an entry, so nothing more is written.
type auditError struct{ err error }

func (e *auditError) Error() string {
	return fmt.Sprintf("engine: the audit trail: %v; the operations left stay pending for the next cycle", e.err)
}

func (e *auditError) Unwrap() error { return e.err }

// stopsCycle says whether a write's error stops the whole cycle, why, and
// where the operations left go ("" when it is the group's alone).
func stopsCycle(err error) (why, left string) {
	var aerr *auditError
	switch {
	case errors.As(err, &aerr):
		return "the audit trail cannot be written", "and stay pending for the next cycle"
	case errors.Is(err, state.ErrFenced):
		return "this instance lost the writer lease", "here"
	case errors.Is(err, reconcile.ErrDirectoryUnavailable):
		return "the domain controller is gone", "and stay pending for the next cycle"
	}
	return "", ""
}

// namesFor are the groups' names for the log and the audit trail: the
// plan's (the cloud's), else the one the group's status recorded (a group
// deleted in the cloud), else its AD object's.
func (e *Engine) namesFor(ctx context.Context, names map[string]string, ops []reconcile.Op) map[string]string {
	out := make(map[string]string, len(names))
	for id, n := range names {
		out[id] = n
	}
	var recorded map[string]string
	for _, op := range ops {
		if out[op.CloudID] != "" {
			continue
		}
		if recorded == nil {
			recorded = map[string]string{}
			if sts, err := e.store.Statuses(ctx); err == nil {
				for _, st := range sts {
					recorded[st.CloudID] = st.Name
				}
			}
		}
		out[op.CloudID] = cmp.Or(recorded[op.CloudID], policy.RDNValue(op.DN))
	}
	return out
}

// notesMessage joins the notes of a group written with some fields
// cleaned or left out.
func notesMessage(notes []policy.Problem) string {
	parts := make([]string, len(notes))
	for i, n := range notes {
		parts[i] = n.Field + ": " + n.Message
	}
	return strings.Join(parts, "; ")
}

// record stores the state of every group the cycle worked on, and gathers
// every group not in step (this cycle's and those left from before).
func (e *Engine) record(ctx context.Context, o cycleOutcome, res *Result) error {
	ctx = context.WithoutCancel(ctx)
	for _, op := range o.Plan.HeldBack {
		e.logger.Warn("held back by the delete threshold", "cloud_id", op.CloudID, "name", policy.RDNValue(op.DN), "action", op.Action, "dn", op.DN, "reason", op.Reason)
	}
	o.QuarantineOU = e.cfg.QuarantineOU
	sts := decideStatuses(o)
	if err := e.store.SetStatus(ctx, sts); err != nil {
		return err
	}
	left, err := e.store.Statuses(ctx, state.NotInStep...)
	if err != nil {
		return err
	}
	for _, st := range left {
		res.Failures = append(res.Failures, Failure{CloudID: st.CloudID, Name: st.Name, DN: st.DN, State: st.State, Message: st.Message})
	}
	sort.Slice(res.Failures, func(i, j int) bool { return res.Failures[i].CloudID < res.Failures[j].CloudID })
	for _, p := range o.Plan.Problems {
		if p.CloudID == "" {
			res.Failures = append(res.Failures, Failure{State: state.Failed, Message: p.Message})
		}
	}
	return nil
}

// clearGone settles groups left pending or failed (say by a run killed in
// the middle of its deletes) that are gone from both sides: no cloud group,
// no AD group, nothing planned. Left alone they would stay "not in step"
// for ever, with no name and no cause.
func (e *Engine) clearGone(ctx context.Context, snap *cloud.Snapshot, actual []reconcile.ADGroup, plan reconcile.Plan) error {
	ctx = context.WithoutCancel(ctx)
	left, err := e.store.Statuses(ctx, state.Unsettled...)
	if err != nil {
		return err
	}
	gone := map[string]bool{} // from the cloud; and from AD, once those found there are out
	for _, st := range left {
		if snap.Groups[st.CloudID] == nil {
			gone[st.CloudID] = true
		}
	}
	if len(gone) == 0 {
		return nil
	}
	for _, a := range actual {
		delete(gone, cloudID(a))
	}
	for _, ops := range [][]reconcile.Op{plan.Ops, plan.HeldBack} {
		for _, op := range ops {
			delete(gone, op.CloudID)
		}
	}
	var sts []state.GroupStatus
	for _, st := range left {
		if !gone[st.CloudID] {
			continue
		}
		e.logger.Info("a group left unfinished is gone from the cloud and from AD; nothing is left to do", "cloud_id", st.CloudID, "name", st.Name)
		sts = append(sts, state.GroupStatus{CloudID: st.CloudID, Name: st.Name, State: state.Deleted,
			Message: "gone from the cloud and from AD (an earlier run ended before recording it)"})
	}
	return e.store.SetStatus(ctx, sts)
}
