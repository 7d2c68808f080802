package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/config"
	"github.com/groupwriteback/groupwriteback/internal/notify"
	"github.com/groupwriteback/groupwriteback/internal/scheduler"
	"github.com/groupwriteback/groupwriteback/internal/server"
	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/store"
)

// nudgePoll is how often the active instance looks in the shared state
// for a notification a standby received.
const nudgePoll = time.Second

// notifications is the service's side of Graph's change notifications:
// the handler on the public path (every instance answers it), the
// subscriptions (kept by the active instance alone, and found again by
// the next one after a take-over: they are listed by their URL), and the
// way a notification that reached a standby reaches the active instance
// (a mark in the shared state it looks for every second).
type notifications struct {
	cfg     config.Notifications
	handler *notify.Handler
	manager *notify.Manager
	inst    *instance // nil: no shared state
	st      *store.Store
	sched   *scheduler.Scheduler
	logger  *slog.Logger
	holding atomic.Bool
}

// startNotifications opens what notifications need and starts keeping the
// subscriptions while this instance is active; nil when they are off.
func startNotifications(ctx context.Context, cfg *config.Config, st *store.Store, sched *scheduler.Scheduler, inst *instance,
	metrics *server.Metrics, logger *slog.Logger) (*notifications, error) {
	if !cfg.Notifications.On() {
		return nil, nil
	}
	key, err := st.Secret(ctx, state.NotifyKey)
	if err != nil {
		return nil, err
	}
	clientState := hex.EncodeToString(key)
	g, err := cfg.Cloud.Open(ctx, logger)
	if err != nil {
		return nil, err
	}
	n := &notifications{cfg: cfg.Notifications, inst: inst, st: st, sched: sched, logger: logger}
	trigger := notify.TriggerFunc(n.nudge)
	n.manager = notify.NewManager(notify.Config{URL: cfg.Notifications.PublicURL, Resources: cfg.Notifications.Resources,
		ClientState: func() string { return clientState }, Check: cfg.Notifications.CheckInterval,
		Enabled: func(ctx context.Context) (bool, error) { en, err := st.Enablement(ctx); return en.Enabled, err }},
		g, trigger, logger, nil)
	n.handler = &notify.Handler{ClientState: func() string { return clientState }, TenantID: cfg.Cloud.TenantID,
		Trigger: trigger, Lifecycle: n.manager, Observer: metrics, Logger: logger}
	metrics.WatchNotifications(n.View)
	go n.run(ctx)
	logger.Info("change notifications on", "url", cfg.Notifications.PublicURL, "resources", cfg.Notifications.Resources)
	return n, nil
}

// nudge starts a delta cycle soon: here when this instance writes, on the
// active instance (through the shared state) when it stands by.
func (n *notifications) nudge() {
	if n.inst == nil || n.inst.active() {
		n.sched.Nudge()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.st.Nudge(ctx); err != nil {
		n.logger.Warn("a change notification reached this standby and cannot be passed on to the active instance; its next scheduled cycle reads the change", "error", err)
	}
}

// run keeps the subscriptions while this instance is active, and, on the
// active instance of a shared state, looks every second for a
// notification a standby passed on.
func (n *notifications) run(ctx context.Context) {
	var halt func() // set while the manager runs
	defer func() {
		if halt != nil {
			halt()
		}
	}()
	last, _ := n.st.Nudged(ctx)
	tick := time.NewTicker(nudgePoll)
	defer tick.Stop()
	var told []byte
	for {
		active := n.inst == nil || n.inst.active()
		switch {
		case active && halt == nil:
			halt = n.keep(ctx)
		case !active && halt != nil:
			// The next active instance keeps them: it finds them by URL.
			halt()
			halt = nil
		}
		if active {
			told = n.tell(ctx, told)
		}
		if active && n.inst != nil {
			rctx, cancel := context.WithTimeout(ctx, nudgePoll)
			v, err := n.st.Nudged(rctx)
			cancel()
			if err == nil && v != last {
				last = v
				n.logger.Debug("a standby passed on a change notification")
				n.sched.Nudge()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// notifyStatus is what the instance keeping the subscriptions records in
// the state for `status` (docs/json-formats.md).
type notifyStatus struct {
	Instance  string        `json:"instance,omitempty"`
	URL       string        `json:"url"`
	Held      []notify.Held `json:"held"`
	LastCheck time.Time     `json:"lastCheck,omitzero"`
	LastError string        `json:"lastError,omitempty"`
	Last      time.Time     `json:"lastNotification,omitzero"`
}

// tell records what this instance holds when it changed since told.
func (n *notifications) tell(ctx context.Context, told []byte) []byte {
	v := n.View()
	doc := notifyStatus{URL: v.URL, Held: v.Held, LastCheck: v.LastCheck, LastError: v.LastError, Last: v.Last}
	if n.inst != nil {
		doc.Instance = n.inst.self.Name
	}
	if doc.Held == nil {
		doc.Held = []notify.Held{}
	}
	b, _ := json.Marshal(doc) // times and strings: cannot fail
	if bytes.Equal(b, told) {
		return told
	}
	wctx, cancel := context.WithTimeout(ctx, nudgePoll)
	defer cancel()
	if err := n.st.SetNotifyStatus(wctx, b); err != nil {
		return told // said again at the next tick
	}
	return b
}

// keep runs the manager until the returned func stops it.
func (n *notifications) keep(ctx context.Context) (halt func()) {
	mctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); n.manager.Run(mctx) }()
	n.holding.Store(true)
	return func() {
		stop()
		<-done
		n.holding.Store(false)
	}
}

func (n *notifications) ServeHTTP(w http.ResponseWriter, r *http.Request) { n.handler.ServeHTTP(w, r) }

// View is what the status page and the metrics show.
func (n *notifications) View() server.NotificationView {
	v := server.NotificationView{URL: n.cfg.PublicURL, Holding: n.holding.Load(), Last: n.handler.Last()}
	if v.Holding {
		st := n.manager.Status()
		v.Held, v.LastCheck, v.LastError = st.Held, st.LastCheck, st.LastError
	}
	return v
}
