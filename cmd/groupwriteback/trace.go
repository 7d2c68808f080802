package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// printTrace prints the trace of a cycle on one group: the scope decision,
// each member's way to AD, and every operation with its values old and
// new.
func printTrace(w io.Writer, t *engine.Trace) {
	fmt.Fprintf(w, "\ntrace of group %s", t.CloudID)
	if t.Name != "" {
		fmt.Fprintf(w, " %q", t.Name)
	}
	fmt.Fprintln(w)
	if t.Kind != "" {
		fmt.Fprintf(w, "  kind: %s\n", t.Kind)
	}
	fmt.Fprintf(w, "  scope: %s\n", t.Decision)
	if t.DN != "" {
		fmt.Fprintf(w, "  written as: %s\n", t.DN)
	}
	if t.ADDN != "" {
		fmt.Fprintf(w, "  found in AD: %s\n", t.ADDN)
	} else if t.InScope {
		fmt.Fprintln(w, "  found in AD: no group carries its anchor yet")
	}
	if len(t.Members) > 0 {
		fmt.Fprintf(w, "  members (%d):\n", len(t.Members))
	}
	for _, m := range t.Members {
		fmt.Fprintf(w, "    %s %s", or(m.Type.String(), "object"), m.CloudID)
		if m.Name != "" {
			fmt.Fprintf(w, " %q", m.Name)
		}
		fmt.Fprintln(w)
		for _, k := range m.Tried {
			fmt.Fprintf(w, "      by %s %s: %s\n", k.Key, k.Value, or(k.Found, "no object"))
		}
		if m.NotWritten != "" {
			fmt.Fprintf(w, "      not written: %s\n", m.NotWritten)
		} else {
			fmt.Fprintf(w, "      written as %s\n", or(m.DN, "the member group written in this cycle"))
		}
	}
	for _, p := range t.Problems {
		fmt.Fprintf(w, "  left alone: %s\n", p.Message)
	}
	if len(t.Operations) == 0 && len(t.HeldBack) == 0 {
		fmt.Fprintln(w, "  changes: none")
		return
	}
	fmt.Fprintln(w, "  changes:")
	for _, op := range t.Operations {
		printTraceOp(w, op)
	}
	for _, op := range t.HeldBack {
		fmt.Fprint(w, "    held back by the delete threshold: ")
		printTraceOp(w, op)
	}
}

// printTraceOp prints an operation with every value: the trace says all
// that is written, where the plan summarises.
func printTraceOp(w io.Writer, op reconcile.Op) {
	switch op.Action {
	case reconcile.Rename:
		fmt.Fprintf(w, "    rename %s to %s\n", op.DN, op.NewRDN)
	case reconcile.Move:
		fmt.Fprintf(w, "    move %s to %s\n", op.DN, op.NewParent)
	case reconcile.Delete:
		fmt.Fprintf(w, "    delete %s (%s)\n", op.DN, op.Reason)
	default:
		fmt.Fprintf(w, "    %s %s\n", op.Action, op.DN)
	}
	for _, c := range op.Changes {
		fmt.Fprintf(w, "      %s\n", attrChange(c))
	}
	for _, m := range op.Members {
		sign := "+"
		if op.Action == reconcile.RemoveMembers {
			sign = "-"
		}
		fmt.Fprintf(w, "      member %s %s\n", sign, m)
	}
}

func or(s, alt string) string {
	if strings.TrimSpace(s) == "" {
		return alt
	}
	return s
}
