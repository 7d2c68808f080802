// Package ha makes several instances sharing one state (PostgreSQL) run as
// one service: exactly one of them, the holder of the writer lease, writes
// to AD and to the state; the others stand by as staging servers, and one
// of them takes over when the active one dies or is cut off.
//
// The lease is a row in the shared database, timed by the database's
// clock, with a fencing token that grows each time it changes hands. The
// state refuses a write whose token is no longer the lease's, in the same
// transaction (store.Fence). AD cannot check a token, so the instance
// checks before each write that its lease is still good by its own clocks
// (Permit): a lease is trusted for Lease minus a margin after the renewal
// that granted it was sent, so that it runs out here before it runs out in
// the database, whatever the instance was doing in between (paused,
// partitioned, its machine suspended).
package ha

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// Leases are the lease operations of the shared state (store.Store).
type Leases interface {
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (state.Lease, error)
	RenewLease(ctx context.Context, l state.Lease, ttl time.Duration) (state.Lease, error)
	ReleaseLease(ctx context.Context, l state.Lease) error
	Fence(holder string, token int64)
}

// Role is what an instance does.
type Role string

// Roles.
const (
	// Active holds the writer lease: it writes to AD and to the state.
	Active Role = "active"
	// Standby plans and records, and writes nothing: a staging server
	// that takes over when the lease is free.
	Standby Role = "standby"
)

// Config times the lease.
type Config struct {
	// Holder is this instance's id in the lease (name/nonce).
	Holder string
	// Lease is how long a lease lasts unrenewed (default 30s): the longest
	// a dead active keeps the others from taking over.
	Lease time.Duration
	// Renew is how often the active renews, and a standby tries to take
	// the lease (default Lease/3). A dead active is replaced within
	// Lease + Renew.
	Renew time.Duration
	// Margin is how much sooner than the database this instance considers
	// its lease run out (default Lease/10): room for clocks that run at
	// slightly different rates.
	Margin time.Duration
}

func (c *Config) complete() {
	if c.Lease <= 0 {
		c.Lease = 30 * time.Second
	}
	if c.Renew <= 0 {
		c.Renew = c.Lease / 3
	}
	if c.Margin <= 0 {
		c.Margin = c.Lease / 10
	}
}

// Change is a change of role.
type Change struct {
	Role Role
	// Lease is the lease taken (Active), or the one lost (Standby; zero
	// when none was held).
	Lease state.Lease
	// Why a lease was lost.
	Err error
}

// Elector takes, renews and gives up the writer lease.
type Elector struct {
	leases Leases
	cfg    Config
	logger *slog.Logger
	now    func() time.Time
	// OnChange, when set, is called with each change of role, from Run's
	// goroutine.
	OnChange func(Change)
	// OnRefused, when set, is called with each write Permit refused.
	OnRefused func()

	mu    sync.Mutex
	lease state.Lease
	held  bool
	// until is when this instance stops trusting its lease: the moment
	// the renewal that granted it was sent, plus Lease minus Margin. It
	// carries Go's monotonic reading, and wallUntil the wall clock's:
	// Permit wants both still ahead, so that a machine suspended (the
	// monotonic clock stops) or a clock set back is caught by the other.
	until, wallUntil time.Time
	since            time.Time
}

// New returns an elector for the lease of a state.
func New(leases Leases, cfg Config, logger *slog.Logger) *Elector {
	cfg.complete()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	e := &Elector{leases: leases, cfg: cfg, logger: logger, now: time.Now}
	leases.Fence(cfg.Holder, 0) // nothing is written before the lease is held
	return e
}

// Config is the elector's configuration, with its defaults.
func (e *Elector) Config() Config { return e.cfg }

// Run takes the lease when it is free and keeps it renewed, until ctx
// ends; then it gives it up, so that a standby takes over at once.
func (e *Elector) Run(ctx context.Context) {
	for {
		e.Step(ctx)
		select {
		case <-ctx.Done():
			e.release()
			return
		case <-time.After(e.cfg.Renew):
		}
	}
}

