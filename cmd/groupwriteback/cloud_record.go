package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/graph"
	"github.com/groupwriteback/groupwriteback/internal/recording"
	"github.com/groupwriteback/groupwriteback/internal/recording/capture"
)

// cloudRecordOptions are cloud record's.
type cloudRecordOptions struct {
	configured
	dir          string
	pseudonymise bool
}

func newCloudRecordCmd(g *globals) *cobra.Command {
	o := &cloudRecordOptions{configured: configured{globals: g}}
	cmd := &cobra.Command{
		Use:   "record DIR",
		Short: "Record Graph's answers to one full and one delta round, to hand a Graph behaviour over",
		Long: `record reads the tenant as doctor and a sync do (doctor's permission checks, one
full round of groups and users, then one delta round), and writes Graph's answers
to DIR/recording.json, so that enable and sync work against its replay: never a
token, a secret or a request header. --pseudonymize replaces names, addresses,
on-premises identifiers and ids with stand-ins, each value always by the same one,
so the recording still holds together. graphsim -replay DIR serves it back to an
unchanged groupwriteback (client secret "replay").`,
		Args: cobra.ExactArgs(1),
		RunE: runs(o),
	}
	cmd.Flags().BoolVar(&o.pseudonymise, "pseudonymize", false, "replace names, addresses, on-premises identifiers and ids with consistent stand-ins")
	return cmd
}

func (o *cloudRecordOptions) complete(_ *cobra.Command, args []string) error {
	o.dir = args[0]
	return o.loadConfig()
}

func (o *cloudRecordOptions) validate() error { return nil }

// run reads the tenant as a sync does, through the recorder.
func (o *cloudRecordOptions) run(ctx context.Context) error {
	hc, err := o.cfg.Cloud.HTTPClient()
	if err != nil {
		return err
	}
	rec, err := recording.NewRecorder(hc.Transport, o.cfg.Cloud.GraphURL, o.cfg.Cloud.TenantID, o.cfg.Cloud.ClientID, o.pseudonymise)
	if err != nil {
		return err
	}
	hc.Transport = rec
	cred, err := o.cfg.Cloud.TokenCredential(hc)
	if err != nil {
		return err
	}
	client, err := graph.New(graph.Options{GraphURL: o.cfg.Cloud.GraphURL, Credential: cred, HTTPClient: hc, Logger: o.logger(o.cfg)})
	if err != nil {
		return err
	}
	client.SelectGroupExtensions(o.cfg.GroupExtensions()) // the reads sync and doctor make, $select and all
	reads, err := capture.Read(ctx, client, nil)
	if err != nil {
		return err
	}
	groups, users, dgroups, dusers := reads.Groups, reads.UsersRound, reads.DeltaGroups, reads.DeltaUsers
	r := rec.Recording()
	if err := r.Save(o.dir); err != nil {
		return err
	}
	what := "real names and ids"
	if o.pseudonymise {
		what = "names, addresses, identifiers and ids pseudonymised"
	}
	fmt.Fprintf(o.stdout, "recorded %d answers of Graph to %s/%s (%s; no token, secret or request header):\n",
		len(r.Exchanges), o.dir, recording.FileName, what)
	fmt.Fprintf(o.stdout, "  full round: %d group items on %d pages, %d user items on %d pages\n",
		groups.Stats.Items, groups.Stats.Pages, users.Stats.Items, users.Stats.Pages)
	fmt.Fprintf(o.stdout, "  delta round: %d group changes, %d user changes\n", len(dgroups.Changes), len(dusers.Changes))
	fmt.Fprintf(o.stdout, "replay it with: graphsim -replay %s (client secret %q)\n", o.dir, "replay")
	return nil
}
