package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/groupwriteback/groupwriteback/internal/config"
	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/doctor"
	"github.com/groupwriteback/groupwriteback/internal/engine"
)

func newDoctorCmd(g *globals) *cobra.Command {
	var output string
	var withoutExchange, printDelegation bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check every prerequisite and say exactly what is missing",
		Long: `doctor checks, in order: the configuration; Graph (token, permission to read groups,
users and the beta writebackConfiguration); the domain controller (reachable, TLS
verified, bind); the target and quarantine OUs and the account's right to create,
modify and delete groups there (with a probe group it removes at once); the Exchange
schema; msDS-ExternalDirectoryObjectId. Exit 0 only when no check fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if printDelegation {
				return g.printDelegation(cmd.Context())
			}
			rep := g.doctor(cmd.Context(), withoutExchange)
			if output == "json" {
				if err := writeJSON(g.stdout, doctorJSON{Version: 1, Kind: "doctor", OK: rep.OK(), Checks: rep.Checks}); err != nil {
					return err
				}
			} else {
				printReport(g.stdout, rep)
			}
			if !rep.OK() {
				return exitError{exitFatal}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().BoolVar(&withoutExchange, "without-exchange", false, "Microsoft 365 groups are to be written without mail attributes: a missing Exchange schema is a warning")
	cmd.Flags().BoolVar(&printDelegation, "print-delegation", false, "print the dsacls commands that give the bind account exactly the rights it needs on the configured OUs, and exit")
	return cmd
}

// printDelegation prints the dsacls commands for the configured OUs, for
// the bind account as AD names it (DOMAIN\name; read from AD when it can
// be reached).
func (g *globals) printDelegation(ctx context.Context) error {
	cfg, err := g.load()
	if err != nil {
		return err
	}
	account := cfg.Directory.Account()
	if c, err := cfg.Directory.Open(ctx, g.loggerOrDiscard(cfg)); err == nil {
		if a, err := c.BindAccount(ctx); err == nil {
			account = a.Name
		}
		c.Close()
	} else {
		fmt.Fprintf(g.stderr, "groupwriteback: AD cannot be reached (%v): the account is named by directory.bind_dn; write it as DOMAIN\\name\n", err)
	}
	w := g.stdout
	fmt.Fprintf(w, "# Run on a domain controller (or with RSAT) as a domain admin: the rights %s needs, and nothing more (docs/permissions.md).\n", account)
	for _, p := range cfg.Places() {
		fmt.Fprintf(w, "# %s: create and delete groups; read and write their properties.\n", p.Key)
		for _, l := range directory.Delegation(p.DN, account) {
			fmt.Fprintln(w, l)
		}
	}
	if cfg.Writeback.SourceOfAuthority == "in_place" {
		fmt.Fprintf(w, "# writeback.source_of_authority: in_place: on each original AD group of a group whose source of authority moved to the cloud:\n")
		fmt.Fprintf(w, "#   dsacls \"<group DN>\" /G \"%s:RPWP;member\" \"%s:RPWP;displayName\" \"%s:RPWP;description\"\n", account, account, account)
	}
	return nil
}

func (g *globals) doctor(ctx context.Context, withoutExchange bool) *doctor.Report {
	cfg, err := config.Load(g.configPath)
	var logger = g.loggerOrDiscard(cfg)
	return doctor.Run(ctx, cfg, err, doctor.Options{WithoutExchange: withoutExchange, Logger: logger})
}

func printReport(w io.Writer, rep *doctor.Report) {
	for _, c := range rep.Checks {
		mark := map[doctor.Status]string{doctor.Pass: "[ ok ]", doctor.Warn: "[warn]", doctor.Fail: "[FAIL]", doctor.Skip: "[skip]"}[c.Status]
		fmt.Fprintf(w, "%s %s: %s\n", mark, c.Name, c.Detail)
		if c.Fix != "" && c.Status != doctor.Pass {
			fmt.Fprintf(w, "       fix: %s\n", c.Fix)
		}
	}
	if rep.OK() {
		fmt.Fprintln(w, "all prerequisites are met")
	} else {
		fmt.Fprintln(w, "some prerequisites are missing (see [FAIL] above)")
	}
}

func newEnableCmd(g *globals) *cobra.Command {
	var withoutExchange bool
	cmd := &cobra.Command{
		Use:   "enable",
		Short: "Check the prerequisites, show the first sync's plan, and turn writeback on",
		Long: `enable runs doctor and refuses while a check fails; in particular it refuses to
write Microsoft 365 groups when the Exchange schema is absent, unless
--without-exchange allows writing them without mail attributes (as Connect Sync
2.0.88 and later can). It then shows the plan of the first sync and records that
writeback is enabled: sync and the service write only while it is.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			rep := g.doctor(ctx, withoutExchange)
			printReport(g.stdout, rep)
			if !rep.OK() {
				fmt.Fprintln(g.stdout, "writeback stays disabled until the failed checks pass")
				return exitError{exitFatal}
			}
			s, done, err := g.openLocked(ctx, "enable")
			if err != nil {
				return err
			}
			defer done()
			// The plan is made as the enablement will be, and nothing is
			// recorded before it is shown: an enable that fails leaves
			// writeback as it found it (enabled or not).
			pctx, cancel := s.WithDeadline(ctx)
			defer cancel()
			eo := engine.EnableOptions{WithoutExchange: withoutExchange}
			res, err := s.Engine.PlanEnable(pctx, eo)
			if err != nil {
				return s.DeadlineError(err)
			}
			fmt.Fprintln(g.stdout, "\nthe first sync will do this:")
			printPlan(g.stdout, res)
			if err := s.Engine.Enable(ctx, eo); err != nil {
				return err
			}
			if s.Config.Mode == "staging" {
				fmt.Fprintln(g.stdout, "\nwriteback is enabled, but mode is staging: this instance plans and records, and writes nothing to AD until mode: normal")
				return nil
			}
			fmt.Fprintln(g.stdout, "\nwriteback is enabled: run `groupwriteback sync`, or the service")
			return nil
		},
	}
	cmd.Flags().BoolVar(&withoutExchange, "without-exchange", false, "write Microsoft 365 groups without mail attributes when the Exchange schema is absent")
	return cmd
}

