package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/store"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

// faultAfter is a DirectoryWriter that does something to the DC after n
// operations, in the middle of a cycle.
type faultAfter struct {
	w     engine.DirectoryWriter
	n     int
	fault func()
}

func (f *faultAfter) Apply(ctx context.Context, op reconcile.Op) error {
	if f.n == 0 {
		f.fault()
	}
	f.n--
	return f.w.Apply(ctx, op)
}

// ownDC starts a DC for one test: these tests kill it.
func ownDC(t *testing.T) *testdc.DC {
	t.Helper()
	dc, err := testdc.Start(context.Background(), testdc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.Close() })
	return dc
}

// TestDCLostMidCycle: a DC that restarts in the middle of a cycle costs
// nothing (the client connects again and goes on); a DC that stays gone
// stops the cycle with one error naming it, the work left stays pending,
// and the next cycle, the DC back, ends in the same state.
func TestDCLostMidCycle(t *testing.T) {
	dc := ownDC(t)
	tf := baseTenant(t, dc, 3)
	securityGroups(tf, 1060, 8)
	e := newEnvOn(t, dc, tf, nil)

	restart := &faultAfter{w: e.dir, n: 3, fault: func() {
		dc.Kill()
		if err := dc.Restart(context.Background()); err != nil {
			t.Fatal(err)
		}
	}}
	res, err := engine.New(e.cloud, e.dir, restart, e.store, e.cfg, nil).Run(context.Background(), engine.RunOptions{})
	if err != nil || res.Counts.Created != 8 || len(res.Failures) != 0 {
		t.Fatalf("cycle across a DC restart: %v, %+v, %+v", err, res.Counts, res.Failures)
	}
	if e.dir.Counters().Reconnects == 0 {
		t.Fatal("no reconnect was counted")
	}

	for i := range 8 {
		if err := e.tenant.UpdateGroup(groupID(1060+i), map[string]any{"description": "changed"}); err != nil {
			t.Fatal(err)
		}
	}
	gone := &faultAfter{w: e.dir, n: 2, fault: dc.Kill}
	res, err = engine.New(e.cloud, e.dir, gone, e.store, e.cfg, nil).Run(context.Background(), engine.RunOptions{})
	if !errors.Is(err, directory.ErrUnavailable) || !strings.Contains(err.Error(), dc.URL) || !strings.Contains(err.Error(), "stay pending for the next cycle") {
		t.Fatalf("err = %v, want the DC named as unreachable", err)
	}
	if res.Counts.Updated != 2 || res.Counts.Failed != 0 {
		t.Fatalf("counts %+v", res.Counts)
	}
	pending, _ := e.store.Statuses(context.Background(), store.StatePending)
	if len(pending) != 6 {
		t.Fatalf("%d groups pending, want 6", len(pending))
	}
	runs, _ := e.store.Runs(context.Background(), 1)
	if runs[0].Outcome != "failed" {
		t.Fatalf("run recorded as %q", runs[0].Outcome)
	}

	if err := dc.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	res, err = e.eng.Run(context.Background(), engine.RunOptions{})
	if err != nil || res.Counts.Updated != 6 || len(res.Failures) != 0 {
		t.Fatalf("after the DC came back: %v, %+v, %+v", err, res.Counts, res.Failures)
	}
	for i := range 8 {
		if g := e.group(groupID(1060 + i)); g == nil || attr(g, "description") != "changed" {
			t.Fatalf("group %d not in step", i)
		}
	}
	if _, w := e.sync(engine.RunOptions{Full: true}); w != 0 {
		t.Fatalf("then %d writes", w)
	}
}
