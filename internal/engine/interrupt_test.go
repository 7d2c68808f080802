package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// cancelAfter is a directory writer that cancels the cycle's context after
// n operations, as SIGTERM arriving mid-cycle does.
type cancelAfter struct {
	gate.Target
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Write(ctx context.Context, a *gate.Approved) error {
	err := c.Target.Write(ctx, a)
	if c.n--; c.n == 0 {
		c.cancel()
	}
	return err
}

func TestInterruptedCycleCompletesNextTime(t *testing.T) {
	ad := openDir(t, directorytest.Options{})
	tf := baseTenant(t, ad, 5)
	for i := range 5 {
		tf.Groups = append(tf.Groups, map[string]any{"id": groupID(900 + i), "displayName": "Part", "mailEnabled": false,
			"mailNickname": "part", "securityEnabled": true, "writebackConfiguration": map[string]any{"isEnabled": true},
			"members": []any{userID(i)}})
	}
	e := newEnvOn(t, ad, tf, nil)
	ctx, cancel := context.WithCancel(context.Background())
	w := &cancelAfter{Target: e.dir, n: 2, cancel: cancel}
	interrupted := engine.New(e.cloud, e.dir, w, e.store, e.cfg, nil)
	res, err := interrupted.Run(ctx, engine.RunOptions{})
	if !errors.Is(err, context.Canceled) || res.Counts.Created != 2 {
		t.Fatalf("interrupted run: err %v, %+v", err, res.Counts)
	}
	runs, _ := e.store.Runs(context.Background(), 1)
	if runs[0].Outcome != "interrupted" {
		t.Fatalf("run recorded as %q", runs[0].Outcome)
	}
	// Graph has nothing new to say, yet the next delta cycle finishes the
	// work: the groups were marked pending before the first write.
	res, _ = e.sync(engine.RunOptions{})
	if res.Counts.Created != 3 || len(res.Failures) != 0 {
		t.Fatalf("next cycle: %+v %+v", res.Counts, res.Failures)
	}
	for i := range 5 {
		if e.group(groupID(900+i)) == nil {
			t.Fatalf("group %d missing", i)
		}
	}
	if _, w := e.sync(engine.RunOptions{Full: true}); w != 0 {
		t.Fatalf("then in step, yet %d writes", w)
	}
}

// A group a killed run left pending that is gone from both the cloud and
// AD is settled as deleted by the next cycle; one left failed that is
// still in the cloud is the plan's, and comes out in step.
func TestLeftGroupsGoneFromBothAreSettled(t *testing.T) {
	e := newGroupsEnv(t, 1, []map[string]any{
		{"id": groupID(1), "displayName": "Kept", "mailNickname": "kept", "members": []any{userID(0)}},
	}, nil)
	e.sync(engine.RunOptions{})
	gone := "6a1e0c55-0099-4f0e-9d3b-2c1a0b000099"
	ctx := context.Background()
	if err := e.store.SetStatus(ctx, []state.GroupStatus{
		{CloudID: gone, Name: "Ghost", State: state.Pending},
		{CloudID: groupID(1), Name: "Kept", State: state.Failed, Message: "an earlier failure"},
	}); err != nil {
		t.Fatal(err)
	}
	e.sync(engine.RunOptions{})
	sts := e.statuses()
	if st := sts[gone]; st.State != state.Deleted || !strings.Contains(st.Message, "gone from the cloud and from AD") {
		t.Errorf("a group gone from both: %+v", st)
	}
	if st := sts[groupID(1)]; st.State != state.InStep {
		t.Errorf("a group left failed that is still in the cloud: %+v", st)
	}
}
