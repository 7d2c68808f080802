package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

// Graph is the subscriptions API, as the manager uses it (graph.Client).
type Graph interface {
	Subscriptions(ctx context.Context) ([]cloud.Subscription, error)
	CreateSubscription(ctx context.Context, s cloud.Subscription) (cloud.Subscription, error)
	RenewSubscription(ctx context.Context, id string, until time.Time) (cloud.Subscription, error)
	ReauthorizeSubscription(ctx context.Context, id string) error
	DeleteSubscription(ctx context.Context, id string) error
}

// Lifetimes Graph allows a subscription to users or groups
// (change-notifications-overview.md).
const (
	// MaxLifetime is the longest: 41,760 minutes, under 29 days.
	MaxLifetime = 41760 * time.Minute
	// lifetimeMargin is asked less than the longest, for the clocks'
	// skew: "a request beyond the maximum will fail".
	lifetimeMargin = time.Hour
)

// retryAfterFailure is the first wait after a failed check.
const retryAfterFailure = 10 * time.Second

// Config is what the manager keeps.
type Config struct {
	// URL is the public notification URL Graph posts to (HTTPS); its
	// lifecycle events go to URL + "/lifecycle".
	URL string
	// Resources are what is watched: "groups" (members included) and
	// "users" (a member's resolution depends on the user).
	Resources []string
	// ClientState is the secret Graph returns with each notification.
	ClientState func() string
	// Check is how often the subscriptions are listed, renewed and made
	// again if gone (default 15m).
	Check time.Duration
	// RenewBefore renews a subscription with less than this left
	// (default 14 days: about half its life).
	RenewBefore time.Duration
	// Enabled, when set, says whether writeback is enabled: while it is
	// not, the manager holds no subscription (a disabled service has
	// nothing to be told).
	Enabled func(ctx context.Context) (bool, error)
}

// LifecycleURL is where Graph posts a subscription's lifecycle events.
func (c Config) LifecycleURL() string { return strings.TrimRight(c.URL, "/") + "/lifecycle" }

// Status is what the manager holds, for doctor, status and metrics.
type Status struct {
	URL string `json:"url"`
	// Held are the subscriptions it holds, by resource.
	Held []Held `json:"held"`
	// LastCheck is when it last listed them; LastError what went wrong
	// then ("" when nothing did).
	LastCheck time.Time `json:"lastCheck,omitzero"`
	LastError string    `json:"lastError,omitempty"`
	// Created, Renewed, Reauthorized and Recreated count what it did.
	Created, Renewed, Reauthorized, Recreated int
}

// Held is one subscription held.
type Held struct {
	Resource string    `json:"resource"`
	ID       string    `json:"id"`
	Expires  time.Time `json:"expires"`
}

// Manager keeps one subscription per resource at the URL: it makes the
// missing ones, renews those near their end, makes again those Graph
// dropped (groups get no subscriptionRemoved event: a check is how it
// finds out), reauthorizes on reauthorizationRequired, and removes them
// all on Remove. After anything that may have lost notifications it
// triggers a delta cycle: the delta link holds what they would have said.
type Manager struct {
	cfg     Config
	graph   Graph
	trigger Trigger
	logger  *slog.Logger
	now     func() time.Time
	kick    chan struct{}

	mu     sync.Mutex
	status Status
}

// NewManager returns a manager; now is the clock (nil: time.Now).
func NewManager(cfg Config, g Graph, trigger Trigger, logger *slog.Logger, now func() time.Time) *Manager {
	if cfg.Check <= 0 {
		cfg.Check = 15 * time.Minute
	}
	if cfg.RenewBefore <= 0 {
		cfg.RenewBefore = 14 * 24 * time.Hour
	}
	if len(cfg.Resources) == 0 {
		cfg.Resources = []string{"groups", "users"}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	if trigger == nil {
		trigger = TriggerFunc(func() {})
	}
	return &Manager{cfg: cfg, graph: g, trigger: trigger, logger: logger, now: now, kick: make(chan struct{}, 1), status: Status{URL: cfg.URL}}
}

// Status returns what the manager holds.
func (m *Manager) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.status
	s.Held = slices.Clone(s.Held)
	return s
}

