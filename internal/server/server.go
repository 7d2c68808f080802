// Package server is the service's HTTP face: health and readiness for the
// supervisor, Prometheus metrics, an on-demand sync, and a status page an
// admin reads when something is wrong (plain HTML, no JavaScript).
package server

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/groupwriteback/groupwriteback/internal/advice"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/ha"
	"github.com/groupwriteback/groupwriteback/internal/notify"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/scheduler"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// Cycles is the scheduler, as the server needs it.
type Cycles interface {
	Status() scheduler.Status
	Trigger(ctx context.Context, full bool) error
}

// History is the state file, as the server reads it.
type History interface {
	Runs(ctx context.Context, n int) ([]state.Run, error)
	Statuses(ctx context.Context, states ...string) ([]state.GroupStatus, error)
	PendingPlan(ctx context.Context) (json.RawMessage, time.Time, error)
	Enablement(ctx context.Context) (state.Enablement, error)
}

// OnDemand runs a cycle on one group (provision on demand), as POST
// /sync?group= asks.
type OnDemand interface {
	SyncGroup(ctx context.Context, group string) (*engine.Result, error)
}

// Election is the election among instances sharing a state, as this
// instance sees it (ha.Elector.Describe on the state).
type Election interface {
	View(ctx context.Context) (ha.View, error)
	// Role is this instance's role, known without reading the state.
	Role() ha.Role
}

// NotificationReceiver answers Graph's change notifications, and says
// what this instance holds of them for the status page.
type NotificationReceiver interface {
	http.Handler
	View() NotificationView
}

// NotificationView is what the status page shows of change
// notifications.
type NotificationView struct {
	URL string
	// Holding: this instance keeps the subscriptions (the active one).
	Holding bool
	Held    []notify.Held
	// LastCheck and LastError are the last check of the subscriptions.
	LastCheck time.Time
	LastError string
	// Last is when the last notification was accepted.
	Last time.Time
}

// Server serves the service's endpoints.
type Server struct {
	// OnDemand answers POST /sync?group=; without it, the server says it
	// cannot.
	OnDemand OnDemand
	cycles   Cycles
	history  History
	metrics  *Metrics
	logger   *slog.Logger
	// Staleness: /readyz fails when the last success is older than this.
	Staleness time.Duration
	// Staging says whether the instance is in staging mode now (it may
	// change on SIGHUP).
	Staging func() bool
	// Version is the build's version, shown on the page and in metrics.
	Version string
	// Guard says who may ask what.
	Guard Guard
	// Console, when set, serves /console/: the admin console, which signs
	// its users in itself (no bearer token), behind the host and origin
	// checks.
	Console http.Handler
	// HA, when the state is shared, says which instance is active: this
	// one, as a standby, is a staging server.
	HA Election
	// Notifications, when set, receives Graph's change notifications on
	// NotificationPath and NotificationPath + /lifecycle: the one public
	// path, open without the token (Graph sends none; the notification's
	// clientState is checked instead), and without the host check (Graph
	// posts to the public name of a reverse proxy).
	Notifications    NotificationReceiver
	NotificationPath string
	now              func() time.Time
}

// New returns a server.
func New(c Cycles, h History, m *Metrics, staleness time.Duration, staging func() bool, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{cycles: c, history: h, metrics: m, logger: logger, Staleness: staleness, Staging: staging, now: time.Now}
}

//go:embed status.html
var pages embed.FS

