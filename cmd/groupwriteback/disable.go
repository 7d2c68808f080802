package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/notify"
)

// disableOptions are disable's.
type disableOptions struct {
	configured
	yes          bool
	allowDeletes int
}

func newDisableCmd(g *globals) *cobra.Command {
	o := &disableOptions{configured: configured{globals: g}}
	cmd := &cobra.Command{
		Use:   "disable",
		Short: "Turn writeback off and handle the groups written back by writeback.on_disable",
		Long: `disable shows what becomes of the groups written back (writeback.on_disable:
delete, as Connect Sync v1 does; keep; or quarantine), asks for confirmation
(--yes for scripts), records that writeback is disabled so that no cycle writes
again, and then applies the plan, behind the delete threshold.`,
		Args: cobra.NoArgs,
		RunE: runs(o),
	}
	cmd.Flags().BoolVar(&o.yes, "yes", false, "do not ask for confirmation")
	cmd.Flags().IntVar(&o.allowDeletes, "allow-deletes", 0, "let this many deletes and quarantines through the delete threshold")
	return cmd
}

func (o *disableOptions) complete(*cobra.Command, []string) error { return o.loadConfig() }

func (o *disableOptions) validate() error {
	if o.allowDeletes < 0 {
		return fmt.Errorf("--allow-deletes: must be 0 or more")
	}
	return refuseStaging(o.cfg)
}

// run is the engine's disable: the plan shown and confirmed, then
// engine.Disable, which records writeback disabled and applies exactly
// that plan (a group changed since in AD is refused as stale, not planned
// anew).
func (o *disableOptions) run(ctx context.Context) error {
	s, done, err := o.openLocked(ctx, o.cfg, "disable")
	if err != nil {
		return err
	}
	defer done()
	ctx, cancel := s.WithDeadline(ctx)
	defer cancel()
	plan, err := s.Engine.PlanDisable(ctx, engine.RunOptions{AllowDeletes: o.allowDeletes})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "disabling writeback (writeback.on_disable: %s) will do this:\n", s.Config.Writeback.OnDisable)
	if err := printPlan(o.stdout, plan.Result); err != nil {
		return err
	}
	if !o.yes {
		ok, err := o.confirm("disable writeback and apply this plan?")
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintln(o.stdout, "nothing done")
			return exitError{exitFatal}
		}
	}
	res, err := s.Engine.Disable(ctx, plan)
	if err != nil {
		return err
	}
	c := res.Counts
	fmt.Fprintf(o.stdout, "writeback is disabled: %d deleted, %d quarantined, %d failed; %d LDAP writes\n", c.Deleted, c.Quarantined, c.Failed, res.Writes)
	for _, f := range res.Failures {
		fmt.Fprintf(o.stdout, "  not done: %s\n", f.Message)
	}
	// Graph has nothing more to tell a disabled service (a running one
	// finds writeback disabled and deletes them too, at its next check).
	if cfg := s.Config.Notifications; cfg.On() {
		m := notify.NewManager(notify.Config{URL: cfg.PublicURL}, s.Graph, nil, nil, nil)
		if n, err := m.Remove(ctx); err != nil {
			fmt.Fprintf(o.stdout, "  the change notification subscriptions were not all deleted (%v); the service deletes them at its next check\n", err)
		} else {
			fmt.Fprintf(o.stdout, "change notifications: %d subscriptions deleted\n", n)
		}
	}
	if len(res.Failures) > 0 || c.Failed > 0 {
		return exitError{exitPartial}
	}
	return nil
}

// confirm asks a yes/no question on a terminal; without one it refuses,
// pointing at --yes.
func (g *globals) confirm(question string) (bool, error) {
	f, ok := g.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false, fmt.Errorf("not asking for confirmation without a terminal: run with --yes to confirm from a script")
	}
	fmt.Fprintf(g.stdout, "%s [y/N] ", question)
	line, _ := bufio.NewReader(g.stdin).ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes", nil
}
