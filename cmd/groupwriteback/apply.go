package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/engine"
)

// applyOptions are apply's.
type applyOptions struct {
	configured
	output
	path string
	plan *engine.Plan
}

func newApplyCmd(g *globals) *cobra.Command {
	o := &applyOptions{configured: configured{globals: g}}
	cmd := &cobra.Command{
		Use:   "apply FILE",
		Short: "Apply a plan saved by `plan --out FILE`, and nothing else",
		Long: `apply writes exactly the operations of a saved plan (plan --out FILE), as
Terraform applies a saved plan. It refuses a plan made for another tenant, domain or
target OU, or older than writeback.plan_max_age; and it refuses, as stale, the
operations of any group whose AD object or cloud group changed since the plan was
made (the next sync plans them again). Exit status as sync's.`,
		Args: cobra.ExactArgs(1),
		RunE: runs(o),
	}
	o.output.flag(cmd)
	return cmd
}

func (o *applyOptions) complete(_ *cobra.Command, args []string) error {
	o.path = args[0]
	return o.loadConfig()
}

func (o *applyOptions) validate() error {
	if err := o.output.validate(); err != nil {
		return err
	}
	if err := refuseStaging(o.cfg); err != nil {
		return err
	}
	// A plan file is untrusted input: read and checked whole before
	// anything is opened (the engine checks it again against the state).
	p, err := engine.LoadPlan(o.path)
	if err != nil {
		return err
	}
	o.plan = p
	return nil
}

func (o *applyOptions) run(ctx context.Context) error {
	s, done, err := o.openLocked(ctx, o.cfg, "apply")
	if err != nil {
		return err
	}
	defer done()
	if err := s.Engine.CheckSaved(ctx, o.plan, s.Config.Writeback.PlanMaxAge); err != nil {
		return err
	}
	cctx, cancel := s.WithDeadline(ctx)
	defer cancel()
	res, err := s.Engine.Apply(cctx, o.plan)
	err = s.DeadlineError(err)
	if err != nil && (res == nil || errors.Is(err, directory.ErrUnavailable)) {
		return err
	}
	if o.json() {
		if werr := writeJSON(o.stdout, jsonResult(res, false)); werr != nil {
			return werr
		}
	} else {
		printSync(o.stdout, res)
	}
	if err != nil {
		return err
	}
	if len(res.Failures) > 0 {
		return exitError{exitPartial}
	}
	return nil
}
