package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/scheduler"
	"github.com/groupwriteback/groupwriteback/internal/server"
	"github.com/groupwriteback/groupwriteback/internal/wiring"
)

// shutdownBound is how long run waits, after SIGTERM, for the operation in
// flight to finish before it gives up on it.
const shutdownBound = 60 * time.Second

func newRunCmd(g *globals) *cobra.Command {
	var staging bool
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
		RunE: func(cmd *cobra.Command, _ []string) error { return g.runService(cmd.Context(), staging) },
	}
	cmd.Flags().BoolVar(&staging, "staging", false, "staging mode: plan and record, write nothing (overrides mode)")
	return cmd
}

func (g *globals) runService(ctx context.Context, staging bool) error {
	cfg, err := g.load()
	if err != nil {
		return err
	}
	staging = staging || cfg.Mode == "staging"
	logger := g.logger(cfg)
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

	// One session for the life of the service: Graph's client, the DC's
	// connection (which reconnects by itself) and the state file are opened
	// once, not every cycle, and again only when opening failed or on
	// SIGHUP, which also re-reads the configuration.
	var (
		sessMu sync.Mutex
		sess   *session
	)
	closeSession := func() {
		sessMu.Lock()
		defer sessMu.Unlock()
		if sess != nil {
			sess.Close()
			sess = nil
		}
	}
	defer closeSession()
	reload := make(chan os.Signal, 1)
	signal.Notify(reload, syscall.SIGHUP)
	defer signal.Stop(reload)
	go func() {
		for range reload {
			if _, err := g.load(); err != nil {
				logger.Error("SIGHUP: the configuration does not load; keeping the one in use", "error", err)
				continue
			}
			logger.Info("SIGHUP: the configuration is read again, and the next cycle opens a new session with it; schedule, server and state.path settings take effect at restart")
			closeSession()
		}
	}()

	cycle := func(ctx context.Context, full bool) error {
		unlock, err := wiring.LockCycle(cfg, "run")
		if err != nil {
			return err
		}
		defer unlock()
		start := time.Now()
		sessMu.Lock()
		defer sessMu.Unlock()
		if sess == nil {
			if sess, err = g.openSession(ctx); err != nil {
				sess = nil
				metrics.Observe(server.CycleReport{Mode: mode(full), Outcome: "failed", Duration: time.Since(start), End: time.Now()})
				return err
			}
			if sess.Config.State.Path != cfg.State.Path {
				err = fmt.Errorf("state.path changed from %s to %s while the service runs: restart the service to move its state file", cfg.State.Path, sess.Config.State.Path)
				sess.Close()
				sess = nil
				metrics.Observe(server.CycleReport{Mode: mode(full), Outcome: "failed", Duration: time.Since(start), End: time.Now()})
				return err
			}
			sess.Dir.OnOperation(metrics.ObserveLDAP)
			logger.Info("session opened", "graph", sess.Config.Cloud.GraphURL, "dc", sess.Config.Directory.URL)
		}
		s := sess
		// The Graph client lives as long as the session: a cycle reports
		// the requests it made, not the session's total.
		before := s.Graph.Counters()
		cctx, cancel := s.WithDeadline(ctx)
		defer cancel()
		var res *engine.Result
		if staging {
			// A staging service saves each cycle's plan, for review and
			// for `apply FILE` on the active server.
			var p *engine.Plan
			if p, err = s.Engine.Plan(cctx, engine.RunOptions{Full: full}); err == nil {
				res = p.Result
				if err = p.Save(wiring.StagedPlanPath(cfg)); err != nil {
					err = fmt.Errorf("saving the staged plan: %w", err)
				}
			}
		} else {
			res, err = s.Engine.Run(cctx, engine.RunOptions{Full: full})
		}
		err = s.DeadlineError(err)
		report := server.CycleReport{Mode: mode(full), Duration: time.Since(start), End: time.Now(), Result: res, Staged: staging,
			GraphReqs: s.Graph.Counters().Requests - before.Requests, Throttled: s.Graph.Counters().Throttled - before.Throttled}
		switch {
		case errors.Is(err, engine.ErrDisabled):
			logger.Warn("writeback is disabled: this cycle writes nothing; run `groupwriteback enable` to turn it on")
			report.Outcome = "disabled"
			metrics.Observe(report)
			return nil
		case ctx.Err() != nil:
			report.Outcome = "interrupted"
		case err != nil:
			report.Outcome = "failed"
			// A failed cycle may leave a bad connection or token behind:
			// the next one starts from a new session.
			s.Close()
			sess = nil
		case staging:
			report.Outcome = "staged"
			err = st.SetPendingPlan(ctx, res.Plan.Ops)
		case len(res.Failures) > 0:
			report.Outcome = "partial"
		default:
			report.Outcome = "ok"
		}
		if !staging && res != nil {
			_ = st.SetPendingPlan(ctx, nil) // no plan is pending outside staging
		}
		metrics.Observe(report)
		if res != nil {
			logger.Info("cycle done", "outcome", report.Outcome, "mode", res.Mode, "created", res.Counts.Created, "updated", res.Counts.Updated,
				"deleted", res.Counts.Deleted, "failed", res.Counts.Failed, "not_in_step", len(res.Failures), "ldap_writes", res.Writes,
				"duration", report.Duration.Round(time.Millisecond))
		}
		return err
	}
	sched := scheduler.New(scheduler.Config{Interval: cfg.Schedule.Interval, FullInterval: cfg.Schedule.FullInterval}, nil, cycle, logger)

	var httpSrv *http.Server
	for _, w := range cfg.Warnings() {
		logger.Warn(w)
	}
	if cfg.Server.Listen != "off" {
		srv := server.New(sched, st, metrics, 2*cfg.Schedule.Interval+5*time.Minute, staging, logger)
		srv.Guard.Hosts = cfg.Server.AllowedHosts
		if f := cfg.Server.TokenFile; f != "" {
			tok, err := os.ReadFile(f)
			if err != nil {
				return fmt.Errorf("server.token_file: %w", err)
			}
			srv.Guard.Token = strings.TrimSpace(string(tok))
		}
		ln, err := net.Listen("tcp", cfg.Server.Listen)
		if err != nil {
			return fmt.Errorf("server.listen: %w", err)
		}
		if cfg.Server.TLSCertFile != "" {
			tlsCfg, err := server.TLSConfig(cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile, cfg.Server.ClientCAFile)
			if err != nil {
				ln.Close()
				return err
			}
			ln = tls.NewListener(ln, tlsCfg)
		}
		httpSrv = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("http server", "error", err)
			}
		}()
		logger.Info("serving health, metrics and status", "address", ln.Addr().String())
	}
	logger.Info("service started", "interval", cfg.Schedule.Interval, "full_interval", cfg.Schedule.FullInterval, "staging", staging)

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
	if httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = httpSrv.Shutdown(sctx)
	}
	logger.Info("service stopped")
	return stopErr
}

func mode(full bool) string {
	if full {
		return "full"
	}
	return "delta"
}
