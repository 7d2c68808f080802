package engine

import (
	"context"
	"fmt"

	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/store"
)

// Disable plans (and unless o.DryRun, applies) what turning writeback off
// does to the groups written back: each meets the writeback.on_disable fate,
// behind the delete threshold. The caller records the disabled state first.
func (e *Engine) Disable(ctx context.Context, o RunOptions) (*Result, error) {
	res := &Result{Mode: "disable", Counts: Counts{MembersNotWritten: map[string]int{}}}
	fate := e.cfg.Fates.Disable
	if fate == "" {
		fate = reconcile.DeleteIt
	}
	if e.cfg.Staging && !o.DryRun {
		return nil, ErrStaging
	}
	if err := e.checkBinding(ctx, !o.DryRun); err != nil {
		return nil, err
	}
	if err := e.checkPlaces(ctx, true); err != nil {
		return nil, err
	}
	e.cfg.Policy.Exchange = e.cfg.Schema.Exchange
	e.cfg.Policy.AnchorAttribute = e.cfg.Schema.AnchorAttribute
	managed := e.managed()
	actual, err := e.reader.OwnedGroups(ctx, e.cfg.BaseDN, managed)
	if err != nil {
		return nil, fmt.Errorf("engine: read groups from AD: %w", err)
	}
	undesired := map[string]reconcile.Disposition{}
	for _, a := range actual {
		if id := cloudID(a); id != "" && e.ownsPlace(a.DN) {
			undesired[id] = reconcile.Disposition{Fate: fate, Reason: "writeback is disabled"}
		}
	}
	ropts := e.reconcileOptions(managed, o)
	ropts.Command = "disable"
	// Disabling removes every group by design, shown and confirmed first:
	// the share of groups that holds back a mistaken sync does not apply.
	// The count (delete_threshold) still does.
	ropts.DeleteThresholdPercent = 0
	res.Plan = reconcile.Make(nil, actual, undesired, ropts)
	if o.DryRun {
		return res, nil
	}
	runID, died, err := e.store.StartRun(ctx, "disable")
	if err != nil {
		return nil, err
	}
	e.markDied(died)
	failed, _, fatal := e.apply(ctx, runID, res.Plan.Ops, res)
	var sts []store.GroupStatus
	for id := range undesired {
		st := store.GroupStatus{CloudID: id, State: store.StateOutOfScope, Message: "writeback is disabled (" + string(fate) + ")"}
		if err := failed[id]; err != nil {
			st.State, st.Message = store.StateFailed, err.Error()
		}
		sts = append(sts, st)
	}
	if err := e.store.SetStatus(context.WithoutCancel(ctx), sts); err != nil {
		return nil, err
	}
	for _, p := range res.Plan.Problems {
		res.Failures = append(res.Failures, Failure{CloudID: p.CloudID, DN: p.DN, State: store.StateFailed, Message: p.Message})
	}
	outcome := "ok"
	if len(failed) > 0 || len(res.Plan.Problems) > 0 {
		outcome = "partial"
	}
	if fatal != nil {
		outcome = "failed"
	}
	if err := e.store.FinishRun(context.WithoutCancel(ctx), runID, outcome, res.Counts); err != nil {
		return nil, err
	}
	return res, fatal
}
