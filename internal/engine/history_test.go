package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// A full cycle drops the run history and operation log older than
// state.history_days, keeping the last 100 runs whatever their age.
func TestFullCyclePrunesHistory(t *testing.T) {
	e := newGroupsEnv(t, 1, []map[string]any{{"id": groupID(790), "displayName": "Kept", "mailNickname": "kept790", "members": []any{userID(0)}}}, nil)
	e.sync(engine.RunOptions{})
	ctx := context.Background()
	for i := 0; i < 120; i++ {
		id, _, err := e.store.StartRun(ctx, "delta")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.FinishRun(ctx, id, "delta", state.OutcomeOK, engine.RunSummary{}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := e.cfg
	cfg.HistoryDays, cfg.Now = 30, func() time.Time { return time.Now().AddDate(0, 0, 31) }
	if _, err := engine.New(e.cloud, e.dir, e.dir, e.store, cfg, nil).Run(ctx, engine.RunOptions{Full: true}); err != nil {
		t.Fatal(err)
	}
	runs, err := e.store.Runs(ctx, 1000)
	if err != nil || len(runs) != 100 {
		t.Fatalf("%d runs left (%v), want the last 100", len(runs), err)
	}
	if ops, _ := e.store.Operations(ctx, groupID(790), 10); len(ops) != 0 {
		t.Fatalf("the first sync's operations are older than 30 days and outside the last 100 runs: %+v", ops)
	}
	// history_days 0 keeps everything.
	cfg.HistoryDays = 0
	if _, err := engine.New(e.cloud, e.dir, e.dir, e.store, cfg, nil).Run(ctx, engine.RunOptions{Full: true}); err != nil {
		t.Fatal(err)
	}
	if runs, _ := e.store.Runs(ctx, 1000); len(runs) != 101 {
		t.Fatalf("history_days 0: %d runs", len(runs))
	}
}
