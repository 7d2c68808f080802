package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version and commit are set at build time (scripts/release):
// -ldflags "-X main.version=v1.2.3 -X main.commit=abcdef012345". A plain go
// build takes them from the module and VCS information Go stamps.
var (
	version = "dev"
	commit  = ""
)

func init() {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	if version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 && commit == "" {
			commit = s.Value[:12]
		}
	}
	if commit == "" {
		commit = "unknown"
	}
}

// versionOptions are version's: it reads no configuration.
type versionOptions struct{ *globals }

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE:  runs(&versionOptions{g}),
	}
}

func (o *versionOptions) complete(*cobra.Command, []string) error { return nil }

func (o *versionOptions) validate() error { return nil }

func (o *versionOptions) run(context.Context) error {
	fmt.Fprintf(o.stdout, "groupwriteback %s (commit %s, %s, %s/%s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
