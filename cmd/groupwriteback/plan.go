package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/wiring"
)

// planOptions are plan's.
type planOptions struct {
	configured
	output
	full     bool
	group    string
	out      string
	detailed bool
}

func newPlanCmd(g *globals) *cobra.Command {
	o := &planOptions{configured: configured{globals: g}}
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what the next sync would create, change, rename or delete, touching nothing",
		Long: `plan reads the tenant and the directory exactly as the next sync would and
prints the operations it would make, group by group, without writing to AD or
saving anything. -o json gives the stable format described in docs/plan-format.md.`,
		Args: cobra.NoArgs,
		RunE: runs(o),
	}
	cmd.Flags().BoolVar(&o.full, "full", false, "plan a full reconcile of every group instead of the changes since the last sync")
	o.output.flag(cmd)
	cmd.Flags().StringVar(&o.out, "out", "", "save the plan to this file, for `groupwriteback apply FILE` (docs/plan-format.md)")
	groupFlag(cmd, &o.group, "plan")
	cmd.Flags().BoolVar(&o.detailed, "detailed-exitcode", false, "exit 0 when there is nothing to do, 2 when the plan changes something, 1 on error (as terraform plan does)")
	return cmd
}

// groupFlag is --group, the same on plan and sync.
func groupFlag(cmd *cobra.Command, group *string, verb string) {
	cmd.Flags().StringVar(group, "group", "", verb+" this one group only and print its trace: scope decision, each member's lookup, "+
		"every attribute old -> new (GROUP is the cloud id, display name, DN, sAMAccountName or Group_<id>)")
}

// checkGroupFull refuses --group with --full, on plan and sync.
func checkGroupFull(group string, full bool) error {
	if group != "" && full {
		return fmt.Errorf("--group and --full: a cycle on one group reads that group only; give one of them")
	}
	return nil
}

func (o *planOptions) complete(*cobra.Command, []string) error { return o.loadConfig() }

func (o *planOptions) validate() error {
	if err := o.output.validate(); err != nil {
		return err
	}
	return checkGroupFull(o.group, o.full)
}

func (o *planOptions) run(ctx context.Context) error {
	s, err := o.openSession(ctx, o.cfg, wiring.Options{ReadOnly: true}) // a plan takes no lock, and writes no audit trail
	if err != nil {
		return err
	}
	defer s.Close()
	cctx, cancel := s.WithDeadline(ctx)
	defer cancel()
	ro := engine.RunOptions{Full: o.full, Group: o.group, ShowOnly: true}
	var res *engine.Result
	if o.out != "" {
		var p *engine.Plan
		if p, err = s.Engine.Plan(cctx, ro); err == nil {
			res = p.Result
			if err = s.Engine.SavePlan(cctx, p, o.out); err != nil {
				return fmt.Errorf("--out: %w", err)
			}
		}
	} else {
		ro.DryRun = true
		res, err = s.Engine.Run(cctx, ro)
	}
	defer res.Close() // the file its operations were spooled to
	err = s.DeadlineError(err)
	if err != nil && (res == nil || errors.Is(err, directory.ErrUnavailable)) {
		return err // one message: a lost DC leaves every operation pending, not each its own failure
	}
	if o.json() {
		if err := writeJSON(o.stdout, jsonResult(res, true)); err != nil {
			return err
		}
	} else {
		o.printPendingPlan(ctx, s)
		if err := printPlan(o.stdout, res); err != nil {
			return err
		}
		if res.Trace != nil {
			printTrace(o.stdout, res.Trace)
		}
	}
	if err != nil {
		return err
	}
	if o.detailed && len(res.Plan.Ops)+len(res.Plan.HeldBack) > 0 {
		return exitError{exitPartial}
	}
	return nil
}

// printPendingPlan prints the plan a staging service recorded last, if
// any, before the plan made now.
func (o *planOptions) printPendingPlan(ctx context.Context, s *session) {
	raw, at, err := s.Store.PendingPlan(ctx)
	if err != nil || len(raw) == 0 || string(raw) == "null" {
		return
	}
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
