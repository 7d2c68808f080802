package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/alert"
	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/wiring"
)

// session is a configuration opened (wiring.Session), with the progress
// printer a command shows on stderr.
type session struct {
	*wiring.Session
	progress *progress
}

// openSession loads the configuration and opens everything a cycle needs.
// A readOnly session (plan) opens no audit trail.
func (g *globals) openSession(ctx context.Context, readOnly bool) (*session, error) {
	return g.openSessionWith(ctx, wiring.Options{ReadOnly: readOnly})
}

// openSessionWith opens a session with the options given, adding the
// command line's logger and progress.
func (g *globals) openSessionWith(ctx context.Context, o wiring.Options) (*session, error) {
	cfg, err := g.load()
	if err != nil {
		return nil, err
	}
	p := newProgress(g.stderr)
	// Groups and users are read at once: one line counts both.
	var mu sync.Mutex
	read := map[string]int{}
	graphProgress := func(what string, items int) {
		mu.Lock()
		read[what] = items
		total := read["groups"] + read["users"]
		mu.Unlock()
		p.update("reading groups and users from Graph", total, 0)
	}
	o.Logger, o.Progress, o.OnLDAP, o.GraphProgress = g.logger(cfg), p.update, crashHook, graphProgress
	ws, err := wiring.Open(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	return &session{Session: ws, progress: p}, nil
}

// openLocked opens a session and takes the cycle lock for command: what
// every command that writes does first. done unlocks and closes.
func (g *globals) openLocked(ctx context.Context, command string) (s *session, done func(), err error) {
	if s, err = g.openSession(ctx, false); err != nil {
		return nil, nil, err
	}
	unlock, err := s.LockCycle(command)
	if err != nil {
		s.Close()
		return nil, nil, &lockBusyError{err}
	}
	return s, func() { unlock(); s.Close() }, nil
}

// lockBusyError: another cycle, or the active instance, holds the state:
// this command waits its turn; nothing failed.
type lockBusyError struct{ err error }

func (e *lockBusyError) Error() string { return e.err.Error() }
func (e *lockBusyError) Unwrap() error { return e.err }

// alertFailedStart sends the cycle_failed alert for a sync that failed
// before its cycle began, remembered in the state when it can be opened
// (and sent regardless when it cannot).
func (o *cycleCmd) alertFailedStart(ctx context.Context, cause error) {
	cfg, err := o.load()
	if err != nil {
		return // no configuration, no webhook to call
	}
	var mem alert.Memory = forgetful{}
	if st, err := wiring.OpenStore(ctx, cfg); err == nil {
		defer st.Close()
		mem = st
	}
	alerts := wiring.Alerts(cfg, mem, o.logger(cfg))
	if werr := alerts.AfterCycle(context.WithoutCancel(ctx), alert.Cycle{Err: cause}, cfg.Alerts.StagingAfter); werr != nil {
		fmt.Fprintln(o.stderr, "groupwriteback: alert webhook:", werr)
	}
}

// forgetful is the alerts' memory when the state cannot be opened: every
// alert is sent.
type forgetful struct{}

func (forgetful) Meta(context.Context, string) (string, error)  { return "", nil }
func (forgetful) SetMeta(context.Context, string, string) error { return nil }

// Close stops the progress printer and closes the session.
func (s *session) Close() {
	s.progress.finish()
	s.Session.Close()
}

// crashHook, when set, hears of every LDAP operation of a session: only in
// a binary built with -tags crashpoints, for the crash suite (crashpoint.go).
var crashHook func(op string, d time.Duration, err error)

type cycleCmd struct {
	*globals
	dryRun       bool
	out          string
	full         bool
	output       string
	allowDeletes int
	group        string
	detailed     bool
}

// groupFlag is --group, the same on plan and sync.
func (o *cycleCmd) groupFlag(cmd *cobra.Command, verb string) {
	cmd.Flags().StringVar(&o.group, "group", "", verb+" this one group only and print its trace: scope decision, each member's lookup, "+
		"every attribute old -> new (GROUP is the cloud id, display name, DN, sAMAccountName or Group_<id>)")
}

func newPlanCmd(g *globals) *cobra.Command {
	o := &cycleCmd{globals: g, dryRun: true}
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what the next sync would create, change, rename or delete, touching nothing",
		Long: `plan reads the tenant and the directory exactly as the next sync would and
prints the operations it would make, group by group, without writing to AD or
saving anything. -o json gives the stable format described in docs/plan-format.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context()) },
	}
	cmd.Flags().BoolVar(&o.full, "full", false, "plan a full reconcile of every group instead of the changes since the last sync")
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	cmd.Flags().StringVar(&o.out, "out", "", "save the plan to this file, for `groupwriteback apply FILE` (docs/plan-format.md)")
	o.groupFlag(cmd, "plan")
	cmd.Flags().BoolVar(&o.detailed, "detailed-exitcode", false, "exit 0 when there is nothing to do, 2 when the plan changes something, 1 on error (as terraform plan does)")
	return cmd
}

func newSyncCmd(g *globals) *cobra.Command {
	o := &cycleCmd{globals: g}
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Run one writeback cycle",
		Long: `sync runs one cycle: by delta (only what changed since the last cycle) unless
--full or there is no usable delta link. Exit status: 0 when every group in scope
is in step, 2 when the cycle finished but some groups are not (each is named with
its reason), 1 when the cycle could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context()) },
	}
	cmd.Flags().BoolVar(&o.full, "full", false, "reconcile every group, repairing drift made by hand in AD")
	cmd.Flags().IntVar(&o.allowDeletes, "allow-deletes", 0, "let this many deletes through the delete threshold, for this run")
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	o.groupFlag(cmd, "sync")
	return cmd
}

