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

// apply carries out the plan in order. A group whose operation fails gets
// no further operations this cycle; the others go on. It returns the
// failures by cloud id, and the groups it did not finish because the cycle
// was interrupted or the DC was lost (fatal says which DC, and why).
func (e *Engine) apply(ctx context.Context, runID int64, ops []reconcile.Op, names map[string]string, res *Result) (failed map[string]error, unfinished map[string]bool, fatal error) {
	logger := e.logger.With("run_id", runID)
	failed, unfinished = map[string]error{}, map[string]bool{}
	created, touched := map[string]bool{}, map[string]bool{}
	var log []state.Operation
	defer func() {
		if err := e.store.RecordOperations(context.WithoutCancel(ctx), log); err != nil {
			e.logger.Error("cannot record the operation log", "error", err)
		}
	}()
	for i, op := range ops {
		if e.cfg.Progress != nil {
			e.cfg.Progress("writing to AD", i, len(ops))
		}
		if ctx.Err() != nil || fatal != nil {
			unfinished[op.CloudID] = true
			continue
		}
		if failed[op.CloudID] != nil {
			continue
		}
		opID := fmt.Sprintf("%d-%d", runID, i+1)
		lease, err := e.write(ctx, runID, opID, op, names[op.CloudID])
		if err != nil {
			if why, left := stopsCycle(err); why != "" {
				// Not this group's operation: the DC is gone, another
				// instance holds the writer lease now, or the audit trail
				// cannot be written. Nothing more is written here; the
				// operations left stay for the next cycle (here, or the
				// active instance's).
				fatal = fmt.Errorf("engine: %w; %d operations were not done %s", err, len(ops)-i, left)
				unfinished[op.CloudID] = true
				logger.Error(why+"; stopping the cycle", "error", err, "operations_left", len(ops)-i)
				continue
			}
			failed[op.CloudID] = err
			logger.Error("operation failed", "cloud_id", op.CloudID, "name", names[op.CloudID], "action", op.Action, "dn", op.DN, "error", err)
			log = append(log, state.Operation{RunID: runID, CloudID: op.CloudID, Action: string(op.Action), DN: op.DN, Outcome: "failed", Error: err.Error(), At: time.Now()})
			if aerr := e.audit(ctx, runID, opID, op, names[op.CloudID], err, lease); aerr != nil {
				fatal = aerr
			}
			continue
		}
		log = append(log, state.Operation{RunID: runID, CloudID: op.CloudID, Action: string(op.Action), DN: op.DN, Outcome: "applied", At: time.Now()})
		res.Writes++
		logger.Info("operation applied", "cloud_id", op.CloudID, "name", names[op.CloudID], "action", op.Action, "dn", op.DN, "members", len(op.Members))
		if aerr := e.audit(ctx, runID, opID, op, names[op.CloudID], nil, lease); aerr != nil {
			fatal = aerr
			logger.Error("the audit trail cannot be written; stopping the cycle", "error", aerr, "operations_left", len(ops)-i-1)
		}
		switch op.Action {
		case reconcile.Create:
			created[op.CloudID] = true
		case reconcile.Delete:
			res.Counts.Deleted++
		case reconcile.Move:
			if quarantines(op, e.cfg.QuarantineOU) {
				res.Counts.Quarantined++
			} else {
				touched[op.CloudID] = true
			}
		default:
			touched[op.CloudID] = true
		}
	}
	if e.cfg.Progress != nil && len(ops) > 0 {
		e.cfg.Progress("writing to AD", len(ops), len(ops))
	}
	for id := range created {
		if failed[id] == nil {
			res.Counts.Created++
		}
	}
	for id := range touched {
		if failed[id] == nil && !created[id] {
			res.Counts.Updated++
		}
	}
	res.Counts.Failed = len(failed)
	return failed, unfinished, fatal
}

// write passes op through the write gate: approved, its intent is
// recorded in the audit trail, then it is sent. It returns the lease the
// write was sent under, and its error: a refusal of the gate, the fence's,
// a read's, or the write's own.
func (e *Engine) write(ctx context.Context, runID int64, opID string, op reconcile.Op, name string) (gate.Lease, error) {
	a, err := e.gate.Approve(ctx, op)
	if err != nil {
		return gate.Lease{}, err
	}
	if e.cfg.Audit != nil {
		intent := e.auditEntry(runID, opID, op, name, nil, a.Lease())
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

// audit adds the outcome of one operation to the audit trail, when there
// is one.
func (e *Engine) audit(ctx context.Context, runID int64, opID string, op reconcile.Op, name string, opErr error, lease gate.Lease) error {
	if e.cfg.Audit == nil {
		return nil
	}
	if err := e.cfg.Audit.Audit(context.WithoutCancel(ctx), e.auditEntry(runID, opID, op, name, opErr, lease)); err != nil {
		return &auditError{err}
	}
	return nil
}

// auditEntry is the audit trail's entry for op: applied, or failed or
// refused with opErr.
func (e *Engine) auditEntry(runID int64, opID string, op reconcile.Op, name string, opErr error, lease gate.Lease) AuditEntry {
	en := AuditEntry{Time: e.now().UTC(), RunID: runID, OpID: opID, CloudID: op.CloudID, Name: name, Action: string(op.Action), DN: op.DN,
		Changes: op.Changes, Outcome: OutcomeApplied, Instance: lease.Instance, Token: lease.Token}
	switch op.Action {
	case reconcile.Create, reconcile.AddMembers:
		en.MembersAdded = op.Members
	case reconcile.RemoveMembers:
		en.MembersRemoved = op.Members
	case reconcile.Rename:
		_, parent := policy.SplitDN(op.DN)
		en.NewDN = op.NewRDN + "," + parent
	case reconcile.Move:
		rdn, _ := policy.SplitDN(op.DN)
		en.NewDN = rdn + "," + op.NewParent
	}
	var refused *gate.RefusedError
	switch {
	case errors.As(opErr, &refused):
		en.Outcome, en.Error, en.Rule = OutcomeRefused, opErr.Error(), string(refused.Rule)
	case opErr != nil:
		en.Outcome, en.Error = OutcomeFailed, opErr.Error()
	}
	return en
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
	left, err := e.store.Statuses(ctx, state.Failed, state.NotWritable, state.Pending)
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
	left, err := e.store.Statuses(ctx, state.Pending, state.Failed)
	if err != nil {
		return err
	}
	inAD := map[string]bool{}
	for _, a := range actual {
		inAD[cloudID(a)] = true
	}
	for _, op := range append(slices.Clone(plan.Ops), plan.HeldBack...) {
		inAD[op.CloudID] = true
	}
	var sts []state.GroupStatus
	for _, st := range left {
		if snap.Groups[st.CloudID] != nil || inAD[st.CloudID] {
			continue
		}
		e.logger.Info("a group left unfinished is gone from the cloud and from AD; nothing is left to do", "cloud_id", st.CloudID, "name", st.Name)
		sts = append(sts, state.GroupStatus{CloudID: st.CloudID, Name: st.Name, State: state.Deleted,
			Message: "gone from the cloud and from AD (an earlier run ended before recording it)"})
	}
	return e.store.SetStatus(ctx, sts)
}
