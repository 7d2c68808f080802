package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

func TestCoreRecordsEveryGroup(t *testing.T) {
	e := newGroupsEnv(t, 3, []map[string]any{
		{"id": groupID(1), "displayName": "Access", "mailNickname": "access", "members": []any{userID(0), userID(1), cloudOnly}},
		{"id": groupID(2), "displayName": "Nested", "mailNickname": "nested", "members": []any{groupID(1), userID(2)}},
		{"id": groupID(3), "displayName": "Not enabled", "mailNickname": "off", "writebackConfiguration": map[string]any{}},
	}, nil)
	res, w := e.sync(engine.RunOptions{})
	// Two creates, and the nested member added once both groups exist.
	if res.Counts.Created != 2 || w != 3 || res.Counts.MembersNotWritten["cloud_only_user"] != 1 {
		t.Fatalf("first cycle: %+v, %d writes", res.Counts, w)
	}
	access, nested := e.group(groupID(1)), e.group(groupID(2))
	if access == nil || nested == nil || len(access.Members) != 2 || !slices.Contains(nested.Members, access.DN) {
		t.Fatalf("written: %+v %+v", access, nested)
	}
	sts := e.statuses()
	if sts[groupID(1)].State != state.InStep || sts[groupID(1)].MembersNotWritten["cloud_only_user"] != 1 ||
		sts[groupID(3)].State != state.OutOfScope || sts[groupID(2)].DN != nested.DN {
		t.Fatalf("statuses: %+v", sts)
	}
	if res, w := e.sync(engine.RunOptions{}); w != 0 || res.Counts.Created+res.Counts.Updated != 0 {
		t.Fatalf("a cycle with no change wrote %d: %+v", w, res.Counts)
	}
}

func TestCoreDeltaWorksOnDirtyGroupsOnly(t *testing.T) {
	var groups []map[string]any
	for i := 1; i <= 5; i++ {
		groups = append(groups, map[string]any{"id": groupID(i), "displayName": fmt.Sprintf("G%d", i), "mailNickname": fmt.Sprintf("g%d", i),
			"members": []any{userID(0)}})
	}
	e := newGroupsEnv(t, 2, groups, nil)
	e.sync(engine.RunOptions{})
	if err := e.tenant.AddMember(groupID(3), userID(1)); err != nil {
		t.Fatal(err)
	}
	res, w := e.sync(engine.RunOptions{})
	if res.Mode != "delta" || w != 1 || res.Counts.InScope != 1 {
		t.Fatalf("delta cycle after one member change: mode %s, %d writes, %+v", res.Mode, w, res.Counts)
	}
	for _, op := range kept(res) {
		if op.CloudID != groupID(3) || op.Action != reconcile.AddMembers {
			t.Fatalf("the delta cycle touched %s (%s)", op.CloudID, op.Action)
		}
	}
	if g := e.group(groupID(3)); len(g.Members) != 2 {
		t.Fatalf("members of G3: %v", g.Members)
	}
	// A user renamed in the cloud changes no group: nothing to write.
	if err := e.tenant.UpdateUser(userID(0), map[string]any{"displayName": "User Zero"}); err != nil {
		t.Fatal(err)
	}
	if _, w := e.sync(engine.RunOptions{}); w != 0 {
		t.Fatalf("a user's rename wrote %d", w)
	}
}

func TestCoreFullCycleRepairsDrift(t *testing.T) {
	e := newGroupsEnv(t, 2, []map[string]any{
		{"id": groupID(1), "displayName": "Access", "mailNickname": "access", "members": []any{userID(0)}},
		{"id": groupID(2), "displayName": "Other", "mailNickname": "other", "members": []any{userID(1)}},
	}, nil)
	e.sync(engine.RunOptions{})
	g := e.group(groupID(1))
	// A hand edit in AD: the displayName changed and a member added.
	e.ad.SetAttribute(t, g.DN, "displayName", []string{"Edited by hand"})
	e.ad.Nest(t, g.DN, e.users[1].DN)
	if _, w := e.sync(engine.RunOptions{}); w != 0 {
		t.Fatalf("a delta cycle wrote %d: it reads only what the cloud changed", w)
	}
	res, _ := e.sync(engine.RunOptions{Full: true})
	g = e.group(groupID(1))
	if g.Get("displayName") != "Access" || len(g.Members) != 1 || !slices.Equal(res.Drift, []string{groupID(1)}) {
		t.Fatalf("after a full cycle: %+v, drift %v", g, res.Drift)
	}
}

