package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

// newCloudCmd groups the commands that read the tenant: changes (here)
// and record (cloud_record.go).
func newCloudCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "cloud", Short: "Read the tenant from Microsoft Graph"}
	cmd.AddCommand(newCloudChangesCmd(g), newCloudRecordCmd(g))
	return cmd
}

// cloudChangesOptions are cloud changes': one delta round of groups and
// users, the way a sync cycle reads them, printed.
type cloudChangesOptions struct {
	configured
	output
	linksPath string
	links     deltaLinks
}

// deltaLinks are the links a round ends with, kept between runs.
type deltaLinks struct {
	Groups string `json:"groups"`
	Users  string `json:"users"`
}

func newCloudChangesCmd(g *globals) *cobra.Command {
	o := &cloudChangesOptions{configured: configured{globals: g}}
	cmd := &cobra.Command{
		Use:   "changes",
		Short: "Read the groups and users changed since the last call (all of them the first time)",
		Long: `changes runs one delta round over groups and one over users, exactly as a sync
cycle reads the tenant, prints each change, and saves the delta links so that
the next call shows only what changed since. Delete the links file to read
everything again.`,
		Args: cobra.NoArgs,
		RunE: runs(o),
	}
	cmd.Flags().StringVar(&o.linksPath, "links", "", "file keeping the delta links between calls (default: cloud-links.json beside state.path)")
	o.output.flag(cmd)
	return cmd
}

// complete loads the configuration and the links of the last call.
func (o *cloudChangesOptions) complete(*cobra.Command, []string) error {
	if err := o.loadConfig(); err != nil {
		return err
	}
	if o.linksPath == "" {
		o.linksPath = filepath.Join(filepath.Dir(o.cfg.State.Path), "cloud-links.json")
	}
	if b, err := os.ReadFile(o.linksPath); err == nil {
		if err := json.Unmarshal(b, &o.links); err != nil {
			return fmt.Errorf("--links %s: %w", o.linksPath, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("--links: %w", err)
	}
	return nil
}

func (o *cloudChangesOptions) validate() error { return o.output.validate() }

func (o *cloudChangesOptions) run(ctx context.Context) error {
	client, err := o.cfg.Cloud.Open(ctx, o.logger(o.cfg))
	if err != nil {
		return err
	}
	groups, err := client.GroupsDelta(ctx, o.links.Groups)
	if err != nil {
		return err
	}
	users, err := client.UsersDelta(ctx, o.links.Users, nil)
	if err != nil {
		return err
	}
	links := deltaLinks{Groups: groups.DeltaLink, Users: users.DeltaLink}
	b, _ := json.MarshalIndent(links, "", "  ") // two strings: cannot fail
	if err := os.WriteFile(o.linksPath, b, 0o600); err != nil {
		return fmt.Errorf("--links: %w", err)
	}
	if o.json() {
		return writeJSON(o.stdout, newCloudChangesJSON(jsonRound(groups.Full, groups.Stats, groupChanges(groups.Changes)),
			jsonRound(users.Full, users.Stats, userChanges(users.Changes))))
	}
	printRound(o.stdout, "groups", groups.Full, groups.Stats, groupChanges(groups.Changes))
	printRound(o.stdout, "users", users.Full, users.Stats, userChanges(users.Changes))
	return nil
}

// cloudChangesVersion is the version of cloud changes' JSON document.
const cloudChangesVersion = 1

// cloudChangesJSON is the documented JSON of `cloud changes -o json`
// (docs/json-formats.md).
type cloudChangesJSON struct {
	Version int       `json:"version"`
	Kind    string    `json:"kind"`
	Groups  roundJSON `json:"groups"`
	Users   roundJSON `json:"users"`
}

func newCloudChangesJSON(groups, users roundJSON) cloudChangesJSON {
	return cloudChangesJSON{Version: cloudChangesVersion, Kind: "cloud-changes", Groups: groups, Users: users}
}

// roundJSON is one delta round of cloud changes -o json.
type roundJSON struct {
	Full    bool     `json:"full"`
	Pages   int      `json:"pages"`
	Resyncs int      `json:"resyncs"`
	Skipped int      `json:"skipped"`
	Changes []change `json:"changes"`
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

func jsonRound(full bool, st cloud.RoundStats, cs []change) roundJSON {
	if cs == nil {
		cs = []change{}
	}
	return roundJSON{Full: full, Pages: st.Pages, Resyncs: st.Resyncs, Skipped: st.Skipped, Changes: cs}
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
	{cloud.UserMail, "mail"}, {cloud.UserEmployeeID, "employeeId"}, {cloud.UserType, "userType"},
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
		c := change{ID: d.ID, Action: action(d.Removed),
			MembersA: refList(slices.Concat(d.Members.List(), d.MembersAdded)), MembersR: refList(d.MembersRemoved), OwnersA: refList(d.OwnersAdded), OwnersR: refList(d.OwnersRemoved)}
		if d.Values != nil {
			c.Name = d.Values.DisplayName
		}
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
		c := change{ID: d.ID, Action: action(d.Removed)}
		if d.Values != nil {
			c.Name = d.Values.DisplayName
		}
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