// ours reports whether s is this service's subscription to resource:
// Graph lists a resource as it keeps it ("Groups"), and never the client
// state, so the URL and the resource say it.
func (m *Manager) ours(s cloud.Subscription, resource string) bool {
	return s.NotificationURL == m.cfg.URL && strings.EqualFold(strings.TrimPrefix(s.Resource, "/"), resource)
}

// changeTypes are what each resource is watched for: a group's creation
// and soft deletion come as updated, its hard deletion as deleted.
func changeTypes(resource string) string {
	if resource == "users" {
		return "created,updated,deleted"
	}
	return "updated,deleted"
}

// Ensure lists the app's subscriptions and makes the URL's right: one per
// resource, renewed in time, the missing made, extra ones (two instances
// once both made one) deleted. It triggers a delta cycle when it made one
// again, since what changed meanwhile was never notified.
func (m *Manager) Ensure(ctx context.Context) error {
	err := m.ensure(ctx)
	m.mu.Lock()
	m.status.LastCheck = m.now()
	m.status.LastError = ""
	if err != nil {
		m.status.LastError = err.Error()
	}
	m.mu.Unlock()
	return err
}

func (m *Manager) ensure(ctx context.Context) error {
	if m.cfg.Enabled != nil {
		on, err := m.cfg.Enabled(ctx)
		if err != nil {
			return fmt.Errorf("notify: is writeback enabled: %w", err)
		}
		if !on {
			if n, err := m.Remove(ctx); err != nil || n > 0 {
				m.logger.Info("change notifications: writeback is disabled; the subscriptions are deleted", "deleted", n, "error", err)
				return err
			}
			return nil
		}
	}
	all, err := m.graph.Subscriptions(ctx)
	if err != nil {
		return fmt.Errorf("notify: list the subscriptions: %w", err)
	}
	now := m.now()
	var held []Held
	var errs []error
	remade := false
	for _, res := range m.cfg.Resources {
		var mine []cloud.Subscription
		for _, s := range all {
			if m.ours(s, res) && s.Expires.After(now) {
				mine = append(mine, s)
			}
		}
		// The one that lasts longest is kept; others go.
		slices.SortFunc(mine, func(a, b cloud.Subscription) int { return b.Expires.Compare(a.Expires) })
		for _, extra := range mine[min(1, len(mine)):] {
			if err := m.graph.DeleteSubscription(ctx, extra.ID); err != nil && !errors.Is(err, cloud.ErrNoSuchSubscription) {
				errs = append(errs, fmt.Errorf("notify: delete the extra %s subscription %s: %w", res, extra.ID, err))
			}
		}
		var s cloud.Subscription
		switch {
		case len(mine) == 0:
			if s, err = m.create(ctx, res); err != nil {
				errs = append(errs, err)
				continue
			}
			remade = true
		case mine[0].Expires.Sub(now) < m.cfg.RenewBefore:
			s, err = m.graph.RenewSubscription(ctx, mine[0].ID, now.Add(MaxLifetime-lifetimeMargin))
			switch {
			case errors.Is(err, cloud.ErrNoSuchSubscription):
				if s, err = m.create(ctx, res); err != nil {
					errs = append(errs, err)
					continue
				}
				remade = true
			case err != nil:
				errs = append(errs, fmt.Errorf("notify: renew the %s subscription %s: %w", res, mine[0].ID, err))
				s = mine[0]
			default:
				m.count(func(st *Status) { st.Renewed++ })
				m.logger.Info("change notifications: subscription renewed", "resource", res, "id", s.ID, "expires", s.Expires)
			}
		default:
			s = mine[0]
		}
		held = append(held, Held{Resource: res, ID: s.ID, Expires: s.Expires})
	}
	m.mu.Lock()
	had := len(m.status.Held)
	m.status.Held = held
	m.mu.Unlock()
	if remade && had > 0 {
		// A subscription this manager held is gone: what changed since it
		// went was never notified.
		m.trigger.Nudge()
	}
	return errors.Join(errs...)
}

