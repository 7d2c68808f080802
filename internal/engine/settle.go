package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// Settle gives every intent left with no outcome (its process was killed
// between the intent and the outcome, or lost the DC in the middle of the
// write) the outcome AD shows: the write is there (applied) or not
// (not-applied). An intent AD cannot be read for stays for the next
// cycle. It runs before a cycle writes anything, so that the trail names
// every write, in order.
func (e *Engine) Settle(ctx context.Context) {
	il, ok := e.cfg.Audit.(IntentLog)
	if !ok {
		return
	}
	runs := map[int64]bool{}
	defer func() {
		for run := range runs {
			e.recount(ctx, run, il.Applied(run))
		}
	}()
	for _, in := range il.Unsettled() {
		runs[in.RunID] = true
		applied, err := e.wasApplied(ctx, in)
		if err != nil {
			e.logger.Warn("cannot tell from AD whether a write whose outcome was never recorded was made; the next cycle looks again",
				"run_id", in.RunID, "action", in.Action, "dn", in.DN, "error", err)
			continue
		}
		out := in
		out.Time, out.Settled, out.Seq, out.Chain = e.now().UTC(), true, 0, ""
		out.Outcome, out.Error = OutcomeApplied, ""
		if !applied {
			out.Outcome = OutcomeNotApplied
		}
		if err := e.cfg.Audit.Audit(context.WithoutCancel(ctx), out); err != nil {
			e.logger.Error("cannot settle a write in the audit trail", "run_id", in.RunID, "action", in.Action, "dn", in.DN, "error", err)
			return
		}
		e.logger.Warn("a write whose outcome its run never recorded (the process ended first) is settled from AD",
			"run_id", in.RunID, "action", in.Action, "dn", in.DN, "outcome", out.Outcome)
	}
}

// recount records, as the summary of a run killed mid-cycle, what the
// audit trail shows it wrote: its process never recorded its counts, and
// the run that completed its work counts only the rest.
func (e *Engine) recount(ctx context.Context, run int64, written []AuditEntry) {
	ops := make([]reconcile.Op, 0, len(written))
	for _, w := range written {
		op := reconcile.Op{Action: reconcile.Action(w.Action), CloudID: w.CloudID, DN: w.DN}
		if op.Action == reconcile.Move {
			_, op.NewParent = policy.SplitDN(w.NewDN)
		}
		ops = append(ops, op)
	}
	var c Counts
	c.planned(ops, e.cfg.QuarantineOU)
	if err := e.store.SetRunSummary(context.WithoutCancel(ctx), run, c); err != nil {
		e.logger.Warn("cannot record what a killed run wrote", "run_id", run, "error", err)
	}
}

// wasApplied reads AD to tell whether the write of an intent was made.
func (e *Engine) wasApplied(ctx context.Context, in AuditEntry) (bool, error) {
	anchor := policy.Anchor(in.CloudID)
	where := func() (*reconcile.ADGroup, error) {
		gs, err := e.reader.GroupsByAnchor(ctx, e.cfg.BaseDN, []string{anchor}, e.managed())
		if err != nil || len(gs) == 0 {
			return nil, err
		}
		return &gs[0], nil
	}
	switch reconcile.Action(in.Action) {
	case reconcile.Create, reconcile.Restore:
		g, err := where()
		return g != nil && policy.SameDN(g.DN, in.DN), err
	case reconcile.Delete:
		g, err := where()
		return g == nil, err
	case reconcile.Move, reconcile.Rename:
		g, err := where()
		return g != nil && policy.SameDN(g.DN, in.NewDN), err
	}
	g, err := e.reader.ReadGroup(ctx, in.DN, changedNames(in.Changes))
	if err != nil || g == nil {
		return false, err
	}
	switch reconcile.Action(in.Action) {
	case reconcile.Update, reconcile.ChangeScope:
		for _, ch := range in.Changes {
			if !sameFold(valuesOf(g.Attrs, ch.Name), ch.New) {
				return false, nil
			}
		}
		return true, nil
	case reconcile.AddMembers, reconcile.RemoveMembers:
		has := map[string]bool{}
		for _, m := range g.Members {
			has[strings.ToLower(m)] = true
		}
		want := reconcile.Action(in.Action) == reconcile.AddMembers
		list := in.MembersAdded
		if !want {
			list = in.MembersRemoved
		}
		for _, m := range list {
			if has[strings.ToLower(m)] != want {
				return false, nil
			}
		}
		return true, nil
	}
	return false, fmt.Errorf("engine: unknown action %q", in.Action)
}

func changedNames(chs []reconcile.AttrChange) []string {
	out := make([]string, len(chs))
	for i, ch := range chs {
		out[i] = ch.Name
	}
	return out
}

func valuesOf(attrs map[string][]string, name string) []string {
	for k, v := range attrs {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

func sameFold(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := make([]string, len(a)), make([]string, len(b))
	for i := range a {
		x[i], y[i] = strings.ToLower(a[i]), strings.ToLower(b[i])
	}
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
