package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/advice"
	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// PlanVersion is the version of the saved plan format (docs/plan-format.md).
const PlanVersion = 1

// Plan is what a cycle would do, decided from what Graph and AD held when
// it was made: the operations, and for each group they touch the state of
// its AD object they were computed from. Apply writes exactly these
// operations, and refuses those of a group whose AD object, or cloud
// group, changed since (stale), as Terraform refuses a stale plan.
type Plan struct {
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	// Binding is the tenant, domain and OUs the plan was made for: applied
	// with another configuration, it is refused.
	Binding state.Binding `json:"binding"`
	Mode    string        `json:"mode"`
	Result  *Result       `json:"result"`
	// Seen is, for every group the operations touch, a fingerprint of its
	// AD object as the plan read it ("absent" for a group to create).
	Seen map[string]string `json:"seen"`
	// Names are the groups' display names, for the statuses Apply records.
	Names map[string]string `json:"names,omitempty"`
	// Links are the delta links the plan's reads ended with: Apply asks
	// Graph what changed since, and refuses the operations of groups that
	// did. Empty for a plan that read no Graph (disable).
	Links state.Links `json:"deltaLinks"`
	// Options are what the plan was made with: Apply of a saved plan plans
	// again with them, and writes only the operations both plans share.
	Options SavedOptions `json:"options"`
	// Releases are the admins' releases the plan lets through, by cloud
	// id. Apply uses those of the plan it makes itself, never a file's.
	Releases map[string]state.Release `json:"releases,omitempty"`
	// MAC authenticates a saved plan: HMAC-SHA256, keyed by a secret held
	// in the state, over the plan without it. An altered plan is refused.
	MAC string `json:"mac,omitempty"`

	// signed is the plan as it was signed, read back (LoadPlan).
	signed []byte
	fresh  *freshState
	// runID is the run Run started before it planned (0: Apply starts one).
	runID int64
}

// freshState is what Plan read, kept for an Apply in the same process.
type freshState struct {
	snap *cloud.Snapshot
	// gr and ur are the rounds read, without their changes (applied to
	// snap); changedGroups and changedUsers name what they changed (and the
	// groups whose source of authority was read).
	gr                          *cloud.GroupRound
	ur                          *cloud.UserRound
	changedGroups, changedUsers []string
	// memberDeltas are the member changes of the changed groups the
	// state held (saved as the rows they change).
	memberDeltas map[string]cloud.MemberDelta
	actual       []reconcile.ADGroup
	// sams are actual's sAMAccountNames by cloud id, as the slices'
	// statuses read them (settle); nil when none did (recordApply makes
	// them then).
	sams map[string]string
	work []policy.Decision
	// notWritten counts, for the groups planned from their changes, their
	// members not written, by reason (the plan lists only those changed).
	notWritten map[string]map[string]int
	// releases are the admins' decisions the plan was made with (nil:
	// not read, as in a disable plan).
	releases []state.Release
	// immediate: applied a moment after it was made (sync): AD is not
	// read again, and Graph is not asked again.
	immediate bool
	// oneGroup: a plan of a cycle on one group, which leaves the delta
	// links as kept (the ones it started from).
	oneGroup bool
	kept     state.Links
	// disable: a plan of PlanDisable, for the groups in disabled, each
	// meeting fate.
	disable  bool
	disabled []string
	fate     reconcile.Fate
	// stream, for a cycle whose slices were written as they were planned
	// (Run), is how those writes went; the plan's first written
	// operations are theirs (thinned), the rest is left to write.
	stream  *applying
	written int
}

// SavedOptions are the options a saved plan was made with.
type SavedOptions struct {
	Full         bool   `json:"full,omitempty"`
	Group        string `json:"group,omitempty"`
	AllowDeletes int    `json:"allowDeletes,omitempty"`
}

// ErrStale: a group's operations in a saved plan are not what the engine
// would plan now, so none of them is written.
var ErrStale = errors.New("stale")

// ErrPlanRefused: a saved plan cannot be applied as it is.
var ErrPlanRefused = errors.New("plan refused")