var statusPage = template.Must(template.New("status.html").Funcs(template.FuncMap{
	"reason": policy.MemberReasonText,
	// outcomeClass colours a run: green when it ran to its end with every
	// group in step, amber when it ran to its end with some not (partial),
	// red when it did not run to its end.
	"outcomeClass": func(o state.Outcome) string {
		switch {
		case o == state.OutcomePartial:
			return "warn"
		case o.Succeeded():
			return "ok"
		}
		return "bad"
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.Local().Format("2006-01-02 15:04:05 MST")
	},
	"num": func(v any) any {
		if v == nil {
			return 0
		}
		return v
	},
}).ParseFS(pages, "status.html"))

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("POST /sync", s.sync)
	mux.HandleFunc("GET /{$}", s.page)
	guarded := s.Guard.wrap(mux, s.logger)
	if s.Console == nil && s.Notifications == nil {
		return guarded
	}
	outer := http.NewServeMux()
	if s.Console != nil {
		outer.Handle("/console/", s.Guard.wrapConsole(s.Console, s.logger))
	}
	if s.Notifications != nil {
		p := strings.TrimRight(s.NotificationPath, "/")
		outer.Handle(p, s.Notifications)
		outer.Handle(p+"/lifecycle", s.Notifications)
	}
	outer.Handle("/", guarded)
	return outer
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	st := s.cycles.Status()
	// Every read of the state here has a deadline: a database that
	// accepts and never answers makes /readyz answer 503, not hang.
	ctx, cancel := context.WithTimeout(r.Context(), StateReadTimeout)
	defer cancel()
	en, err := s.history.Enablement(ctx)
	var problem, role string
	var standby bool
	staging := s.Staging()
	if s.HA != nil && err == nil {
		var v ha.View
		v, err = s.HA.View(ctx)
		switch {
		case err != nil:
		case v.Role == ha.Active:
			role = fmt.Sprintf(" (instance %s, active since %s)", v.Instance, v.ActiveSince.Format(time.RFC3339))
		case v.Active == "":
			problem = fmt.Sprintf("no instance is active: none holds the writer lease, so nothing is written to AD (this is %s, standing by)", v.Instance)
		default:
			staging, standby = true, true
			role = fmt.Sprintf(" (instance %s, standby: %s is active since %s)", v.Instance, v.Active, v.ActiveSince.Format(time.RFC3339))
		}
	}
	switch {
	case problem != "":
	case err != nil:
		problem = "the state cannot be read: " + err.Error()
	case standby:
		// A standby is ready while another instance is active: its own
		// cycles only plan (one that failed while the database was down
		// says nothing of it now that the database answers).
	case !en.Enabled && !staging:
		// Up, but doing nothing: a monitor must not take it for working.
		problem = "writeback is disabled: nothing is written to AD (groupwriteback enable)"
	case st.LastSuccess.IsZero():
		problem = "no cycle has succeeded yet"
	case st.ConsecutiveFailures > 0:
		problem = "the last cycle failed: " + st.LastError
	case s.now().Sub(st.LastSuccess) > s.Staleness:
		problem = fmt.Sprintf("the last success was %s ago", s.now().Sub(st.LastSuccess).Round(time.Second))
	}
	if problem != "" {
		http.Error(w, "not ready: "+problem, http.StatusServiceUnavailable)
		return
	}
	if s.Staging() {
		fmt.Fprintln(w, "ready (staging: cycles plan and write nothing to AD)"+role)
		return
	}
	fmt.Fprintln(w, "ready"+role)
}

func (s *Server) sync(w http.ResponseWriter, r *http.Request) {
	full := r.URL.Query().Get("full") == "true"
	if group := r.URL.Query().Get("group"); group != "" {
		s.syncGroup(w, r, group, full)
		return
	}
	err := s.cycles.Trigger(r.Context(), full)
	w.Header().Set("Content-Type", "application/json")
	switch {
	case errors.Is(err, engine.ErrDisabled):
		// The cycle ran and wrote nothing: no "ok" to a caller who asked
		// for a sync.
		w.WriteHeader(http.StatusConflict)
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "disabled": true, "error": err.Error()})
	case errors.Is(err, scheduler.ErrNotRun):
		// It ended early without failing (this instance lost the writer
		// lease): the active instance does the work.
		w.WriteHeader(http.StatusConflict)
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": err.Error()})
	case err != nil:
		w.WriteHeader(http.StatusInternalServerError)
		a := advice.For(err)
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": a.Summary, "fix": a.Fix, "detail": a.Detail})
	default:
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "full": full})
	}
}

// StateReadTimeout bounds every read of the state the HTTP side makes
// (/readyz, the page, each scrape's gauges): a database that accepts and
// never answers costs an answer that says so, within two seconds.
const StateReadTimeout = 1500 * time.Millisecond

