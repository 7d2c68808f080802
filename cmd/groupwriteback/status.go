package main

import (
	"fmt"

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
			switch {
			case en.Enabled:
				fmt.Fprintf(g.stdout, "writeback is enabled (since %s)\n", en.Changed.Format("2006-01-02 15:04"))
			case en.Changed.IsZero():
				fmt.Fprintln(g.stdout, "writeback has never been enabled (groupwriteback enable)")
			default:
				fmt.Fprintf(g.stdout, "writeback is disabled (since %s)\n", en.Changed.Format("2006-01-02 15:04"))
			}
			if known {
				fmt.Fprintf(g.stdout, "tenant NewUnifiedGroupWritebackDefault: %v (Entra stamps it on new Microsoft 365 groups' isEnabled; each group's isEnabled decides)\n", def)
			}
			fmt.Fprintln(g.stdout, "last runs:")
			for _, r := range runs {
				fmt.Fprintf(g.stdout, "  #%d %s %s %s %s\n", r.ID, r.Started.Local().Format("2006-01-02 15:04:05"), r.Mode, r.Outcome, r.Summary)
			}
			if len(bad) == 0 {
				fmt.Fprintln(g.stdout, "every group in scope is in step")
				return nil
			}
			fmt.Fprintln(g.stdout, "not in step:")
			for _, b := range bad {
				fmt.Fprintf(g.stdout, "  %s %q: %s: %s\n", b.CloudID, b.Name, b.State, b.Message)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}
