package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/alert"
	"github.com/groupwriteback/groupwriteback/internal/config"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/scheduler"
	"github.com/groupwriteback/groupwriteback/internal/server"
	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/store"
	"github.com/groupwriteback/groupwriteback/internal/wiring"
)

// cycles runs the service's cycles, scheduled or on demand, on one session
// kept for the life of the service: Graph's client, the DC's connection
// (which reconnects by itself) and the state file are opened once, and
// again only when opening failed, a cycle failed, or on SIGHUP.
type cycles struct {
	g   *globals
	cfg *config.Config
	// forced is run --staging; staging is the mode now: forced, or the
	// mode of the configuration the session was opened with (SIGHUP
	// switches it whole, at the next cycle).
	forced  bool
	staging atomic.Bool
	st      *store.Store
	metrics *server.Metrics
	logger  *slog.Logger
	// inst is this instance among those sharing the state (nil with a
	// state of its own): it writes only while it holds the writer lease,
	// and stands by as a staging server otherwise.
	inst *instance
	// notif, when change notifications are on, says which objects were
	// notified since the last cycle began, and when.
	notif *notifications

	mu   sync.Mutex // one cycle at a time, and the session with it
	sess *session
}

func (c *cycles) closeSession() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess != nil {
		c.sess.Close()
		c.sess = nil
	}
}

