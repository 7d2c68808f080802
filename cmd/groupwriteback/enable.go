package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/engine"
)

// enableOptions are enable's.
type enableOptions struct {
	configured
	// cfgErr is why the configuration does not load: doctor's first
	// failed check, and enable stops there.
	cfgErr          error
	withoutExchange bool
}

func newEnableCmd(g *globals) *cobra.Command {
	o := &enableOptions{configured: configured{globals: g}}
	cmd := &cobra.Command{
		Use:   "enable",
		Short: "Check the prerequisites, show the first sync's plan, and turn writeback on",
		Long: `enable runs doctor and refuses while a check fails; in particular it refuses to
write Microsoft 365 groups when the Exchange schema is absent, unless
--without-exchange allows writing them without mail attributes (as Connect Sync
2.0.88 and later can). It then shows the plan of the first sync and records that
writeback is enabled: sync and the service write only while it is.`,
		Args: cobra.NoArgs,
		RunE: runs(o),
	}
	cmd.Flags().BoolVar(&o.withoutExchange, "without-exchange", false, "write Microsoft 365 groups without mail attributes when the Exchange schema is absent")
	return cmd
}

func (o *enableOptions) complete(*cobra.Command, []string) error {
	o.cfg, o.cfgErr = o.load()
	return nil
}

func (o *enableOptions) validate() error { return nil }

// run is doctor, then the engine's enable: the plan made as the
// enablement will be, and nothing recorded before it is shown, so that an
// enable that fails leaves writeback as it found it (enabled or not).
func (o *enableOptions) run(ctx context.Context) error {
	rep := o.doctor(ctx, o.cfg, o.cfgErr, o.withoutExchange)
	printReport(o.stdout, rep)
	if !rep.OK() {
		fmt.Fprintln(o.stdout, "writeback stays disabled until the failed checks pass")
		return exitError{exitFatal}
	}
	s, done, err := o.openLocked(ctx, o.cfg, "enable")
	if err != nil {
		return err
	}
	defer done()
	pctx, cancel := s.WithDeadline(ctx)
	defer cancel()
	eo := engine.EnableOptions{WithoutExchange: o.withoutExchange}
	res, err := s.Engine.PlanEnable(pctx, eo)
	if err != nil {
		return s.DeadlineError(err)
	}
	defer res.Close()
	fmt.Fprintln(o.stdout, "\nthe first sync will do this:")
	if err := printPlan(o.stdout, res); err != nil {
		return err
	}
	if err := s.Engine.Enable(ctx, eo); err != nil {
		return err
	}
	if s.Config.Mode == "staging" {
		fmt.Fprintln(o.stdout, "\nwriteback is enabled, but mode is staging: this instance plans and records, and writes nothing to AD until mode: normal")
		return nil
	}
	fmt.Fprintln(o.stdout, "\nwriteback is enabled: run `groupwriteback sync`, or the service")
	return nil
}
