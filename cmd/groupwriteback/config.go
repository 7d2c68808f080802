package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// newConfigCmd groups the commands on the configuration file.
func newConfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with the configuration file"}
	cmd.AddCommand(newConfigCheckCmd(g))
	return cmd
}

// configCheckOptions are config check's.
type configCheckOptions struct{ configured }

func newConfigCheckCmd(g *globals) *cobra.Command {
	o := &configCheckOptions{configured{globals: g}}
	return &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and print it with defaults filled and secrets redacted",
		Args:  cobra.NoArgs,
		RunE:  runs(o),
	}
}

func (o *configCheckOptions) complete(*cobra.Command, []string) error { return o.loadConfig() }

func (o *configCheckOptions) validate() error { return nil }

func (o *configCheckOptions) run(context.Context) error {
	out, err := yaml.Marshal(o.cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "# %s is valid\n%s", o.configPath, out)
	for _, w := range o.cfg.Warnings() {
		fmt.Fprintln(o.stderr, "warning:", w)
	}
	return nil
}
