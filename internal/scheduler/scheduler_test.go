package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock moves only when told to; After fires when the clock reaches it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	waiting chan struct{}
}

type waiter struct {
	at time.Time
	c  chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), waiting: make(chan struct{}, 100)}
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, waiter{c.now.Add(d), ch})
	c.waiting <- struct{}{}
	return ch
}

// advance moves the clock and fires what is due.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	var keep []waiter
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.c <- c.now
		} else {
			keep = append(keep, w)
		}
	}
	c.waiters = keep
}

// run records each cycle's start time and fullness, failing while fail says.
type run struct {
	at   time.Time
	full bool
}

func start(t *testing.T, cfg Config, fail func(n int) bool) (*Scheduler, *fakeClock, chan run, context.CancelFunc) {
	clock := newFakeClock()
	runs := make(chan run, 100)
	n := 0
	s := New(cfg, clock, func(ctx context.Context, full bool) error {
		runs <- run{clock.Now(), full}
		n++
		if fail != nil && fail(n) {
			return errors.New("DC unreachable")
		}
		return nil
	}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, clock, runs, cancel
}

func next(t *testing.T, runs chan run) run {
	t.Helper()
	select {
	case r := <-runs:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no cycle ran")
		return run{}
	}
}

func waitWaiting(t *testing.T, c *fakeClock) {
	t.Helper()
	select {
	case <-c.waiting:
	case <-time.After(5 * time.Second):
		t.Fatal("the scheduler never waited")
	}
}

func TestSchedule(t *testing.T) {
	_, clock, runs, _ := start(t, Config{Interval: 30 * time.Minute, FullInterval: 2 * time.Hour}, nil)
	t0 := clock.Now()
	if r := next(t, runs); !r.full || r.at != t0 {
		t.Fatalf("first cycle %+v: want a full one at once", r)
	}
	for i := 1; i <= 4; i++ {
		waitWaiting(t, clock)
		clock.advance(29 * time.Minute)
		select {
		case r := <-runs:
			t.Fatalf("cycle %d ran early, at %v", i, r.at)
		case <-time.After(20 * time.Millisecond):
		}
		clock.advance(time.Minute)
		r := next(t, runs)
		wantFull := i == 4 // 2h after the last full one
		if r.at != t0.Add(time.Duration(i)*30*time.Minute) || r.full != wantFull {
			t.Fatalf("cycle %d: %+v, want at +%dm, full %v", i, r, 30*i, wantFull)
		}
	}
}

func TestTriggerRunsAtOnce(t *testing.T) {
	s, clock, runs, _ := start(t, Config{Interval: time.Hour}, nil)
	next(t, runs)
	waitWaiting(t, clock)
	if err := s.Trigger(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if r := next(t, runs); r.at != clock.Now() || !r.full {
		t.Fatalf("on-demand cycle %+v, now %v", r, clock.Now())
	}
}

// TestTriggersDuringACycleMerge: six requests made while a cycle runs are
// answered by one cycle after it, full because one asked for full.
func TestTriggersDuringACycleMerge(t *testing.T) {
	clock := newFakeClock()
	started, release := make(chan bool, 10), make(chan struct{})
	s := New(Config{Interval: time.Hour}, clock, func(ctx context.Context, full bool) error {
		started <- full
		<-release
		return nil
	}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); close(release); <-done }()
	<-started // the first cycle runs, and holds
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := range 6 {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- s.Trigger(context.Background(), i == 3) }()
	}
	for {
		s.mu.Lock()
		n := len(s.waiting)
		s.mu.Unlock()
		if n == 6 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	release <- struct{}{}
	if full := <-started; !full {
		t.Fatal("the merged cycle is not full, though one request asked for it")
	}
	release <- struct{}{}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-started:
		t.Fatal("a third cycle ran: the six requests were not merged")
	case <-time.After(50 * time.Millisecond):
	}
}

func TestBackoff(t *testing.T) {
	s, clock, runs, _ := start(t, Config{Interval: 10 * time.Minute, MaxBackoff: 60 * time.Minute}, func(n int) bool { return n <= 4 })
	t0 := next(t, runs).at
	// Failures: wait 20, 40, 60 (capped) minutes; after a success, 10 again.
	want := []time.Duration{20, 40, 60, 60, 10}
	at := t0
	for i, w := range want {
		waitWaiting(t, clock) // the previous cycle has ended
		if i == 2 {
			if st := s.Status(); !st.BackingOff || st.ConsecutiveFailures != 3 || st.LastError != "DC unreachable" {
				t.Fatalf("status while failing: %+v", st)
			}
		}
		clock.advance(w * time.Minute)
		r := next(t, runs)
		at = at.Add(w * time.Minute)
		if r.at != at {
			t.Fatalf("cycle %d at %v, want %v", i+2, r.at, at)
		}
	}
	waitWaiting(t, clock)
	if st := s.Status(); st.BackingOff || st.ConsecutiveFailures != 0 || st.LastSuccess.IsZero() {
		t.Fatalf("status after recovery: %+v", st)
	}
}

