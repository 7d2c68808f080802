package engine

import (
	"context"
	"errors"

	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// audit adds the outcome of one operation to the audit trail, when there
// is one.
func (e *Engine) audit(ctx context.Context, runID int64, who runAudit, opID string, op reconcile.Op, name string, opErr error, lease gate.Lease) error {
	if e.cfg.Audit == nil {
		return nil
	}
	if err := e.cfg.Audit.Audit(context.WithoutCancel(ctx), e.auditEntry(runID, who, opID, op, name, opErr, lease)); err != nil {
		return &auditError{err}
	}
	return nil
}

// auditEntry is the audit trail's entry for op: applied, or failed or
// refused with opErr.
func (e *Engine) auditEntry(runID int64, who runAudit, opID string, op reconcile.Op, name string, opErr error, lease gate.Lease) AuditEntry {
	en := AuditEntry{Time: e.now().UTC(), RunID: runID, OpID: opID, CloudID: op.CloudID, Name: name, Action: string(op.Action), DN: op.DN,
		Changes: op.Changes, Outcome: OutcomeApplied, Instance: lease.Instance, Token: lease.Token, Actor: who.actor, AllowDeletes: who.allowDeletes}
	if r, ok := who.releases[op.CloudID]; ok && (op.Action == reconcile.Delete || op.Action == reconcile.Move) {
		en.Release = &r
	}
	en.Adopted = who.adopted[op.CloudID]
	en.Approval = who.approval
	switch op.Action {
	case reconcile.Create, reconcile.AddMembers:
		en.MembersAdded = op.Members
	case reconcile.RemoveMembers:
		en.MembersRemoved = op.Members
	case reconcile.Rename, reconcile.Move:
		en.NewDN = op.FinalDN()
	case reconcile.Restore:
		en.RestoredFrom = op.From
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

// auditDecisions writes the admins' release and keep decisions no cycle
// has written yet to the audit trail (the trail has one writer, the
// cycle: a command or the console records a decision in the state, and
// the next cycle puts it in the trail, before it writes anything).
func (e *Engine) auditDecisions(ctx context.Context, runID int64, rs []state.Release) error {
	if e.cfg.Audit == nil {
		return nil
	}
	if rs == nil { // the plan read none: read them now
		var err error
		if rs, err = e.store.Releases(ctx); err != nil {
			return err
		}
	}
	var done []string
	for _, r := range rs {
		if r.Audited {
			continue
		}
		en := AuditEntry{Time: e.now().UTC(), RunID: runID, CloudID: r.CloudID, Name: r.Name, Action: "release", DN: r.DN, Outcome: "approved", Actor: r.By, Release: &r}
		if r.Action == state.ActionKeep {
			en.Action, en.Outcome = "keep", "kept"
		}
		if err := e.cfg.Audit.Audit(context.WithoutCancel(ctx), en); err != nil {
			return &auditError{err}
		}
		done = append(done, r.CloudID)
	}
	if len(done) == 0 {
		return nil
	}
	return e.store.MarkReleasesAudited(context.WithoutCancel(ctx), done)
}
