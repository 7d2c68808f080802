// Package engine runs one writeback cycle end to end: read the tenant from
// Graph (by delta), read the owned groups from AD, decide (policy), plan
// (reconcile), apply, and record what happened. It holds no policy of its
// own; it moves values between the adapters and the pure packages.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/advice"
	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// Config is what the engine needs besides its adapters.
type Config struct {
	// TenantID, BaseDN, TargetOU and QuarantineOU bind the state file: a
	// state file made for others is refused.
	TenantID string
	BaseDN   string
	// Staging (mode: staging) plans and records, and refuses every write
	// to AD, whichever command asks: a staging server never changes
	// production.
	Staging  bool
	TargetOU string
	// Policy options, Exchange and AnchorAttribute included (from the
	// directory's schema probe).
	Policy policy.Options
	// UnifiedWritebackDefault, set false, leaves out Microsoft 365 groups
	// whose writebackConfiguration.isEnabled is unset (policy.Options).
	UnifiedWritebackDefault *bool
	DeleteThreshold         int
	DeleteThresholdPercent  int
	BatchSize               int
	QuarantineOU            string
	MoveBack                bool
	// SAMFollowsName: a cloud rename changes the sAMAccountName of a group
	// already written (writeback.sam_on_rename: follow); by default it
	// keeps the one it was created with.
	SAMFollowsName bool
	// HistoryDays is state.history_days: each full cycle drops the run
	// history and operation log older than that (0: none).
	HistoryDays int
	// MatchBases are writeback.match_unsynced.search_bases: where the
	// rules in Policy.Match look for user accounts.
	MatchBases []string
	// CreateAnew (writeback.restore_deleted: false) creates a group that
	// AD holds deleted anew, with a new objectSid, instead of restoring
	// the deleted object.
	CreateAnew bool
	// Forest looks up, in the whole forest (the global catalog), the
	// members not found in the domain; the reader must be a ForestReader.
	Forest bool
	Fates  Fates
	// Progress, when set, hears how far the writes are: done of total.
	Progress func(phase string, done, total int)
	// Now is the clock (time.Now when nil): plans are dated with it.
	Now func() time.Time
	// Audit, when set, hears of every operation on AD as it is made.
	Audit Auditor
	// Fence, when set, is the HA fence the write gate asks before every
	// request to AD (the session's writer lease).
	Fence gate.Fence
	// PlanKey, when set, signs saved plans instead of the state's key
	// (writeback.plan_key_file: a staging server with a state of its own).
	PlanKey []byte
}

// Fates say what becomes of a written-back group in each case
// (writeback.on_*). A zero Fates keeps everything but hard deletes.
type Fates struct {
	SoftDelete, HardDelete, WritebackOff, OutOfScope, Disable reconcile.Fate
}

func (f Fates) of(c policy.Cause) reconcile.Fate {
	switch c {
	case policy.CauseSoftDeleted:
		return orKeep(f.SoftDelete)
	case policy.CauseWritebackOff:
		return orKeep(f.WritebackOff)
	}
	return orKeep(f.OutOfScope)
}

func orKeep(f reconcile.Fate) reconcile.Fate {
	if f == "" {
		return reconcile.Keep
	}
	return f
}

// ErrStaging: the configuration's mode is staging, so nothing is written
// to AD, whichever command asks.
var ErrStaging = errors.New("mode is staging: this instance never writes to AD (`groupwriteback plan` shows what it would do; set mode: normal to write from here)")

// ErrDisabled: writeback is not enabled, so a cycle writes nothing.
var ErrDisabled = errors.New("writeback is disabled: nothing is written to AD until `groupwriteback enable`")

// ErrNotDisablePlan: Disable carries out only a plan PlanDisable made,
// and a disable plan is carried out only by Disable (which records
// writeback disabled before it writes).
var ErrNotDisablePlan = errors.New("engine: a disable plan is made by PlanDisable and applied by Disable, which records writeback disabled first")

