package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/store"
)

// shown is one group, cloud side and AD side.
type shown struct {
	CloudID    string             `json:"cloudId"`
	Cloud      *cloud.Group       `json:"cloud,omitempty"`
	Decision   string             `json:"decision"`
	DesiredDN  string             `json:"desiredDn,omitempty"`
	AD         *reconcile.ADGroup `json:"ad,omitempty"`
	ADError    string             `json:"adError,omitempty"`
	Status     *store.GroupStatus `json:"status,omitempty"`
	Operations []store.Operation  `json:"operations"`
}

func newShowCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "show GROUP",
		Short: "Show one group side by side: the cloud group, its AD copy, its status, its last operations",
		Long:  "GROUP is the cloud object id, the display name, or the DN of the AD group.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			ctx := cmd.Context()
			cfg, st, err := g.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			snap, _, err := st.LoadCloud(ctx)
			if err != nil {
				return err
			}
			statuses, err := st.Statuses(ctx)
			if err != nil {
				return err
			}
			id, err := findGroup(args[0], snap, statuses)
			if err != nil {
				return err
			}
			out := shown{CloudID: id, Cloud: snap.Groups[id], Operations: []store.Operation{}}
			for i := range statuses {
				if statuses[i].CloudID == id {
					out.Status = &statuses[i]
				}
			}
			if ops, err := st.Operations(ctx, id, 10); err == nil && ops != nil {
				out.Operations = ops
			}
			// The same options sync decides with, or show and sync disagree.
			popts := policyOptions(cfg)
			if en, err := st.Enablement(ctx); err == nil {
				popts.WithoutExchange = en.WithoutExchange
			}
			if dir, err := cfg.Directory.Open(ctx, g.logger(cfg)); err != nil {
				out.ADError = err.Error()
			} else {
				defer dir.Close()
				popts.Exchange, popts.AnchorAttribute = dir.Schema().Exchange, dir.Schema().AnchorAttribute
				gs, err := dir.GroupsByAnchor(ctx, cfg.Directory.BaseDN, []string{policy.Anchor(id)}, policy.ManagedAttributes(popts))
				switch {
				case err != nil:
					out.ADError = err.Error()
				case len(gs) > 0:
					out.AD = &gs[0]
				}
			}
			if out.Cloud != nil {
				d := policy.DecideSome(snap, popts, map[string]bool{id: true})
				for _, x := range d {
					if x.CloudID != id {
						continue
					}
					switch {
					case x.Desired != nil:
						out.Decision, out.DesiredDN = "written back as "+x.Desired.Type, x.Desired.DN
					case x.Problem != nil:
						out.Decision = "in scope, not writable: " + x.Problem.Error()
					default:
						out.Decision = "not written back: " + x.Reason
					}
				}
			} else {
				out.Decision = "not in the cloud snapshot (deleted in the cloud, or never read)"
			}
			if output == "json" {
				return writeJSON(g.stdout, out)
			}
			printShown(g.stdout, out, time.Local)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// findGroup resolves GROUP to a cloud id.
func findGroup(arg string, snap *cloud.Snapshot, statuses []store.GroupStatus) (string, error) {
	if id := policy.CloudIDFromAnchor("Group_" + arg); id != "" {
		return id, nil
	}
	var ids []string
	for id, g := range snap.Groups {
		if strings.EqualFold(g.DisplayName, arg) {
			ids = append(ids, id)
		}
	}
	for _, st := range statuses {
		if st.DN != "" && strings.EqualFold(st.DN, arg) {
			ids = append(ids, st.CloudID)
		}
	}
	sort.Strings(ids)
	switch len(ids) {
	case 0:
		return "", fmt.Errorf("no group with the id, display name or DN %q", arg)
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("%d groups are named %q: give the id (%s)", len(ids), arg, strings.Join(ids, ", "))
}

// printShown prints one group as text, times in loc.
func printShown(w io.Writer, s shown, loc *time.Location) {
	fmt.Fprintf(w, "group %s\n", s.CloudID)
	fmt.Fprintf(w, "  policy: %s\n", s.Decision)
	if c := s.Cloud; c != nil {
		fmt.Fprintln(w, "cloud:")
		fmt.Fprintf(w, "  displayName: %s\n  kind: %s\n  mail: %s\n  members: %d\n", c.DisplayName, policy.KindOf(c), c.Mail, len(c.Members))
		if c.Writeback.IsEnabled != nil {
			fmt.Fprintf(w, "  writebackConfiguration.isEnabled: %v\n", *c.Writeback.IsEnabled)
		}
		if c.Writeback.OnPremisesGroupType != "" {
			fmt.Fprintf(w, "  writebackConfiguration.onPremisesGroupType: %s\n", c.Writeback.OnPremisesGroupType)
		}
	}
	fmt.Fprintln(w, "active directory:")
	switch {
	case s.AD != nil:
		fmt.Fprintf(w, "  dn: %s\n  objectGUID: %s\n  members: %d\n", s.AD.DN, s.AD.GUID, len(s.AD.Members))
		names := make([]string, 0, len(s.AD.Attrs))
		for k := range s.AD.Attrs {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			fmt.Fprintf(w, "  %s: %s\n", k, strings.Join(s.AD.Attrs[k], ", "))
		}
		if s.DesiredDN != "" && !strings.EqualFold(s.DesiredDN, s.AD.DN) {
			fmt.Fprintf(w, "  (the next cycle renames or moves it to %s)\n", s.DesiredDN)
		}
	case s.ADError != "":
		fmt.Fprintf(w, "  could not read AD: %s\n", s.ADError)
	default:
		fmt.Fprintln(w, "  no AD group carries its anchor")
	}
	if st := s.Status; st != nil {
		fmt.Fprintf(w, "status: %s (%s)", st.State, st.Updated.In(loc).Format("2006-01-02 15:04"))
		if st.Message != "" {
			fmt.Fprintf(w, ": %s", st.Message)
		}
		fmt.Fprintln(w)
		reasons := make([]string, 0, len(st.MembersNotWritten))
		for reason := range st.MembersNotWritten {
			reasons = append(reasons, reason)
		}
		sort.Strings(reasons)
		for _, reason := range reasons {
			fmt.Fprintf(w, "  members not written: %d %s\n", st.MembersNotWritten[reason], reason)
		}
	}
	if len(s.Operations) > 0 {
		fmt.Fprintln(w, "last operations:")
		for _, op := range s.Operations {
			fmt.Fprintf(w, "  %s run #%d %s %s %s", op.At.In(loc).Format("2006-01-02 15:04:05"), op.RunID, op.Action, op.Outcome, op.DN)
			if op.Error != "" {
				fmt.Fprintf(w, ": %s", op.Error)
			}
			fmt.Fprintln(w)
		}
	}
}