func TestCoreDeleteThresholdHoldsBack(t *testing.T) {
	var groups []map[string]any
	for i := 1; i <= 4; i++ {
		groups = append(groups, map[string]any{"id": groupID(i), "displayName": fmt.Sprintf("G%d", i), "mailNickname": fmt.Sprintf("g%d", i)})
	}
	e := newGroupsEnv(t, 1, groups, func(c *engine.Config) {
		c.DeleteThresholdPercent = 50
		c.Fates.HardDelete = reconcile.DeleteIt
	})
	e.sync(engine.RunOptions{})
	for _, id := range []string{groupID(1), groupID(2), groupID(3)} {
		if err := e.tenant.DeleteGroup(id); err != nil {
			t.Fatal(err)
		}
		if err := e.tenant.PurgeDeleted(id); err != nil {
			t.Fatal(err)
		}
	}
	res, w := e.sync(engine.RunOptions{})
	held := false
	for _, p := range res.Plan.Problems {
		held = held || errors.Is(p.Err, reconcile.ErrThresholdExceeded)
	}
	if w != 0 || !held || e.group(groupID(1)) == nil {
		t.Fatalf("3 of 4 groups deleted in one run: %d writes, problems %+v", w, res.Plan.Problems)
	}
	res, w = e.sync(engine.RunOptions{AllowDeletes: 3})
	if res.Counts.Deleted != 3 || w != 3 || e.group(groupID(1)) != nil || e.group(groupID(4)) == nil {
		t.Fatalf("allowed through: %+v, %d writes", res.Counts, w)
	}
	if st := e.statuses()[groupID(2)]; st.State != state.Deleted {
		t.Fatalf("status of a deleted group: %+v", st)
	}
}

func TestCoreSoftDeletedSecurityGroupIsKept(t *testing.T) {
	e := newGroupsEnv(t, 1, []map[string]any{{"id": groupID(1), "displayName": "Access", "mailNickname": "access", "members": []any{userID(0)}}}, nil)
	e.sync(engine.RunOptions{})
	if err := e.tenant.DeleteGroup(groupID(1)); err != nil {
		t.Fatal(err)
	}
	res, w := e.sync(engine.RunOptions{})
	if w != 0 || e.group(groupID(1)) == nil || res.Counts.Deleted != 0 {
		t.Fatalf("a soft-deleted group was touched (default fate keep): %d writes, %+v", w, res.Counts)
	}
	if err := e.tenant.Restore(groupID(1)); err != nil {
		t.Fatal(err)
	}
	if _, w := e.sync(engine.RunOptions{}); w != 0 {
		t.Fatalf("a restored group was rewritten: %d writes", w)
	}
}

// Explain (what show prints) decides with the options sync decides with:
// scope and member limit included.
func TestCoreExplainAgreesWithSync(t *testing.T) {
	e := newGroupsEnv(t, 2, []map[string]any{
		{"id": groupID(1), "displayName": "Access", "mailNickname": "access", "members": []any{userID(0)}},
		{"id": groupID(2), "displayName": "Lab (test)", "mailNickname": "lab", "members": []any{userID(0)}},
		{"id": groupID(3), "displayName": "Big", "mailNickname": "big", "members": []any{userID(0), userID(1)}},
	}, func(c *engine.Config) {
		c.Policy.Scope.ExcludeNames = []string{"Lab*"}
		c.Policy.MemberLimit = 1
	})
	e.sync(engine.RunOptions{})
	ctx := context.Background()
	for _, tc := range []struct {
		group, decision string
		written         bool
	}{
		{"Access", "written back as", true},
		{groupID(2), "not written back: ", false},
		{"big", "in scope, not writable: ", false},
	} {
		x, err := e.eng.Explain(ctx, tc.group)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(x.Decision, tc.decision) || (x.AD != nil) != tc.written || x.ADError != "" {
			t.Errorf("%s: decision %q, AD %+v; want %q, written %v", tc.group, x.Decision, x.AD, tc.decision, tc.written)
		}
		if tc.written && (!policy.SameDN(x.DesiredDN, x.AD.DN) || x.Status.State != state.InStep || len(x.Operations) == 0) {
			t.Errorf("%s: desired %s, AD %s, status %+v, %d operations", tc.group, x.DesiredDN, x.AD.DN, x.Status, len(x.Operations))
		}
	}
	if g := e.group(groupID(2)); g != nil {
		t.Fatal("sync wrote the group the scope excludes")
	}
	var nf *engine.NoSuchGroupError
	if _, err := e.eng.Explain(ctx, "no such group"); !errors.As(err, &nf) {
		t.Fatalf("an unknown group: %v", err)
	}
}