// Engine runs cycles.
type Engine struct {
	cloud  Cloud
	reader DirectoryReader
	// gate is the one way to AD: every operation of every path is
	// approved by it, and written through it.
	gate   *gate.Gate
	store  Store
	cfg    Config
	logger *slog.Logger
	now    func() time.Time
	// placement is where groups go (the target OU and the rules), and ous
	// every OU it names, worked out once.
	placement policy.Placement
	ous       []string
}

// New returns an engine that reads AD with r and writes to w, through the
// write gate it builds from cfg: the rules are the configuration's, and no
// caller can widen them.
func New(c Cloud, r DirectoryReader, w gate.Target, st Store, cfg Config, logger *slog.Logger) *Engine {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg.Policy.TargetOU = cfg.TargetOU
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	placement := policy.Placement{TargetOU: cfg.TargetOU, Rules: cfg.Policy.Placement, Scope: cfg.Policy.GroupScope}
	e := &Engine{cloud: c, reader: r, store: st, cfg: cfg, logger: logger, now: now, placement: placement, ous: placement.OUs()}
	var gc gate.Cloud
	if c != nil {
		gc = c
	}
	e.gate = gate.New(w, gc, e.gateRules(), cfg.Fence)
	return e
}

// gateRules are the write gate's rules: the configuration's places and
// managed attributes, and whether groups are written in place.
func (e *Engine) gateRules() gate.Rules {
	return gate.Rules{Places: e.ous, QuarantineOU: e.cfg.QuarantineOU, Managed: e.managed(), InPlace: e.cfg.Policy.InPlace,
		MoveBack: e.cfg.MoveBack, Domain: e.cfg.BaseDN, Scopes: e.placement.ScopeByOU()}
}

// Run runs one cycle: Plan, then (unless o.DryRun) Apply. Errors that make
// the whole run meaningless (Graph or AD unreadable, the state file
// unwritable) are returned; a group that fails is recorded in the result
// and the cycle goes on.
func (e *Engine) Run(ctx context.Context, o RunOptions) (*Result, error) {
	if e.cfg.Staging && !o.DryRun {
		return nil, ErrStaging
	}
	if !o.DryRun {
		en, err := e.store.Enablement(ctx)
		if err != nil {
			return nil, err
		}
		if !en.Enabled {
			return nil, ErrDisabled
		}
	}
	if o.DryRun {
		p, err := e.Plan(ctx, o)
		if err != nil {
			return nil, err
		}
		return p.Result, nil
	}
	start := e.now()
	// The run starts before the reads, so that every line the cycle logs
	// carries its run id.
	mode := "delta"
	if o.Full {
		mode = "full"
	}
	runID, died, err := e.store.StartRun(ctx, mode)
	if err != nil {
		return nil, err
	}
	e.markDied(died)
	ce := e.withLogger(e.logger.With("run_id", runID))
	a := newApplying(runID)
	a.started, a.noticed = start, o.Noticed
	p, err := ce.plan(ctx, o, a)
	if err != nil {
		a := advice.For(err) // the run history says it as the page and the log do
		if ferr := e.store.FinishRun(context.WithoutCancel(ctx), runID, "", state.OutcomeFailed, map[string]string{"error": a.Summary, "fix": a.Fix, "detail": a.Detail, "actor": ActorOf(ctx)}); ferr != nil {
			ce.logger.Error("cannot record the run's end", "error", ferr)
		}
		return nil, err
	}
	p.runID = runID
	p.fresh.immediate = true // read a moment ago: no need to read AD again
	return ce.Apply(ctx, p)
}

// withLogger is the engine logging to l: one cycle's engine, whose lines
// carry its run id.
func (e *Engine) withLogger(l *slog.Logger) *Engine {
	c := *e
	c.logger = l
	return &c
}

// mayRemove reports whether the plan may delete or quarantine a group: an
// AD group read is of no desired group.
func mayRemove(actual []reconcile.ADGroup, desired []*policy.DesiredGroup) bool {
	wanted := make(map[string]bool, len(desired))
	for _, g := range desired {
		wanted[g.CloudID] = true
	}
	for _, a := range actual {
		if !wanted[cloudID(a)] {
			return true
		}
	}
	return false
}

