package engine

import (
	"context"

	"github.com/groupwriteback/groupwriteback/internal/state"
)

// EnableOptions are how writeback is to be enabled.
type EnableOptions struct {
	// WithoutExchange writes Microsoft 365 groups without mail attributes
	// when the Exchange schema is absent.
	WithoutExchange bool
}

// PlanEnable plans the first cycle as it will run once writeback is
// enabled with o: a full one, as Enable drops the delta links, so that the
// preview shows what that cycle does (the groups disable quarantined come
// back, everything changed in AD meanwhile is put right). It records
// nothing: an enable that stops after the plan (refused, interrupted,
// failed) leaves writeback as it found it. The caller closes the result
// (its operations are spooled, as a plan made to be shown).
func (e *Engine) PlanEnable(ctx context.Context, o EnableOptions) (*Result, error) {
	p, err := e.Plan(ctx, RunOptions{Full: true, WithoutExchange: &o.WithoutExchange, ShowOnly: true})
	if err != nil {
		return nil, err
	}
	return p.Result, nil
}

// Enable records that writeback is enabled with o, and drops the delta
// links: the first cycle after is a full one, so that the groups disable
// quarantined, and anything else that changed in AD while writeback was
// off, come back in step at once.
func (e *Engine) Enable(ctx context.Context, o EnableOptions) error {
	if err := e.store.SetEnablement(ctx, state.Enablement{Enabled: true, WithoutExchange: o.WithoutExchange}); err != nil {
		return err
	}
	return e.store.ForgetLinks(ctx)
}
