//go:build !windows

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func isWindowsService() bool { return false }

func runAsService([]string) int { return exitFatal }

func newServiceCmd(*globals) *cobra.Command {
	return &cobra.Command{
		Use:   "service",
		Short: "Install, remove, start or stop the Windows service (Windows only)",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("the service commands are for Windows; on Linux install packaging/groupwriteback.service (systemd)")
		},
	}
}
