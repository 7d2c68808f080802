package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/wiring"
)

// releaseOptions are release's.
type releaseOptions struct {
	configured
	groups []string
	reason string
	valid  time.Duration
	noSync bool
}

func newReleaseCmd(g *globals) *cobra.Command {
	o := &releaseOptions{configured: configured{globals: g}}
	cmd := &cobra.Command{
		Use:   "release GROUP... --reason TEXT",
		Short: "Let the deletes or quarantines the delete threshold holds back through, group by group",
		Long: `release approves the held delete or quarantine of each GROUP named (its cloud
id, display name or DN, as status lists the held groups), records who approved
it and why, and then runs a cycle that carries them out (unless --no-sync, or the
service holds the state: its next cycle does). The other held groups stay held.
The audit trail records each removal with the release it went through with: who,
why and when. A release is good for one removal of the object it names, and
expires (--for) when no cycle used it.`,
		Args: cobra.MinimumNArgs(1),
		RunE: runs(o),
	}
	cmd.Flags().StringVar(&o.reason, "reason", "", "why the groups may go (recorded in the audit trail); required")
	cmd.Flags().DurationVar(&o.valid, "for", state.ReleaseFor, "how long the release stands when no cycle uses it")
	cmd.Flags().BoolVar(&o.noSync, "no-sync", false, "record the releases only; the next cycle carries them out")
	return cmd
}

func (o *releaseOptions) complete(_ *cobra.Command, args []string) error {
	o.groups = args
	return o.loadConfig()
}

func (o *releaseOptions) validate() error {
	switch {
	case strings.TrimSpace(o.reason) == "":
		return errors.New("--reason: say why these groups may go; the audit trail records it with each removal")
	case len(o.reason) > 1000:
		return errors.New("--reason: at most 1000 characters")
	case o.valid <= 0 || o.valid > 30*24*time.Hour:
		return errors.New("--for: between a second and 30 days")
	}
	return refuseStaging(o.cfg)
}

func (o *releaseOptions) run(ctx context.Context) error {
	st, err := wiring.OpenStore(ctx, o.cfg)
	if err != nil {
		return err
	}
	held, err := st.Statuses(ctx, state.Held)
	if err != nil {
		st.Close()
		return err
	}
	now := time.Now().UTC()
	rs, err := releasesOf(o.groups, held, actor(), o.reason, now, now.Add(o.valid))
	if err == nil {
		err = st.AddReleases(ctx, rs)
	}
	st.Close()
	if err != nil {
		return err
	}
	for _, r := range rs {
		fmt.Fprintf(o.stdout, "released: %s %s (%s), by %s until %s: %s\n", r.Action, r.Name, r.DN, r.By, r.Expires.Local().Format("2006-01-02 15:04 MST"), r.Reason)
	}
	if o.noSync {
		fmt.Fprintln(o.stdout, "the next cycle carries them out")
		return nil
	}
	sync := &syncOptions{configured: o.configured, output: output{format: "text"}}
	err = sync.run(ctx)
	var busy *lockBusyError
	if errors.As(err, &busy) {
		fmt.Fprintln(o.stdout, "the service holds the state: its next cycle carries them out")
		return nil
	}
	return err
}

// releasesOf finds each group named among the held ones: by cloud id,
// display name or DN. A name that is no held group, or names two, is
// refused, and nothing is released.
func releasesOf(names []string, held []state.GroupStatus, by, reason string, at, expires time.Time) ([]state.Release, error) {
	var out []state.Release
	seen := map[string]bool{}
	for _, n := range names {
		var found []state.GroupStatus
		for _, h := range held {
			if strings.EqualFold(h.CloudID, n) || strings.EqualFold(h.Name, n) || (h.DN != "" && policy.SameDN(h.DN, n)) {
				found = append(found, h)
			}
		}
		switch {
		case len(found) == 0:
			return nil, fmt.Errorf("release %q: no held group has that id, name or DN (`groupwriteback status` lists the held groups); nothing was released", n)
		case len(found) > 1:
			return nil, fmt.Errorf("release %q: %d held groups have that name; name them by cloud id or DN; nothing was released", n, len(found))
		case found[0].DN == "":
			return nil, fmt.Errorf("release %q: the state does not say which AD object is held (run a cycle first); nothing was released", n)
		}
		h := found[0]
		if seen[h.CloudID] {
			continue
		}
		seen[h.CloudID] = true
		out = append(out, state.ReleaseOf(h, false, by, reason, at, expires.Sub(at)))
	}
	return out, nil
}

// actor is who runs this command, for the audit trail: cli: and the OS
// user (its uid when the name cannot be read).
func actor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	} else if err == nil {
		return "cli:uid " + u.Uid
	}
	return "cli:uid " + strconv.Itoa(os.Getuid())
}