// ErrPlanAltered: a saved plan is not as the tool wrote it (or was
// written for another state): it is refused whole.
var ErrPlanAltered = fmt.Errorf("%w: it is not as groupwriteback saved it (altered, or signed by another state)", ErrPlanRefused)

// planSkew is how far in the future a plan's date may be: clocks of the
// servers that make and apply plans differ a little, not more.
const planSkew = 5 * time.Minute

// absent marks a group the plan found no AD object for.
const absent = "absent"

// fingerprint is what Apply compares: the object's DN, the attributes read
// and its members (when they were read), case aside.
func fingerprint(a *reconcile.ADGroup) string {
	if a == nil {
		return absent
	}
	h := sha256.New()
	fmt.Fprintln(h, strings.ToLower(a.DN))
	names := make([]string, 0, len(a.Attrs))
	for n := range a.Attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		vs := append([]string(nil), a.Attrs[n]...)
		sort.Strings(vs)
		fmt.Fprintln(h, strings.ToLower(n), vs)
	}
	if a.MembersUnread {
		return unreadPrint + hex.EncodeToString(h.Sum(nil))
	}
	ms := make([]string, len(a.Members))
	for i, m := range a.Members {
		ms[i] = strings.ToLower(m)
	}
	sort.Strings(ms)
	fmt.Fprintln(h, ms)
	return hex.EncodeToString(h.Sum(nil))
}

// unreadPrint begins the fingerprint of a group read without its members
// (planned from its member changes): Apply compares it likewise.
const unreadPrint = "attributes:"

// newPlan wraps a decided result with what Apply checks, for its
// operations from the first not written yet on; originals are the
// original AD groups of the groups written in place, by cloud id.
func (e *Engine) newPlan(res *Result, actual []reconcile.ADGroup, originals map[string]*reconcile.ADGroup, written int, links state.Links, name func(string) string) *Plan {
	p := &Plan{Version: PlanVersion, Created: e.now().UTC(), Binding: e.binding(), Mode: res.Mode, Result: res,
		Seen: map[string]string{}, Names: map[string]string{}, Links: links}
	byID := map[string]*reconcile.ADGroup{}
	for i := range actual {
		if id := cloudID(actual[i]); id != "" {
			byID[id] = &actual[i]
		}
	}
	for id, o := range originals {
		if o != nil {
			byID[id] = o
		}
	}
	for _, op := range slices.Concat(res.Plan.Ops[written:], res.Plan.HeldBack) {
		if _, done := p.Seen[op.CloudID]; done {
			continue
		}
		p.Seen[op.CloudID] = fingerprint(byID[op.CloudID])
		if n := name(op.CloudID); n != "" {
			p.Names[op.CloudID] = n
		}
	}
	return p
}

func sameBinding(a, b state.Binding) bool {
	return strings.EqualFold(a.TenantID, b.TenantID) && policy.SameDN(a.Domain, b.Domain) && policy.SameDN(a.TargetOU, b.TargetOU) &&
		sameOptionalDN(a.QuarantineOU, b.QuarantineOU)
}

