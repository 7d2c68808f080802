package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/config"
	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/wiring"
)

// syncOptions are sync's.
type syncOptions struct {
	configured
	output
	full         bool
	group        string
	allowDeletes int
}

func newSyncCmd(g *globals) *cobra.Command {
	o := &syncOptions{configured: configured{globals: g}}
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Run one writeback cycle",
		Long: `sync runs one cycle: by delta (only what changed since the last cycle) unless
--full or there is no usable delta link. Exit status: 0 when every group in scope
is in step, 2 when the cycle finished but some groups are not (each is named with
its reason), 1 when the cycle could not run.`,
		Args: cobra.NoArgs,
		RunE: runs(o),
	}
	cmd.Flags().BoolVar(&o.full, "full", false, "reconcile every group, repairing drift made by hand in AD")
	cmd.Flags().IntVar(&o.allowDeletes, "allow-deletes", 0, "let this many deletes through the delete threshold, for this run")
	o.output.flag(cmd)
	groupFlag(cmd, &o.group, "sync")
	return cmd
}

func (o *syncOptions) complete(*cobra.Command, []string) error { return o.loadConfig() }

func (o *syncOptions) validate() error {
	if err := o.output.validate(); err != nil {
		return err
	}
	if o.allowDeletes < 0 {
		return fmt.Errorf("--allow-deletes: must be 0 or more")
	}
	if err := checkGroupFull(o.group, o.full); err != nil {
		return err
	}
	return refuseStaging(o.cfg)
}

// run runs the cycle as the service runs it (engine.Cycle), then alerts
// and prints.
func (o *syncOptions) run(ctx context.Context) error {
	s, done, err := o.openLocked(ctx, o.cfg, "sync")
	if err != nil {
		var busy *lockBusyError
		if !errors.As(err, &busy) && o.group == "" {
			// The cycle cannot even start (the DC or Graph cannot be
			// reached, the state cannot be opened): cron users hear of
			// it as of any failed cycle.
			o.alertFailedStart(ctx, o.cfg, err)
		}
		return err
	}
	defer done()
	cctx, cancel := s.WithDeadline(ctx)
	defer cancel()
	rep := s.Engine.Cycle(cctx, engine.CycleOptions{RunOptions: engine.RunOptions{Full: o.full, AllowDeletes: o.allowDeletes, Group: o.group}})
	res, err := rep.Result, s.DeadlineError(rep.Err)
	disabled := rep.Outcome == state.OutcomeDisabled
	if o.group == "" && ctx.Err() == nil {
		aerr := err
		if disabled {
			aerr = nil
		}
		alerts := wiring.Alerts(s.Config, s.Store, o.logger(s.Config))
		if werr := alerts.AfterCycle(context.WithoutCancel(ctx), cycleAlert(res, aerr, disabled, false), s.Config.Alerts.StagingAfter); werr != nil {
			fmt.Fprintln(o.stderr, "groupwriteback: alert webhook:", werr)
		}
	}
	if disabled {
		return disabledError(ctx, s.Store)
	}
	if err != nil && (res == nil || errors.Is(err, directory.ErrUnavailable)) {
		return err // one message: a lost DC leaves every operation pending, not each its own failure
	}
	if o.json() {
		if err := writeJSON(o.stdout, jsonResult(res, false)); err != nil {
			return err
		}
	} else {
		printSync(o.stdout, res)
		if res.Trace != nil {
			printTrace(o.stdout, res.Trace)
		}
	}
	if err != nil {
		return err
	}
	if len(res.Failures) > 0 {
		return exitError{exitPartial}
	}
	return nil
}

// disabledError says why a cycle wrote nothing: writeback is off, and
// since when.
func disabledError(ctx context.Context, st interface {
	Enablement(context.Context) (state.Enablement, error)
}) error {
	en, err := st.Enablement(ctx)
	if err != nil {
		return fmt.Errorf("writeback is disabled: nothing was written (and the state cannot say since when: %w)", err)
	}
	if en.Changed.IsZero() {
		return fmt.Errorf("writeback has not been enabled: nothing was written. Run `groupwriteback enable` (it checks the prerequisites and shows the first sync's plan)")
	}
	return fmt.Errorf("writeback was disabled on %s: nothing was written. Run `groupwriteback enable` to turn it on again", en.Changed.Format("2006-01-02 15:04 MST"))
}

// refuseStaging stops a command that would write to AD when the
// configuration's mode is staging, before it connects to anything.
func refuseStaging(cfg *config.Config) error {
	if cfg.Mode == "staging" {
		return fmt.Errorf("%w", engine.ErrStaging)
	}
	return nil
}
