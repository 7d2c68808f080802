package engine

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// PlanDisable plans what turning writeback off does to the groups written
// back: each meets the writeback.on_disable fate, behind the delete
// threshold. It writes nothing; Apply carries the plan out, refusing the
// operations of any group that changed in AD since (the plan the operator
// confirmed is the plan applied): Disable records the disabled state and
// applies it.
func (e *Engine) PlanDisable(ctx context.Context, o RunOptions) (*Plan, error) {
	res := &Result{Mode: "disable", Counts: Counts{MembersNotWritten: map[string]int{}}}
	fate := e.cfg.Fates.Disable
	if fate == "" {
		fate = reconcile.DeleteIt
	}
	if err := e.checkBinding(ctx, false); err != nil {
		return nil, err
	}
	if err := e.checkPlaces(ctx, true); err != nil {
		return nil, err
	}
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
	res.Counts.planned(res.Plan.Ops, e.cfg.QuarantineOU)
	for _, p := range res.Plan.Problems {
		res.Failures = append(res.Failures, Failure{CloudID: p.CloudID, DN: p.DN, State: state.Failed, Message: p.Message})
	}
	p := e.newPlan(res, actual, nil, 0, state.Links{}, func(string) string { return "" })
	p.fresh = &freshState{disable: true, actual: actual}
	for id := range undesired {
		p.fresh.disabled = append(p.fresh.disabled, id)
	}
	p.fresh.fate = fate
	return p, nil
}

// Disable turns writeback off and carries out the plan PlanDisable made,
// exactly as shown and confirmed: it records that writeback is disabled
// first (so that no cycle writes again, even if the process dies half
// way), then applies the plan, refusing the operations of any group that
// changed in AD since. Run again after a failure, it finishes the work.
func (e *Engine) Disable(ctx context.Context, p *Plan) (*Result, error) {
	if e.cfg.Staging {
		return nil, ErrStaging
	}
	if p == nil || p.fresh == nil || !p.fresh.disable {
		return nil, ErrNotDisablePlan
	}
	if err := e.store.SetEnablement(ctx, state.Enablement{Enabled: false}); err != nil {
		return nil, err
	}
	return e.Apply(ctx, p)
}

// recordDisabled marks every group disable worked on out of scope, with
// the fate it met, unless its operations failed; and so every group still
// recorded as written whose AD object is already gone (a disable killed
// half way, run again, finds fewer groups than the first).
func (e *Engine) recordDisabled(ctx context.Context, p *Plan, failed map[string]error) error {
	ctx = context.WithoutCancel(ctx)
	left, err := e.store.Statuses(ctx, state.Pending, state.Failed, state.Held, state.InStep, state.NotWritable, state.Quarantined)
	if err != nil {
		return err
	}
	names := map[string]string{}
	ids := append([]string(nil), p.fresh.disabled...)
	for _, st := range left {
		names[st.CloudID] = st.Name
		ids = append(ids, st.CloudID)
	}
	slices.Sort(ids)
	var sts []state.GroupStatus
	for _, id := range slices.Compact(ids) {
		if failed[id] != nil {
			continue
		}
		sts = append(sts, state.GroupStatus{CloudID: id, Name: cmp.Or(names[id], p.Names[id]), State: state.OutOfScope,
			Message: "writeback is disabled (" + string(p.fresh.fate) + ")"})
	}
	return e.store.SetStatus(ctx, sts)
}
