//go:build windows

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/groupwriteback/groupwriteback/internal/wiring"
)

const serviceName = wiring.EventSource

// isWindowsService reports whether the Service Control Manager started us.
func isWindowsService() bool {
	ok, err := svc.IsWindowsService()
	return err == nil && ok
}

// runAsService runs `groupwriteback run` (args hold --config) under the
// Service Control Manager: stop and shutdown cancel it gracefully.
func runAsService(args []string) int {
	elog, err := eventlog.Open(serviceName)
	if err != nil {
		return exitFatal
	}
	defer elog.Close()
	h := &handler{args: args, elog: elog}
	if err := svc.Run(serviceName, h); err != nil {
		_ = elog.Error(1, "groupwriteback service: "+err.Error())
		return exitFatal
	}
	return h.code
}

type handler struct {
	args []string
	elog *eventlog.Log
	code int
}

func (h *handler) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	logs := &eventLogWriter{elog: h.elog}
	go func() { done <- run(ctx, h.args, strings.NewReader(""), io.Discard, logs) }()
	status <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case h.code = <-done:
			cancel()
			return false, uint32(h.code)
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending, WaitHint: uint32((shutdownBound + 10*time.Second) / time.Millisecond)}
				cancel()
				h.code = <-done
				return false, uint32(h.code)
			}
		}
	}
}

// eventLogWriter sends log lines to the Windows event log, by level.
type eventLogWriter struct{ elog *eventlog.Log }

func (w *eventLogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	switch {
	case strings.Contains(msg, "level=ERROR"):
		_ = w.elog.Error(3, msg)
	case strings.Contains(msg, "level=WARN"):
		_ = w.elog.Warning(2, msg)
	default:
		_ = w.elog.Info(1, msg)
	}
	return len(p), nil
}

func newServiceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "service", Short: "Install, remove, start or stop the Windows service"}
	cmd.AddCommand(
		&cobra.Command{Use: "install", Short: "Install the service (automatic start) with this --config", Args: cobra.NoArgs,
			RunE: func(*cobra.Command, []string) error {
				exe, err := os.Executable()
				if err != nil {
					return err
				}
				cfgPath, err := filepath.Abs(g.configPath)
				if err != nil {
					return err
				}
				m, err := mgr.Connect()
				if err != nil {
					return fmt.Errorf("service manager: %w", err)
				}
				defer m.Disconnect()
				s, err := m.CreateService(serviceName, exe, mgr.Config{DisplayName: "groupwriteback",
					Description: "Writes Entra ID cloud groups back to Active Directory", StartType: mgr.StartAutomatic},
					"--config", cfgPath, "run")
				if err != nil {
					return fmt.Errorf("install: %w", err)
				}
				defer s.Close()
				if err := eventlog.InstallAsEventCreate(serviceName, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil {
					return fmt.Errorf("event log source: %w", err)
				}
				fmt.Fprintf(g.stdout, "installed service %s (config %s); start it with `groupwriteback service start`\n", serviceName, cfgPath)
				return nil
			}},
		&cobra.Command{Use: "uninstall", Short: "Remove the service", Args: cobra.NoArgs,
			RunE: func(*cobra.Command, []string) error {
				return withService(func(s *mgr.Service) error {
					if err := s.Delete(); err != nil {
						return err
					}
					_ = eventlog.Remove(serviceName)
					fmt.Fprintln(g.stdout, "service removed")
					return nil
				})
			}},
		&cobra.Command{Use: "start", Short: "Start the service", Args: cobra.NoArgs,
			RunE: func(*cobra.Command, []string) error {
				return withService(func(s *mgr.Service) error { return s.Start() })
			}},
		&cobra.Command{Use: "stop", Short: "Stop the service (the operation in flight finishes first)", Args: cobra.NoArgs,
			RunE: func(*cobra.Command, []string) error {
				return withService(func(s *mgr.Service) error { _, err := s.Control(svc.Stop); return err })
			}},
	)
	return cmd
}

func withService(f func(*mgr.Service) error) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("service manager: %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(serviceName)
	if err != nil {
		return fmt.Errorf("service %s: %w", serviceName, err)
	}
	defer s.Close()
	return f(s)
}