// stale returns, for the groups the plan touches, why each is stale: its
// AD object is no longer as the plan saw it, or Graph changed the group
// (or a member user) since the plan's reads.
func (e *Engine) stale(ctx context.Context, p *Plan) (map[string]string, error) {
	out := map[string]string{}
	if p.fresh != nil && p.fresh.immediate {
		return out, nil
	}
	ops := map[string][]reconcile.Op{}
	for _, op := range p.Result.Plan.Ops {
		ops[op.CloudID] = append(ops[op.CloudID], op)
	}
	for id, list := range ops {
		var now *reconcile.ADGroup
		if sid := list[0].SID; sid != "" {
			g, err := e.reader.ReadGroup(ctx, list[0].DN, []string{"displayName", "description"})
			if err != nil {
				return nil, fmt.Errorf("engine: read %s again: %w", list[0].DN, err)
			}
			now = g
		} else {
			read := e.reader.GroupsByAnchor
			if strings.HasPrefix(p.Seen[id], unreadPrint) {
				read = e.reader.GroupAttrsByAnchor // planned from its changes
			}
			gs, err := read(ctx, e.cfg.BaseDN, []string{policy.Anchor(id)}, e.managed())
			if err != nil {
				return nil, fmt.Errorf("engine: read the group of %s again: %w", id, err)
			}
			if len(gs) > 1 {
				out[id] = "two AD groups now carry its anchor"
				continue
			}
			if len(gs) == 1 {
				now = &gs[0]
			}
		}
		if fingerprint(now) != p.Seen[id] {
			out[id] = "its AD group changed since the plan was made (by hand, or by another run)"
		}
	}
	if p.Links.Groups == "" || (p.fresh != nil && p.fresh.disable) {
		return out, nil
	}
	gr, err := e.cloud.GroupsDelta(ctx, p.Links.Groups)
	if err != nil {
		return nil, fmt.Errorf("engine: ask Graph what changed since the plan: %w", err)
	}
	if gr.Full {
		return nil, fmt.Errorf("engine: %w: Graph no longer knows the plan's delta link (it asked for a full resync): make a new plan", ErrPlanRefused)
	}
	for _, d := range gr.Changes {
		if _, touched := ops[d.ID]; touched {
			out[d.ID] = "the cloud group changed since the plan was made"
		}
	}
	return out, nil
}

// configPrint is a fingerprint of what in the configuration decides what
// each group becomes: scope, naming, target and quarantine OUs, limits,
// delete policies. A cycle after it changed is a full one.
func (e *Engine) configPrint() string {
	b, _ := json.Marshal(struct { // the configuration's plain values: cannot fail
		Policy             policy.Options
		Target, Quarantine string
		Fates              Fates
		MoveBack, SAM      bool
		Default            *bool
	}{e.cfg.Policy, e.cfg.TargetOU, e.cfg.QuarantineOU, e.cfg.Fates, e.cfg.MoveBack, e.cfg.SAMFollowsName, e.cfg.UnifiedWritebackDefault})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// recordOps records the groups a saved plan (or disable) worked on, from
// its operations alone.
func (e *Engine) recordOps(ctx context.Context, p *Plan, ops []reconcile.Op, failed map[string]error, unfinished map[string]bool, res *Result) error {
	ctx = context.WithoutCancel(ctx)
	final := map[string]state.GroupStatus{}
	for _, op := range ops {
		st := state.GroupStatus{CloudID: op.CloudID, Name: p.Names[op.CloudID], State: state.InStep, DN: op.FinalDN()}
		switch {
		case op.Action == reconcile.Delete:
			st.State, st.Message = state.Deleted, op.Reason
		case op.Quarantines(e.cfg.QuarantineOU):
			st.State, st.Message = state.Quarantined, op.Reason
		}
		if prev, ok := final[op.CloudID]; ok && (prev.State == state.Quarantined || prev.State == state.Deleted) {
			continue // the move to quarantine decides; its member removals follow
		}
		final[op.CloudID] = st
	}
	for id := range failed {
		final[id] = state.GroupStatus{CloudID: id, Name: p.Names[id], State: state.Failed, Message: advice.Say(failed[id])}
	}
	for id := range unfinished {
		final[id] = state.GroupStatus{CloudID: id, Name: p.Names[id], State: state.Pending, Message: "the run was interrupted before its operations were applied"}
	}
	var sts []state.GroupStatus
	for _, st := range final {
		sts = append(sts, st)
	}
	if err := e.store.SetStatus(ctx, sts); err != nil {
		return err
	}
	for _, st := range sts {
		if slices.Contains(state.NotInStep, st.State) {
			res.Failures = append(res.Failures, Failure{CloudID: st.CloudID, Name: st.Name, DN: st.DN, State: st.State, Message: st.Message})
		}
	}
	sort.Slice(res.Failures, func(i, j int) bool { return res.Failures[i].CloudID < res.Failures[j].CloudID })
	return nil
}
