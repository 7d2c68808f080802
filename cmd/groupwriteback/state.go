package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/store"
	"github.com/groupwriteback/groupwriteback/internal/wiring"
)

func newStateCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "state", Short: "Back up the state, or move it to another server"}
	cmd.AddCommand(&cobra.Command{
		Use:   "export FILE",
		Short: "Write the whole state (enablement, delta links and snapshot, statuses, run history, operation log) to FILE (- for stdout)",
		Long: `export writes the state file's content as one JSON document (docs/operating.md,
"Moving to another server"). It holds the tenant's group and user data: keep it
as private as the state file. It reads in one transaction, so a running service
need not stop.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			e, err := st.Export(cmd.Context())
			if err != nil {
				return err
			}
			if args[0] == "-" {
				return writeJSON(g.stdout, e)
			}
			if err := writePrivate(args[0], e); err != nil {
				return fmt.Errorf("export: %w", err)
			}
			fmt.Fprintf(g.stdout, "exported %s to %s\n", summarize(e), args[0])
			return nil
		},
	}, &cobra.Command{
		Use:   "import FILE",
		Short: "Read a state export into this configuration's state file, which must be new",
		Long: `import reads what export wrote into the state file of this configuration
(state.path), which must hold nothing yet: writeback stays enabled (or
disabled) as it was, the next cycle goes on from the exported delta links, and
status shows the history. Stop the old server's service first: two servers
writing one OU is what the binding and the locks cannot catch across machines.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var e state.Export
			b, err := readFileOrStdin(args[0], g.stdin)
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			if err := json.Unmarshal(b, &e); err != nil {
				return fmt.Errorf("import: %s is not a state export: %w", args[0], err)
			}
			cfg, err := g.load()
			if err != nil {
				return err
			}
			unlock, err := wiring.LockCycle(cfg, "state import")
			if err != nil {
				return err
			}
			defer unlock()
			st, err := wiring.OpenStore(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.Import(cmd.Context(), &e); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "imported %s into %s; the next cycle reads only what changed since %s\n",
				summarize(&e), cfg.State.Path, e.Exported.Local().Format("2006-01-02 15:04 MST"))
			return nil
		},
	}, newMigrateCmd(g))
	return cmd
}

func newMigrateCmd(g *globals) *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "migrate --to URL|PATH",
		Short: "Move this configuration's state to PostgreSQL (--to postgres://…) or to a SQLite file (--to PATH), checked",
		Long: `migrate copies the whole state of this configuration (state.url, else state.path) into
a new one: a PostgreSQL database that several instances can share (--to
postgres://user@host/db), or a SQLite file (--to PATH), which must be empty. It
copies in one transaction, then reads the copy back and compares it with the
original, item by item: a copy that differs is reported and must not be used.
Stop the service (every instance) first; migrate holds the state while it runs.
The original is left as it was: once the copy is checked, point state.url (or
state.path) at it, start the service there, and keep the original as a backup —
never run a service on both.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if to == "" {
				return fmt.Errorf("--to: the PostgreSQL URL or the SQLite file to move the state to")
			}
			cfg, err := g.load()
			if err != nil {
				return err
			}
			unlockService, err := wiring.LockService(cfg)
			if err != nil {
				return fmt.Errorf("stop the service first: %w", err)
			}
			defer unlockService()
			src, err := wiring.OpenStore(ctx, cfg)
			if err != nil {
				return err
			}
			defer src.Close()
			unlock, _, err := wiring.LockState(cfg, src, "state migrate")
			if err != nil {
				return err
			}
			defer unlock()
			var dst *store.Store
			if state.IsPostgres(to) {
				dst, err = store.OpenPostgres(ctx, to)
			} else {
				dst, err = store.Open(ctx, to)
			}
			if err != nil {
				return err
			}
			defer dst.Close()
			res, err := store.Migrate(ctx, src, dst)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "moved %s from %s to %s, and checked the copy: %s\n", summarize(res.Export), src.Engine(), dst.Engine(), res.Checked)
			if state.IsPostgres(to) {
				fmt.Fprintln(g.stdout, "next: set state.url to it (or put it in state.url_file), start the service there, and keep the old state as a backup; never run a service on both")
			} else {
				fmt.Fprintf(g.stdout, "next: set state.path: %s and remove state.url, start the service, and keep the old state as a backup; never run a service on both\n", to)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the new state: postgres://… or a SQLite file path")
	return cmd
}

func summarize(e *state.Export) string {
	en := "disabled"
	var x state.Enablement
	if json.Unmarshal([]byte(e.Meta["enablement"]), &x) == nil && x.Enabled {
		en = "enabled"
	}
	return fmt.Sprintf("the state (writeback %s; %d groups and %d users read from the tenant; %d group statuses; %d runs; %d operations)",
		en, len(e.Groups), len(e.Users), len(e.Statuses), len(e.Runs), len(e.Operations))
}

// writePrivate writes v as JSON to path, readable by its owner only, whole
// or not at all.
func writePrivate(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".export-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func readFileOrStdin(path string, stdin io.Reader) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(path)
}
