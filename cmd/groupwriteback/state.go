package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/state"
)

// newStateCmd groups the commands that move the state: export and import
// (state_export.go, state_import.go) and migrate (state_migrate.go).
func newStateCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "state", Short: "Back up the state, or move it to another server"}
	cmd.AddCommand(newStateExportCmd(g), newStateImportCmd(g), newStateMigrateCmd(g))
	return cmd
}

// summarize is an export in words.
func summarize(e *state.Export) string {
	en := "disabled"
	var x state.Enablement
	if json.Unmarshal([]byte(e.Meta["enablement"]), &x) == nil && x.Enabled {
		en = "enabled"
	}
	return fmt.Sprintf("the state (writeback %s; %d groups and %d users read from the tenant; %d group statuses; %d runs; %d operations)",
		en, len(e.Groups), len(e.Users), len(e.Statuses), len(e.Runs), len(e.Operations))
}

// writePrivate writes v as JSON to path, readable by its owner only, whole
// or not at all.
func writePrivate(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".export-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func readFileOrStdin(path string, stdin io.Reader) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(path)
}