// Step is one turn of Run: renew the lease held, or try to take it.
func (e *Elector) Step(ctx context.Context) {
	e.mu.Lock()
	held, cur := e.held, e.lease
	e.mu.Unlock()
	sent := e.now()
	// A database that accepts and never answers must not hold the
	// elector: each call gets one renewal interval.
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Renew)
	defer cancel()
	if held {
		l, err := e.leases.RenewLease(ctx, cur, e.cfg.Lease)
		switch {
		case err == nil:
			e.grant(l, sent, false)
		case errors.Is(err, state.ErrFenced):
			e.lose(fmt.Errorf("the lease was lost: %w", err))
		default:
			// The database did not answer: keep the lease until it runs
			// out here, and try again.
			e.logger.Warn("cannot renew the writer lease; writing stops when it runs out unless a renewal gets through",
				"error", err, "until", e.untilWall())
			if !e.trusted() {
				e.lose(fmt.Errorf("the lease ran out while the database did not answer: %w", err))
			}
		}
		return
	}
	l, err := e.leases.AcquireLease(ctx, state.WriterLease, e.cfg.Holder, e.cfg.Lease)
	var heldErr *state.LeaseHeldError
	switch {
	case err == nil:
		e.grant(l, sent, true)
	case errors.As(err, &heldErr):
	default:
		e.logger.Warn("cannot reach the shared state to take the writer lease", "error", err)
	}
}

func (e *Elector) grant(l state.Lease, sent time.Time, acquired bool) {
	e.mu.Lock()
	was := e.held
	e.lease, e.held = l, true
	e.until = sent.Add(e.cfg.Lease - e.cfg.Margin)
	e.wallUntil = sent.Round(0).Add(e.cfg.Lease - e.cfg.Margin)
	if !was {
		e.since = e.now()
	}
	e.mu.Unlock()
	e.leases.Fence(l.Holder, l.Token)
	if acquired && !was {
		e.logger.Info("took the writer lease: this instance is active", "instance", state.HolderName(l.Holder), "holder", l.Holder,
			"token", l.Token, "previous", state.HolderName(l.Previous), "previous_holder", l.Previous)
		if e.OnChange != nil {
			e.OnChange(Change{Role: Active, Lease: l})
		}
	}
}

func (e *Elector) lose(why error) {
	e.mu.Lock()
	if !e.held {
		e.mu.Unlock()
		return
	}
	l := e.lease
	e.held = false
	e.mu.Unlock()
	e.leases.Fence(l.Holder, 0)
	e.logger.Warn("lost the writer lease: this instance stands by and writes nothing", "instance", state.HolderName(l.Holder), "token", l.Token, "why", why)
	if e.OnChange != nil {
		e.OnChange(Change{Role: Standby, Lease: l, Err: why})
	}
}

func (e *Elector) release() {
	e.mu.Lock()
	l, held := e.lease, e.held
	e.held = false
	e.mu.Unlock()
	if !held {
		return
	}
	e.leases.Fence(l.Holder, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.leases.ReleaseLease(ctx, l); err != nil {
		e.logger.Warn("cannot release the writer lease; a standby takes over when it runs out", "error", err)
		return
	}
	e.logger.Info("released the writer lease", "token", l.Token)
}

// trusted says whether the lease held is still good by this instance's
// clocks; e.mu need not be held.
func (e *Elector) trusted() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	return e.held && now.Before(e.until) && now.Round(0).Before(e.wallUntil)
}

func (e *Elector) untilWall() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.wallUntil
}

// ErrNotActive: a write was refused because this instance does not hold
// the writer lease, or no longer trusts it. It wraps state.ErrFenced.
var ErrNotActive = fmt.Errorf("this instance is not the active one: %w", state.ErrFenced)

