package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/config"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/ha"
	"github.com/groupwriteback/groupwriteback/internal/server"
	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/store"
	"github.com/groupwriteback/groupwriteback/internal/wiring"
)

// instance is the service as one of the instances sharing a state: it
// takes the writer lease when it is free, and reports itself in the state
// for status and the others' status pages.
type instance struct {
	el     *ha.Elector
	st     *store.Store
	self   state.Instance
	logger *slog.Logger
	detail atomic.Pointer[string]
	done   chan struct{}
}

// startInstance joins the election on st. It tries the lease once before
// it returns, so that the first cycle knows its role; onActive is called
// each time this instance becomes active. The election runs until ctx
// ends; then the lease is released (wait for it with stop).
func startInstance(ctx context.Context, cfg *config.Config, st *store.Store, metrics *server.Metrics, logger *slog.Logger, onActive func()) *instance {
	id := wiring.InstanceID(cfg.HA.Name())
	host, _ := os.Hostname()
	in := &instance{st: st, logger: logger, done: make(chan struct{}),
		self: state.Instance{ID: id, Name: cfg.HA.Name(), Host: host, PID: os.Getpid(), Version: version, Started: time.Now().UTC()}}
	in.el = ha.New(st, wiring.HAConfig(cfg, id), logger)
	in.el.OnRefused = func() { metrics.ObserveFenced("ad") }
	in.el.OnChange = func(c ha.Change) {
		in.heartbeat(ctx)
		if c.Role == ha.Active {
			onActive()
		}
	}
	in.el.Step(ctx)
	in.heartbeat(ctx)
	renew := in.el.Config().Renew
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(renew):
				in.heartbeat(ctx)
			}
		}
	}()
	go func() {
		defer close(in.done)
		in.el.Run(ctx) // releases the lease when ctx ends
		stopped := in.self
		stopped.Role = "stopped"
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// Said so the others show it stopped rather than silent; if the
		// database cannot hear it, they see it go silent, which says as much.
		_ = in.st.Heartbeat(sctx, stopped)
	}()
	logger.Info("joined the instances sharing the state", "role", in.el.Status().Role, "holder", id,
		"lease", in.el.Config().Lease, "renew_interval", in.el.Config().Renew)
	return in
}

func (in *instance) heartbeat(ctx context.Context) {
	self := in.self
	self.Role = string(in.el.Status().Role)
	if d := in.detail.Load(); d != nil {
		self.Detail = *d
	}
	if err := in.st.Heartbeat(ctx, self); err != nil && ctx.Err() == nil {
		in.logger.Warn("cannot report this instance in the shared state", "error", err)
	}
}

// wait waits, once the election's context ended, for the lease to be
// released.
func (in *instance) wait() { <-in.done }

// active says whether this instance may write now.
func (in *instance) active() bool { return in.Role() == ha.Active }

// Role is this instance's role now, by its own clocks.
func (in *instance) Role() ha.Role { return in.el.Status().Role }

// View is the election as this instance sees it (the server's Election).
func (in *instance) View(ctx context.Context) (ha.View, error) { return in.el.Describe(ctx, in.st) }

// planned records a standby's last plan, for the others to see.
func (in *instance) planned(res *engine.Result) {
	d := fmt.Sprintf("standing by; last plan %s: %d operations", time.Now().UTC().Format(time.RFC3339), len(res.Plan.Ops))
	in.detail.Store(&d)
}
