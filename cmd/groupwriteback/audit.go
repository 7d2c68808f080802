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
	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/wiring"
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
	cmd.AddCommand(newAuditVerifyCmd(g))
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
		row := []string{e.Time.UTC().Format(time.RFC3339), strconv.FormatInt(e.RunID, 10), e.CloudID, e.Name, e.Action, e.DN,
			e.NewDN, e.Outcome, e.Error, changesCell(e.Changes), strings.Join(e.MembersAdded, "; "), strings.Join(e.MembersRemoved, "; ")}
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

func newAuditVerifyCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Check the audit trail's chain: find every line edited, added or removed by hand",
		Long: `verify reads the audit trail (audit.file) and checks its chain: each line carries an
HMAC of itself and of the line before it, keyed by a secret held in the state, so a line
edited, added or removed by hand breaks the chain there and is named. It also checks that
the trail reaches the last entry the state recorded (a trail cut short), and names lines
a crash cut short. A trail whose oldest entries retention pruned begins with a checkpoint
and still verifies. Exit status 0 when the whole trail holds, 1 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load()
			if err != nil {
				return err
			}
			if cfg.Audit.Off() {
				return fmt.Errorf("audit.file is off: no audit trail is kept")
			}
			st, err := wiring.OpenStore(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			key, err := st.Secret(cmd.Context(), state.AuditKey)
			if err != nil {
				return err
			}
			r, err := audit.Verify(cfg.Audit.File, key)
			if err != nil {
				return err
			}
			head, err := st.Meta(cmd.Context(), wiring.AuditHeadKey(cfg))
			if err != nil {
				return err
			}
			ok := printVerify(g.stdout, cfg.Audit.File, r, head)
			if !ok {
				return exitError{exitFatal}
			}
			return nil
		},
	}
}

// printVerify prints what verify found, and whether the trail holds.
func printVerify(w io.Writer, path string, r *audit.Report, head string) bool {
	ok := r.OK()
	fmt.Fprintf(w, "%s: %d lines, %d verified", path, r.Lines, r.Verified)
	if r.Last > 0 {
		fmt.Fprintf(w, " (entries %d to %d)", r.First, r.Last)
	}
	fmt.Fprintln(w)
	if r.Pruned > 0 {
		fmt.Fprintf(w, "  begins with a checkpoint: %d older entries were pruned by retention\n", r.Pruned)
	}
	if r.Unchained > 0 {
		fmt.Fprintf(w, "  %d lines before the chain began (written by an older groupwriteback) are not covered\n", r.Unchained)
	}
	for _, n := range r.Damaged {
		fmt.Fprintf(w, "  line %d: not an entry (a write a crash cut short, or an edit)\n", n)
	}
	for _, b := range r.Broken {
		fmt.Fprintf(w, "  line %d (entry %d): %s\n", b.Line, b.Seq, b.Why)
	}
	if seq, chain, found := strings.Cut(head, ":"); found {
		n, _ := strconv.ParseInt(seq, 10, 64)
		switch {
		case n > r.Last:
			ok = false
			fmt.Fprintf(w, "  the state recorded entry %d, but the trail ends at %d: entries were removed from its end\n", n, r.Last)
		case n == r.Last && chain != r.LastChain:
			ok = false
			fmt.Fprintf(w, "  the last entry is not the one the state recorded: the end of the trail was rewritten\n")
		}
	}
	if ok {
		fmt.Fprintln(w, "the trail holds")
	} else {
		fmt.Fprintln(w, "the trail does NOT hold")
	}
	return ok
}
