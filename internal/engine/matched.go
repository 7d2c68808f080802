package engine

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// Matched is a group a cycle's writes brought in step with the cloud:
// which, what was written, and when the last of its writes was made. The
// service tells it ("AD now matches": an event, an audit entry, the
// change-to-AD latency).
type Matched struct {
	CloudID string `json:"cloudId"`
	Name    string `json:"name,omitempty"`
	// DN is where the group is now, or where it was when Deleted.
	DN      string `json:"dn,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
	// Changes say what was written, in order: "created", "description",
	// "+3 members", "renamed", "moved", "deleted".
	Changes []string  `json:"changes"`
	Written time.Time `json:"written"`
	// Noticed is when the change was noticed: its change notification
	// (RunOptions.Noticed; NoticedBy "notification"), or the start of the
	// cycle that read it ("cycle").
	Noticed   time.Time `json:"noticed"`
	NoticedBy string    `json:"noticedBy"`

	// lease is the writer lease the last write was made under.
	lease gate.Lease
}

// said is what an applied operation wrote, in words.
func said(op reconcile.Op) []string {
	members := max(len(op.Members), op.MemberCount)
	switch op.Action {
	case reconcile.Create:
		return []string{"created with " + strconv.Itoa(members) + " members"}
	case reconcile.Restore:
		return []string{"restored from deleted objects"}
	case reconcile.AddMembers:
		return []string{"+" + strconv.Itoa(members) + " members"}
	case reconcile.RemoveMembers:
		return []string{"-" + strconv.Itoa(members) + " members"}
	case reconcile.Rename:
		return []string{"renamed"}
	case reconcile.Move:
		return []string{"moved"}
	case reconcile.Delete:
		return []string{"deleted"}
	}
	out := make([]string, 0, len(op.Changes))
	for _, c := range op.Changes {
		out = append(out, c.Name)
	}
	return out
}

// matchedOp records an applied operation of its group.
func (a *applying) matchedOp(op reconcile.Op, name string, at time.Time, lease gate.Lease) {
	if a.matched == nil {
		a.matched = map[string]*Matched{}
	}
	m := a.matched[op.CloudID]
	if m == nil {
		m = &Matched{CloudID: op.CloudID, Name: name}
		a.matched[op.CloudID] = m
		a.matchedOrder = append(a.matchedOrder, op.CloudID)
	}
	m.Changes = append(m.Changes, said(op)...)
	m.DN, m.Deleted, m.Written, m.lease = op.FinalDN(), op.Action == reconcile.Delete, at, lease
	if m.Deleted {
		m.DN = op.DN
	}
}

// matchedGroups are the groups written that are in step now: none of
// their operations failed or was left undone.
func (a *applying) matchedGroups() []Matched {
	var out []Matched
	for _, id := range a.matchedOrder {
		if a.failed[id] != nil || a.unfinished[id] {
			continue
		}
		m := *a.matched[id]
		m.Changes = slices.Compact(m.Changes)
		m.Noticed, m.NoticedBy = a.started, "cycle"
		if t, ok := a.noticed[id]; ok && t.Before(m.Noticed) {
			m.Noticed, m.NoticedBy = t, "notification"
		}
		out = append(out, m)
	}
	return out
}

// auditMatched writes an in-step entry to the audit trail for each group
// matched: no write, the account of one ("AD now matches"), under the
// lease its last write was made under.
func (e *Engine) auditMatched(ctx context.Context, runID int64, who runAudit, matched []Matched) error {
	if e.cfg.Audit == nil {
		return nil
	}
	for _, m := range matched {
		en := AuditEntry{Time: e.now().UTC(), RunID: runID, CloudID: m.CloudID, Name: m.Name, DN: m.DN, Action: OutcomeInStep, Outcome: OutcomeInStep,
			Actor: who.actor, AllowDeletes: who.allowDeletes, Approval: who.approval, Instance: m.lease.Instance, Token: m.lease.Token,
			InStep: &InStep{Noticed: m.Noticed.UTC(), By: m.NoticedBy, Written: m.Written.UTC(), Changes: m.Changes}}
		if err := e.cfg.Audit.Audit(context.WithoutCancel(ctx), en); err != nil {
			return &auditError{err}
		}
	}
	return nil
}
