package ha_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/ha"
	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/store"
)

const lease = 400 * time.Millisecond

// instances opens n handles on one state, as n instances would share it
// (SQLite here; the lease methods pass the same suite on PostgreSQL).
func instances(t *testing.T, n int) []*store.Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	var out []*store.Store
	for range n {
		s, err := store.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out = append(out, s)
	}
	return out
}

func elector(s ha.Leases, holder string) (*ha.Elector, *[]ha.Change) {
	e := ha.New(s, ha.Config{Holder: holder, Lease: lease}, nil)
	var changes []ha.Change
	e.OnChange = func(c ha.Change) { changes = append(changes, c) }
	return e, &changes
}

func TestOneActiveAndTakeOverAfterThePausedOneRunsOut(t *testing.T) {
	ctx := context.Background()
	sts := instances(t, 2)
	a, aChanges := elector(sts[0], "a/1")
	b, bChanges := elector(sts[1], "b/1")
	// Before any lease, nothing is written.
	if err := check(a); !errors.Is(err, state.ErrFenced) {
		t.Fatalf("Check before the lease: %v", err)
	}
	if err := sts[0].SetMeta(ctx, "k", "x"); !errors.Is(err, state.ErrFenced) {
		t.Fatalf("a state write before the lease: %v", err)
	}
	a.Step(ctx)
	b.Step(ctx)
	if a.Status().Role != ha.Active || b.Status().Role != ha.Standby || check(a) != nil || !errors.Is(check(b), ha.ErrNotActive) {
		t.Fatalf("a %+v, b %+v: want a active, b standby", a.Status(), b.Status())
	}
	if err := sts[0].SetMeta(ctx, "k", "by a"); err != nil {
		t.Fatalf("the active's state write: %v", err)
	}
	if err := sts[1].SetMeta(ctx, "k", "by b"); !errors.Is(err, state.ErrFenced) {
		t.Fatalf("the standby's state write: %v", err)
	}
	// a renews while it runs.
	for range 3 {
		time.Sleep(lease / 3)
		a.Step(ctx)
		b.Step(ctx)
	}
	if check(a) != nil || b.Status().Role != ha.Standby {
		t.Fatalf("after renewals: a %+v, b %+v", a.Status(), b.Status())
	}
	// a is paused: no step. It stops trusting its lease by its own clock
	// before the database lets b take it.
	paused := time.Now()
	for check(a) == nil {
		time.Sleep(5 * time.Millisecond)
	}
	refusedAfter := time.Since(paused)
	for b.Status().Role != ha.Active {
		b.Step(ctx)
		time.Sleep(10 * time.Millisecond)
	}
	tookAfter := time.Since(paused)
	if refusedAfter >= tookAfter || tookAfter > lease+200*time.Millisecond {
		t.Fatalf("a refused writes %s after its pause, b took over after %s: want a first, b within the lease", refusedAfter, tookAfter)
	}
	bl := b.Status().Lease
	al := (*aChanges)[0].Lease
	if bl.Token <= al.Token || bl.Previous != "a/1" || len(*bChanges) != 1 || (*bChanges)[0].Role != ha.Active {
		t.Fatalf("b's lease %+v after a's %+v; changes %+v", bl, al, *bChanges)
	}
	// a wakes up: its writes are refused, in AD (Check) and in the state
	// (the fence), and its next step finds the lease lost.
	if err := check(a); !errors.Is(err, ha.ErrNotActive) {
		t.Fatalf("the old active's Check: %v", err)
	}
	var fe *state.FencedError
	if err := sts[0].SetMeta(ctx, "k", "stale"); !errors.As(err, &fe) || fe.Holder != "b/1" {
		t.Fatalf("the old active's state write: %v", err)
	}
	a.Step(ctx)
	if a.Status().Role != ha.Standby || len(*aChanges) != 2 || (*aChanges)[1].Role != ha.Standby || !errors.Is((*aChanges)[1].Err, state.ErrFenced) {
		t.Fatalf("the old active after a step: %+v, changes %+v", a.Status(), *aChanges)
	}
	if v, _ := sts[1].Meta(ctx, "k"); v != "by a" {
		t.Fatalf("k = %q, want the last write made under a lease", v)
	}
}

func TestReleaseHandsOverAtOnce(t *testing.T) {
	sts := instances(t, 2)
	a, _ := elector(sts[0], "a/1")
	b, _ := elector(sts[1], "b/1")
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	for a.Status().Role != ha.Active {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	<-done
	if check(a) == nil {
		t.Fatal("a stopped elector still lets writes through")
	}
	start := time.Now()
	b.Step(context.Background())
	if b.Status().Role != ha.Active || time.Since(start) > lease/2 {
		t.Fatalf("b after a released: %+v", b.Status())
	}
}

// flaky is a state whose database stops answering on demand.
type flaky struct {
	ha.Leases
	down atomic.Bool
}

var errDown = errors.New("connection refused")

func (f *flaky) RenewLease(ctx context.Context, l state.Lease, ttl time.Duration) (state.Lease, error) {
	if f.down.Load() {
		return l, errDown
	}
	return f.Leases.RenewLease(ctx, l, ttl)
}

func (f *flaky) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (state.Lease, error) {
	if f.down.Load() {
		return state.Lease{}, errDown
	}
	return f.Leases.AcquireLease(ctx, name, holder, ttl)
}

// TestDatabaseDown: with the database gone, the active keeps writing
// until its lease runs out by its own clock, then stops; nobody writes
// until the database is back, and then one instance takes the lease.
func TestDatabaseDown(t *testing.T) {
	ctx := context.Background()
	sts := instances(t, 2)
	fa, fb := &flaky{Leases: sts[0]}, &flaky{Leases: sts[1]}
	a, aChanges := elector(fa, "a/1")
	b, _ := elector(fb, "b/1")
	a.Step(ctx)
	b.Step(ctx)
	fa.down.Store(true)
	fb.down.Store(true)
	start := time.Now()
	var mu sync.Mutex
	stoppedAfter := time.Duration(0)
	for time.Since(start) < 2*lease {
		a.Step(ctx)
		b.Step(ctx)
		mu.Lock()
		if stoppedAfter == 0 && check(a) != nil {
			stoppedAfter = time.Since(start)
		}
		mu.Unlock()
		if check(b) == nil {
			t.Fatal("the standby became active with the database down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if stoppedAfter == 0 || stoppedAfter > lease || stoppedAfter < lease/2 {
		t.Fatalf("the active stopped writing %s after the database went down; want within its lease (%s), not at once", stoppedAfter, lease)
	}
	if len(*aChanges) != 2 || (*aChanges)[1].Role != ha.Standby || !errors.Is((*aChanges)[1].Err, errDown) {
		t.Fatalf("a's changes: %+v", *aChanges)
	}
	fa.down.Store(false)
	fb.down.Store(false)
	a.Step(ctx)
	b.Step(ctx)
	if (a.Status().Role == ha.Active) == (b.Status().Role == ha.Active) {
		t.Fatalf("with the database back: a %s, b %s; want exactly one active", a.Status().Role, b.Status().Role)
	}
}

// check is the fence's answer now, as the write gate asks it.
func check(e *ha.Elector) error {
	_, _, err := e.Permit()
	return err
}
