package engine_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/policy"
)

// TestSavedPlanAppliesExactlyItself: a saved plan is applied as it was
// made; a group changed by hand in AD since, or changed in the cloud
// since, is refused as stale and named; the rest is written; the next sync
// plans the refused ones again.
func TestSavedPlanAppliesExactlyItself(t *testing.T) {
	e := syncedTeams(t, 1480, 3)
	for i := range 3 {
		if err := e.tenant.UpdateGroup(groupID(1480+i), map[string]any{"description": "planned"}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := e.eng.Plan(context.Background(), engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := e.eng.SavePlan(context.Background(), p, path); err != nil {
		t.Fatal(err)
	}
	saved, err := engine.LoadPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.eng.CheckSaved(context.Background(), saved, time.Hour); err != nil {
		t.Fatal(err)
	}
	// After the plan: a hand edit in AD on the first group, a cloud change
	// on the second.
	e.ad.SetAttribute(t, e.group(groupID(1480)).DN, "displayName", []string{"edited by hand"})
	if err := e.tenant.UpdateGroup(groupID(1481), map[string]any{"description": "changed again"}); err != nil {
		t.Fatal(err)
	}
	res, err := e.eng.Apply(context.Background(), saved)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"", "", "planned"} {
		if got := attr(e.group(groupID(1480+i)), "description"); got != want {
			t.Errorf("group %d: description %q, want %q", i, got, want)
		}
	}
	for _, id := range []string{groupID(1480), groupID(1481)} {
		if !slices.ContainsFunc(res.Failures, func(f engine.Failure) bool { return f.CloudID == id && strings.Contains(f.Message, "stale") }) {
			t.Errorf("%s is not reported stale: %+v", id, res.Failures)
		}
	}
	// The next sync plans them again and converges.
	if res, _ := e.sync(engine.RunOptions{Full: true}); len(res.Failures) != 0 || attr(e.group(groupID(1481)), "description") != "changed again" {
		t.Fatalf("after: %+v", res.Failures)
	}
	// A plan past its age, or made for another tenant, is refused.
	if err := e.eng.CheckSaved(context.Background(), saved, time.Nanosecond); !errors.Is(err, engine.ErrPlanRefused) {
		t.Fatalf("an old plan: %v", err)
	}
	other := e.cfg
	other.TenantID = otherTenant
	if err := engine.New(e.cloud, e.dir, e.dir, e.store, other, nil).CheckSaved(context.Background(), saved, time.Hour); !errors.Is(err, engine.ErrPlanRefused) {
		t.Fatalf("another tenant's plan: %v", err)
	}
}

// TestDisableAppliesThePlanShown: disable applies the plan the operator
// confirmed: a group written between the plan and its confirmation is not
// deleted with the others.
func TestDisableAppliesThePlanShown(t *testing.T) {
	e := syncedTeams(t, 1490, 2)
	p, err := e.eng.PlanDisable(context.Background(), engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Result.Plan.Ops) != 2 {
		t.Fatalf("planned %+v", p.Result.Plan.Ops)
	}
	// While the operator reads the plan, another group is written.
	late, err := e.tenant.CreateGroup(map[string]any{"displayName": "Late", "mailEnabled": false, "mailNickname": "late1492",
		"securityEnabled": true, "writebackConfiguration": map[string]any{"isEnabled": true}, "members@odata.bind": []any{}})
	if err != nil {
		t.Fatal(err)
	}
	e.sync(engine.RunOptions{})
	if e.group(late) == nil {
		t.Fatal("the late group was not written")
	}
	res, err := e.eng.Disable(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if res.Counts.Deleted != 2 || e.group(groupID(1490)) != nil || e.group(groupID(1491)) != nil {
		t.Fatalf("the planned deletes: %+v", res.Counts)
	}
	if e.group(late) == nil {
		t.Fatal("a group that was not in the confirmed plan was deleted")
	}
}

// TestScopeChangeMakesAFullCycle: after the configuration's scope changed,
// the next cycle is a full one (a delta cycle would not look at the groups
// the change concerns); the one after is a delta again.
func TestScopeChangeMakesAFullCycle(t *testing.T) {
	e := syncedTeams(t, 1500, 2)
	if res, _ := e.sync(engine.RunOptions{}); res.Mode != "delta" {
		t.Fatalf("second cycle: %s", res.Mode)
	}
	cfg := e.cfg
	cfg.Policy.Scope.ExcludeNames = []string{"Team 1"}
	e.eng = engine.New(e.cloud, e.dir, e.dir, e.store, cfg, nil)
	res, _ := e.sync(engine.RunOptions{})
	if res.Mode != "full" || !slices.ContainsFunc(res.Skipped, func(d policy.Decision) bool {
		return d.CloudID == groupID(1501) && strings.Contains(d.Reason, "exclude_names")
	}) {
		t.Fatalf("after the scope change: mode %s, skipped %+v", res.Mode, res.Skipped)
	}
	if res, _ := e.sync(engine.RunOptions{}); res.Mode != "delta" {
		t.Fatalf("then: %s", res.Mode)
	}
}
