package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/groupwriteback/groupwriteback/internal/state"
)

// CycleOptions are what one cycle is asked to do.
type CycleOptions struct {
	RunOptions
	// Staged plans and records, and writes nothing: mode staging, or a
	// standby (Standby also set). A staged cycle's plan is saved to
	// StagedPlan (when set, and not for one group), for apply on the
	// active server; a staging server's is also the pending plan the
	// status page shows (a standby's is its own: the state's pending plan
	// is the active instance's).
	Staged, Standby bool
	StagedPlan      string
	// Saved, when set, is a saved plan the cycle applies (as apply does:
	// checked and planned again, see Apply) instead of planning its own;
	// it is refused on a staged cycle. CheckSaved comes first.
	Saved *Plan
}

// CycleReport is how a cycle went: its outcome, in the words the run
// history, the metrics, the alerts, the status page and /readyz use, and
// what it did.
type CycleReport struct {
	Outcome state.Outcome
	// Result is nil when the cycle did not get as far as a plan.
	Result *Result
	// Err is what the cycle met: why it failed, or, for an outcome that is
	// no failure (fenced, disabled), why it wrote nothing.
	Err error
}

// Cycle runs one cycle as the CLI's sync and the service both run it:
// the writes a killed process left are settled first (reading AD only,
// whatever the role), then a staged cycle plans and records, and any
// other plans and writes.
func (e *Engine) Cycle(ctx context.Context, o CycleOptions) CycleReport {
	e.Settle(ctx)
	oneGroup := o.Group != ""
	var res *Result
	var err error
	switch {
	case o.Saved != nil && o.Staged:
		err = ErrStaging
	case o.Saved != nil:
		res, err = e.Apply(ctx, o.Saved)
	case o.Staged:
		res, err = e.stage(ctx, o)
	default:
		res, err = e.Run(ctx, o.RunOptions)
	}
	rep := CycleReport{Result: res, Err: err, Outcome: outcomeOf(ctx, o, res, err)}
	if !o.Staged && res != nil && !oneGroup {
		// No plan is pending outside staging: one left would be shown as
		// the staging service's.
		if perr := e.store.SetPendingPlan(context.WithoutCancel(ctx), nil); perr != nil {
			e.logger.Warn("cannot clear the staging service's pending plan", "error", perr)
		}
	}
	return rep
}

// stage plans a cycle and records its plan, writing nothing to AD.
func (e *Engine) stage(ctx context.Context, o CycleOptions) (*Result, error) {
	p, err := e.Plan(ctx, o.RunOptions)
	if err != nil {
		return nil, err
	}
	if o.Group != "" {
		return p.Result, nil // a one-group plan is only shown
	}
	if o.StagedPlan != "" {
		if err := e.SavePlan(ctx, p, o.StagedPlan); err != nil {
			return p.Result, fmt.Errorf("saving the staged plan: %w", err)
		}
	}
	if !o.Standby {
		if err := e.store.SetPendingPlan(ctx, p.Result.Plan.Ops); err != nil {
			return p.Result, err
		}
	}
	return p.Result, nil
}

// outcomeOf names how a cycle ended.
func outcomeOf(ctx context.Context, o CycleOptions, res *Result, err error) state.Outcome {
	switch {
	case errors.Is(err, ErrDisabled):
		return state.OutcomeDisabled
	case errors.Is(ctx.Err(), context.Canceled):
		return state.OutcomeInterrupted
	case errors.Is(err, state.ErrFenced):
		return state.OutcomeFenced
	case err != nil:
		return state.OutcomeFailed
	case o.Standby:
		return state.OutcomeStandby
	case o.Staged:
		return state.OutcomeStaged
	case res != nil && len(res.Failures) > 0:
		return state.OutcomePartial
	}
	return state.OutcomeOK
}
