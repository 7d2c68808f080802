package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/store"
	"github.com/groupwriteback/groupwriteback/internal/wiring"
)

// stateMigrateOptions are state migrate's.
type stateMigrateOptions struct {
	configured
	to string
}

func newStateMigrateCmd(g *globals) *cobra.Command {
	o := &stateMigrateOptions{configured: configured{globals: g}}
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
		RunE: runs(o),
	}
	cmd.Flags().StringVar(&o.to, "to", "", "the new state: postgres://… or a SQLite file path")
	return cmd
}

func (o *stateMigrateOptions) complete(*cobra.Command, []string) error { return o.loadConfig() }

func (o *stateMigrateOptions) validate() error {
	if o.to == "" {
		return fmt.Errorf("--to: the PostgreSQL URL or the SQLite file to move the state to")
	}
	return nil
}

func (o *stateMigrateOptions) run(ctx context.Context) error {
	unlockService, err := wiring.LockService(o.cfg)
	if err != nil {
		return fmt.Errorf("stop the service first: %w", err)
	}
	defer unlockService()
	src, err := wiring.OpenStore(ctx, o.cfg)
	if err != nil {
		return err
	}
	defer src.Close()
	unlock, _, err := wiring.LockState(o.cfg, src, "state migrate")
	if err != nil {
		return err
	}
	defer unlock()
	var dst *store.Store
	if state.IsPostgres(o.to) {
		dst, err = store.OpenPostgres(ctx, o.to)
	} else {
		dst, err = store.Open(ctx, o.to)
	}
	if err != nil {
		return err
	}
	defer dst.Close()
	res, err := store.Migrate(ctx, src, dst)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "moved %s from %s to %s, and checked the copy: %s\n", summarize(res.Export), src.Engine(), dst.Engine(), res.Checked)
	if state.IsPostgres(o.to) {
		fmt.Fprintln(o.stdout, "next: set state.url to it (or put it in state.url_file), start the service there, and keep the old state as a backup; never run a service on both")
	} else {
		fmt.Fprintf(o.stdout, "next: set state.path: %s and remove state.url, start the service, and keep the old state as a backup; never run a service on both\n", o.to)
	}
	return nil
}
