//go:build linux

package wiring

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/secret"
	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/store"
	"github.com/groupwriteback/groupwriteback/internal/testpg"
)

func TestMain(m *testing.M) { os.Exit(testpg.Main(m)) }

// TestLockStateOnASharedState: a command on a shared state takes the
// writer lease as an instance of its own, is refused while another holds
// it, and releases it when done; its writes are fenced by it.
func TestLockStateOnASharedState(t *testing.T) {
	ctx := context.Background()
	url := testpg.Shared(t).NewDB(t)
	shared := func(name string) (*store.Store, func() (func(), func() error, error)) {
		cfg := load(t, "")
		cfg.Mode, cfg.State.URL, cfg.HA.Instance, cfg.HA.Lease, cfg.HA.RenewInterval = "normal", secret.New(url), name, 3*time.Second, time.Second
		st, err := OpenStore(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st, func() (func(), func() error, error) {
			unlock, el, err := LockState(cfg, st, "sync")
			if el == nil {
				return unlock, nil, err
			}
			return unlock, func() error { _, _, err := el.Permit(); return err }, err
		}
	}
	st1, lock1 := shared("gwb1")
	st2, lock2 := shared("gwb2")
	unlock, guard, err := lock1()
	if err != nil || guard == nil || guard() != nil {
		t.Fatalf("the first command's lock: %v (guard set: %t)", err, guard != nil)
	}
	if err := st1.SetMeta(ctx, "k", "v"); err != nil {
		t.Fatalf("a write under the command's lease: %v", err)
	}
	if _, _, err := lock2(); err == nil || !strings.Contains(err.Error(), "instance gwb1-sync is active on this shared state") {
		t.Fatalf("a second command while the first holds the lease: %v", err)
	}
	if err := st2.SetMeta(ctx, "k", "w"); !errors.Is(err, state.ErrFenced) {
		t.Fatalf("a write by the refused command: %v, want ErrFenced", err)
	}
	start := time.Now()
	unlock()
	if err := guard(); !errors.Is(err, state.ErrFenced) {
		t.Fatalf("the guard after unlock: %v", err)
	}
	if err := st1.SetMeta(ctx, "k", "late"); !errors.Is(err, state.ErrFenced) {
		t.Fatalf("a write after unlock: %v, want ErrFenced", err)
	}
	unlock2, _, err := lock2()
	if err != nil || time.Since(start) > time.Second {
		t.Fatalf("the second command after the first released: %v after %s (want at once, not after the lease ran out)", err, time.Since(start))
	}
	unlock2()
}
