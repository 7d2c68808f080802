package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/alert"
	"github.com/groupwriteback/groupwriteback/internal/config"
	"github.com/groupwriteback/groupwriteback/internal/wiring"
)

// session is a configuration opened (wiring.Session), with the progress
// printer a command shows on stderr.
type session struct {
	*wiring.Session
	progress *progress
}

// openSession opens everything a cycle needs, from the configuration the
// command loaded, with the options given (ReadOnly: a plan, which opens
// no audit trail), adding the command line's logger and progress.
func (g *globals) openSession(ctx context.Context, cfg *config.Config, o wiring.Options) (*session, error) {
	p := newProgress(g.stderr)
	// Groups and users are read at once: one line counts both.
	var mu sync.Mutex
	read := map[string]int{}
	graphProgress := func(what string, items int) {
		mu.Lock()
		read[what] = items
		total := read["groups"] + read["users"]
		mu.Unlock()
		p.update("reading groups and users from Graph", total, 0)
	}
	o.Logger, o.Progress, o.OnLDAP, o.GraphProgress = g.logger(cfg), p.update, crashHook, graphProgress
	ws, err := wiring.Open(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	return &session{Session: ws, progress: p}, nil
}

// openLocked opens a session and takes the cycle lock for command: what
// every command that writes does first. done unlocks and closes.
func (g *globals) openLocked(ctx context.Context, cfg *config.Config, command string) (s *session, done func(), err error) {
	if s, err = g.openSession(ctx, cfg, wiring.Options{}); err != nil {
		return nil, nil, err
	}
	unlock, err := s.LockForCommand(command)
	if err != nil {
		s.Close()
		return nil, nil, &lockBusyError{err}
	}
	return s, func() { unlock(); s.Close() }, nil
}

// lockBusyError: another cycle, or the active instance, holds the state:
// this command waits its turn; nothing failed.
type lockBusyError struct{ err error }

func (e *lockBusyError) Error() string { return e.err.Error() }
func (e *lockBusyError) Unwrap() error { return e.err }

// alertFailedStart sends the cycle_failed alert for a sync that failed
// before its cycle began, remembered in the state when it can be opened
// (and sent regardless when it cannot).
func (g *globals) alertFailedStart(ctx context.Context, cfg *config.Config, cause error) {
	var mem alert.Memory = forgetful{}
	if st, err := wiring.OpenStore(ctx, cfg); err == nil {
		defer st.Close()
		mem = st
	}
	alerts := wiring.Alerts(cfg, mem, g.logger(cfg))
	if werr := alerts.AfterCycle(context.WithoutCancel(ctx), alert.Cycle{Err: cause}, cfg.Alerts.StagingAfter); werr != nil {
		fmt.Fprintln(g.stderr, "groupwriteback: alert webhook:", werr)
	}
}

// forgetful is the alerts' memory when the state cannot be opened: every
// alert is sent.
type forgetful struct{}

func (forgetful) Meta(context.Context, string) (string, error)  { return "", nil }
func (forgetful) SetMeta(context.Context, string, string) error { return nil }

// Close stops the progress printer and closes the session.
func (s *session) Close() {
	s.progress.finish()
	s.Session.Close()
}

// crashHook, when set, hears of every LDAP operation of a session: only in
// a binary built with -tags crashpoints, for the crash suite (crashpoint.go).
var crashHook func(op string, d time.Duration, err error)
