package engine

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// Explanation is one group side by side: the cloud group as last read,
// what the policy sync uses makes of it, its AD copy, its status and its
// last operations.
type Explanation struct {
	CloudID   string             `json:"cloudId"`
	Cloud     *cloud.Group       `json:"cloud,omitempty"`
	Decision  string             `json:"decision"`
	DesiredDN string             `json:"desiredDn,omitempty"`
	AD        *reconcile.ADGroup `json:"ad,omitempty"`
	// Placement says what the next cycle does with the AD group's DN when
	// it is not the one the cloud group wants: rename it, move it back, or
	// nothing (outside the OUs, and what the admin can do).
	Placement  string             `json:"placement,omitempty"`
	ADError    string             `json:"adError,omitempty"`
	Status     *state.GroupStatus `json:"status,omitempty"`
	Operations []state.Operation  `json:"operations"`
	// FormerName is the name show was asked for, when the group no longer
	// has it (found in the audit trail).
	FormerName string `json:"formerName,omitempty"`
}

// NoSuchGroupError: no group goes by the name given.
type NoSuchGroupError struct{ Name string }

func (e *NoSuchGroupError) Error() string {
	return fmt.Sprintf("no group with the id, display name or DN %q", e.Name)
}

// Explain says what becomes of one group, named by its cloud id, display
// name, or the DN of its AD copy, with the very options a cycle decides
// with: what show prints. It reads the tenant from the state file (as the
// last cycle left it) and the group's AD copy from the DC; an AD that
// cannot be read is reported in the explanation, not as an error.
func (e *Engine) Explain(ctx context.Context, group string) (*Explanation, error) {
	snap, statuses, err := e.explainState(ctx, group)
	if err != nil {
		return nil, err
	}
	en, err := e.store.Enablement(ctx)
	if err != nil {
		return nil, err
	}
	id, err := e.findGroup(group, snap, statuses)
	if err != nil {
		return nil, err
	}
	out := &Explanation{CloudID: id, Cloud: snap.Groups[id], Operations: []state.Operation{}}
	for i := range statuses {
		if statuses[i].CloudID == id {
			out.Status = &statuses[i]
		}
	}
	if ops, err := e.store.Operations(ctx, id, 10); err != nil {
		return nil, err
	} else if ops != nil {
		out.Operations = ops
	}
	popts := e.policyOptions(en)
	switch gs, err := e.reader.GroupsByAnchor(ctx, e.cfg.BaseDN, []string{policy.Anchor(id)}, policy.ManagedAttributes(popts)); {
	case err != nil:
		out.ADError = err.Error()
	case len(gs) > 0:
		out.AD = &gs[0]
	}
	var d *policy.Decision
	if out.Cloud != nil {
		d = decisionOf(policy.DecideSome(snap, popts, map[string]bool{id: true}), id)
	}
	tr := newTrace(id, d)
	out.Decision, out.DesiredDN = tr.Decision, tr.DN
	if out.AD != nil && out.DesiredDN != "" && !policy.SameDN(out.DesiredDN, out.AD.DN) {
		out.Placement = e.placementOf(out.AD.DN, out.DesiredDN)
	}
	return out, nil
}

// explainState is what Explain reads of the state: for a group named by
// its id or anchor (as the console names it), that group with the users
// and groups it names and its status; for a name, the whole snapshot and
// every status, to find it.
func (e *Engine) explainState(ctx context.Context, group string) (*cloud.Snapshot, []state.GroupStatus, error) {
	id := policy.CloudIDFromAnchor(group)
	if id == "" {
		id = policy.CloudIDFromAnchor("Group_" + group)
	}
	if id != "" {
		snap, _, err := e.store.LoadPart(ctx, state.Part{Groups: []string{id}})
		if err != nil {
			return nil, nil, err
		}
		sts, err := e.store.StatusesOf(ctx, []string{id})
		return snap, sts, err
	}
	snap, _, err := e.store.LoadCloud(ctx)
	if err != nil {
		return nil, nil, err
	}
	sts, err := e.store.Statuses(ctx)
	return snap, sts, err
}

// placementOf says what the next cycle does with a group at dn that the
// cloud wants at want, as reconcile decides it.
func (e *Engine) placementOf(dn, want string) string {
	_, parent := policy.SplitDN(want)
	switch {
	case e.cfg.QuarantineOU != "" && policy.Within(dn, e.cfg.QuarantineOU):
		return "the next cycle moves it back out of the quarantine OU, to " + want
	case e.ownsPlace(dn):
		return "the next cycle renames or moves it to " + want
	case e.cfg.MoveBack:
		return "it lies outside the OUs the tool writes; writeback.move_back is on, so the next cycle moves it to " + want
	}
	return "it lies outside the OUs the tool writes, so every cycle leaves it alone (and creates no second copy): move it into " + parent +
		" by hand, or set writeback.move_back: true to have the next cycle move it there"
}

// target resolves the group of a cycle on one group.
func (e *Engine) target(ctx context.Context, group string, snap *cloud.Snapshot) (string, error) {
	statuses, err := e.store.Statuses(ctx)
	if err != nil {
		return "", err
	}
	id, err := e.findGroup(group, snap, statuses)
	if err != nil {
		return "", err
	}
	// A group named by its id must be one the tool knows of: in the
	// tenant, in the state, or in AD with its anchor.
	if snap.Groups[id] != nil || slices.ContainsFunc(statuses, func(st state.GroupStatus) bool { return st.CloudID == id }) {
		return id, nil
	}
	inAD, err := e.reader.GroupAttrsByAnchor(ctx, e.cfg.BaseDN, []string{policy.Anchor(id)}, e.managed())
	if err != nil {
		return "", fmt.Errorf("engine: look for the AD group of %s: %w", id, err)
	}
	if len(inAD) == 0 {
		return "", &NoSuchGroupError{Name: group}
	}
	return id, nil
}

// findGroup resolves a group's name to its cloud id: its id, its anchor
// (Group_<id>), its display name, the sAMAccountName or DN it is (or
// would be) written with, or the DN its status records.
func (e *Engine) findGroup(arg string, snap *cloud.Snapshot, statuses []state.GroupStatus) (string, error) {
	if id := policy.CloudIDFromAnchor(arg); id != "" {
		return id, nil
	}
	if id := policy.CloudIDFromAnchor("Group_" + arg); id != "" {
		return id, nil
	}
	var ids []string
	for id, g := range snap.Groups {
		cn := policy.CommonName(e.cfg.Policy.Naming, id, g.DisplayName)
		if strings.EqualFold(g.DisplayName, arg) || strings.EqualFold(policy.SAMAccountName(cn), arg) || policy.SameDN(policy.GroupDN(cn, e.ouFor(g)), arg) {
			ids = append(ids, id)
		}
	}
	for _, st := range statuses {
		if st.DN != "" && policy.SameDN(st.DN, arg) {
			ids = append(ids, st.CloudID)
		}
	}
	sort.Strings(ids)
	ids = slices.Compact(ids)
	switch len(ids) {
	case 0:
		return "", &NoSuchGroupError{Name: arg}
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("%d groups are named %q: give the id (%s)", len(ids), arg, strings.Join(ids, ", "))
}

// decisionOf is the decision on group id, or nil.
func decisionOf(ds []policy.Decision, id string) *policy.Decision {
	for i := range ds {
		if ds[i].CloudID == id {
			return &ds[i]
		}
	}
	return nil
}

// ouFor is the OU placement gives g.
func (e *Engine) ouFor(g *cloud.Group) string {
	ou, _ := e.placement.OUFor(g)
	return ou
}
