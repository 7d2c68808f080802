package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/advice"
	"github.com/groupwriteback/groupwriteback/internal/config"
	"github.com/groupwriteback/groupwriteback/internal/console"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/ha"
	"github.com/groupwriteback/groupwriteback/internal/scheduler"
	"github.com/groupwriteback/groupwriteback/internal/server"
	"github.com/groupwriteback/groupwriteback/internal/store"
	"github.com/groupwriteback/groupwriteback/internal/wiring"
)

// shutdownBound is how long run waits, after SIGTERM, for the operation in
// flight to finish before it gives up on it.
const shutdownBound = 60 * time.Second

// runOptions are run's: the service.
type runOptions struct {
	configured
	staging bool
}

func newRunCmd(g *globals) *cobra.Command {
	o := &runOptions{configured: configured{globals: g}}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run as a service: a cycle every schedule.interval, a full one every schedule.full_interval",
		Long: `run is the service: it runs a cycle at once and then every schedule.interval (a full
reconcile every schedule.full_interval), and one on POST /sync; never two at once on
this store. After repeated whole-run failures it backs off, doubling the wait up to 6h.
On server.listen it serves /healthz, /readyz, /metrics, POST /sync and a status page.
With --staging (or mode: staging) it reads, plans and records what it would do, and
writes nothing to AD; each cycle's plan is saved as staged-plan.json beside the state
file, for apply FILE on the active server. SIGHUP re-reads the configuration. SIGTERM or Ctrl-C: the operation in flight finishes, the run is
recorded as interrupted, and the next cycle completes the work.`,
		Args: cobra.NoArgs,
		RunE: runs(o),
	}
	cmd.Flags().BoolVar(&o.staging, "staging", false, "staging mode: plan and record, write nothing (overrides mode)")
	return cmd
}

// complete loads the configuration the service starts with (each cycle's
// session reads it again: SIGHUP, cycles.go).
func (o *runOptions) complete(*cobra.Command, []string) error { return o.loadConfig() }

func (o *runOptions) validate() error { return nil }

// run runs the service until ctx ends: the scheduler's cycles, the
// election with a shared state, and the HTTP server.
func (o *runOptions) run(ctx context.Context) error {
	cfg := o.cfg
	logger := o.logger(cfg)
	unlockService, err := wiring.LockService(cfg)
	if err != nil {
		return err
	}
	defer unlockService()
	st, err := wiring.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	metrics := server.NewMetrics()
	cyc := &cycles{g: o.globals, cfg: cfg, forced: o.staging, st: st, metrics: metrics, logger: logger}
	cyc.staging.Store(o.staging || cfg.Mode == "staging")
	metrics.Watch(st, cyc.staging.Load, version)
	defer cyc.closeSession()
	stopReload := o.reloadOnHUP(cyc, logger)
	defer stopReload()
	cycle := func(ctx context.Context, full bool) error {
		_, err := cyc.run(ctx, engine.RunOptions{Full: full})
		return err
	}
	sched := scheduler.New(scheduler.Config{Interval: cfg.Schedule.Interval, FullInterval: cfg.Schedule.FullInterval, Jitter: cfg.Schedule.JitterOrNone(),
		Debounce: cfg.Notifications.Debounce}, nil, cycle, logger)
	// The election outlives the scheduler: the lease is released only
	// once the cycle in flight has finished.
	haCtx, haStop := context.WithCancel(context.WithoutCancel(ctx))
	defer haStop()
	if cfg.State.Shared() {
		cyc.inst = startInstance(haCtx, cfg, st, metrics, logger, func() {
			// A take-over starts with a full cycle: the work the old active
			// left, and whatever drifted while this one stood by (its
			// standby cycles compared, but wrote nothing).
			go func() {
				if err := sched.Trigger(ctx, true); err != nil {
					logger.Warn("the take-over's full cycle is not started now; the schedule's next cycle does the work", "error", err)
				}
			}()
		})
		metrics.WatchHA(cyc.inst)
	}
	for _, w := range cfg.Warnings() {
		logger.Warn(w)
	}
	notif, err := startNotifications(ctx, cfg, st, sched, cyc.inst, metrics, logger)
	if err != nil {
		return err
	}
	cyc.notif = notif
	httpSrv, err := o.serve(sched, st, metrics, cyc, notif, logger)
	if err != nil {
		return err
	}
	logger.Info("service started", "interval", cfg.Schedule.Interval, "full_interval", cfg.Schedule.FullInterval, "staging", o.staging)

	done := make(chan struct{})
	go func() { sched.Run(ctx); close(done) }()
	<-ctx.Done()
	logger.Info("stopping: finishing the operation in flight")
	var stopErr error
	select {
	case <-done:
	case <-time.After(shutdownBound):
		stopErr = fmt.Errorf("the cycle did not stop within %s; exiting anyway (the next cycle completes the work)", shutdownBound)
	}
	if cyc.inst != nil {
		haStop()
		cyc.inst.wait()
	}
	if httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := httpSrv.Shutdown(sctx); err != nil {
			logger.Warn("the HTTP server did not stop within 5s; closing it", "error", err)
		}
	}
	logger.Info("service stopped")
	return stopErr
}