// Permit is the fence as the write gate asks it (gate.Fence), immediately
// before each request to AD: the lease this instance writes under, and
// until when it trusts it (a request must be answered or abandoned by
// then); ErrNotActive when it holds none, or trusts it for less than the
// margin more (a renewal is due long before: the lease is about to run
// out here). The instance, the token and the time left are read
// together, so that the audit trail names the lease the write was sent
// under.
func (e *Elector) Permit() (gate.Lease, time.Time, error) {
	e.mu.Lock()
	now := e.now()
	until := e.until
	if w := e.wallUntil.Sub(now.Round(0)); w < until.Sub(now) {
		until = now.Add(w) // the wall clock's reading is the nearer
	}
	ok := e.held && until.Sub(now) >= e.cfg.Margin
	l := gate.Lease{Instance: state.HolderName(e.cfg.Holder), Token: e.lease.Token}
	e.mu.Unlock()
	if ok {
		return l, until, nil
	}
	if e.OnRefused != nil {
		e.OnRefused()
	}
	return gate.Lease{}, time.Time{}, ErrNotActive
}

// Status is the elector's view.
type Status struct {
	Role  Role
	Lease state.Lease
	// Since is when this instance became active.
	Since time.Time
}

// Status returns the role now: active only while Permit would pass.
func (e *Elector) Status() Status {
	ok := e.trusted()
	e.mu.Lock()
	defer e.mu.Unlock()
	if !ok {
		return Status{Role: Standby}
	}
	return Status{Role: Active, Lease: e.lease, Since: e.since}
}

// Reader reads the election's record in the shared state (store.Store).
type Reader interface {
	ReadLease(ctx context.Context, name string) (state.LeaseState, error)
	Takeovers(ctx context.Context, n int) ([]state.Takeover, error)
	Instances(ctx context.Context, since time.Duration) ([]state.Instance, error)
}

// View is the election as status, the status page and /readyz show it.
type View struct {
	// Instance and Role are this instance's name and role (empty for a
	// command that is no instance).
	Instance string `json:"instance,omitempty"`
	Role     Role   `json:"role,omitempty"`
	// Active names the active instance ("" when none holds the lease),
	// ActiveSince is when its lease was granted, Token its fencing token.
	Active      string    `json:"active"`
	ActiveSince time.Time `json:"activeSince,omitzero"`
	Token       int64     `json:"token"`
	// LastTakeover is the last time the lease changed hands.
	LastTakeover *state.Takeover `json:"lastTakeover,omitempty"`
	// Instances are those that reported themselves within three leases.
	Instances []state.Instance `json:"instances"`
}

// Describe reads the election from the shared state; lease is the lease
// duration (instances unheard of for three are left out).
func Describe(ctx context.Context, r Reader, lease time.Duration) (View, error) {
	var v View
	l, err := r.ReadLease(ctx, state.WriterLease)
	if err != nil {
		return v, err
	}
	if l.Held() {
		v.Active, v.ActiveSince, v.Token = state.HolderName(l.Holder), l.Acquired.UTC(), l.Token
	}
	tks, err := r.Takeovers(ctx, 1)
	if err != nil {
		return v, err
	}
	if len(tks) > 0 {
		tk := tks[0]
		tk.Holder, tk.Previous = state.HolderName(tk.Holder), state.HolderName(tk.Previous)
		v.LastTakeover = &tk
	}
	if v.Instances, err = r.Instances(ctx, 3*lease); err != nil {
		return v, err
	}
	return v, nil
}

// Describe is the election as this instance sees it: its own role (from
// its own clocks, as Permit) beside the shared record.
func (e *Elector) Describe(ctx context.Context, r Reader) (View, error) {
	v, err := Describe(ctx, r, e.cfg.Lease)
	v.Instance, v.Role = state.HolderName(e.cfg.Holder), e.Status().Role
	return v, err
}
