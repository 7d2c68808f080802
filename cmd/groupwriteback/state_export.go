package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/wiring"
)

// stateExportOptions are state export's.
type stateExportOptions struct {
	configured
	path string
}

func newStateExportCmd(g *globals) *cobra.Command {
	o := &stateExportOptions{configured: configured{globals: g}}
	return &cobra.Command{
		Use:   "export FILE",
		Short: "Write the whole state (enablement, delta links and snapshot, statuses, run history, operation log) to FILE (- for stdout)",
		Long: `export writes the state file's content as one JSON document (docs/operating.md,
"Moving to another server"). It holds the tenant's group and user data: keep it
as private as the state file. It reads in one transaction, so a running service
need not stop.`,
		Args: cobra.ExactArgs(1),
		RunE: runs(o),
	}
}

func (o *stateExportOptions) complete(_ *cobra.Command, args []string) error {
	o.path = args[0]
	return o.loadConfig()
}

func (o *stateExportOptions) validate() error { return nil }

func (o *stateExportOptions) run(ctx context.Context) error {
	st, err := wiring.OpenStore(ctx, o.cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	e, err := st.Export(ctx)
	if err != nil {
		return err
	}
	if o.path == "-" {
		return writeJSON(o.stdout, e)
	}
	if err := writePrivate(o.path, e); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	fmt.Fprintf(o.stdout, "exported %s to %s\n", summarize(e), o.path)
	return nil
}
