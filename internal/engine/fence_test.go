package engine_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/audit"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// writeHook is a directory writer whose writes go through a function.
type writeHook struct {
	gate.Target
	write func(ctx context.Context, a *gate.Approved) error
}

func (h writeHook) Write(ctx context.Context, a *gate.Approved) error { return h.write(ctx, a) }

// TestLeaseLostMidCycle: an instance that loses the writer lease in the
// middle of a cycle stops at the first write refused: it writes nothing
// more to AD, its state writes are refused too, and the instance that took
// over completes the work from the state as the first one left it.
func TestLeaseLostMidCycle(t *testing.T) {
	ctx := context.Background()
	var groups []map[string]any
	for i := range 6 {
		groups = append(groups, map[string]any{"id": groupID(i), "displayName": fmt.Sprintf("G%d", i), "mailNickname": fmt.Sprintf("g%d", i), "members": []any{userID(0)}})
	}
	e := newGroupsEnv(t, 2, groups, nil)
	a, err := e.store.AcquireLease(ctx, state.WriterLease, "a/1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e.store.Fence(a.Holder, a.Token)
	var b state.Lease
	refused := 0
	w := writeHook{Target: e.dir, write: func(ctx context.Context, ap *gate.Approved) error {
		if e.writes() == 2 && b.Token == 0 { // b takes over: a was paused past its lease
			_ = e.store.ReleaseLease(ctx, a)
			if b, err = e.store.AcquireLease(ctx, state.WriterLease, "b/1", time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		if b.Token != 0 {
			refused++
			return fmt.Errorf("lease check: %w", state.ErrFenced)
		}
		return e.dir.Write(ctx, ap)
	}}
	_, err = engine.New(e.cloud, e.dir, w, e.store, e.cfg, nil).Run(ctx, engine.RunOptions{})
	if !errors.Is(err, state.ErrFenced) || e.writes() != 2 || refused != 1 {
		t.Fatalf("cycle of the instance that lost its lease: %v; %d writes, %d refused; want ErrFenced, 2 writes and one refusal", err, e.writes(), refused)
	}
	e.store.Fence(b.Holder, b.Token)
	res, _ := e.sync(engine.RunOptions{})
	if res.Counts.Created != 4 || e.writes() != 6 {
		t.Fatalf("the new active's cycle: %+v, %d writes in all; want the 4 groups left created", res.Counts, e.writes())
	}
	for i := range 6 {
		if st := e.statuses()[groupID(i)]; st.State != state.InStep {
			t.Errorf("G%d: %+v", i, st)
		}
	}
}

// leaseFence is a fence over a lease that can be lost: while held, it
// permits writes under token, until a minute from now.
type leaseFence struct {
	mu    sync.Mutex
	token int64
	asked int
}

func (f *leaseFence) Permit() (gate.Lease, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked++
	if f.token == 0 {
		return gate.Lease{}, time.Time{}, fmt.Errorf("lease lost: %w", state.ErrFenced)
	}
	return gate.Lease{Instance: "gwb-a", Token: f.token}, time.Now().Add(time.Minute), nil
}

func (f *leaseFence) lose() {
	f.mu.Lock()
	f.token = 0
	f.mu.Unlock()
}

// A write sent under token 5 whose answer comes after the instance lost
// the lease is recorded under token 5 (its intent and its outcome): the
// token is read with the fence's check, not when the entry is written.
// The next write is refused, before anything is sent.
func TestAuditNamesTheTokenAWriteWasSentUnder(t *testing.T) {
	ctx := context.Background()
	var groups []map[string]any
	for i := range 3 {
		groups = append(groups, map[string]any{"id": groupID(i), "displayName": fmt.Sprintf("G%d", i), "mailNickname": fmt.Sprintf("g%d", i)})
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	trail, err := audit.Open(path, audit.Options{Key: []byte("0123456789abcdef0123456789abcdef")})
	must(t, err)
	defer trail.Close()
	fence := &leaseFence{token: 5}
	e := newGroupsEnv(t, 1, groups, func(c *engine.Config) { c.Audit, c.Fence = trail, fence })
	// The lease is lost while the first write's answer is on its way.
	w := writeHook{Target: e.dir, write: func(ctx context.Context, ap *gate.Approved) error {
		err := e.dir.Write(ctx, ap)
		fence.lose()
		return err
	}}
	_, err = engine.New(e.cloud, e.dir, w, e.store, e.cfg, nil).Run(ctx, engine.RunOptions{})
	if !errors.Is(err, state.ErrFenced) || e.writes() != 1 {
		t.Fatalf("the cycle: %v, %d writes; want the lease lost after one", err, e.writes())
	}
	entries, err := audit.Read(path, audit.Filter{Intents: true})
	must(t, err)
	if len(entries) != 2 {
		t.Fatalf("entries: %+v", entries)
	}
	for _, en := range entries {
		if en.Token != 5 || en.Instance != "gwb-a" {
			t.Errorf("%s of %s recorded under token %d by %q, want 5 by gwb-a", en.Outcome, en.Action, en.Token, en.Instance)
		}
	}
}