// create makes a subscription to res; Graph validates both URLs first.
func (m *Manager) create(ctx context.Context, res string) (cloud.Subscription, error) {
	m.mu.Lock()
	first := len(m.status.Held) == 0
	m.mu.Unlock()
	s, err := m.graph.CreateSubscription(ctx, cloud.Subscription{Resource: res, ChangeType: changeTypes(res), NotificationURL: m.cfg.URL,
		LifecycleNotificationURL: m.cfg.LifecycleURL(), ClientState: m.cfg.ClientState(), Expires: m.now().Add(MaxLifetime - lifetimeMargin)})
	if err != nil {
		return s, &CreateError{Resource: res, URL: m.cfg.URL, Err: err}
	}
	if first {
		m.count(func(st *Status) { st.Created++ })
	} else {
		m.count(func(st *Status) { st.Recreated++ })
	}
	m.logger.Info("change notifications: subscribed", "resource", res, "id", s.ID, "expires", s.Expires, "url", m.cfg.URL)
	return s, nil
}

// CreateError: Graph would not make a subscription, most often because
// the notification URL did not answer its validation request.
type CreateError struct {
	Resource, URL string
	Err           error
}

func (e *CreateError) Error() string {
	return fmt.Sprintf("notify: Graph made no %s subscription for %s (it must reach that URL over HTTPS from the internet and get its validation token back within 10 seconds; the app needs the read permission of %s): %v",
		e.Resource, e.URL, e.Resource, e.Err)
}

func (e *CreateError) Unwrap() error { return e.Err }

func (m *Manager) count(f func(*Status)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(&m.status)
}

// Lifecycle acts on a lifecycle notification: reauthorizationRequired is
// answered with a reauthorization (a subscription gone meanwhile is made
// again), subscriptionRemoved with a new subscription, and every event
// with a delta cycle, since notifications may have been lost.
func (m *Manager) Lifecycle(n cloud.Notification) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m.logger.Info("change notifications: lifecycle event", "event", n.LifecycleEvent, "subscription", n.SubscriptionID)
	switch n.LifecycleEvent {
	case "reauthorizationRequired":
		err := m.graph.ReauthorizeSubscription(ctx, n.SubscriptionID)
		switch {
		case err == nil:
			m.count(func(st *Status) { st.Reauthorized++ })
		case errors.Is(err, cloud.ErrNoSuchSubscription):
			m.Kick()
		default:
			m.logger.Error("change notifications: cannot reauthorize the subscription; notifications stop until it is (the schedule's delta cycles go on)", "subscription", n.SubscriptionID, "error", err)
		}
	default: // subscriptionRemoved, missed, or one not known yet
		m.Kick()
	}
	m.trigger.Nudge()
}

// Kick asks the running manager to check at once.
func (m *Manager) Kick() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Run keeps the subscriptions until ctx ends: a check at once, then every
// Check, and whenever kicked. A failed check is tried again sooner: after
// 10 seconds, doubling up to Check.
func (m *Manager) Run(ctx context.Context) {
	failures := 0
	for {
		wait := m.cfg.Check
		if err := m.Ensure(ctx); err != nil && ctx.Err() == nil {
			failures++
			wait = min(wait, retryAfterFailure<<min(failures-1, 10))
			m.logger.Error("change notifications: "+err.Error()+"; the schedule's delta cycles go on", "retry_in", wait)
		} else {
			failures = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-m.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// Remove deletes every subscription at the URL (writeback disabled, or
// notifications turned off): Graph then posts nothing more.
func (m *Manager) Remove(ctx context.Context) (int, error) {
	all, err := m.graph.Subscriptions(ctx)
	if err != nil {
		return 0, fmt.Errorf("notify: list the subscriptions: %w", err)
	}
	n := 0
	var errs []error
	for _, s := range all {
		if s.NotificationURL != m.cfg.URL {
			continue
		}
		if err := m.graph.DeleteSubscription(ctx, s.ID); err != nil && !errors.Is(err, cloud.ErrNoSuchSubscription) {
			errs = append(errs, fmt.Errorf("notify: delete subscription %s: %w", s.ID, err))
			continue
		}
		n++
	}
	m.mu.Lock()
	m.status.Held = nil
	m.mu.Unlock()
	return n, errors.Join(errs...)
}
