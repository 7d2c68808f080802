package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/audit"
	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/wiring"
)

// auditVerifyOptions are audit verify's.
type auditVerifyOptions struct{ configured }

func newAuditVerifyCmd(g *globals) *cobra.Command {
	o := &auditVerifyOptions{configured{globals: g}}
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
		RunE: runs(o),
	}
}

func (o *auditVerifyOptions) complete(*cobra.Command, []string) error { return o.loadConfig() }

func (o *auditVerifyOptions) validate() error { return auditKept(o.cfg) }

func (o *auditVerifyOptions) run(ctx context.Context) error {
	st, err := wiring.OpenStore(ctx, o.cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	key, err := st.Secret(ctx, state.AuditKey)
	if err != nil {
		return err
	}
	r, err := audit.Verify(o.cfg.Audit.File, key)
	if err != nil {
		return err
	}
	head, err := st.Meta(ctx, wiring.AuditHeadKey(o.cfg))
	if err != nil {
		return err
	}
	if !printVerify(o.stdout, o.cfg.Audit.File, r, head) {
		return exitError{exitFatal}
	}
	return nil
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
