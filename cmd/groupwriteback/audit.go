package main

import (
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/audit"
	"github.com/groupwriteback/groupwriteback/internal/config"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// auditVersion is the version of audit's JSON document: within a
// version, fields are only added (docs/json-formats.md).
const auditVersion = 1

// auditJSON is the documented JSON of `audit -o json` (docs/json-formats.md).
type auditJSON struct {
	Version int           `json:"version"`
	Kind    string        `json:"kind"`
	Since   time.Time     `json:"since,omitzero"`
	Entries []audit.Entry `json:"entries"`
}

func newAuditJSON(since time.Time, entries []audit.Entry) auditJSON {
	if entries == nil {
		entries = []audit.Entry{}
	}
	return auditJSON{Version: auditVersion, Kind: "audit", Since: since.UTC(), Entries: entries}
}

// auditOptions are audit's.
type auditOptions struct {
	configured
	output
	since time.Duration
	group string
	runID int64
}

func newAuditCmd(g *globals) *cobra.Command {
	o := &auditOptions{configured: configured{globals: g}}
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit trail: every write to AD, with its values old and new",
		Long: `audit reads the audit trail (audit.file): each operation on AD, with its run,
group, DN, attributes old and new, members added and removed, and outcome,
oldest first. -o csv is for spreadsheets, -o json for scripts.`,
		Args: cobra.NoArgs,
		RunE: runs(o),
	}
	cmd.AddCommand(newAuditVerifyCmd(g))
	cmd.Flags().DurationVar(&o.since, "since", 24*time.Hour, "entries of this long ago and later (0: all)")
	cmd.Flags().StringVar(&o.group, "group", "", "only this group's entries (cloud id, name or DN)")
	cmd.Flags().Int64Var(&o.runID, "run", 0, "only this run's entries (the run id status, the log and the page show); with --since 24h unless given")
	o.output.flag(cmd, "text", "json", "csv")
	return cmd
}

func (o *auditOptions) complete(*cobra.Command, []string) error { return o.loadConfig() }

func (o *auditOptions) validate() error {
	if err := o.output.validate(); err != nil {
		return err
	}
	if o.since < 0 {
		return fmt.Errorf("--since: must be 0 (everything) or more")
	}
	if o.runID < 0 {
		return fmt.Errorf("--run: a run id is a positive number")
	}
	return auditKept(o.cfg)
}

// auditKept refuses a configuration that keeps no audit trail.
func auditKept(cfg *config.Config) error {
	if cfg.Audit.Off() {
		return fmt.Errorf("audit.file is off: no audit trail is kept")
	}
	return nil
}

func (o *auditOptions) run(context.Context) error {
	f := audit.Filter{Group: o.group, Run: o.runID}
	if o.since > 0 {
		f.Since = time.Now().Add(-o.since)
	}
	entries, err := audit.Read(o.cfg.Audit.File, f)
	var damaged *audit.DamagedError
	switch {
	case errors.As(err, &damaged):
		defer fmt.Fprintln(o.stderr, "warning:", err)
	case err != nil:
		return err
	}
	switch o.format {
	case "json":
		return writeJSON(o.stdout, newAuditJSON(f.Since, entries))
	case "csv":
		return printAuditCSV(o.stdout, entries)
	}
	printAudit(o.stdout, entries, time.Local)
	return nil
}

// printAudit prints entries for people, times in loc.
func printAudit(w io.Writer, entries []audit.Entry, loc *time.Location) {
	if len(entries) == 0 {
		fmt.Fprintln(w, "no entries")
		return
	}
	for _, e := range entries {
		adopt := ""
		if e.Adopted {
			adopt = " (adopt: a group this state never wrote, taken over)"
		}
		fmt.Fprintf(w, "%s run #%d %s %s %q %s%s\n", e.Time.In(loc).Format("2006-01-02 15:04:05 MST"), e.RunID, e.Outcome, e.Action, e.Name, e.DN, adopt)
		if e.Actor != "" || e.AllowDeletes != 0 {
			fmt.Fprintf(w, "    by %s%s\n", cmp.Or(e.Actor, "?"), allowDeletesNote(e.AllowDeletes))
		}
		if r := e.Release; r != nil {
			fmt.Fprintf(w, "    released by %s on %s: %s\n", r.By, r.At.In(loc).Format("2006-01-02 15:04 MST"), r.Reason)
		}
		if a := e.Approval; a != nil {
			fmt.Fprintf(w, "    plan %s (made %s) approved by %s: %s\n", a.Plan, a.Made.In(loc).Format("2006-01-02 15:04 MST"), a.By, a.Reason)
		}
		if e.NewDN != "" {
			fmt.Fprintf(w, "    to %s\n", e.NewDN)
		}
		for _, c := range e.Changes {
			fmt.Fprintf(w, "    %s\n", attrChange(c))
		}
		for _, m := range e.MembersAdded {
			fmt.Fprintf(w, "    member + %s\n", m)
		}
		for _, m := range e.MembersRemoved {
			fmt.Fprintf(w, "    member - %s\n", m)
		}
		if e.Error != "" {
			fmt.Fprintf(w, "    error: %s\n", e.Error)
		}
	}
}

// auditColumns are the CSV's columns.
var auditColumns = []string{"time", "runId", "cloudId", "name", "action", "dn", "newDn", "outcome", "error", "changes", "membersAdded", "membersRemoved",
	"actor", "allowDeletes", "releasedBy", "releaseReason", "approvedBy", "approvalReason", "plan"}

// printAuditCSV writes entries as CSV with a header row; several values
// in one cell are separated by "; ", an attribute as name: old -> new.
func printAuditCSV(w io.Writer, entries []audit.Entry) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(auditColumns); err != nil {
		return err
	}
	for _, e := range entries {
		row := []string{e.Time.UTC().Format(time.RFC3339), strconv.FormatInt(e.RunID, 10), e.CloudID, e.Name, e.Action, e.DN,
			e.NewDN, e.Outcome, e.Error, changesCell(e.Changes), strings.Join(e.MembersAdded, "; "), strings.Join(e.MembersRemoved, "; "),
			e.Actor, strconv.Itoa(e.AllowDeletes), "", "", "", "", ""}
		if r := e.Release; r != nil {
			row[len(row)-5], row[len(row)-4] = r.By, r.Reason
		}
		if a := e.Approval; a != nil {
			row[len(row)-3], row[len(row)-2], row[len(row)-1] = a.By, a.Reason, a.Plan
		}
		for i := range row {
			row[i] = csvCell(row[i])
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func changesCell(cs []reconcile.AttrChange) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = attrChange(c)
	}
	return strings.Join(parts, "; ")
}

// csvCell neutralises a cell a spreadsheet would read as a formula, as
// OWASP's CSV injection advice says: one beginning with =, +, -, @, a tab
// or a carriage return gets a leading single quote. Group names and
// descriptions come from the tenant, where anyone who may name a group
// can write them.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func allowDeletesNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" with --allow-deletes %d", n)
}