func (o *cycleCmd) run(ctx context.Context) error {
	if err := checkOutput(o.output); err != nil {
		return err
	}
	if o.allowDeletes < 0 {
		return fmt.Errorf("--allow-deletes: must be 0 or more")
	}
	if o.group != "" && o.full {
		return fmt.Errorf("--group and --full: a cycle on one group reads that group only; give one of them")
	}
	if !o.dryRun {
		if err := o.refuseStaging(); err != nil {
			return err
		}
	}
	var (
		s    *session
		done func()
		err  error
	)
	if o.dryRun {
		s, err = o.openSession(ctx, true) // a plan takes no lock, and writes no audit trail
		done = func() { s.Close() }
	} else {
		s, done, err = o.openLocked(ctx, "sync")
		var busy *lockBusyError
		if err != nil && !errors.As(err, &busy) && o.group == "" {
			// The cycle cannot even start (the DC or Graph cannot be
			// reached, the state cannot be opened): cron users hear of
			// it as of any failed cycle.
			o.alertFailedStart(ctx, err)
		}
	}
	if err != nil {
		return err
	}
	defer done()
	cctx, cancel := s.WithDeadline(ctx)
	defer cancel()
	var res *engine.Result
	var outcome state.Outcome
	if o.out != "" {
		var p *engine.Plan
		if p, err = s.Engine.Plan(cctx, engine.RunOptions{Full: o.full, Group: o.group}); err == nil {
			res = p.Result
			if err = s.Engine.SavePlan(cctx, p, o.out); err != nil {
				return fmt.Errorf("--out: %w", err)
			}
		}
	} else if o.dryRun {
		res, err = s.Engine.Run(cctx, engine.RunOptions{Full: o.full, DryRun: true, Group: o.group})
	} else {
		// The CLI's cycle is the service's: settle, run, name the outcome.
		rep := s.Engine.Cycle(cctx, engine.CycleOptions{RunOptions: engine.RunOptions{Full: o.full, AllowDeletes: o.allowDeletes, Group: o.group}})
		res, err, outcome = rep.Result, rep.Err, rep.Outcome
	}
	err = s.DeadlineError(err)
	if !o.dryRun && o.group == "" && ctx.Err() == nil {
		disabled := outcome == state.OutcomeDisabled
		aerr := err
		if disabled {
			aerr = nil
		}
		alerts := wiring.Alerts(s.Config, s.Store, o.logger(s.Config))
		if werr := alerts.AfterCycle(context.WithoutCancel(ctx), cycleAlert(res, aerr, disabled, false), s.Config.Alerts.StagingAfter); werr != nil {
			fmt.Fprintln(o.stderr, "groupwriteback: alert webhook:", werr)
		}
	}
	if errors.Is(err, engine.ErrDisabled) {
		en, eerr := s.Store.Enablement(ctx)
		if eerr != nil {
			return fmt.Errorf("writeback is disabled: nothing was written (and the state cannot say since when: %w)", eerr)
		}
		if en.Changed.IsZero() {
			return fmt.Errorf("writeback has not been enabled: nothing was written. Run `groupwriteback enable` (it checks the prerequisites and shows the first sync's plan)")
		}
		return fmt.Errorf("writeback was disabled on %s: nothing was written. Run `groupwriteback enable` to turn it on again", en.Changed.Format("2006-01-02 15:04 MST"))
	}
	if err != nil && (res == nil || errors.Is(err, directory.ErrUnavailable)) {
		return err // one message: a lost DC leaves every operation pending, not each its own failure
	}
	if o.dryRun && o.output == "text" {
		if raw, at, err := s.Store.PendingPlan(ctx); err == nil && len(raw) > 0 && string(raw) != "null" {
			var ops []reconcile.Op
			if uerr := json.Unmarshal(raw, &ops); uerr != nil {
				fmt.Fprintf(o.stderr, "groupwriteback: the staging service's pending plan cannot be read: %v\n", uerr)
			}
			fmt.Fprintf(o.stdout, "the staging service's pending plan, recorded %s: %d operations\n", at.Local().Format("2006-01-02 15:04:05"), len(ops))
			for _, op := range ops {
				printOp(o.stdout, op)
			}
			fmt.Fprintln(o.stdout, "and as of now:")
		}
	}
	if o.output == "json" {
		if err := writeJSON(o.stdout, jsonResult(res, o.dryRun)); err != nil {
			return err
		}
	} else {
		if o.dryRun {
			printPlan(o.stdout, res)
		} else {
			printSync(o.stdout, res)
		}
		if res.Trace != nil {
			printTrace(o.stdout, res.Trace)
		}
	}
	if err != nil {
		return err
	}
	if !o.dryRun && len(res.Failures) > 0 {
		return exitError{exitPartial}
	}
	if o.detailed && len(res.Plan.Ops)+len(res.Plan.HeldBack) > 0 {
		return exitError{exitPartial}
	}
	return nil
}
