package engine

import (
	"context"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// actorKey is the context key of the actor.
type actorKey struct{}

// WithActor says who asks for the cycles run with ctx, for the audit
// trail: "service" (the schedule), "cli:alice" (the OS user who ran a
// command), "http:…" (an on-demand cycle), or the console's signed-in
// identity. It is request-scoped data, as context values are meant for.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorOf is the actor WithActor put in ctx ("" when none).
func ActorOf(ctx context.Context) string {
	a, _ := ctx.Value(actorKey{}).(string)
	return a
}

// approvalKey is the context key of an approval.
type approvalKey struct{}

// Approval is an admin's approval of a saved plan, given where the plan is
// shown before it is applied (the console): who, why, and which plan. The
// audit entries of the run that applies it carry it.
type Approval struct {
	By     string    `json:"by"`
	Reason string    `json:"reason"`
	Plan   string    `json:"plan"`
	Made   time.Time `json:"planMade"`
}

// WithApproval gives the apply of a saved plan run with ctx its approval.
func WithApproval(ctx context.Context, a Approval) context.Context {
	return context.WithValue(ctx, approvalKey{}, a)
}

// ApprovalOf is the approval WithApproval put in ctx (nil when none).
func ApprovalOf(ctx context.Context) *Approval {
	if a, ok := ctx.Value(approvalKey{}).(Approval); ok {
		return &a
	}
	return nil
}

// releaseFor is the release among rs that lets op through: a delete or
// quarantine of the object the release names.
func releaseFor(rs []state.Release, op reconcile.Op) (state.Release, bool) {
	if op.Action != reconcile.Delete && op.Action != reconcile.Move {
		return state.Release{}, false
	}
	for _, r := range rs {
		if r.CloudID == op.CloudID && r.Action != state.ActionKeep && policy.SameDN(r.DN, op.DN) {
			return r, true
		}
	}
	return state.Release{}, false
}

// runAudit is what every audit entry of a run says of who asked for it.
type runAudit struct {
	actor        string
	allowDeletes int
	releases     map[string]state.Release
	adopted      map[string]bool
	approval     *Approval
}

// useReleases forgets the releases whose removal was carried out: each is
// good for one removal, and the audit trail holds it with that removal.
func (e *Engine) useReleases(ctx context.Context, a *applying) error {
	var used []string
	for _, op := range a.ops {
		if _, ok := a.p.Releases[op.CloudID]; ok && (op.Action == reconcile.Delete || op.Action == reconcile.Move) &&
			a.failed[op.CloudID] == nil && !a.unfinished[op.CloudID] {
			used = append(used, op.CloudID)
		}
	}
	if len(used) == 0 {
		return nil
	}
	return e.store.DropReleases(context.WithoutCancel(ctx), used)
}

// noteAdoptions finds the groups the operations change in AD that this
// state never wrote: their anchor is this tool's and Connect's
// (Group_<id>), so they are taken over, renamed and given this tool's
// sAMAccountName as the operations show. The plan, the log and the audit
// trail say "adopt".
func (e *Engine) noteAdoptions(ctx context.Context, p *planning, ops []reconcile.Op) error {
	var ids []string
	seen := map[string]bool{}
	for _, op := range ops {
		if op.Creates() {
			if p.creating == nil {
				p.creating = map[string]bool{}
			}
			p.creating[op.CloudID] = true
		}
	}
	for _, op := range ops {
		// A group the plan creates is not adopted, whichever slice adds
		// its members held back for a later one.
		if !op.Creates() && !seen[op.CloudID] && !p.creating[op.CloudID] {
			seen[op.CloudID] = true
			ids = append(ids, op.CloudID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	sts, err := e.store.StatusesOf(ctx, ids)
	if err != nil {
		return err
	}
	written := map[string]bool{}
	for _, st := range sts {
		written[st.CloudID] = st.DN != ""
	}
	for _, id := range ids {
		if !written[id] && !p.adopted[id] {
			p.adopted[id] = true
			p.res.Adopted = append(p.res.Adopted, id)
		}
	}
	return nil
}

// RunSummary is what the run history records of a run that ended: its
// counts, and who asked for it (the schedule, an on-demand request, a
// command's OS user, the console's user).
type RunSummary struct {
	Counts
	Actor string `json:"actor,omitempty"`
}
