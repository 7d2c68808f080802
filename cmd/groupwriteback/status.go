package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/store"
)

func newStatusCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show whether writeback is on, the last runs, and every group not in step",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			ctx := cmd.Context()
			_, st, err := g.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			en, err := st.Enablement(ctx)
			if err != nil {
				return err
			}
			runs, err := st.Runs(ctx, 10)
			if err != nil {
				return err
			}
			bad, err := st.Statuses(ctx, store.StateFailed, store.StateNotWritable, store.StatePending)
			if err != nil {
				return err
			}
			def, known, err := st.TenantWritebackDefault(ctx)
			if err != nil {
				return err
			}
			if output == "json" {
				if bad == nil {
					bad = []store.GroupStatus{}
				}
				out := map[string]any{"enablement": en, "runs": runs, "notInStep": bad, "tenantWritebackDefault": nil}
				if known {
					out["tenantWritebackDefault"] = def
				}
				return writeJSON(g.stdout, out)
			}
			printStatus(g.stdout, statusView{Enablement: en, Runs: runs, NotInStep: bad, TenantDefault: def, TenantDefaultKnown: known}, time.Local)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// statusView is what status prints.
type statusView struct {
	Enablement         store.Enablement
	Runs               []store.Run
	NotInStep          []store.GroupStatus
	TenantDefault      bool
	TenantDefaultKnown bool
}

// printStatus prints status as text, times in loc.
func printStatus(w io.Writer, v statusView, loc *time.Location) {
	en := v.Enablement
	switch {
	case en.Enabled:
		fmt.Fprintf(w, "writeback is enabled (since %s)\n", en.Changed.In(loc).Format("2006-01-02 15:04"))
	case en.Changed.IsZero():
		fmt.Fprintln(w, "writeback has never been enabled (groupwriteback enable)")
	default:
		fmt.Fprintf(w, "writeback is disabled (since %s)\n", en.Changed.In(loc).Format("2006-01-02 15:04"))
	}
	if v.TenantDefaultKnown {
		fmt.Fprintf(w, "tenant NewUnifiedGroupWritebackDefault: %v (Entra stamps it on new Microsoft 365 groups' isEnabled; each group's isEnabled decides)\n", v.TenantDefault)
	}
	if len(v.Runs) == 0 && len(v.NotInStep) == 0 {
		// Nothing is known yet: "every group is in step" would be a guess.
		fmt.Fprintln(w, "no cycle has run yet (groupwriteback plan shows what the first would do)")
		return
	}
	fmt.Fprintln(w, "last runs:")
	for _, r := range v.Runs {
		fmt.Fprintf(w, "  #%d %s %s %s %s\n", r.ID, r.Started.In(loc).Format("2006-01-02 15:04:05"), r.Mode, r.Outcome, r.Summary)
	}
	if len(v.NotInStep) == 0 {
		fmt.Fprintln(w, "every group in scope is in step")
		return
	}
	fmt.Fprintln(w, "not in step:")
	for _, b := range v.NotInStep {
		fmt.Fprintf(w, "  %s %q: %s: %s\n", b.CloudID, b.Name, b.State, b.Message)
		if b.DN != "" {
			fmt.Fprintf(w, "    %s\n", b.DN)
		}
	}
}