func TestShutdownWaitsForTheCycle(t *testing.T) {
	clock := newFakeClock()
	started, release := make(chan struct{}), make(chan struct{})
	s := New(Config{}, clock, func(ctx context.Context, full bool) error {
		close(started)
		<-release
		return ctx.Err()
	}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	<-started
	cancel()
	select {
	case <-done:
		t.Fatal("Run returned while a cycle was running")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the cycle ended")
	}
}

// TestNotRunIsNeitherSuccessNorFailure: a cycle that ended early without
// failing (writeback disabled, the lease lost) keeps the last success as
// it was, counts no failure and backs nothing off; its caller hears why.
func TestNotRunIsNeitherSuccessNorFailure(t *testing.T) {
	clock := newFakeClock()
	outcomes := []error{nil, NotRun(errors.New("writeback is disabled")), errors.New("DC unreachable"), NotRun(errors.New("lease lost"))}
	n := 0
	s := New(Config{Interval: time.Hour}, clock, func(context.Context, bool) error {
		err := outcomes[n%len(outcomes)]
		n++
		return err
	}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitWaiting(t, clock)
	first := s.Status()
	if first.LastSuccess.IsZero() || first.ConsecutiveFailures != 0 {
		t.Fatalf("after a success: %+v", first)
	}
	clock.advance(time.Minute)
	if err := s.Trigger(context.Background(), false); !errors.Is(err, ErrNotRun) || !strings.Contains(err.Error(), "writeback is disabled") {
		t.Fatalf("the caller hears %v", err)
	}
	if st := s.Status(); st.LastSuccess != first.LastSuccess || st.ConsecutiveFailures != 0 || st.LastError != "" || st.BackingOff {
		t.Fatalf("after a cycle that did not run to its end: %+v", st)
	}
	if err := s.Trigger(context.Background(), false); err == nil || errors.Is(err, ErrNotRun) {
		t.Fatalf("a failure: %v", err)
	}
	if err := s.Trigger(context.Background(), false); !errors.Is(err, ErrNotRun) {
		t.Fatalf("lease lost: %v", err)
	}
	if st := s.Status(); st.ConsecutiveFailures != 1 || st.LastSuccess != first.LastSuccess {
		t.Fatalf("a not-run cycle after a failure neither adds a failure nor clears it: %+v", st)
	}
}

// unreachable is an error that says itself, as the adapters' errors do.
type unreachable struct{}

func (unreachable) Error() string {
	return "directory: search OU=G,DC=x: LDAP Result Code 200 \"Network Error\": connection closed"
}
func (unreachable) Explain() (string, string) {
	return "the domain controller cannot be reached", "check directory.url"
}

func TestFailureSaidWithItsFix(t *testing.T) {
	clock := newFakeClock()
	var logged strings.Builder
	var mu sync.Mutex
	runs := make(chan struct{}, 10)
	s := New(Config{Interval: time.Minute}, clock, func(context.Context, bool) error {
		runs <- struct{}{}
		return fmt.Errorf("engine: writeback.target_ou: %w", unreachable{})
	}, slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	<-runs
	waitWaiting(t, clock)
	st := s.Status()
	if st.LastError != "the domain controller cannot be reached" || st.LastErrorFix != "check directory.url" ||
		!strings.HasPrefix(st.LastErrorDetail, "engine: writeback.target_ou: directory: search") {
		t.Errorf("status: error %q fix %q detail %q", st.LastError, st.LastErrorFix, st.LastErrorDetail)
	}
	mu.Lock()
	line := logged.String()
	mu.Unlock()
	if !strings.Contains(line, `msg="cycle failed: the domain controller cannot be reached"`) || !strings.Contains(line, `fix="check directory.url"`) ||
		!strings.Contains(line, `detail="engine: writeback.target_ou: directory`) {
		t.Errorf("log: %s", line)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// throttledErr is a failure Graph throttled, asking for a wait.
type throttledErr struct{ wait time.Duration }

func (e throttledErr) Error() string                  { return "graph: 429" }
func (e throttledErr) WaitBeforeRetry() time.Duration { return e.wait }

// TestJitterAndRetryAfter: each wait gets its random share of the
// jitter; after a cycle Graph throttled to failure, the next waits at
// least what Graph asked for (wrapped as the engine wraps it), and a
// shorter ask leaves the backoff as it is.
func TestJitterAndRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want time.Duration // from the first cycle's end to the second's start
	}{
		{"a success", nil, 30*time.Minute + 45*time.Second},
		{"a failure: the interval doubled", errors.New("DC unreachable"), time.Hour + 45*time.Second},
		{"throttled for 2h", fmt.Errorf("engine: read groups from Graph: %w", throttledErr{2 * time.Hour}), 2*time.Hour + 45*time.Second},
		{"throttled for 10m: the backoff", fmt.Errorf("engine: read groups from Graph: %w", throttledErr{10 * time.Minute}), time.Hour + 45*time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			runs := make(chan run, 10)
			n := 0
			s := New(Config{Interval: 30 * time.Minute, Jitter: time.Minute, Rand: func() float64 { return 0.75 }}, clock,
				func(ctx context.Context, full bool) error {
					runs <- run{clock.Now(), full}
					if n++; n == 1 {
						return tc.err
					}
					return nil
				}, nil)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { s.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			first := next(t, runs)
			waitWaiting(t, clock)
			if got := s.Status().NextRun.Sub(first.at); got != tc.want {
				t.Errorf("next run %s after the first, want %s", got, tc.want)
			}
			clock.advance(tc.want - time.Second)
			select {
			case r := <-runs:
				t.Fatalf("the second cycle ran early, at +%s", r.at.Sub(first.at))
			case <-time.After(20 * time.Millisecond):
			}
			clock.advance(time.Second)
			if r := next(t, runs); r.at.Sub(first.at) != tc.want {
				t.Errorf("the second cycle at +%s, want +%s", r.at.Sub(first.at), tc.want)
			}
		})
	}
}

// TestNudgesAreDebounced: change notifications nudge a delta cycle a
// debounce after the first; a burst makes one cycle, and the schedule
// goes on from it.
func TestNudgesAreDebounced(t *testing.T) {
	s, clock, runs, _ := start(t, Config{Interval: 10 * time.Minute, Debounce: 2 * time.Second}, nil)
	t0 := clock.Now()
	next(t, runs)
	waitWaiting(t, clock)
	for range 3 {
		s.Nudge()
	}
	waitWaiting(t, clock) // the debounce
	clock.advance(time.Second)
	s.Nudge() // within the debounce: the same cycle
	select {
	case r := <-runs:
		t.Fatalf("a nudged cycle ran before its debounce, at %v", r.at)
	case <-time.After(20 * time.Millisecond):
	}
	clock.advance(time.Second)
	if r := next(t, runs); r.full || r.at != t0.Add(2*time.Second) {
		t.Fatalf("nudged cycle %+v, want a delta one 2s after the first nudge", r)
	}
	select {
	case r := <-runs:
		t.Fatalf("four nudges made a second cycle, at %v", r.at)
	case <-time.After(20 * time.Millisecond):
	}
	waitWaiting(t, clock)
	clock.advance(10 * time.Minute)
	if r := next(t, runs); r.at != t0.Add(2*time.Second+10*time.Minute) {
		t.Fatalf("the schedule after the nudged cycle: %+v", r)
	}
}

// TestNudgeDuringACycle: a notification that arrives while a cycle runs
// makes one more cycle after it (the running one may have read Graph
// before the change).
func TestNudgeDuringACycle(t *testing.T) {
	clock := newFakeClock()
	started, release := make(chan time.Time, 10), make(chan struct{})
	s := New(Config{Interval: time.Hour, Debounce: time.Second}, clock, func(ctx context.Context, full bool) error {
		started <- clock.Now()
		<-release
		return nil
	}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	<-started
	s.Nudge()
	s.Nudge()
	release <- struct{}{}
	waitWaiting(t, clock)
	clock.advance(time.Second)
	select {
	case at := <-started:
		if want := clock.Now(); !at.Equal(want) {
			t.Fatalf("the cycle after the nudges started at %v, want %v", at, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the nudges during a cycle made no cycle after it")
	}
	release <- struct{}{}
}

// TestNudgeDoesNotHurryABackoff: after failures a nudge waits for the
// cycle the backoff allows.
func TestNudgeDoesNotHurryABackoff(t *testing.T) {
	s, clock, runs, _ := start(t, Config{Interval: time.Minute, Debounce: time.Second}, func(int) bool { return true })
	next(t, runs)
	waitWaiting(t, clock)
	clock.advance(2 * time.Minute) // the second failure: backing off 4 minutes
	next(t, runs)
	waitWaiting(t, clock)
	s.Nudge()
	waitWaiting(t, clock)
	clock.advance(time.Minute)
	select {
	case r := <-runs:
		t.Fatalf("a nudge hurried the backoff: a cycle at %v", r.at)
	case <-time.After(20 * time.Millisecond):
	}
	clock.advance(3 * time.Minute)
	next(t, runs)
}