// session returns the open session, opening one if there is none; c.mu
// is held.
func (c *cycles) session(ctx context.Context) (*session, error) {
	if c.sess != nil {
		return c.sess, nil
	}
	var o wiring.Options
	if c.inst != nil {
		// The elector fences this store: the session writes through it,
		// and asks the elector before every write to AD.
		o.Store, o.Fence = c.st, c.inst.el
	}
	// The service reads its configuration again for every new session:
	// after SIGHUP, and after a failed cycle (run.go).
	cfg, err := c.g.load()
	if err != nil {
		return nil, err
	}
	s, err := c.g.openSession(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	if s.Config.State.Path != c.cfg.State.Path {
		s.Close()
		return nil, fmt.Errorf("state.path changed from %s to %s while the service runs: restart the service to move its state file", c.cfg.State.Path, s.Config.State.Path)
	}
	s.Dir.OnOperation(func(op string, d time.Duration, err error) {
		c.metrics.ObserveLDAP(op, d, err)
		if crashHook != nil { // the crash and HA suites' builds only
			crashHook(op, d, err)
		}
	})
	s.Dir.OnFailover(c.metrics.ObserveFailover)
	if staging := c.forced || s.Config.Mode == "staging"; staging != c.staging.Load() {
		c.logger.Warn("the mode changed with the configuration read again", "staging", staging)
		c.staging.Store(staging)
	}
	c.logger.Info("session opened", "graph", s.Config.Cloud.GraphURL, "dc", s.Dir.URL())
	c.sess = s
	return s, nil
}

// SyncGroup provisions one group on demand (POST /sync?group=): a cycle
// on that group only, with its trace. A staging service plans it and
// writes nothing.
func (c *cycles) SyncGroup(ctx context.Context, group string) (*engine.Result, error) {
	return c.run(engine.WithActor(ctx, "service: on demand"), engine.RunOptions{Group: group})
}

// cycleRun is one cycle of the service, as it is reported: to the
// metrics, the alerts and the log.
type cycleRun struct {
	c      *cycles
	o      engine.RunOptions
	start  time.Time
	report server.CycleReport
	// cfg is the session's configuration (the service's until a session
	// opens).
	cfg *config.Config
	res *engine.Result
	// standby: another instance holds the writer lease; staged: the
	// cycle plans and writes nothing (staging, or standby).
	standby, staged, disabled bool
}

// run runs one cycle under the cycle lock and reports it.
func (c *cycles) run(ctx context.Context, o engine.RunOptions) (*engine.Result, error) {
	return c.cycle(ctx, o, nil)
}

// ErrNotActive: a saved plan is applied by the active instance, not by a
// staging one or a standby.
var ErrNotActive = errors.New("this instance writes nothing (staging, or a standby): apply the plan on the active instance")

// ApplySaved applies a saved plan (a staging server's, or plan --out's) as
// `apply` does, as one of the service's cycles: checked (its MAC, its
// binding, its age), planned again, and written only where the engine
// plans the same now. ctx carries the actor and the approval
// (engine.WithApproval) the audit trail records.
func (c *cycles) ApplySaved(ctx context.Context, p *engine.Plan) (*engine.Result, error) {
	return c.cycle(ctx, engine.RunOptions{}, p)
}

// CheckSaved checks a saved plan as ApplySaved will (nothing is written):
// what the console shows before it asks for the approval.
func (c *cycles) CheckSaved(ctx context.Context, p *engine.Plan) error {
	if c.staging.Load() || (c.inst != nil && !c.inst.active()) {
		return ErrNotActive
	}
	return c.idle(ctx, func(s *session) error {
		return s.Engine.CheckSaved(ctx, p, s.Config.Writeback.PlanMaxAge)
	})
}

// cycle runs one cycle, or the apply of a saved plan, under the cycle
// lock and reports it.
func (c *cycles) cycle(ctx context.Context, o engine.RunOptions, saved *engine.Plan) (*engine.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a := engine.ActorOf(ctx); a == "" || strings.HasPrefix(a, "cli:") {
		ctx = engine.WithActor(ctx, "service") // the schedule's, not the user who started the service
	}
	unlock, err := wiring.LockCycleFile(c.cfg, "run")
	if err != nil {
		return nil, err
	}
	defer unlock()
	r := &cycleRun{c: c, o: o, start: time.Now(), cfg: c.cfg, report: server.CycleReport{Mode: mode(o.Full)}}
	if c.notif != nil {
		// What was notified before the cycle reads Graph: the cycle
		// reads those changes, and says when they were noticed.
		o.Noticed = c.notif.handler.Noticed()
		r.o = o
	}
	if saved != nil {
		r.report.Mode = "apply"
	}
	// The mode is the session's: the session decides it once, whole.
	// A standby plans as a staging server does; its plan stays its own
	// (the shared state's pending plan is the active one's).
	r.standby = c.inst != nil && !c.inst.active()
	r.staged = c.staging.Load() || r.standby
	s, err := c.session(ctx)
	if err != nil {
		r.report.Outcome, r.report.Duration, r.report.End, r.report.Staged = state.OutcomeFailed, time.Since(r.start), time.Now(), r.staged
		r.observe(ctx, err)
		return nil, err
	}
	r.staged = c.staging.Load() || r.standby
	r.report.Staged = r.staged
	r.cfg = s.Config
	if saved != nil {
		if r.staged {
			return nil, ErrNotActive
		}
		if err := s.Engine.CheckSaved(ctx, saved, s.Config.Writeback.PlanMaxAge); err != nil {
			return nil, err
		}
	}
	// The Graph client lives as long as the session: a cycle reports the
	// requests it made, not the session's total.
	before := s.Graph.Counters()
	cctx, cancel := s.WithDeadline(ctx)
	defer cancel()
	rep := s.Engine.Cycle(cctx, engine.CycleOptions{RunOptions: o, Staged: r.staged, Standby: r.standby, StagedPlan: wiring.StagedPlanPath(c.cfg), Saved: saved})
	r.res, err = rep.Result, s.DeadlineError(rep.Err)
	r.report.Outcome, r.report.Duration, r.report.End, r.report.Result = rep.Outcome, time.Since(r.start), time.Now(), r.res
	r.report.GraphReqs, r.report.Throttled = s.Graph.Counters().Requests-before.Requests, s.Graph.Counters().Throttled-before.Throttled
	return r.after(ctx, s, err)
}

// after acts on how the cycle ended, reports it and logs it; it returns
// what the scheduler is to make of it (a fenced or disabled cycle is no
// failure to back off from).
func (r *cycleRun) after(ctx context.Context, s *session, err error) (*engine.Result, error) {
	c := r.c
	var nf *engine.NoSuchGroupError
	switch {
	case errors.As(err, &nf):
		return nil, err // a name that is no group: the session is fine
	case r.report.Outcome == state.OutcomeDisabled:
		c.logger.Warn("writeback is disabled: this cycle writes nothing; run `groupwriteback enable` to turn it on")
		r.disabled = true
		r.observe(ctx, nil)
		return nil, scheduler.NotRun(err) // no success, no failure to back off from
	case r.report.Outcome == state.OutcomeFenced:
		// The lease went to another instance during the cycle: the rest
		// is the new active one's work.
		var fe *state.FencedError
		if errors.As(err, &fe) {
			c.metrics.ObserveFenced("state")
		}
		c.logger.Warn("this instance lost the writer lease during the cycle and stopped writing; the active instance does the rest", "error", err)
		r.observe(ctx, nil)
		r.logDone()
		// Standing by is what it should do now: no success, and no
		// failure to back off from.
		return r.res, scheduler.NotRun(err)
	case r.report.Outcome == state.OutcomeFailed:
		// A failed cycle may leave a bad connection or token behind: the
		// next one starts from a new session.
		s.Close()
		c.sess = nil
	case r.report.Outcome == state.OutcomeStandby:
		c.inst.planned(r.res)
	}
	r.observe(ctx, err)
	r.logDone()
	r.inStep(ctx)
	return r.res, err
}

// logDone logs what the cycle did.
func (r *cycleRun) logDone() {
	if res := r.res; res != nil {
		// A quiet cycle (nothing changed, nothing written) is said at
		// Debug: every 10 seconds, it would bury the cycles that wrote.
		level := slog.LevelInfo
		if res.Quiet {
			level = slog.LevelDebug
		}
		r.c.logger.Log(context.Background(), level, "cycle done", "run_id", res.RunID, "outcome", r.report.Outcome, "mode", res.Mode, "group", r.o.Group, "created", res.Counts.Created, "updated", res.Counts.Updated,
			"deleted", res.Counts.Deleted, "failed", res.Counts.Failed, "not_in_step", len(res.Failures), "ldap_writes", res.Writes,
			"duration", r.report.Duration.Round(time.Millisecond))
	}
}

// observe gives the cycle to the metrics and the alerts (a cycle on one
// group says nothing of the others).
func (r *cycleRun) observe(ctx context.Context, err error) {
	if r.o.Group != "" {
		return
	}
	r.c.metrics.Observe(r.report)
	if r.report.Outcome == state.OutcomeInterrupted || r.standby {
		// A standby's alerts would repeat the active's, and their
		// memory is in the shared state, which it does not write: its
		// /readyz and metrics say how it fares.
		return
	}
	alerts := wiring.Alerts(r.cfg, r.c.st, r.c.logger)
	if aerr := alerts.AfterCycle(context.WithoutCancel(ctx), cycleAlert(r.res, err, r.disabled, r.staged), r.cfg.Alerts.StagingAfter); aerr != nil {
		r.c.logger.Error("alert webhook", "error", aerr)
	}
}

// cycleAlert is how a cycle ended, for the alert webhook.
func cycleAlert(res *engine.Result, err error, disabled, staging bool) alert.Cycle {
	c := alert.Cycle{Err: err, Disabled: disabled, Staging: staging}
	if res != nil {
		for _, op := range res.Plan.HeldBack {
			c.HeldBack = append(c.HeldBack, policy.RDNValue(op.DN))
		}
		for _, p := range res.Plan.Problems {
			if errors.Is(p.Err, reconcile.ErrThresholdExceeded) {
				c.Threshold = p.Message
			}
		}
	}
	return c
}

// ErrCycleRunning: the service's session is in a cycle; the console asks
// again when it ends rather than wait for it.
var ErrCycleRunning = errors.New("a cycle is running: the AD side is shown when it ends (reload the page)")

// Explain is show's explanation of one group, from the service's session:
// the cloud group as the last cycle read it, the policy's decision, and
// its AD copy as the DC holds it now.
func (c *cycles) Explain(ctx context.Context, group string) (x *engine.Explanation, err error) {
	err = c.idle(ctx, func(s *session) error {
		x, err = s.Engine.Explain(ctx, group)
		return err
	})
	return x, err
}

// PlanGroup plans one group as `plan --group` does: nothing is written.
func (c *cycles) PlanGroup(ctx context.Context, group string) (res *engine.Result, err error) {
	err = c.idle(ctx, func(s *session) error {
		cctx, cancel := s.WithDeadline(ctx)
		defer cancel()
		res, err = s.Engine.Run(cctx, engine.RunOptions{Group: group, DryRun: true})
		return err
	})
	return res, err
}

// idle runs fn on the service's session when no cycle holds it
// (ErrCycleRunning when one does: the console does not wait for it).
func (c *cycles) idle(ctx context.Context, fn func(*session) error) error {
	if !c.mu.TryLock() {
		return ErrCycleRunning
	}
	defer c.mu.Unlock()
	s, err := c.session(ctx)
	if err != nil {
		return err
	}
	return fn(s)
}
