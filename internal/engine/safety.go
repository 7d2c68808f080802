package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// ErrStateMismatch: the state file was made for another tenant, domain or
// OU than the configuration names. Used as it is, it would take every group
// it wrote for one the tenant deleted.
var ErrStateMismatch = errors.New("the state file belongs to another tenant or directory")

// StateMismatchError names what the state file was made for and what the
// configuration asks for.
type StateMismatchError struct {
	State, Config state.Binding
}

func (e *StateMismatchError) Error() string {
	var diffs []string
	add := func(key, was, now string) {
		diffs = append(diffs, fmt.Sprintf("%s %q (state file) against %q (configuration)", key, was, now))
	}
	if !strings.EqualFold(e.State.TenantID, e.Config.TenantID) {
		add("cloud.tenant_id", e.State.TenantID, e.Config.TenantID)
	}
	if !policy.SameDN(e.State.Domain, e.Config.Domain) {
		add("directory.base_dn", e.State.Domain, e.Config.Domain)
	}
	if !policy.SameDN(e.State.TargetOU, e.Config.TargetOU) {
		add("writeback.target_ou", e.State.TargetOU, e.Config.TargetOU)
	}
	if !sameOptionalDN(e.State.QuarantineOU, e.Config.QuarantineOU) {
		add("writeback.quarantine_ou", e.State.QuarantineOU, e.Config.QuarantineOU)
	}
	return fmt.Sprintf("engine: %v: %s. Nothing was read or written. If the configuration is wrong, correct it; "+
		"if it is right, point state.path at a new state file (and run `groupwriteback enable` with it): the first sync takes up "+
		"the groups already written by their anchors, and leaves those outside the new OUs alone", ErrStateMismatch, strings.Join(diffs, "; "))
}

func (e *StateMismatchError) Unwrap() error { return ErrStateMismatch }

func sameOptionalDN(a, b string) bool {
	if a == "" || b == "" {
		return a == b
	}
	return policy.SameDN(a, b)
}

// binding is what this engine's configuration names.
func (e *Engine) binding() state.Binding {
	return state.Binding{TenantID: strings.ToLower(e.cfg.TenantID), Domain: e.cfg.BaseDN, TargetOU: e.cfg.TargetOU, QuarantineOU: e.cfg.QuarantineOU}
}

// checkBinding refuses a state file made for another tenant, domain or
// OU; a state file that records none is bound now, unless record is false
// (a plan binds nothing: a mistaken configuration must not claim the file).
func (e *Engine) checkBinding(ctx context.Context, record bool) error {
	want := e.binding()
	have, ok, err := e.store.Binding(ctx)
	if err != nil {
		return err
	}
	if !ok {
		if record {
			return e.store.SetBinding(ctx, want)
		}
		return nil
	}
	if !strings.EqualFold(have.TenantID, want.TenantID) || !policy.SameDN(have.Domain, want.Domain) ||
		!policy.SameDN(have.TargetOU, want.TargetOU) || !sameOptionalDN(have.QuarantineOU, want.QuarantineOU) {
		return &StateMismatchError{State: have, Config: want}
	}
	return nil
}

// checkPlaces refuses to work in an OU that is no safe place for groups
// (directory.CheckContainer); deep walks the OUs for critical objects.
func (e *Engine) checkPlaces(ctx context.Context, deep bool) error {
	places := []struct{ key, dn string }{{"writeback.target_ou", e.cfg.TargetOU}, {"writeback.quarantine_ou", e.cfg.QuarantineOU}}
	for i, r := range e.cfg.Policy.Placement {
		places = append(places, struct{ key, dn string }{fmt.Sprintf("writeback.placement[%d].ou", i), r.OU})
	}
	for _, ou := range places {
		if ou.dn == "" {
			continue
		}
		if err := e.reader.CheckContainer(ctx, ou.dn, deep); err != nil {
			return fmt.Errorf("engine: %s: %w", ou.key, err)
		}
	}
	return nil
}

// markDied records runs whose process died without finishing them.
func (e *Engine) markDied(died []int64) {
	for _, id := range died {
		e.logger.Warn("an earlier run never finished: its process was killed or its machine stopped; this run completes its work", "run_id", id)
	}
}

// Explain says the mismatch for an admin.
func (e *StateMismatchError) Explain() (summary, fix string) {
	return "the state file was made for another tenant or directory than the configuration names",
		"point state.path at this binding's state, or correct the keys the detail names; a state is never reused for another tenant, as it would take that tenant's groups for deleted ones"
}
