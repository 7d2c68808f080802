// Package scheduler runs writeback cycles as a service does: one every
// interval, a full reconcile every full interval, one on demand, never two
// at once, and, after whole-run failures, backing off instead of hammering
// Graph or the DC. Time comes from a Clock, so it is tested without sleeping.
package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/advice"
)

// Clock is the time source.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// RealClock is the wall clock.
type RealClock struct{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// After is time.After.
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Cycle runs one cycle; full asks for a full reconcile. It returns nil
// when the cycle ran to its end (a success), an error wrapping ErrNotRun
// when it ended early without failing, and any other error when it failed.
type Cycle func(ctx context.Context, full bool) error

// ErrNotRun marks a cycle that ended early without failing: writeback
// disabled, or the writer lease lost to another instance. It is neither a
// success (the last success stays) nor a failure to back off from.
var ErrNotRun = errors.New("the cycle did not run to its end")

// NotRun wraps why a cycle ended early without failing.
func NotRun(why error) error { return &notRun{why} }

type notRun struct{ why error }

func (e *notRun) Error() string   { return e.why.Error() }
func (e *notRun) Unwrap() []error { return []error{ErrNotRun, e.why} }

// Config is the schedule.
type Config struct {
	// Interval between cycles (default 30m).
	Interval time.Duration
	// FullInterval between full reconciles (default 24h).
	FullInterval time.Duration
	// MaxBackoff caps the wait after repeated failures (default 6h).
	MaxBackoff time.Duration
	// Jitter is the most added at random to each wait (0: none), drawn by
	// Rand (a number in [0, 1); nil: math/rand/v2's).
	Jitter time.Duration
	Rand   func() float64
	// Debounce is how long a nudge waits for others before its cycle
	// starts (default 2s): a burst of change notifications makes one
	// cycle.
	Debounce time.Duration
}

// throttled is an error that says how long to wait before asking again
// (a Graph error with Retry-After).
type throttled interface{ WaitBeforeRetry() time.Duration }

// Status is what the scheduler knows of its cycles.
type Status struct {
	Running     bool      `json:"running"`
	LastStart   time.Time `json:"lastStart,omitzero"`
	LastEnd     time.Time `json:"lastEnd,omitzero"`
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	LastFull    time.Time `json:"lastFull,omitzero"`
	// LastError is the last failure said in one line, LastErrorFix what
	// to do about it and LastErrorDetail the whole error chain.
	LastError           string    `json:"lastError,omitempty"`
	LastErrorFix        string    `json:"lastErrorFix,omitempty"`
	LastErrorDetail     string    `json:"lastErrorDetail,omitempty"`
	ConsecutiveFailures int       `json:"consecutiveFailures"`
	NextRun             time.Time `json:"nextRun,omitzero"`
	// BackingOff says the next cycle is delayed because of failures.
	BackingOff bool `json:"backingOff"`
}

// Scheduler runs cycles.
type Scheduler struct {
	cfg    Config
	clock  Clock
	cycle  Cycle
	logger *slog.Logger
	// wake is signalled when a request joins waiting.
	wake chan struct{}

	mu     sync.Mutex
	status Status
	// waiting are the on-demand requests the next cycle answers, all of
	// them with one cycle.
	waiting []request
	// nudgeAt, when set, is when a nudged cycle is due; nudges is how
	// many it answers.
	nudgeAt time.Time
	nudges  int
}

type request struct {
	full bool
	done chan error
}

// New returns a scheduler.
func New(cfg Config, clock Clock, cycle Cycle, logger *slog.Logger) *Scheduler {
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Minute
	}
	if cfg.FullInterval <= 0 {
		cfg.FullInterval = 24 * time.Hour
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 6 * time.Hour
	}
	if clock == nil {
		clock = RealClock{}
	}
	if cfg.Debounce <= 0 {
		cfg.Debounce = 2 * time.Second
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{cfg: cfg, clock: clock, cycle: cycle, logger: logger, wake: make(chan struct{}, 1)}
}

// Status returns the scheduler's state.
func (s *Scheduler) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Trigger asks for a cycle now and waits for it; it returns its error, or
// the context's if the scheduler stops first. Requests that arrive while a
// cycle runs, or together, are answered by one cycle after it (full if any
// asked for full): six clicks make one cycle, not six.
func (s *Scheduler) Trigger(ctx context.Context, full bool) error {
	r := request{full: full, done: make(chan error, 1)}
	s.mu.Lock()
	s.waiting = append(s.waiting, r)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // a wake-up is already pending; this request joins it
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Nudge asks for a delta cycle soon and does not wait for it: a change
// notification. The cycle starts a debounce after the first nudge, and
// answers every nudge up to its start; a nudge while a cycle runs makes
// one more cycle after it (the running one may have read Graph before the
// change). A nudge never hurries a failing service's backoff: it waits
// for the next cycle the backoff allows.
func (s *Scheduler) Nudge() {
	s.mu.Lock()
	s.nudges++
	first := s.nudgeAt.IsZero()
	if first {
		s.nudgeAt = s.clock.Now().Add(s.cfg.Debounce)
	}
	s.mu.Unlock()
	if first {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// wait is how long to wait after a cycle that ended with err: the
// interval, or after n consecutive failures the interval doubled n times,
// capped; at least what Graph asked for when it throttled the cycle to
// failure; and a random part of the jitter.
func (s *Scheduler) wait(failures int, err error) time.Duration {
	d := s.cfg.Interval
	for range failures {
		d *= 2
		if d >= s.cfg.MaxBackoff {
			d = s.cfg.MaxBackoff
			break
		}
	}
	var t throttled
	if errors.As(err, &t) && t.WaitBeforeRetry() > d {
		d = t.WaitBeforeRetry()
	}
	return d + time.Duration(s.cfg.Rand()*float64(s.cfg.Jitter))
}

// Run runs cycles until ctx ends: the first at once, then on schedule or on
// demand. It returns when ctx ends and no cycle is running.
func (s *Scheduler) Run(ctx context.Context) error {
	var next time.Time // zero: run at once
	for {
		var timer <-chan time.Time
		due := next
		s.mu.Lock()
		if !s.nudgeAt.IsZero() && !next.IsZero() && s.nudgeAt.Before(next) && s.status.ConsecutiveFailures == 0 {
			due = s.nudgeAt
		}
		s.mu.Unlock()
		if d := due.Sub(s.clock.Now()); due.IsZero() || d <= 0 {
			c := make(chan time.Time, 1)
			c <- s.clock.Now()
			timer = c
		} else {
			timer = s.clock.After(d)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-timer:
		case <-s.wake:
			s.mu.Lock()
			asked := len(s.waiting) > 0
			s.mu.Unlock()
			if !asked {
				continue // a nudge: wait for its debounce
			}
		}
		s.mu.Lock()
		batch := s.waiting
		s.waiting = nil
		// Whatever starts it, this cycle reads Graph after every nudge so
		// far and answers them; later ones make another.
		nudges := s.nudges
		s.nudges, s.nudgeAt = 0, time.Time{}
		full := false
		for _, r := range batch {
			full = full || r.full
		}
		if s.status.LastFull.IsZero() || s.clock.Now().Sub(s.status.LastFull) >= s.cfg.FullInterval {
			full = true
		}
		s.status.Running, s.status.LastStart = true, s.clock.Now()
		s.mu.Unlock()
		// A scheduled delta cycle is said at Debug: at a 10-second
		// interval, most of them find nothing to do (the engine says
		// what one did when it did something).
		level := slog.LevelInfo
		if !full && len(batch) == 0 && nudges == 0 {
			level = slog.LevelDebug
		}
		s.logger.Log(ctx, level, "cycle starting", "full", full, "on_demand", len(batch) > 0, "requests", len(batch), "notifications", nudges)
		err := s.cycle(ctx, full)
		now := s.clock.Now()
		s.mu.Lock()
		s.status.Running, s.status.LastEnd = false, now
		failed := err != nil && !errors.Is(err, ErrNotRun)
		if err == nil {
			s.status.LastSuccess, s.status.ConsecutiveFailures = now, 0
			s.status.LastError, s.status.LastErrorFix, s.status.LastErrorDetail = "", "", ""
			if full {
				s.status.LastFull = now
			}
		} else if failed && ctx.Err() == nil {
			a := advice.For(err)
			s.status.LastError, s.status.LastErrorFix, s.status.LastErrorDetail = a.Summary, a.Fix, a.Detail
			s.status.ConsecutiveFailures++
		}
		failures := s.status.ConsecutiveFailures
		next = now.Add(s.wait(failures, err))
		s.status.NextRun, s.status.BackingOff = next, failures > 1
		s.mu.Unlock()
		if failed && ctx.Err() == nil {
			a := advice.For(err)
			if failures > 1 {
				s.logger.Error("cycle failed again; backing off: "+a.Summary, "failures", failures, "next", next, "fix", a.Fix, "detail", a.Detail)
			} else {
				s.logger.Error("cycle failed: "+a.Summary, "next", next, "fix", a.Fix, "detail", a.Detail)
			}
		}
		for _, r := range batch {
			r.done <- err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}
