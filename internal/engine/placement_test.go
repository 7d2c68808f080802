package engine_test

import (
	"context"
	"slices"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
	"github.com/groupwriteback/groupwriteback/internal/directory/memdir"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/graphsim"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// Groups go to the OU of the first placement rule they match; when a
// group's rule changes, plan shows the move and sync makes it: the same
// object (objectGUID), moved, not created again.
func TestCorePlacementRules(t *testing.T) {
	ad := openDir(t, directorytest.Options{})
	sales := ad.NewOU(t, "Sales groups")
	groups := []map[string]any{
		{"id": groupID(1), "displayName": "Sales EMEA", "mailNickname": "sales", "members": []any{userID(0)}},
		{"id": groupID(2), "displayName": "Finance", "mailNickname": "finance", "members": []any{userID(1)}},
	}
	e := newGroupsEnvOn(t, ad, 3, func(directorytest.Fixture) []map[string]any { return groups }, func(c *engine.Config) {
		c.Policy.Placement = []policy.PlacementRule{{OU: sales, DisplayName: "sales *"}}
	})
	e.sync(engine.RunOptions{})
	first := e.group(groupID(1))
	if first == nil || !policy.SameDN(first.DN, "CN=Sales EMEA_2c1a0b000001,"+sales) {
		t.Fatalf("Sales EMEA written to %+v", first)
	}
	if g := e.group(groupID(2)); g == nil || !policy.SameDN(g.DN, "CN=Finance_2c1a0b000002,"+e.ou) {
		t.Fatalf("Finance written to %+v, want the target OU", g)
	}

	// Renamed out of its rule: planned as a move, then moved.
	if err := e.tenant.UpdateGroup(groupID(1), map[string]any{"displayName": "EMEA partners"}); err != nil {
		t.Fatal(err)
	}
	p, err := e.eng.Plan(context.Background(), engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var move *reconcile.Op
	for i, op := range p.Result.Plan.Ops {
		if op.Action == reconcile.Move && op.CloudID == groupID(1) {
			move = &p.Result.Plan.Ops[i]
		}
	}
	if move == nil || !policy.SameDN(move.NewParent, e.ou) || move.Reason != "placed in "+e.ou+" by writeback.target_ou" {
		t.Fatalf("plan: %+v", p.Result.Plan.Ops)
	}
	res, _ := e.sync(engine.RunOptions{})
	if res.Counts.Created != 0 {
		t.Fatalf("created %d groups: a move must not recreate", res.Counts.Created)
	}
	moved := e.group(groupID(1))
	if moved == nil || moved.GUID != first.GUID || !policy.SameDN(moved.DN, "CN=EMEA partners_2c1a0b000001,"+e.ou) {
		t.Fatalf("after the move: %+v (first GUID %s)", moved, first.GUID)
	}
	if _, writes := e.sync(engine.RunOptions{Full: true}); writes != 0 {
		t.Fatalf("a full cycle after the move wrote %d times", writes)
	}
}

// A group placed by a rule, then moved by the change of its rule, keeps
// its objectGUID and objectSid (a modrdn across OUs, not a delete and
// create).
func TestPlacementMoveKeepsIdentity(t *testing.T) {
	ad := openDir(t, directorytest.Options{})
	sales := ad.NewOU(t, "sales")
	tf := baseTenant(t, ad, 2)
	tf.Groups = append(tf.Groups, map[string]any{"id": groupID(1), "displayName": "Sales EMEA", "mailNickname": "sales", "mailEnabled": false,
		"securityEnabled": true, "writebackConfiguration": map[string]any{"isEnabled": true}, "members": []any{userID(0), userID(1)}})
	e := newEnvOn(t, ad, tf, func(c *engine.Config) {
		c.Policy.Placement = []policy.PlacementRule{{OU: sales, Kind: "security", DisplayName: "Sales*"}}
	})
	e.sync(engine.RunOptions{})
	before := e.group(groupID(1))
	if !policy.Within(before.DN, sales) || len(before.Members) != 2 {
		t.Fatalf("written to %s with %d members, want %s", before.DN, len(before.Members), sales)
	}
	if err := e.tenant.UpdateGroup(groupID(1), map[string]any{"displayName": "Partners EMEA"}); err != nil {
		t.Fatal(err)
	}
	res, _ := e.sync(engine.RunOptions{})
	after := e.group(groupID(1))
	if res.Counts.Created != 0 || !policy.SameDN(after.DN, "CN=Partners EMEA_2c1a0b000001,"+e.ou) {
		t.Fatalf("after the rule changed: %s, %d created", after.DN, res.Counts.Created)
	}
	if after.SID != before.SID || after.GUID != before.GUID || len(after.Members) != 2 {
		t.Fatalf("not the same object: SID %s → %s", before.SID, after.SID)
	}
}

// Rules on extension properties: a directory extension (by value) and
// extensionAttribute3 (any value). Changing the value in the cloud moves
// the group at the next delta cycle.
func TestCorePlacementOnExtensions(t *testing.T) {
	dept := graphsim.ExtensionName(appID, "department")
	ad := openDir(t, directorytest.Options{})
	sales, tagged := ad.NewOU(t, "Sales"), ad.NewOU(t, "Tagged")
	groups := []map[string]any{
		{"id": groupID(1), "displayName": "Team A", "mailNickname": "a", "members": []any{userID(0)}, dept: "Sales"},
		{"id": groupID(2), "displayName": "Team B", "mailNickname": "b", "members": []any{userID(1)},
			"onPremisesExtensionAttributes": map[string]any{"extensionAttribute3": "tagged"}},
	}
	e := newGroupsEnvOn(t, ad, 2, func(directorytest.Fixture) []map[string]any { return groups }, func(c *engine.Config) {
		c.Policy.Placement = []policy.PlacementRule{
			{OU: sales, Extension: dept, ExtensionValue: "sales"},
			{OU: tagged, Extension: "extensionAttribute3"},
		}
	})
	e.sync(engine.RunOptions{})
	a, b := e.group(groupID(1)), e.group(groupID(2))
	if a == nil || b == nil || !policy.Within(a.DN, sales) || !policy.Within(b.DN, tagged) {
		t.Fatalf("placed at %+v and %+v", a, b)
	}
	if err := e.tenant.UpdateGroup(groupID(1), map[string]any{dept: "Finance"}); err != nil {
		t.Fatal(err)
	}
	if err := e.tenant.UpdateGroup(groupID(2), map[string]any{"onPremisesExtensionAttributes": map[string]any{"extensionAttribute3": nil}}); err != nil {
		t.Fatal(err)
	}
	res, _ := e.sync(engine.RunOptions{})
	a2, b2 := e.group(groupID(1)), e.group(groupID(2))
	if res.Counts.Created != 0 || !policy.Within(a2.DN, e.ou) || !policy.Within(b2.DN, e.ou) || a2.GUID != a.GUID || b2.GUID != b.GUID {
		t.Fatalf("after the changes: %+v, %+v (%d created)", a2, b2, res.Counts.Created)
	}
}

// Members from the whole forest: a user of another domain is found
// through the forest (the global catalog) and written by DN; a user of a
// trusted forest is reported, with its reason, and not written. Without
// the forest, the other domain's user is not found.
func TestCoreForestMembers(t *testing.T) {
	onlyOn(t, directorytest.Memdir, "a forest of two domains: the Samba matrix runs one DC of one domain")
	const emea = "DC=emea,DC=contoso,DC=test"
	for _, forest := range []bool{true, false} {
		e := newGroupsEnv(t, 1, nil, func(c *engine.Config) { c.Forest = forest })
		d := e.dir.(*memdir.Directory)
		d.AddDomain(emea, "S-1-5-21-1111-2222-3333")
		other, err := d.AddUser("CN=Users,"+emea, "emea-user")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.tenant.CreateUser(map[string]any{"id": userID(50), "displayName": "EMEA user", "userPrincipalName": "eu@emea.contoso.test",
			"onPremisesSyncEnabled": true, "onPremisesSecurityIdentifier": other.SID, "onPremisesDistinguishedName": other.DN}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.tenant.CreateUser(map[string]any{"id": userID(51), "displayName": "Partner user", "userPrincipalName": "pu@fabrikam.test",
			"onPremisesSyncEnabled": true, "onPremisesSecurityIdentifier": "S-1-5-21-9-9-9-1234"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.tenant.CreateGroup(map[string]any{"id": groupID(1), "displayName": "Forest", "mailNickname": "forest", "mailEnabled": false,
			"securityEnabled": true, "writebackConfiguration": map[string]any{"isEnabled": true}}); err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{userID(0), userID(50), userID(51)} {
			if err := e.tenant.AddMember(groupID(1), u); err != nil {
				t.Fatal(err)
			}
		}
		res, _ := e.sync(engine.RunOptions{})
		g, err := e.dir.ReadGroup(context.Background(), e.group(groupID(1)).DN, nil)
		if err != nil {
			t.Fatal(err)
		}
		notWritten := res.Counts.MembersNotWritten
		if forest {
			if len(g.Members) != 2 || !slices.ContainsFunc(g.Members, func(m string) bool { return policy.SameDN(m, other.DN) }) ||
				notWritten["other_forest"] != 1 || len(notWritten) != 1 {
				t.Fatalf("with the forest: members %v, not written %v", g.Members, notWritten)
			}
		} else if len(g.Members) != 1 || notWritten["not_found_in_ad"] != 2 {
			t.Fatalf("without the forest: members %v, not written %v", g.Members, notWritten)
		}
	}
}
