package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

// cloudChanges reads one delta round of groups and users, the way a sync
// cycle does, and prints what changed.
type cloudChanges struct {
	*globals
	linksPath string
	output    string
}

// deltaLinks are the links a round ends with, kept between runs.
type deltaLinks struct {
	Groups string `json:"groups"`
	Users  string `json:"users"`
}

func newCloudCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "cloud", Short: "Read the tenant from Microsoft Graph"}
	o := &cloudChanges{globals: g}
	changes := &cobra.Command{
		Use:   "changes",
		Short: "Read the groups and users changed since the last call (all of them the first time)",
		Long: `changes runs one delta round over groups and one over users, exactly as a sync
cycle reads the tenant, prints each change, and saves the delta links so that
the next call shows only what changed since. Delete the links file to read
everything again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return o.run(cmd)
		},
	}
	changes.Flags().StringVar(&o.linksPath, "links", "", "file keeping the delta links between calls (default: cloud-links.json beside state.path)")
	changes.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	cmd.AddCommand(changes, newCloudRecordCmd(g))
	return cmd
}

func (o *cloudChanges) validate() error {
	return checkOutput(o.output)
}

func (o *cloudChanges) run(cmd *cobra.Command) error {
	cfg, err := o.load()
	if err != nil {
		return err
	}
	if o.linksPath == "" {
		o.linksPath = filepath.Join(filepath.Dir(cfg.State.Path), "cloud-links.json")
	}
	var links deltaLinks
	if b, err := os.ReadFile(o.linksPath); err == nil {
		if err := json.Unmarshal(b, &links); err != nil {
			return fmt.Errorf("--links %s: %w", o.linksPath, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("--links: %w", err)
	}
	ctx := cmd.Context()
	client, err := cfg.Cloud.Open(ctx, o.logger(cfg))
	if err != nil {
		return err
	}
	groups, err := client.GroupsDelta(ctx, links.Groups)
	if err != nil {
		return err
	}
	users, err := client.UsersDelta(ctx, links.Users)
	if err != nil {
		return err
	}
	links = deltaLinks{Groups: groups.DeltaLink, Users: users.DeltaLink}
	b, _ := json.MarshalIndent(links, "", "  ") // two strings: cannot fail
	if err := os.WriteFile(o.linksPath, b, 0o600); err != nil {
		return fmt.Errorf("--links: %w", err)
	}
	if o.output == "json" {
		return writeJSON(o.stdout, map[string]any{"groups": jsonRound(groups.Full, groups.Stats, groupChanges(groups.Changes)),
			"users": jsonRound(users.Full, users.Stats, userChanges(users.Changes))})
	}
	printRound(o.stdout, "groups", groups.Full, groups.Stats, groupChanges(groups.Changes))
	printRound(o.stdout, "users", users.Full, users.Stats, userChanges(users.Changes))
	return nil
}

// change is one object's change, for printing.
type change struct {
	ID       string   `json:"id"`
	Name     string   `json:"name,omitempty"`
	Action   string   `json:"action"`
	Fields   []string `json:"fields,omitempty"`
	MembersA []string `json:"membersAdded,omitempty"`
	MembersR []string `json:"membersRemoved,omitempty"`
	OwnersA  []string `json:"ownersAdded,omitempty"`
	OwnersR  []string `json:"ownersRemoved,omitempty"`
}

func jsonRound(full bool, st cloud.RoundStats, cs []change) map[string]any {
	if cs == nil {
		cs = []change{}
	}
	return map[string]any{"full": full, "pages": st.Pages, "resyncs": st.Resyncs, "skipped": st.Skipped, "changes": cs}
}

var groupFieldNames = []struct {
	f    cloud.Field
	name string
}{
	{cloud.GroupDisplayName, "displayName"}, {cloud.GroupDescription, "description"}, {cloud.GroupMail, "mail"},
	{cloud.GroupMailNickname, "mailNickname"}, {cloud.GroupMailEnabled, "mailEnabled"}, {cloud.GroupSecurityEnabled, "securityEnabled"},
	{cloud.GroupTypes, "groupTypes"}, {cloud.GroupProxyAddresses, "proxyAddresses"}, {cloud.GroupOnPremisesSyncEnabled, "onPremisesSyncEnabled"},
	{cloud.GroupOnPremisesSecurityIdentifier, "onPremisesSecurityIdentifier"}, {cloud.GroupWriteback, "writebackConfiguration"},
}

var userFieldNames = []struct {
	f    cloud.Field
	name string
}{
	{cloud.UserDisplayName, "displayName"}, {cloud.UserPrincipalName, "userPrincipalName"}, {cloud.UserOnPremisesSyncEnabled, "onPremisesSyncEnabled"},
	{cloud.UserOnPremisesObjectIdentifier, "onPremisesObjectIdentifier"}, {cloud.UserOnPremisesSecurityIdentifier, "onPremisesSecurityIdentifier"},
	{cloud.UserOnPremisesImmutableID, "onPremisesImmutableId"}, {cloud.UserOnPremisesDistinguishedName, "onPremisesDistinguishedName"},
	{cloud.UserOnPremisesSamAccountName, "onPremisesSamAccountName"}, {cloud.UserOnPremisesDomainName, "onPremisesDomainName"},
}

func action(r cloud.Removal) string {
	switch r {
	case cloud.SoftDeleted:
		return "soft-deleted"
	case cloud.HardDeleted:
		return "deleted"
	}
	return "changed"
}

func refList(rs []cloud.ObjectRef) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	sort.Strings(out)
	return out
}

func groupChanges(ds []cloud.GroupDelta) []change {
	var out []change
	for _, d := range ds {
		c := change{ID: d.ID, Name: d.Values.DisplayName, Action: action(d.Removed),
			MembersA: refList(d.MembersAdded), MembersR: refList(d.MembersRemoved), OwnersA: refList(d.OwnersAdded), OwnersR: refList(d.OwnersRemoved)}
		for _, f := range groupFieldNames {
			if d.Present&f.f != 0 {
				c.Fields = append(c.Fields, f.name)
			}
		}
		out = append(out, c)
	}
	return out
}

func userChanges(ds []cloud.UserDelta) []change {
	var out []change
	for _, d := range ds {
		c := change{ID: d.ID, Name: d.Values.DisplayName, Action: action(d.Removed)}
		for _, f := range userFieldNames {
			if d.Present&f.f != 0 {
				c.Fields = append(c.Fields, f.name)
			}
		}
		out = append(out, c)
	}
	return out
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func printRound(w io.Writer, what string, full bool, st cloud.RoundStats, cs []change) {
	kind := "changes since the last call"
	if full {
		kind = "full read"
	}
	fmt.Fprintf(w, "%s: %s, %s (%s", what, kind, plural(len(cs), "object"), plural(st.Pages, "page"))
	if st.Resyncs > 0 {
		fmt.Fprintf(w, ", %d resyncs asked for by Graph", st.Resyncs)
	}
	if st.Skipped > 0 {
		fmt.Fprintf(w, ", %d malformed items skipped", st.Skipped)
	}
	fmt.Fprintln(w, ")")
	for _, c := range cs {
		fmt.Fprintf(w, "  %s %s", c.ID, c.Action)
		if c.Name != "" {
			fmt.Fprintf(w, " %q", c.Name)
		}
		if len(c.Fields) > 0 {
			fmt.Fprintf(w, " [%s]", strings.Join(c.Fields, " "))
		}
		for _, l := range []struct {
			label string
			ids   []string
		}{{"members +", c.MembersA}, {"members -", c.MembersR}, {"owners +", c.OwnersA}, {"owners -", c.OwnersR}} {
			if len(l.ids) > 0 {
				fmt.Fprintf(w, " %s%s", l.label, strings.Join(l.ids, ","))
			}
		}
		fmt.Fprintln(w)
	}
}
