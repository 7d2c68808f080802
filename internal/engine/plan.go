package engine

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

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
	actual                      []reconcile.ADGroup
	work                        []policy.Decision
	// notWritten counts, for the groups planned from their changes, their
	// members not written, by reason (the plan lists only those changed).
	notWritten map[string]map[string]int
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

// newPlan wraps a decided result with what Apply checks.
func (e *Engine) newPlan(res *Result, actual []reconcile.ADGroup, desired []reconcile.Desired, links state.Links, name func(string) string) *Plan {
	p := &Plan{Version: PlanVersion, Created: e.now().UTC(), Binding: e.binding(), Mode: res.Mode, Result: res,
		Seen: map[string]string{}, Names: map[string]string{}, Links: links}
	byID := map[string]*reconcile.ADGroup{}
	for i := range actual {
		if id := cloudID(actual[i]); id != "" {
			byID[id] = &actual[i]
		}
	}
	for _, d := range desired {
		if d.Original != nil {
			byID[d.Group.CloudID] = d.Original
		}
	}
	for _, op := range append(append([]reconcile.Op(nil), res.Plan.Ops...), res.Plan.HeldBack...) {
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

// SavePlan signs the plan with the state's plan key and writes it to
// path, readable by its owner only.
func (e *Engine) SavePlan(ctx context.Context, p *Plan, path string) error {
	key, err := e.planKey(ctx)
	if err != nil {
		return err
	}
	p.MAC = ""
	canon, err := canonicalPlan(p)
	if err != nil {
		return err
	}
	p.MAC = planMAC(key, canon)
	b, err := json.MarshalIndent(p, "", " ")
	if err != nil {
		return err
	}
	// Written aside and renamed, so that a reader (an operator copying a
	// staging service's plan) never sees half a plan.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// planKey is the key plans are signed with: writeback.plan_key_file's,
// else the state's.
func (e *Engine) planKey(ctx context.Context) ([]byte, error) {
	if len(e.cfg.PlanKey) > 0 {
		return e.cfg.PlanKey, nil
	}
	return e.store.Secret(ctx, state.PlanKey)
}

// canonicalPlan is the plan's JSON without its MAC, compacted with its
// keys in order: what the MAC is computed over, on save and on load.
func canonicalPlan(p *Plan) ([]byte, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return canonicalJSON(b)
}

// canonicalJSON is a plan file's top-level object without "mac", keys in
// order, compacted (the values as written, whitespace outside strings
// aside).
func canonicalJSON(b []byte) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	delete(fields, "mac")
	return json.Marshal(fields)
}

func planMAC(key, canon []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(canon)
	return hex.EncodeToString(m.Sum(nil))
}

// LoadPlan reads a plan that plan --out (or a staging service) saved. It
// is untrusted until CheckSaved verified it.
func LoadPlan(path string) (*Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("engine: plan: %w", err)
	}
	var p Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("engine: plan %s: %w", path, err)
	}
	if p.Version != PlanVersion || p.Result == nil {
		return nil, fmt.Errorf("engine: plan %s: version %d is not %d: %w", path, p.Version, PlanVersion, ErrPlanRefused)
	}
	if p.signed, err = canonicalJSON(b); err != nil {
		return nil, fmt.Errorf("engine: plan %s: %w", path, err)
	}
	return &p, nil
}