func newDisableCmd(g *globals) *cobra.Command {
	var yes bool
	var allowDeletes int
	cmd := &cobra.Command{
		Use:   "disable",
		Short: "Turn writeback off and handle the groups written back by writeback.on_disable",
		Long: `disable shows what becomes of the groups written back (writeback.on_disable:
delete, as Connect Sync v1 does; keep; or quarantine), asks for confirmation
(--yes for scripts), records that writeback is disabled so that no cycle writes
again, and then applies the plan, behind the delete threshold.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := g.refuseStaging(); err != nil {
				return err
			}
			s, done, err := g.openLocked(ctx, "disable")
			if err != nil {
				return err
			}
			defer done()
			ctx, cancel := s.WithDeadline(ctx)
			defer cancel()
			plan, err := s.Engine.PlanDisable(ctx, engine.RunOptions{AllowDeletes: allowDeletes})
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "disabling writeback (writeback.on_disable: %s) will do this:\n", s.Config.Writeback.OnDisable)
			printPlan(g.stdout, plan.Result)
			if !yes {
				ok, err := g.confirm("disable writeback and apply this plan?")
				if err != nil {
					return err
				}
				if !ok {
					fmt.Fprintln(g.stdout, "nothing done")
					return exitError{exitFatal}
				}
			}
			// Exactly the plan shown and confirmed: a group changed since
			// in AD is refused as stale, not planned anew.
			res, err := s.Engine.Disable(ctx, plan)
			if err != nil {
				return err
			}
			c := res.Counts
			fmt.Fprintf(g.stdout, "writeback is disabled: %d deleted, %d quarantined, %d failed; %d LDAP writes\n", c.Deleted, c.Quarantined, c.Failed, res.Writes)
			for _, f := range res.Failures {
				fmt.Fprintf(g.stdout, "  not done: %s\n", f.Message)
			}
			if len(res.Failures) > 0 || c.Failed > 0 {
				return exitError{exitPartial}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	cmd.Flags().IntVar(&allowDeletes, "allow-deletes", 0, "let this many deletes and quarantines through the delete threshold")
	return cmd
}

// refuseStaging stops a command that would write to AD when the
// configuration's mode is staging, before it connects to anything.
func (g *globals) refuseStaging() error {
	cfg, err := g.load()
	if err != nil {
		return err
	}
	if cfg.Mode == "staging" {
		return fmt.Errorf("%w", engine.ErrStaging)
	}
	return nil
}

// confirm asks a yes/no question on a terminal; without one it refuses,
// pointing at --yes.
func (g *globals) confirm(question string) (bool, error) {
	f, ok := g.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false, fmt.Errorf("not asking for confirmation without a terminal: run with --yes to confirm from a script")
	}
	fmt.Fprintf(g.stdout, "%s [y/N] ", question)
	line, _ := bufio.NewReader(g.stdin).ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes", nil
}

// doctorJSON is the documented JSON of `doctor -o json` (docs/json-formats.md).
type doctorJSON struct {
	Version int            `json:"version"`
	Kind    string         `json:"kind"`
	OK      bool           `json:"ok"`
	Checks  []doctor.Check `json:"checks"`
}
