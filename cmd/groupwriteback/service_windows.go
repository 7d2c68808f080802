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
	for _, c := range []struct{ use, short string }{
		{"install", "Install the service (automatic start) with this --config"},
		{"uninstall", "Remove the service"},
		{"start", "Start the service"},
		{"stop", "Stop the service (the operation in flight finishes first)"},
	} {
		cmd.AddCommand(&cobra.Command{Use: c.use, Short: c.short, Args: cobra.NoArgs, RunE: runs(&serviceOptions{globals: g, action: c.use})})
	}
	return cmd
}

// serviceOptions are the service commands': the action on the service
// control manager. This stays thin: it is built for Windows in CI, and
// run by no test (docs/install.md says so).
type serviceOptions struct {
	*globals
	action string
	// cfgPath is --config made absolute, for install.
	cfgPath string
}

func (o *serviceOptions) complete(*cobra.Command, []string) error {
	var err error
	o.cfgPath, err = filepath.Abs(o.configPath)
	return err
}

func (o *serviceOptions) validate() error { return nil }

func (o *serviceOptions) run(context.Context) error {
	switch o.action {
	case "install":
		return o.install()
	case "uninstall":
		return withService(func(s *mgr.Service) error {
			if err := s.Delete(); err != nil {
				return err
			}
			_ = eventlog.Remove(serviceName)
			fmt.Fprintln(o.stdout, "service removed")
			return nil
		})
	case "start":
		return withService(func(s *mgr.Service) error { return s.Start() })
	case "stop":
		return withService(func(s *mgr.Service) error { _, err := s.Control(svc.Stop); return err })
	}
	return fmt.Errorf("service: unknown action %q", o.action)
}

// install registers the service to run this binary with this --config.
func (o *serviceOptions) install() error {
	exe, err := os.Executable()
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
		"--config", o.cfgPath, "run")
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	defer s.Close()
	if err := eventlog.InstallAsEventCreate(serviceName, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil {
		return fmt.Errorf("event log source: %w", err)
	}
	fmt.Fprintf(o.stdout, "installed service %s (config %s); start it with `groupwriteback service start`\n", serviceName, o.cfgPath)
	return nil
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