// A cycle on one group (provision on demand) writes that group only,
// traces it, and leaves every other change to the next cycle.
func TestCoreOneGroupOnDemand(t *testing.T) {
	e := newGroupsEnv(t, 2, []map[string]any{
		{"id": groupID(1), "displayName": "Access", "mailNickname": "access", "members": []any{userID(0), cloudOnly}},
		{"id": groupID(2), "displayName": "Other", "mailNickname": "other", "members": []any{userID(1)}},
	}, nil)
	ctx := context.Background()
	res, err := e.eng.Run(ctx, engine.RunOptions{Group: "access"})
	if err != nil {
		t.Fatal(err)
	}
	tr := res.Trace
	if res.Mode != "group" || tr == nil || tr.CloudID != groupID(1) || !tr.InScope || !strings.HasPrefix(tr.Decision, "written back as") {
		t.Fatalf("mode %s, trace %+v", res.Mode, tr)
	}
	if e.group(groupID(1)) == nil || e.group(groupID(2)) != nil {
		t.Fatal("a cycle on one group wrote another, or not its own")
	}
	byID := map[string]engine.MemberTrace{}
	for _, m := range tr.Members {
		byID[m.CloudID] = m
	}
	u := byID[userID(0)]
	if u.DN != e.users[0].DN || u.Name != e.users[0].Name || len(u.Tried) == 0 || u.Tried[0].Key != reconcile.BySID || u.Tried[0].Found != e.users[0].DN {
		t.Errorf("the synced user's lookup: %+v", u)
	}
	if co := byID[cloudOnly]; co.DN != "" || co.NotWritten != policy.MemberCloudOnly {
		t.Errorf("the cloud-only user: %+v", co)
	}
	if len(tr.Operations) != 1 || tr.Operations[0].Action != reconcile.Create || len(tr.Operations[0].Changes) == 0 {
		t.Fatalf("operations: %+v", tr.Operations)
	}
	// The links stayed: the next cycle still writes the other group.
	if res, w := e.sync(engine.RunOptions{}); e.group(groupID(2)) == nil || w != 1 {
		t.Fatalf("the next cycle: %d writes, %+v", w, res.Counts)
	}
	// Two groups change; one is provisioned by its sAMAccountName.
	for _, id := range []string{groupID(1), groupID(2)} {
		if err := e.tenant.UpdateGroup(id, map[string]any{"description": "changed"}); err != nil {
			t.Fatal(err)
		}
	}
	other := e.group(groupID(2)).Get("sAMAccountName")
	res, err = e.eng.Run(ctx, engine.RunOptions{Group: other})
	if err != nil || res.Trace.CloudID != groupID(2) || len(res.Trace.Operations) != 1 {
		t.Fatalf("by sAMAccountName %s: %v %+v", other, err, res)
	}
	if ch := res.Trace.Operations[0].Changes[0]; ch.Name != "description" || len(ch.Old) != 0 || ch.New[0] != "changed" {
		t.Fatalf("the change old -> new: %+v", ch)
	}
	if e.group(groupID(1)).Values("description") != nil {
		t.Fatal("the other changed group was written too")
	}
	if _, w := e.sync(engine.RunOptions{}); w != 1 || e.group(groupID(1)).Get("description") != "changed" {
		t.Fatalf("the next cycle after a one-group cycle: %d writes", w)
	}
	// Every name a group goes by finds it; a name that is none is refused.
	g := e.group(groupID(1))
	for _, name := range []string{groupID(1), policy.Anchor(groupID(1)), g.DN, "ACCESS"} {
		res, err := e.eng.Run(ctx, engine.RunOptions{Group: name, DryRun: true})
		if err != nil || res.Trace.CloudID != groupID(1) {
			t.Errorf("--group %q: %v", name, err)
		}
	}
	var nf *engine.NoSuchGroupError
	if _, err := e.eng.Run(ctx, engine.RunOptions{Group: "no such thing", DryRun: true}); !errors.As(err, &nf) {
		t.Errorf("an unknown group: %v", err)
	}
	// An id, or an anchor, is a group only where the tool knows of it.
	unknown := groupID(999)
	for _, name := range []string{unknown, policy.Anchor(unknown)} {
		if res, err := e.eng.Run(ctx, engine.RunOptions{Group: name}); !errors.As(err, &nf) {
			t.Errorf("--group %s (known nowhere): %v, %+v", name, err, res)
		}
	}
}
