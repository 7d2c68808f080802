package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/wiring"
)

// stateImportOptions are state import's.
type stateImportOptions struct {
	configured
	path   string
	export state.Export
}

func newStateImportCmd(g *globals) *cobra.Command {
	o := &stateImportOptions{configured: configured{globals: g}}
	return &cobra.Command{
		Use:   "import FILE",
		Short: "Read a state export into this configuration's state file, which must be new",
		Long: `import reads what export wrote into the state file of this configuration
(state.path), which must hold nothing yet: writeback stays enabled (or
disabled) as it was, the next cycle goes on from the exported delta links, and
status shows the history. Stop the old server's service first: two servers
writing one OU is what the binding and the locks cannot catch across machines.`,
		Args: cobra.ExactArgs(1),
		RunE: runs(o),
	}
}

// complete reads the export: untrusted input, which the store checks row
// by row (state.Export.Validate) before it writes anything.
func (o *stateImportOptions) complete(_ *cobra.Command, args []string) error {
	o.path = args[0]
	b, err := readFileOrStdin(o.path, o.stdin)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if err := json.Unmarshal(b, &o.export); err != nil {
		return fmt.Errorf("import: %s is not a state export: %w", o.path, err)
	}
	return o.loadConfig()
}

func (o *stateImportOptions) validate() error { return nil }

func (o *stateImportOptions) run(ctx context.Context) error {
	unlock, err := wiring.LockCycleFile(o.cfg, "state import")
	if err != nil {
		return err
	}
	defer unlock()
	st, err := wiring.OpenStore(ctx, o.cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Import(ctx, &o.export); err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "imported %s into %s; the next cycle reads only what changed since %s\n",
		summarize(&o.export), o.cfg.State.Path, o.export.Exported.Local().Format("2006-01-02 15:04 MST"))
	return nil
}
