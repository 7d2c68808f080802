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

// printDelegation prints, for the configured OUs, the commands that
// delegate the bind account exactly the rights it needs: dsacls,
// PowerShell and samba-tool. The account is read from AD when it can be;
// otherwise (AD not reached, or the account not made yet) it is named
// with placeholders to replace, and said so.
func (g *globals) printDelegation(ctx context.Context, cfg *config.Config) error {
	account, known := directory.PlaceholderAccount(cfg.Directory.Account(), cfg.Directory.BaseDN), false
	if c, err := cfg.Directory.Open(ctx, g.loggerOrDiscard(cfg)); err == nil {
		if a, err := c.BindAccount(ctx); err == nil {
			account, known = a, true
		} else {
			fmt.Fprintf(g.stderr, "groupwriteback: the bind account is not found in AD (%v)\n", err)
		}
		c.Close()
	} else {
		fmt.Fprintf(g.stderr, "groupwriteback: AD cannot be reached (%v)\n", err)
	}
	w := g.stdout
	if !known {
		fmt.Fprintf(w, "# The account was not read from AD: it is named %s (sAMAccountName %s) below, as a guess from directory.bind_dn; replace it with the account's DOMAIN\\name and SID.\n",
			account.Name, account.SamAccountName)
	}
	places := cfg.Places()
	fmt.Fprintf(w, "# The rights %s needs, and nothing more (docs/permissions.md): in any one of the three forms below.\n", account.Name)
	fmt.Fprintln(w, "# dsacls: on a domain controller, or with RSAT, as a domain admin")
	for _, p := range places {
		fmt.Fprintf(w, "# %s: create and delete groups; read and write their properties.\n", p.Key)
		for _, l := range directory.DelegationFor(p.DN, account).Dsacls {
			fmt.Fprintln(w, l)
		}
	}
	fmt.Fprintln(w, "# PowerShell: with the ActiveDirectory module (RSAT), as a domain admin")
	for _, p := range places {
		fmt.Fprintf(w, "# %s\n", p.Key)
		for _, l := range directory.DelegationFor(p.DN, account).PowerShell {
			fmt.Fprintln(w, l)
		}
	}
	fmt.Fprintln(w, "# samba-tool: on a Samba AD DC, as root")
	for _, p := range places {
		fmt.Fprintf(w, "# %s\n", p.Key)
		for _, l := range directory.DelegationFor(p.DN, account).SambaTool {
			fmt.Fprintln(w, l)
		}
	}
	if *cfg.Writeback.RestoreDeleted {
		restore := directory.RestoreDelegation(cfg.Directory.BaseDN, account)
		fmt.Fprintf(w, "# writeback.restore_deleted: to restore a group deleted in AD with its objectSid: list and read CN=Deleted Objects, and Reanimate Tombstones on the domain.\n")
		fmt.Fprintln(w, "# dsacls")
		for _, l := range restore.Dsacls {
			fmt.Fprintln(w, l)
		}
		fmt.Fprintln(w, "# PowerShell")
		for _, l := range restore.PowerShell {
			fmt.Fprintln(w, l)
		}
		fmt.Fprintln(w, "# samba-tool (samba-tool dsacl cannot see CN=Deleted Objects: Samba's Python bindings set that one)")
		for _, l := range restore.SambaTool {
			fmt.Fprintln(w, l)
		}
	}
	if cfg.Writeback.SourceOfAuthority == "in_place" {
		fmt.Fprintf(w, "# writeback.source_of_authority: in_place: on each original AD group of a group whose source of authority moved to the cloud:\n")
		fmt.Fprintf(w, "#   dsacls \"<group DN>\" /G \"%s:RPWP;member\" \"%s:RPWP;displayName\" \"%s:RPWP;description\"\n", account.Name, account.Name, account.Name)
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