// syncGroup provisions one group on demand and answers with its trace.
func (s *Server) syncGroup(w http.ResponseWriter, r *http.Request, group string, full bool) {
	w.Header().Set("Content-Type", "application/json")
	fail := func(code int, err error) {
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "group": group, "error": err.Error()})
	}
	var nf *engine.NoSuchGroupError
	switch {
	case full:
		fail(http.StatusBadRequest, errors.New("group and full: a cycle on one group reads that group only"))
		return
	case s.OnDemand == nil:
		fail(http.StatusNotImplemented, errors.New("this server cannot sync one group"))
		return
	}
	res, err := s.OnDemand.SyncGroup(r.Context(), group)
	switch {
	case errors.As(err, &nf):
		fail(http.StatusNotFound, err)
		return
	case errors.Is(err, engine.ErrDisabled):
		fail(http.StatusConflict, err)
		return
	case err != nil && res == nil:
		w.WriteHeader(http.StatusInternalServerError)
		a := advice.For(err)
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "group": group, "error": a.Summary, "fix": a.Fix, "detail": a.Detail})
		return
	}
	out := map[string]any{"ok": err == nil && len(res.Failures) == 0, "group": group, "mode": res.Mode, "counts": res.Counts,
		"ldapWrites": res.Writes, "notInStep": res.Failures, "trace": res.Trace}
	if err != nil {
		a := advice.For(err)
		out["error"], out["fix"], out["detail"] = a.Summary, a.Fix, a.Detail
	}
	_ = json.NewEncoder(w).Encode(out)
}

// pageData is what the status page shows.
type pageData struct {
	Now         time.Time
	Version     string
	Enablement  state.Enablement
	Staging     bool
	Status      scheduler.Status
	Runs        []runRow
	NotInStep   []state.GroupStatus
	Members     []state.GroupStatus
	PendingPlan []planOp
	PlannedAt   time.Time
	// HA is the election, when the state is shared.
	HA *ha.View
	// Notifications are Graph's change notifications, when on.
	Notifications *NotificationView
	Error         string
}

type runRow struct {
	state.Run
	Counts map[string]any
}

type planOp struct {
	Action, DN, CloudID string
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), StateReadTimeout)
	defer cancel()
	d := pageData{Now: s.now(), Version: s.Version, Staging: s.Staging(), Status: s.cycles.Status()}
	if s.Notifications != nil {
		v := s.Notifications.View()
		d.Notifications = &v
	}
	var errs []string
	var err error
	if d.Enablement, err = s.history.Enablement(ctx); err != nil {
		errs = append(errs, err.Error())
	}
	runs, err := s.history.Runs(ctx, 20)
	if err != nil {
		errs = append(errs, err.Error())
	}
	for _, run := range runs {
		row := runRow{Run: run}
		if len(run.Summary) > 0 {
			if err := json.Unmarshal(run.Summary, &row.Counts); err != nil {
				errs = append(errs, fmt.Sprintf("run %d's summary cannot be read: %v", run.ID, err))
			}
		}
		d.Runs = append(d.Runs, row)
	}
	if d.NotInStep, err = s.history.Statuses(ctx, state.NotInStep...); err != nil {
		errs = append(errs, err.Error())
	}
	all, err := s.history.Statuses(ctx, state.InStep)
	if err != nil {
		errs = append(errs, err.Error())
	}
	for _, st := range all {
		if len(st.MembersNotWritten) > 0 {
			d.Members = append(d.Members, st)
		}
	}
	if s.HA != nil {
		v, err := s.HA.View(ctx)
		if err != nil {
			errs = append(errs, err.Error())
		}
		d.HA = &v
	}
	if raw, at, err := s.history.PendingPlan(ctx); err != nil {
		errs = append(errs, err.Error())
	} else if len(raw) > 0 {
		var ops []struct {
			Action, DN, CloudID string
		}
		if err := json.Unmarshal(raw, &ops); err != nil {
			errs = append(errs, "the pending plan cannot be read: "+err.Error())
		}
		for _, op := range ops {
			d.PendingPlan = append(d.PendingPlan, planOp(op))
		}
		d.PlannedAt = at
	}
	if len(errs) > 0 {
		d.Error = fmt.Sprint(errs)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := statusPage.Execute(w, d); err != nil {
		s.logger.Error("status page", "error", err)
	}
}