// reloadOnHUP makes SIGHUP read the configuration again: a configuration
// that loads closes the session, and the next cycle opens a new one with
// it. The returned func stops listening.
func (o *runOptions) reloadOnHUP(cyc *cycles, logger *slog.Logger) (stop func()) {
	reload := make(chan os.Signal, 1)
	signal.Notify(reload, syscall.SIGHUP)
	go func() {
		for range reload {
			if _, err := o.load(); err != nil {
				logger.Error("SIGHUP: the configuration does not load; keeping the one in use", "error", err)
				continue
			}
			logger.Info("SIGHUP: the configuration is read again, and the next cycle opens a new session with it (mode included); schedule, server and state.path settings take effect at restart")
			cyc.closeSession()
		}
	}()
	return func() { signal.Stop(reload) }
}

// serve starts the HTTP server on server.listen (nil when it is off).
func (o *runOptions) serve(sched *scheduler.Scheduler, st *store.Store, metrics *server.Metrics, cyc *cycles, notif *notifications, logger *slog.Logger) (*http.Server, error) {
	cfg := o.cfg
	if cfg.Server.Listen == "off" {
		return nil, nil
	}
	srv := server.New(sched, st, metrics, 2*cfg.Schedule.Interval+5*time.Minute, cyc.staging.Load, logger)
	srv.OnDemand = cyc
	if cyc.inst != nil {
		srv.HA = cyc.inst
	}
	srv.Version = version
	srv.Guard.Hosts = cfg.Server.AllowedHosts
	if notif != nil {
		srv.Notifications, srv.NotificationPath = notif, cfg.Notifications.Path()
	}
	if cfg.Server.Console.On() {
		var el election
		if cyc.inst != nil {
			el = cyc.inst
		}
		srv.Console = newConsole(cfg, st, cyc, el, logger)
	}
	if f := cfg.Server.TokenFile; f != "" {
		tok, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("server.token_file: %w", err)
		}
		srv.Guard.Token = strings.TrimSpace(string(tok))
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return nil, fmt.Errorf("server.listen: %w", err)
	}
	if cfg.Server.TLSCertFile != "" {
		tlsCfg, err := server.TLSConfig(cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile, cfg.Server.ClientCAFile)
		if err != nil {
			ln.Close()
			return nil, err
		}
		ln = tls.NewListener(ln, tlsCfg)
	}
	httpSrv := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server", "error", err)
		}
	}()
	logger.Info("serving health, metrics and status", "address", ln.Addr().String())
	return httpSrv, nil
}

func mode(full bool) string {
	if full {
		return "full"
	}
	return "delta"
}

// newConsole makes the admin console the configuration turns on. One that
// cannot reach the identity platform's discovery document now answers 503
// with the reason, and the rest of the service runs on.
func newConsole(cfg *config.Config, st *store.Store, od console.OnDemand, el election, logger *slog.Logger) http.Handler {
	auth, err := cfg.Cloud.SignInAuth()
	var hc *http.Client
	if err == nil {
		hc, err = cfg.Cloud.HTTPClient()
	}
	var c *console.Console
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err = console.New(ctx, console.Config{Issuer: strings.TrimSuffix(cfg.Cloud.AuthorityURL, "/") + "/" + cfg.Cloud.TenantID + "/v2.0",
			ClientID: cfg.Cloud.ClientID, ClientAuth: auth, RedirectURL: cfg.Server.Console.RedirectURL(), HTTPClient: hc,
			SessionLifetime: cfg.Server.Console.SessionLifetime, AuditFile: auditFileOf(cfg), Election: el, Logger: logger}, st, od)
	}
	if err != nil {
		a := advice.For(err)
		logger.Error("the console is off: "+a.Summary, "fix", a.Fix, "detail", a.Detail)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "the console cannot sign anyone in: "+a.Line(), http.StatusServiceUnavailable)
		})
	}
	logger.Info("console on", "url", strings.TrimSuffix(cfg.Server.Console.PublicURL, "/")+"/console/")
	return c.Handler()
}

// auditFileOf is the audit trail's file, or "" when none is kept.
func auditFileOf(cfg *config.Config) string {
	if cfg.Audit.Off() {
		return ""
	}
	return cfg.Audit.File
}

// election is what the console shows of the instances (nil: no shared
// state).
type election interface {
	View(ctx context.Context) (ha.View, error)
}
