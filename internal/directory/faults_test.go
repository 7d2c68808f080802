package directory_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

// ownDC starts a DC for one test: these tests kill or freeze it.
func ownDC(t *testing.T) *testdc.DC {
	t.Helper()
	testdc.Need(t, testdc.Available) // without Samba, skipped (failed under CI=true)
	dc, err := testdc.Start(context.Background(), testdc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.Close() })
	return dc
}

func faultID(n int) string { return fmt.Sprintf("6a1e0c55-%04d-4f0e-9d3b-2c1a0b9f8e7d", n) }

// TestRestartMidWrites: a DC killed and started again between two writes
// costs nothing: the client connects again and goes on. (The engine's
// TestDCLostMidCycle meets the same in the middle of a cycle, and a DC
// that stays gone.)
func TestRestartMidWrites(t *testing.T) {
	dc := ownDC(t)
	c := open(t, dc)
	ou := dc.NewOU(t, "restart")
	g := directorytest.GateOver(c, nil, ou)
	directorytest.MustApply(t, g, directorytest.CreateOp("Before restart", ou, faultID(1)))
	dc.Kill()
	if err := dc.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	directorytest.MustApply(t, g, directorytest.CreateOp("After restart", ou, faultID(2)))
	if c.Counters().Reconnects == 0 {
		t.Fatal("no reconnect was counted")
	}
	if owned := directorytest.Owned(t, c, ou); len(owned) != 2 {
		t.Fatalf("%d groups written, want 2", len(owned))
	}
}

// TestFrozenPastTheTimeout: a DC that stops answering for a moment within
// the LDAP timeout costs a wait; one frozen past the timeout costs a
// reconnect; either way the write is made.
func TestFrozenPastTheTimeout(t *testing.T) {
	dc := ownDC(t)
	cfg := config(dc)
	cfg.Timeout = 2 * time.Second
	c, err := cfg.Open(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ou := dc.NewOU(t, "frozen")
	g := directorytest.GateOver(c, nil, ou)
	for i, pause := range []time.Duration{time.Second, 5 * time.Second} {
		before := c.Counters().Reconnects
		dc.Freeze()
		time.AfterFunc(pause, dc.Thaw)
		directorytest.MustApply(t, g, directorytest.CreateOp(fmt.Sprintf("Frozen %d", i), ou, faultID(10+i)))
		reconnected := c.Counters().Reconnects > before
		if want := pause > cfg.Timeout; reconnected != want {
			t.Errorf("frozen %v: reconnected %v, want %v", pause, reconnected, want)
		}
	}
	if owned := directorytest.Owned(t, c, ou); len(owned) != 2 {
		t.Fatalf("%d groups written, want 2", len(owned))
	}
}
