package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/audit"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// openTrail opens an audit trail in a temporary directory, closed with
// the test.
func openTrail(t *testing.T) (string, *audit.Log) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	trail, err := audit.Open(path, audit.Options{Key: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { trail.Close() })
	return path, trail
}

// The audit trail holds every write of a sync that creates, updates,
// changes members and deletes, each with its values old and new.
func TestCoreAuditTrail(t *testing.T) {
	path, trail := openTrail(t)
	e := newGroupsEnv(t, 2, []map[string]any{
		{"id": groupID(1), "displayName": "Access", "mailNickname": "access", "members": []any{userID(0)}},
		{"id": groupID(2), "displayName": "Other", "mailNickname": "other", "members": []any{userID(1)}},
	}, func(c *engine.Config) {
		c.Audit = trail
		c.Fates.HardDelete = reconcile.DeleteIt
		c.DeleteThresholdPercent = 0
	})
	e.sync(engine.RunOptions{})
	if err := e.tenant.UpdateGroup(groupID(1), map[string]any{"description": "now described"}); err != nil {
		t.Fatal(err)
	}
	if err := e.tenant.AddMember(groupID(1), userID(1)); err != nil {
		t.Fatal(err)
	}
	if err := e.tenant.RemoveMember(groupID(1), userID(0)); err != nil {
		t.Fatal(err)
	}
	for _, do := range []func(string) error{e.tenant.DeleteGroup, e.tenant.PurgeDeleted} {
		if err := do(groupID(2)); err != nil {
			t.Fatal(err)
		}
	}
	otherDN := e.group(groupID(2)).DN
	_, writes := e.sync(engine.RunOptions{})
	entries, err := audit.Read(path, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	byAction := map[string]engine.AuditEntry{}
	var inStep []engine.AuditEntry
	for _, en := range entries {
		if en.Outcome == engine.OutcomeInStep {
			inStep = append(inStep, en)
			continue
		}
		byAction[en.CloudID+" "+en.Action] = en
		if en.Outcome != "applied" || en.RunID == 0 || en.Time.IsZero() || en.Name == "" {
			t.Errorf("entry %+v", en)
		}
	}
	if len(entries) != 2+int(writes)+2 {
		t.Fatalf("%d entries for 2 creates, %d writes and the 2 groups the delta cycle brought in step: %+v", len(entries), writes, entries)
	}
	// The delta cycle's account of each group it brought in step: what it
	// wrote, where the group is (or was), when noticed and written.
	for i, want := range []struct {
		id, changes, dn string
	}{{groupID(1), "[description -1 members +1 members]", e.group(groupID(1)).DN}, {groupID(2), "[deleted]", otherDN}} {
		en := inStep[i]
		if en.CloudID != want.id || en.InStep == nil || fmt.Sprint(en.InStep.Changes) != want.changes || !strings.EqualFold(en.DN, want.dn) ||
			en.InStep.By != "cycle" || en.InStep.Written.Before(en.InStep.Noticed) || en.RunID != byAction[groupID(1)+" update"].RunID {
			t.Errorf("in-step entry %d: %+v %+v, want %s with %s at %s", i, en, en.InStep, want.id, want.changes, want.dn)
		}
	}
	create := byAction[groupID(1)+" create"]
	if create.MembersAdded[0] != e.users[0].DN || len(create.Changes) == 0 {
		t.Errorf("create: %+v", create)
	}
	upd := byAction[groupID(1)+" update"]
	if len(upd.Changes) != 1 || upd.Changes[0].Name != "description" || len(upd.Changes[0].Old) != 0 || upd.Changes[0].New[0] != "now described" {
		t.Errorf("update: %+v", upd)
	}
	if add, rem := byAction[groupID(1)+" add-members"], byAction[groupID(1)+" remove-members"]; add.MembersAdded[0] != e.users[1].DN || rem.MembersRemoved[0] != e.users[0].DN {
		t.Errorf("member changes: %+v %+v", add, rem)
	}
	if del := byAction[groupID(2)+" delete"]; del.DN != otherDN || del.Name != "Other" {
		t.Errorf("delete: %+v", del)
	}
}

// A plan counts what it plans; the sync that applies it counts what it did.
func TestCorePlanCountsWhatItPlans(t *testing.T) {
	e := newGroupsEnv(t, 1, []map[string]any{
		{"id": groupID(1), "displayName": "A", "mailNickname": "a", "members": []any{userID(0)}},
		{"id": groupID(2), "displayName": "B", "mailNickname": "b"},
		{"id": groupID(3), "displayName": "C", "mailNickname": "c"},
	}, nil)
	plan, err := e.eng.Run(context.Background(), engine.RunOptions{DryRun: true})
	if err != nil || plan.Counts.Created != 3 || plan.Counts.Updated != 0 {
		t.Fatalf("plan counts: %+v, %v", plan.Counts, err)
	}
	res, _ := e.sync(engine.RunOptions{})
	if res.Counts.Created != 3 {
		t.Fatalf("sync counts: %+v", res.Counts)
	}
	if err := e.tenant.UpdateGroup(groupID(2), map[string]any{"description": "x"}); err != nil {
		t.Fatal(err)
	}
	if plan, _ := e.eng.Run(context.Background(), engine.RunOptions{DryRun: true}); plan.Counts.Updated != 1 || plan.Counts.Created != 0 {
		t.Fatalf("plan of one update: %+v", plan.Counts)
	}
}

// A sAMAccountName another object of the domain holds (here a user in
// another OU) is never written: the group is reported, naming the holder,
// and the others are written.
func TestCoreSAMAccountNameTakenInTheDomain(t *testing.T) {
	e := newGroupsEnv(t, 1, []map[string]any{
		{"id": groupID(1), "displayName": "Access", "mailNickname": "access"},
		{"id": groupID(2), "displayName": "Other", "mailNickname": "other"},
	}, nil)
	holder := e.ad.AddUsers(t, "CN=Users,"+e.ad.BaseDN, []string{"ACCESS_2c1a0b000001"})[0]
	plan, err := e.eng.Run(context.Background(), engine.RunOptions{DryRun: true})
	if err != nil || plan.Counts.Created != 1 || len(plan.Failures) != 1 || !strings.Contains(plan.Failures[0].Message, holder.DN) {
		t.Fatalf("plan: %v %+v %+v", err, plan.Counts, plan.Failures)
	}
	res, w := e.sync(engine.RunOptions{})
	if w != 1 || e.group(groupID(1)) != nil || e.group(groupID(2)) == nil {
		t.Fatalf("%d writes: %+v", w, res.Counts)
	}
	st := e.statuses()[groupID(1)]
	if st.State != state.Failed || !strings.Contains(st.Message, `sAMAccountName "Access_2c1a0b000001" is already held by `+holder.DN) ||
		!strings.Contains(st.Message, "writeback.naming") {
		t.Fatalf("status: %+v", st)
	}
}

// A saved plan applied with an approval (the console's) carries the
// approval in every audit entry of its writes: who, why, which plan. A
// cycle's own writes carry none, even when ctx has one.
func TestApprovalOfASavedPlanIsAudited(t *testing.T) {
	ctx := context.Background()
	path, trail := openTrail(t)
	e := newGroupsEnv(t, 2, []map[string]any{
		{"id": groupID(1), "displayName": "Access", "mailNickname": "access", "members": []any{userID(0)}},
		{"id": groupID(2), "displayName": "Other", "mailNickname": "other", "members": []any{userID(1)}},
	}, func(c *engine.Config) { c.Audit = trail })
	p, err := e.eng.Plan(ctx, engine.RunOptions{})
	must(t, err)
	file := filepath.Join(t.TempDir(), "plan.json")
	must(t, e.eng.SavePlan(ctx, p, file))
	saved, err := engine.LoadPlan(file)
	must(t, err)
	if len(saved.ID()) != 16 {
		t.Fatalf("plan id %q", saved.ID())
	}
	approval := engine.Approval{By: "console:otto@contoso.test", Reason: "CAB-1234", Plan: saved.ID(), Made: saved.Created}
	actx := engine.WithApproval(engine.WithActor(ctx, approval.By), approval)
	res, err := e.eng.Apply(actx, saved)
	if err != nil || res.Counts.Created != 2 {
		t.Fatalf("apply: %v %+v", err, res)
	}
	must(t, e.tenant.UpdateGroup(groupID(1), map[string]any{"description": "now described"}))
	if _, err := e.eng.Run(actx, engine.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	entries, err := audit.Read(path, audit.Filter{})
	must(t, err)
	var approved, cycle int
	for _, en := range entries {
		switch {
		case en.Action == "create" && en.Approval != nil && *en.Approval == approval && en.Actor == approval.By:
			approved++
		case en.Action == "update" && en.Approval == nil:
			cycle++
		case en.Outcome == engine.OutcomeInStep && en.Approval == nil:
			// the cycle's account of the group it brought in step
		default:
			t.Errorf("entry %+v (approval %+v)", en, en.Approval)
		}
	}
	if approved != 2 || cycle != 1 {
		t.Errorf("%d approved creates, %d cycle updates: %+v", approved, cycle, entries)
	}
}
