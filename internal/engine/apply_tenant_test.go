package engine_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/engine"
)

// A saved plan applied records the tenant and the delta links it was made
// from, as a sync does: show knows the groups, and the next sync writes
// nothing again; apply names every group not in step, as sync does right
// after (issue 24, items 11 and 12).
func TestApplyRecordsTheTenant(t *testing.T) {
	e := newGroupsEnv(t, 2, []map[string]any{
		{"id": groupID(1), "displayName": "Planning", "mailNickname": "planning", "members": []any{userID(0), userID(1)}},
		{"id": groupID(2), "displayName": "Payroll", "mailNickname": "payroll", "members": []any{userID(1)}},
	}, nil)
	// Payroll cannot be written: its sAMAccountName is taken.
	other := e.ad.NewOU(t, "other")
	e.ad.Add(t, "CN=Squatter,"+other, map[string][]string{"objectClass": {"top", "group"}, "sAMAccountName": {"Payroll_2c1a0b000002"}})
	ctx := context.Background()
	p, err := e.eng.Plan(ctx, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "plan.json")
	must(t, e.eng.SavePlan(ctx, p, path))
	saved, err := engine.LoadPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.eng.Apply(ctx, saved)
	if err != nil {
		t.Fatal(err)
	}
	if e.group(groupID(1)) == nil || len(members(e.group(groupID(1)))) != 2 {
		t.Fatal("the plan was not applied")
	}
	if !slices.ContainsFunc(res.Failures, func(f engine.Failure) bool { return f.CloudID == groupID(2) }) {
		t.Errorf("apply does not name the group not in step: %+v", res.Failures)
	}
	snap, links, err := e.store.LoadCloud(ctx)
	if err != nil || snap.Groups[groupID(1)] == nil || links.Groups == "" || links.Users == "" {
		t.Fatalf("apply left no tenant in the state: %d groups, links %+v, %v", len(snap.Groups), links, err)
	}
	if x, err := e.eng.Explain(ctx, "Planning"); err != nil || x.AD == nil || x.Status == nil || x.Status.Kind != "security" {
		t.Fatalf("show after apply: %+v, %v (the status records the group's kind)", x, err)
	}
	time.Sleep(time.Millisecond)
	res2, writes := e.sync(engine.RunOptions{})
	if writes != 0 || res2.Mode != "delta" {
		t.Errorf("the sync after apply wrote %d (mode %s): %+v", writes, res2.Mode, kept(res2))
	}
	if len(res2.Failures) != len(res.Failures) {
		t.Errorf("sync names %d groups not in step, apply named %d", len(res2.Failures), len(res.Failures))
	}
	// A cycle on one group answers for that group only.
	if one, _ := e.sync(engine.RunOptions{Group: "Planning"}); len(one.Failures) != 0 {
		t.Errorf("sync --group Planning names others: %+v", one.Failures)
	}
	if one, _ := e.sync(engine.RunOptions{Group: "Payroll"}); len(one.Failures) != 1 || one.Failures[0].CloudID != groupID(2) {
		t.Errorf("sync --group Payroll: %+v", one.Failures)
	}
}
