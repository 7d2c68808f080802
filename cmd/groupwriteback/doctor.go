package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/config"
	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/doctor"
)

// doctorOptions are doctor's.
type doctorOptions struct {
	configured
	output
	// cfgErr is why the configuration does not load: doctor reports it
	// as its first check, and goes on with what it can check.
	cfgErr                           error
	withoutExchange, printDelegation bool
}

func newDoctorCmd(g *globals) *cobra.Command {
	o := &doctorOptions{configured: configured{globals: g}}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check every prerequisite and say exactly what is missing",
		Long: `doctor checks, in order: the configuration; Graph (token, permission to read groups,
users and the beta writebackConfiguration); the domain controller (reachable, TLS
verified, bind); the target and quarantine OUs and the account's right to create,
modify and delete groups there (with a probe group it removes at once); the Exchange
schema; msDS-ExternalDirectoryObjectId. Exit 0 only when no check fails.`,
		Args: cobra.NoArgs,
		RunE: runs(o),
	}
	o.output.flag(cmd)
	cmd.Flags().BoolVar(&o.withoutExchange, "without-exchange", false, "Microsoft 365 groups are to be written without mail attributes: a missing Exchange schema is a warning")
	cmd.Flags().BoolVar(&o.printDelegation, "print-delegation", false, "print the dsacls commands that give the bind account exactly the rights it needs on the configured OUs, and exit")
	return cmd
}

// complete loads the configuration; a configuration that does not load
// is doctor's first finding, not its end (but --print-delegation needs it).
func (o *doctorOptions) complete(*cobra.Command, []string) error {
	o.cfg, o.cfgErr = o.load()
	if o.printDelegation && o.cfgErr != nil {
		return o.cfgErr
	}
	return nil
}

func (o *doctorOptions) validate() error { return o.output.validate() }

func (o *doctorOptions) run(ctx context.Context) error {
	if o.printDelegation {
		return o.globals.printDelegation(ctx, o.cfg)
	}
	rep := o.doctor(ctx, o.cfg, o.cfgErr, o.withoutExchange)
	if o.json() {
		if err := writeJSON(o.stdout, newDoctorJSON(rep)); err != nil {
			return err
		}
	} else {
		printReport(o.stdout, rep)
	}
	if !rep.OK() {
		return exitError{exitFatal}
	}
	return nil
}

// doctor runs the checks on the configuration loaded (or the error it
// met).
func (g *globals) doctor(ctx context.Context, cfg *config.Config, cfgErr error, withoutExchange bool) *doctor.Report {
	return doctor.Run(ctx, cfg, cfgErr, doctor.Options{WithoutExchange: withoutExchange, Logger: g.loggerOrDiscard(cfg)})
}

// printDelegation prints the dsacls commands for the configured OUs, for
// the bind account as AD names it (DOMAIN\name; read from AD when it can
// be reached).
func (g *globals) printDelegation(ctx context.Context, cfg *config.Config) error {
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

// doctorVersion is the version of doctor's JSON document.
const doctorVersion = 1

func newDoctorJSON(rep *doctor.Report) doctorJSON {
	return doctorJSON{Version: doctorVersion, Kind: "doctor", OK: rep.OK(), Checks: rep.Checks}
}

// doctorJSON is the documented JSON of `doctor -o json` (docs/json-formats.md).
type doctorJSON struct {
	Version int            `json:"version"`
	Kind    string         `json:"kind"`
	OK      bool           `json:"ok"`
	Checks  []doctor.Check `json:"checks"`
}