// CheckSaved refuses a saved plan that is not as the tool saved it (its
// MAC, keyed by this state's plan key), made for another tenant, domain or
// OUs, dated in the future, older than maxAge, or of a kind that is never
// saved (disable).
func (e *Engine) CheckSaved(ctx context.Context, p *Plan, maxAge time.Duration) error {
	key, err := e.planKey(ctx)
	if err != nil {
		return err
	}
	if p.MAC == "" || p.signed == nil {
		return fmt.Errorf("engine: %w: it carries no MAC", ErrPlanAltered)
	}
	if !hmac.Equal([]byte(planMAC(key, p.signed)), []byte(p.MAC)) {
		return fmt.Errorf("engine: %w", ErrPlanAltered)
	}
	if want := e.binding(); !sameBinding(p.Binding, want) {
		return fmt.Errorf("engine: %w: it was made for another tenant or directory: %v", ErrPlanRefused, &StateMismatchError{State: p.Binding, Config: want})
	}
	switch p.Mode {
	case "delta", "full", "group":
	default:
		return fmt.Errorf("engine: %w: a %q plan is never saved (only sync's: delta, full or group)", ErrPlanRefused, p.Mode)
	}
	age := e.now().Sub(p.Created)
	if age < -planSkew {
		return fmt.Errorf("engine: %w: it is dated %s, %s in the future (clocks differ by more than %s?)", ErrPlanRefused,
			p.Created.UTC().Format(time.RFC3339), (-age).Round(time.Second), planSkew)
	}
	if maxAge > 0 && age > maxAge {
		return fmt.Errorf("engine: %w: it was made %s ago, more than writeback.plan_max_age (%s): make a new one", ErrPlanRefused,
			age.Round(time.Second), maxAge)
	}
	return nil
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

// Apply writes exactly the plan's operations, re-checking the ownership of
// each object before writing it (the directory does) and refusing, as
// stale, the operations of a group whose AD object or cloud group changed
// since the plan was made; the others go on.
func (e *Engine) Apply(ctx context.Context, p *Plan) (*Result, error) {
	if e.cfg.Staging {
		return nil, ErrStaging
	}
	disabling := p.fresh != nil && p.fresh.disable
	var refused map[string]string // the groups of a saved plan not applied, and why
	saved := p.fresh == nil
	if saved {
		if err := e.CheckSaved(ctx, p, 0); err != nil {
			return nil, err
		}
		// A saved plan is an approval, not an authority: the engine plans
		// again now, from Graph and AD as they are, and writes a group's
		// operations only where it would plan exactly those now.
		now, err := e.Plan(ctx, RunOptions{Full: p.Options.Full, Group: p.Options.Group, AllowDeletes: p.Options.AllowDeletes})
		if err != nil {
			return nil, err
		}
		refused = approve(p, now)
		now.fresh.immediate = true // read a moment ago
		p = now
	}
	if !disabling {
		en, err := e.store.Enablement(ctx)
		if err != nil {
			return nil, err
		}
		if !en.Enabled {
			return nil, ErrDisabled
		}
	}
	if err := e.checkBinding(ctx, true); err != nil {
		return nil, err
	}
	e.Settle(ctx)
	stale, err := e.stale(ctx, p)
	if err != nil {
		return nil, err
	}
	for id, why := range refused {
		stale[id] = why
	}
	res := p.Result
	res.Failures = nil
	// The plan's counts said what it planned; now they say what was done.
	res.Counts.Created, res.Counts.Updated, res.Counts.Deleted, res.Counts.Quarantined = 0, 0, 0, 0
	ops := make([]reconcile.Op, 0, len(res.Plan.Ops))
	for _, op := range res.Plan.Ops {
		if stale[op.CloudID] == "" {
			ops = append(ops, op)
		}
	}
	for id, why := range stale {
		e.logger.Warn("stale: the plan's operations on this group are not applied", "cloud_id", id, "name", p.Names[id], "why", why)
	}
	f := p.fresh
	names := e.namesFor(ctx, p.Names, ops)
	if f != nil && !disabling {
		pending := map[string]string{}
		for _, op := range ops {
			pending[op.CloudID] = names[op.CloudID]
		}
		links := state.Links{Groups: f.gr.DeltaLink, Users: f.ur.DeltaLink}
		if f.oneGroup {
			links = f.kept // the next cycle reads every other change again
		}
		if err := e.store.SaveCloud(ctx, state.CloudUpdate{Snapshot: f.snap, FullGroups: f.gr.Full, FullUsers: f.ur.Full,
			ChangedGroups: f.changedGroups, ChangedUsers: f.changedUsers,
			Links: links, Pending: pending}); err != nil {
			return nil, err
		}
	} else {
		var sts []state.GroupStatus
		for _, op := range ops {
			sts = append(sts, state.GroupStatus{CloudID: op.CloudID, Name: p.Names[op.CloudID], State: state.Pending})
		}
		if err := e.store.SetStatus(ctx, sts); err != nil {
			return nil, err
		}
	}
	mode := p.Mode
	if saved {
		mode = "apply " + p.Mode
	}
	runID := p.runID // started by Run, before it planned
	if runID == 0 {
		var died []int64
		if runID, died, err = e.store.StartRun(ctx, mode); err != nil {
			return nil, err
		}
		e.markDied(died)
	}
	res.RunID = runID
	failed, unfinished, fatal := e.apply(ctx, runID, ops, names, res)
	for id, why := range stale {
		failed[id] = fmt.Errorf("%w: %s; nothing of it was written (the next sync plans it again)", ErrStale, why)
	}
	res.Counts.Failed = len(failed)
	switch {
	case f != nil && !disabling:
		plan := res.Plan
		plan.Ops = ops
		if err := e.clearGone(ctx, f.snap, f.actual, plan); err != nil {
			return nil, err
		}
		if err := e.record(ctx, cycleOutcome{Work: f.work, Plan: plan, Failed: failed, Unfinished: unfinished, NotWritten: f.notWritten}, res); err != nil {
			return nil, err
		}
	default:
		if err := e.recordOps(ctx, p, ops, failed, unfinished, res); err != nil {
			return nil, err
		}
		if disabling {
			if err := e.recordDisabled(ctx, p, failed); err != nil {
				return nil, err
			}
			for _, pr := range res.Plan.Problems {
				res.Failures = append(res.Failures, Failure{CloudID: pr.CloudID, DN: pr.DN, State: state.Failed, Message: pr.Message})
			}
		}
	}
	outcome := "ok"
	switch {
	case fatal != nil:
		outcome = "failed"
	case ctx.Err() != nil:
		outcome = "interrupted"
	case len(res.Failures) > 0:
		outcome = "partial"
	}
	if err := e.store.FinishRun(context.WithoutCancel(ctx), runID, mode, outcome, res.Counts); err != nil {
		return nil, err
	}
	if f != nil && !disabling && !f.oneGroup && fatal == nil && ctx.Err() == nil {
		if err := e.store.SetMeta(context.WithoutCancel(ctx), "config", e.configPrint()); err != nil {
			return nil, err
		}
	}
	if fatal != nil {
		return res, fatal
	}
	return res, ctx.Err()
}

// configPrint is a fingerprint of what in the configuration decides what
// each group becomes: scope, naming, target and quarantine OUs, limits,
// delete policies. A cycle after it changed is a full one.
func (e *Engine) configPrint() string {
	b, _ := json.Marshal(struct { // the configuration's plain values: cannot fail
		Policy             policy.Options
		Target, Quarantine string
		Fates              Fates
		MoveBack           bool
		Default            *bool
	}{e.cfg.Policy, e.cfg.TargetOU, e.cfg.QuarantineOU, e.cfg.Fates, e.cfg.MoveBack, e.cfg.UnifiedWritebackDefault})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// recordOps records the groups a saved plan (or disable) worked on, from
// its operations alone.
func (e *Engine) recordOps(ctx context.Context, p *Plan, ops []reconcile.Op, failed map[string]error, unfinished map[string]bool, res *Result) error {
	ctx = context.WithoutCancel(ctx)
	final := map[string]state.GroupStatus{}
	for _, op := range ops {
		st := state.GroupStatus{CloudID: op.CloudID, Name: p.Names[op.CloudID], State: state.InStep, DN: op.DN}
		switch op.Action {
		case reconcile.Delete:
			st.State, st.DN, st.Message = state.Deleted, "", op.Reason
		case reconcile.Move:
			rdn, _ := policy.SplitDN(op.DN)
			st.DN = rdn + "," + op.NewParent
			if quarantines(op, e.cfg.QuarantineOU) {
				st.State, st.Message = state.Quarantined, op.Reason
			}
		case reconcile.Rename:
			_, parent := policy.SplitDN(op.DN)
			st.DN = op.NewRDN + "," + parent
		}
		if prev, ok := final[op.CloudID]; ok && (prev.State == state.Quarantined || prev.State == state.Deleted) {
			continue // the move to quarantine decides; its member removals follow
		}
		final[op.CloudID] = st
	}
	for id := range failed {
		final[id] = state.GroupStatus{CloudID: id, Name: p.Names[id], State: state.Failed, Message: failed[id].Error()}
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
		if st.State == state.Failed || st.State == state.Pending {
			res.Failures = append(res.Failures, Failure{CloudID: st.CloudID, Name: st.Name, DN: st.DN, State: st.State, Message: st.Message})
		}
	}
	sort.Slice(res.Failures, func(i, j int) bool { return res.Failures[i].CloudID < res.Failures[j].CloudID })
	return nil
}

// approve compares a saved plan with the plan made now and says, for each
// group either touches, why its operations are not applied: the group is
// applied only when the engine plans now exactly the operations the saved
// plan holds for it (as sets; old values aside, since they only show what
// is overwritten). Everything else is refused, named, and left to the next
// sync.
func approve(saved, now *Plan) map[string]string {
	byGroup := func(ops []reconcile.Op) map[string][]reconcile.Op {
		out := map[string][]reconcile.Op{}
		for _, op := range ops {
			id := strings.ToLower(op.CloudID)
			out[id] = append(out[id], op)
		}
		return out
	}
	was, is := byGroup(saved.Result.Plan.Ops), byGroup(now.Result.Plan.Ops)
	refused := map[string]string{}
	for id, ops := range was {
		if why := differs(ops, is[id]); why != "" {
			refused[id] = why
		}
	}
	for id, ops := range is {
		if _, inSaved := was[id]; !inSaved {
			refused[id] = fmt.Sprintf("the engine now plans %s, which the saved plan does not hold", describeOp(ops[0]))
		}
	}
	return refused
}

// differs says how a group's saved operations differ from those planned
// now ("" when they are the same).
func differs(saved, now []reconcile.Op) string {
	if len(now) == 0 {
		return fmt.Sprintf("the engine plans nothing for this group now, not %s (it changed since the plan was made)", describeOp(saved[0]))
	}
	keys := map[string]int{}
	for _, op := range now {
		keys[opKey(op)]++
	}
	for _, op := range saved {
		k := opKey(op)
		if keys[k] == 0 {
			return fmt.Sprintf("the engine would not plan %s now (the group changed since the plan was made)", describeOp(op))
		}
		keys[k]--
	}
	for _, op := range now {
		if keys[opKey(op)] > 0 {
			return fmt.Sprintf("the engine now also plans %s, which the saved plan does not hold", describeOp(op))
		}
	}
	return ""
}

// opKey is what makes two operations the same: action, group, object,
// where it goes, what it must carry, and what it writes.
func opKey(op reconcile.Op) string {
	var b strings.Builder
	norm := func(dn string) string {
		if dn == "" {
			return ""
		}
		if d, err := policy.ParseDN(dn); err == nil {
			return strings.ToLower(d.String())
		}
		return "unparsable:" + dn
	}
	fmt.Fprintf(&b, "%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s", op.Action, strings.ToLower(op.CloudID), norm(op.DN), strings.ToLower(op.NewRDN),
		norm(op.NewParent), op.Anchor, strings.ToUpper(op.SID))
	changes := make([]string, 0, len(op.Changes))
	for _, ch := range op.Changes {
		vs := slices.Clone(ch.New)
		sort.Strings(vs)
		changes = append(changes, strings.ToLower(ch.Name)+"="+strings.Join(vs, "\x01"))
	}
	sort.Strings(changes)
	members := make([]string, len(op.Members))
	for i, m := range op.Members {
		members[i] = norm(m)
	}
	sort.Strings(members)
	fmt.Fprintf(&b, "\x00%s\x00%s", strings.Join(changes, "\x02"), strings.Join(members, "\x02"))
	return b.String()
}

func describeOp(op reconcile.Op) string {
	return fmt.Sprintf("%s of %s", op.Action, op.DN)
}