// quiet reports whether a cycle has nothing to work on: a delta cycle on
// every group, whose rounds changed nothing, with no group left pending or
// failed.
func quiet(o RunOptions, gr *cloud.GroupRound, ur *cloud.UserRound, left []state.GroupStatus) bool {
	return !o.Full && o.Group == "" && !gr.Full && !ur.Full && len(gr.Changes) == 0 && len(ur.Changes) == 0 && len(left) == 0
}

// ownsPlace reports whether dn lies where the tool keeps its groups: the
// target OU, a placement rule's OU, or the quarantine OU.
func (e *Engine) ownsPlace(dn string) bool {
	for _, ou := range e.ous {
		if policy.Within(dn, ou) {
			return true
		}
	}
	return e.cfg.QuarantineOU != "" && policy.Within(dn, e.cfg.QuarantineOU)
}

// policyOptions are the options every decision is made with: the
// configuration's, and the enablement's choice to write without Exchange.
func (e *Engine) policyOptions(en state.Enablement) policy.Options {
	popts := e.cfg.Policy
	popts.SkipUnsetMicrosoft365 = e.cfg.UnifiedWritebackDefault != nil && !*e.cfg.UnifiedWritebackDefault
	popts.WithoutExchange = en.WithoutExchange
	return popts
}

func (e *Engine) managed() []string { return policy.ManagedAttributes(e.cfg.Policy) }

func cloudID(a reconcile.ADGroup) string { return policy.CloudIDFromAnchor(a.Anchor) }

func (e *Engine) reconcileOptions(managed []string, o RunOptions) reconcile.Options {
	return reconcile.Options{TargetOU: e.cfg.TargetOU, OUs: e.ous, QuarantineOU: e.cfg.QuarantineOU, MoveBack: e.cfg.MoveBack, KeepSAM: !e.cfg.SAMFollowsName, Managed: managed,
		BatchSize: e.cfg.BatchSize, DeleteThreshold: e.cfg.DeleteThreshold, DeleteThresholdPercent: e.cfg.DeleteThresholdPercent,
		AllowDeletes: o.AllowDeletes}
}

// tenantDefault reads NewUnifiedGroupWritebackDefault, to show it (status,
// doctor): it decides nothing here, since Entra applies it by stamping
// isEnabled on groups created after it was set.
func (e *Engine) tenantDefault(ctx context.Context, last bool) bool {
	v, _, err := e.cloud.UnifiedWritebackDefault(ctx)
	if err != nil {
		if errors.Is(err, cloud.ErrForbidden) {
			e.logger.Debug("cannot read the tenant's NewUnifiedGroupWritebackDefault (needs GroupSettings.Read.All or Group.Read.All); it is only shown, never used")
			return last
		}
		e.logger.Warn("cannot read the tenant's NewUnifiedGroupWritebackDefault; keeping the last value read", "value", last, "error", err)
		return last
	}
	return v
}

// readRounds reads the groups and the users rounds at once: they are
// independent, and Graph serves an app's requests in parallel (its limits
// are per app and tenant, well above two streams of pages).
func (e *Engine) readRounds(ctx context.Context, links state.Links, spill cloud.UserSpill) (*cloud.GroupRound, *cloud.UserRound, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var ur *cloud.UserRound
	var uerr error
	users := make(chan struct{})
	go func() {
		defer close(users)
		if ur, uerr = e.cloud.UsersDelta(ctx, links.Users, spill); uerr != nil {
			cancel()
		}
	}()
	gr, gerr := e.cloud.GroupsDelta(ctx, links.Groups)
	if gerr != nil {
		cancel()
	}
	<-users
	switch {
	case gerr != nil && !(errors.Is(gerr, context.Canceled) && uerr != nil):
		return nil, nil, fmt.Errorf("engine: read groups from Graph: %w", gerr)
	case uerr != nil:
		return nil, nil, fmt.Errorf("engine: read users from Graph: %w", uerr)
	}
	return gr, ur, nil
}
