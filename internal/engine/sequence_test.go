package engine_test

import (
	"context"
	"errors"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// TestEnableDisableSequence runs enable and disable as the CLI runs them
// (the CLI calls nothing else): a plan that records nothing, then the
// engine's one call that records and writes.
func TestEnableDisableSequence(t *testing.T) {
	ctx := context.Background()
	e := newGroupsEnv(t, 2, []map[string]any{
		{"id": groupID(1), "displayName": "Access", "mailNickname": "access", "members": []any{userID(0), userID(1)}},
	}, func(c *engine.Config) { c.Fates.Disable = reconcile.DeleteIt })
	if err := e.store.SetEnablement(ctx, state.Enablement{}); err != nil {
		t.Fatal(err)
	}

	// enable: the plan is made as the enablement will be, and records nothing.
	res, err := e.eng.PlanEnable(ctx, engine.EnableOptions{})
	if err != nil || res.Counts.Created != 1 {
		t.Fatalf("enable's plan: %v, %+v", err, res)
	}
	if en, _ := e.store.Enablement(ctx); en.Enabled || e.writes() != 0 {
		t.Fatalf("enable's plan recorded %+v and wrote %d times", en, e.writes())
	}
	if err := e.eng.Enable(ctx, engine.EnableOptions{}); err != nil {
		t.Fatal(err)
	}
	if res, _ := e.sync(engine.RunOptions{}); res.Mode != "full" || res.Counts.Created != 1 {
		t.Fatalf("the first cycle after enable: mode %s, %+v", res.Mode, res.Counts)
	}
	if res, _ := e.sync(engine.RunOptions{}); res.Mode != "delta" {
		t.Fatalf("the second cycle: mode %s", res.Mode)
	}

	// A disable plan goes through Disable only, and Disable takes no other plan.
	plan, err := e.eng.PlanDisable(ctx, engine.RunOptions{})
	if err != nil || len(plan.Result.Plan.Ops) != 1 {
		t.Fatalf("disable's plan: %v", err)
	}
	if _, err := e.eng.Apply(ctx, plan); !errors.Is(err, engine.ErrNotDisablePlan) {
		t.Fatalf("a disable plan applied while writeback is enabled: %v", err)
	}
	cyclePlan, err := e.eng.Plan(ctx, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.eng.Disable(ctx, cyclePlan); !errors.Is(err, engine.ErrNotDisablePlan) {
		t.Fatalf("Disable took a cycle's plan: %v", err)
	}
	if e.group(groupID(1)) == nil {
		t.Fatal("a refused disable deleted the group")
	}
	res, err = e.eng.Disable(ctx, plan)
	if err != nil || res.Counts.Deleted != 1 || e.group(groupID(1)) != nil {
		t.Fatalf("disable: %v, %+v", err, res)
	}
	if en, _ := e.store.Enablement(ctx); en.Enabled {
		t.Fatal("writeback still enabled after disable")
	}
	if st := e.statuses()[groupID(1)]; st.State != state.OutOfScope {
		t.Fatalf("the group's status after disable: %+v", st)
	}
}

// TestCycleOutcome: the one cycle call names its outcome in the words the
// run history, the metrics and the alerts use.
func TestCycleOutcome(t *testing.T) {
	ctx := context.Background()
	access := map[string]any{"id": groupID(1), "displayName": "Access", "mailNickname": "access", "members": []any{userID(0)}}
	// domainAdmins is written in place onto Domain Admins: the gate
	// refuses it, and the cycle is partial.
	domainAdmins := func(ad directorytest.Fixture) []map[string]any {
		da := ad.Find(t, ad.BaseDN, "sAMAccountName", "Domain Admins")
		if len(da) != 1 {
			t.Fatalf("Domain Admins: %+v", da)
		}
		return []map[string]any{access, {"id": groupID(2), "displayName": "Admins", "mailNickname": "admins",
			"onPremisesSyncEnabled": false, "onPremisesSecurityIdentifier": da[0].SID, "onPremisesSyncBehavior": map[string]any{"isCloudManaged": true},
			"writebackConfiguration": map[string]any{}, "members": []any{userID(0)}}}
	}
	plain := func(directorytest.Fixture) []map[string]any { return []map[string]any{access} }
	for _, tc := range []struct {
		name    string
		groups  func(directorytest.Fixture) []map[string]any
		enabled bool
		o       engine.CycleOptions
		want    state.Outcome
	}{
		{"in step", plain, true, engine.CycleOptions{}, state.OutcomeOK},
		{"staged", plain, true, engine.CycleOptions{Staged: true}, state.OutcomeStaged},
		{"standby", plain, true, engine.CycleOptions{Staged: true, Standby: true}, state.OutcomeStandby},
		{"disabled", plain, false, engine.CycleOptions{}, state.OutcomeDisabled},
		{"a group refused", domainAdmins, true, engine.CycleOptions{}, state.OutcomePartial},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newGroupsEnvOn(t, openDir(t, directorytest.Options{}), 1, tc.groups, func(c *engine.Config) { c.Policy.InPlace = true })
			must(t, e.store.SetEnablement(ctx, state.Enablement{Enabled: tc.enabled}))
			rep := e.eng.Cycle(ctx, tc.o)
			if rep.Outcome != tc.want {
				t.Fatalf("outcome %s (err %v), want %s", rep.Outcome, rep.Err, tc.want)
			}
			runs, err := e.store.Runs(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.o.Staged || !tc.enabled:
				if len(runs) != 0 || e.writes() != 0 {
					t.Fatalf("a cycle that writes nothing recorded %d runs and wrote %d times", len(runs), e.writes())
				}
			case len(runs) != 1 || runs[0].Outcome != tc.want:
				t.Fatalf("the run history says %+v, the cycle %s", runs, tc.want)
			}
			raw, _, err := e.store.PendingPlan(ctx)
			if pending := err == nil && len(raw) > 0 && string(raw) != "null"; pending != (tc.o.Staged && !tc.o.Standby) {
				t.Fatalf("pending plan recorded: %v (%v); only a staging server's cycle records one", pending, err)
			}
		})
	}
}
