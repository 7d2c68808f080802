package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/engine"
)

func newApplyCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "apply FILE",
		Short: "Apply a plan saved by `plan --out FILE`, and nothing else",
		Long: `apply writes exactly the operations of a saved plan (plan --out FILE), as
Terraform applies a saved plan. It refuses a plan made for another tenant, domain or
target OU, or older than writeback.plan_max_age; and it refuses, as stale, the
operations of any group whose AD object or cloud group changed since the plan was
made (the next sync plans them again). Exit status as sync's.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := checkOutput(output); err != nil {
				return err
			}
			if err := g.refuseStaging(); err != nil {
				return err
			}
			p, err := engine.LoadPlan(args[0])
			if err != nil {
				return err
			}
			s, done, err := g.openLocked(ctx, "apply")
			if err != nil {
				return err
			}
			defer done()
			if err := s.Engine.CheckSaved(ctx, p, s.Config.Writeback.PlanMaxAge); err != nil {
				return err
			}
			cctx, cancel := s.WithDeadline(ctx)
			defer cancel()
			res, err := s.Engine.Apply(cctx, p)
			err = s.DeadlineError(err)
			if err != nil && (res == nil || errors.Is(err, directory.ErrUnavailable)) {
				return err
			}
			if output == "json" {
				if werr := writeJSON(g.stdout, jsonResult(res, false)); werr != nil {
					return werr
				}
			} else {
				printSync(g.stdout, res)
			}
			if err != nil {
				return err
			}
			if len(res.Failures) > 0 {
				return exitError{exitPartial}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}
