package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/audit"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// auditJSON is the documented JSON of `audit -o json` (docs/json-formats.md).
type auditJSON struct {
	Version int           `json:"version"`
	Kind    string        `json:"kind"`
	Since   time.Time     `json:"since,omitzero"`
	Entries []audit.Entry `json:"entries"`
}

func newAuditCmd(g *globals) *cobra.Command {
	var (
		since  time.Duration
		group  string
		output string
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit trail: every write to AD, with its values old and new",
		Long: `audit reads the audit trail (audit.file): each operation on AD, with its run,
group, DN, attributes old and new, members added and removed, and outcome,
oldest first. -o csv is for spreadsheets, -o json for scripts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" && output != "csv" {
				return fmt.Errorf("--output: %q is not text, json or csv", output)
			}
			if since < 0 {
				return fmt.Errorf("--since: must be 0 (everything) or more")
			}
			cfg, err := g.load()
			if err != nil {
				return err
			}
			if cfg.Audit.Off() {
				return fmt.Errorf("audit.file is off: no audit trail is kept")
			}
			f := audit.Filter{Group: group}
			if since > 0 {
				f.Since = time.Now().Add(-since)
			}
			entries, err := audit.Read(cfg.Audit.File, f)
			var damaged *audit.DamagedError
			switch {
			case errors.As(err, &damaged):
				defer fmt.Fprintln(g.stderr, "warning:", err)
			case err != nil:
				return err
			}
			switch output {
			case "json":
				return writeJSON(g.stdout, auditJSON{Version: 1, Kind: "audit", Since: f.Since.UTC(), Entries: entries})
			case "csv":
				return printAuditCSV(g.stdout, entries)
			}
			printAudit(g.stdout, entries, time.Local)
			return nil
		},
	}
	cmd.Flags().DurationVar(&since, "since", 24*time.Hour, "entries of this long ago and later (0: all)")
	cmd.Flags().StringVar(&group, "group", "", "only this group's entries (cloud id, name or DN)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, json or csv")
	return cmd
}

// printAudit prints entries for people, times in loc.
func printAudit(w io.Writer, entries []audit.Entry, loc *time.Location) {
	if len(entries) == 0 {
		fmt.Fprintln(w, "no entries")
		return
	}
	for _, e := range entries {
		fmt.Fprintf(w, "%s run #%d %s %s %q %s\n", e.Time.In(loc).Format("2006-01-02 15:04:05 MST"), e.RunID, e.Outcome, e.Action, e.Name, e.DN)
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
var auditColumns = []string{"time", "runId", "cloudId", "name", "action", "dn", "newDn", "outcome", "error", "changes", "membersAdded", "membersRemoved"}

// printAuditCSV writes entries as CSV with a header row; several values
// in one cell are separated by "; ", an attribute as name: old -> new.
func printAuditCSV(w io.Writer, entries []audit.Entry) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(auditColumns); err != nil {
		return err
	}
	for _, e := range entries {
		if err := cw.Write([]string{e.Time.UTC().Format(time.RFC3339), strconv.FormatInt(e.RunID, 10), e.CloudID, e.Name, e.Action, e.DN,
			e.NewDN, e.Outcome, e.Error, changesCell(e.Changes), strings.Join(e.MembersAdded, "; "), strings.Join(e.MembersRemoved, "; ")}); err != nil {
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
