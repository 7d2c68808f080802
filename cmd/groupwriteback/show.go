package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/audit"
	"github.com/groupwriteback/groupwriteback/internal/config"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/wiring"
)

// showOptions are show's.
type showOptions struct {
	configured
	output
	group string
}

func newShowCmd(g *globals) *cobra.Command {
	o := &showOptions{configured: configured{globals: g}}
	cmd := &cobra.Command{
		Use:   "show GROUP",
		Short: "Show one group side by side: the cloud group, its AD copy, its status, its last operations",
		Long: `GROUP is the cloud object id, the display name, or the DN of the AD group. The
policy line is decided with the very options sync uses (scope, naming, member
limit, Exchange), from the tenant as the last cycle read it.`,
		Args: cobra.ExactArgs(1),
		RunE: runs(o),
	}
	o.output.flag(cmd)
	return cmd
}

func (o *showOptions) complete(_ *cobra.Command, args []string) error {
	o.group = args[0]
	return o.loadConfig()
}

func (o *showOptions) validate() error { return o.output.validate() }

func (o *showOptions) run(ctx context.Context) error {
	s, err := wiring.Open(ctx, o.cfg, wiring.Options{Logger: o.logger(o.cfg), DirectoryOptional: true, ReadOnly: true})
	if err != nil {
		return err
	}
	defer s.Close()
	out, err := s.Engine.Explain(ctx, o.group)
	var nf *engine.NoSuchGroupError
	if errors.As(err, &nf) {
		// A name the group no longer has: the audit trail knows which
		// group had it (as `audit --group` finds it).
		if id := formerlyNamed(o.cfg, o.group); id != "" {
			if out, err = s.Engine.Explain(ctx, id); err == nil {
				out.FormerName = o.group
			}
		}
	}
	if err != nil {
		return err
	}
	if o.json() {
		return writeJSON(o.stdout, newShowJSON(out))
	}
	printShown(o.stdout, out, time.Local)
	return nil
}

// printShown prints one group as text, times in loc.
func printShown(w io.Writer, s *engine.Explanation, loc *time.Location) {
	fmt.Fprintf(w, "group %s\n", s.CloudID)
	if s.FormerName != "" {
		fmt.Fprintf(w, "  (formerly named %q, as the audit trail records)\n", s.FormerName)
	}
	fmt.Fprintf(w, "  policy: %s\n", s.Decision)
	if c := s.Cloud; c != nil {
		fmt.Fprintln(w, "cloud:")
		fmt.Fprintf(w, "  displayName: %s\n  kind: %s\n  mail: %s\n  members: %d\n", c.DisplayName, policy.KindOf(c), c.Mail, c.Members.Len())
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
		if s.Placement != "" {
			fmt.Fprintf(w, "  (%s)\n", s.Placement)
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
			fmt.Fprintf(w, "  members not written: %d %s (%s)\n", st.MembersNotWritten[reason], reason, policy.MemberReasonText(reason))
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

// showVersion is the version of show's JSON document.
const showVersion = 1

func newShowJSON(x *engine.Explanation) showJSON {
	return showJSON{Version: showVersion, Kind: "show", Explanation: x}
}

// showJSON is the documented JSON of `show -o json` (docs/json-formats.md).
type showJSON struct {
	Version int    `json:"version"`
	Kind    string `json:"kind"`
	*engine.Explanation
}

// formerlyNamed is the cloud id of the last group the audit trail records
// under name (or DN), or "" (no trail, or no such entry).
func formerlyNamed(cfg *config.Config, name string) string {
	if cfg.Audit.Off() {
		return ""
	}
	entries, err := audit.Read(cfg.Audit.File, audit.Filter{Group: name})
	if err != nil && len(entries) == 0 {
		return ""
	}
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].CloudID != "" {
			return entries[i].CloudID
		}
	}
	return ""
}
