package engine_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// findOne is the first object under base whose attribute attr has value.
func findOne(t testing.TB, ad directorytest.Fixture, base, attr, value string) directorytest.Entry {
	t.Helper()
	found := ad.Find(t, base, attr, value)
	if len(found) == 0 {
		t.Fatalf("no object under %s has %s=%s", base, attr, value)
	}
	return found[0]
}

// TestMemberObjectClasses: a cloud member is written only when its
// on-premises identifier finds an object of its own kind that Connect
// would sync: a user account for a user, a group for a group, never a
// critical system object (krbtgt, Domain Admins, a domain controller).
func TestMemberObjectClasses(t *testing.T) {
	ad := openDir(t, directorytest.Options{})
	fx := ad.Users(t, 3)
	tf := baseTenant(t, ad, 3)
	krbtgtSID := findOne(t, ad, ad.BaseDN, "sAMAccountName", "krbtgt").SID
	adminsSID := findOne(t, ad, ad.BaseDN, "sAMAccountName", "Domain Admins").SID
	dcDN := findOne(t, ad, "OU=Domain Controllers,"+ad.BaseDN, "objectClass", "computer").DN
	side := ad.NewOU(t, "side")
	_, plainGroupSID := adGroup(t, ad, side, "Plain group")
	ad.Add(t, "CN=hostile-pc,"+side, map[string][]string{"objectClass": {"top", "computer"}, "sAMAccountName": {"hostile-pc$"}})
	pcSID := ad.Read(t, "CN=hostile-pc,"+side).SID

	synced := func(id string, keys map[string]any) map[string]any {
		u := map[string]any{"id": id, "displayName": id, "userPrincipalName": id + "@contoso.test", "onPremisesSyncEnabled": true}
		for k, v := range keys {
			u[k] = v
		}
		return u
	}
	const p = "3f2b1c4d-eeee-4a5b-8c6d-00000000000"
	tf.Users = append(tf.Users,
		synced(p+"1", map[string]any{"onPremisesSecurityIdentifier": krbtgtSID}),
		synced(p+"2", map[string]any{"onPremisesSecurityIdentifier": adminsSID}),
		synced(p+"3", map[string]any{"onPremisesDistinguishedName": dcDN}),
		synced(p+"4", map[string]any{"onPremisesSecurityIdentifier": pcSID}),
		synced(p+"5", map[string]any{"onPremisesSecurityIdentifier": plainGroupSID}),
		map[string]any{"id": p + "6", "displayName": "once synced", "userPrincipalName": "once@contoso.test", "onPremisesSyncEnabled": false, "onPremisesSecurityIdentifier": fx[1].SID},
	)
	gAdmins, gUser, gTarget := groupID(1041), groupID(1042), groupID(1040)
	tf.Groups = []map[string]any{
		{"id": gAdmins, "displayName": "Admins from AD", "securityEnabled": true, "mailEnabled": false, "mailNickname": "a",
			"onPremisesSyncEnabled": true, "onPremisesSecurityIdentifier": adminsSID},
		{"id": gUser, "displayName": "Not a group", "securityEnabled": true, "mailEnabled": false, "mailNickname": "b",
			"onPremisesSyncEnabled": true, "onPremisesSecurityIdentifier": fx[2].SID},
		{"id": gTarget, "displayName": "Hostile members", "securityEnabled": true, "mailEnabled": false, "mailNickname": "h",
			"writebackConfiguration": map[string]any{"isEnabled": true},
			"members":                []any{userID(0), p + "1", p + "2", p + "3", p + "4", p + "5", p + "6", gAdmins, gUser, gTarget}},
	}
	e := newEnvOn(t, ad, tf, nil)
	res, _ := e.sync(engine.RunOptions{})
	g := e.group(gTarget)
	if g == nil {
		t.Fatalf("group not written: %+v", res.Failures)
	}
	if got := members(g); len(got) != 1 || !strings.EqualFold(got[0], fx[0].DN) {
		t.Fatalf("members = %v, want only %s", got, fx[0].DN)
	}
	want := map[string]string{
		p + "1": policy.MemberCritical, p + "2": policy.MemberCritical, p + "3": policy.MemberCritical,
		p + "4": policy.MemberNotAUser, p + "5": policy.MemberNotAUser, p + "6": policy.MemberCloudOnlyWithIDs,
		gAdmins: policy.MemberCritical, gUser: policy.MemberNotAGroup, gTarget: policy.MemberItself,
	}
	got := map[string]string{}
	for _, mp := range res.Plan.NotWritten[gTarget] {
		got[mp.CloudID] = mp.Reason
	}
	for id, reason := range want {
		if got[id] != reason {
			t.Errorf("member %s: reason %q, want %q", id, got[id], reason)
		}
	}
}

// TestTenantDefaultIsNoScopeRule: with NewUnifiedGroupWritebackDefault
// false, an existing Microsoft 365 group whose isEnabled is unset is still
// written back, as Connect does; a group created afterwards is stamped
// isEnabled = false by Entra (graphsim) and is not.
func TestTenantDefaultIsNoScopeRule(t *testing.T) {
	opts := directorytest.Options{Exchange: true, Anchor: true}
	ad := openDir(t, opts)
	tf := baseTenant(t, ad, 2)
	existing := groupID(1400)
	tf.Groups = []map[string]any{{"id": existing, "displayName": "Existing M365", "mailEnabled": true, "mailNickname": "existing1400",
		"securityEnabled": false, "groupTypes": []any{"Unified"}, "members": []any{userID(0)}}}
	e := newEnvOn(t, ad, tf, nil)
	e.tenant.SetUnifiedWritebackDefault(false)
	created, err := e.tenant.CreateGroup(map[string]any{"displayName": "Created after", "mailEnabled": true, "mailNickname": "after1400",
		"securityEnabled": false, "groupTypes": []any{"Unified"}})
	if err != nil {
		t.Fatal(err)
	}
	res, _ := e.sync(engine.RunOptions{})
	if e.group(existing) == nil {
		t.Fatalf("the existing group with isEnabled unset was not written: %+v", res.Skipped)
	}
	if e.group(created) != nil {
		t.Fatal("a group created after the default was set to false was written")
	}
}

// TestSourceOfAuthorityMovedIsNeverDuplicated: a group synced from AD whose
// source of authority an admin moves to the cloud (PATCH
// onPremisesSyncBehavior isCloudManaged) keeps its on-premises SID; it is
// never written as a new copy in the target OU, and it stays a member of
// the groups that nest it, as its original AD group.
func TestSourceOfAuthorityMovedIsNeverDuplicated(t *testing.T) {
	ad := openDir(t, directorytest.Options{})
	side := ad.NewOU(t, "onprem")
	originalDN, sid := adGroup(t, ad, side, "Finance onprem")
	tf := baseTenant(t, ad, 2)
	fromAD, parent := groupID(1460), groupID(1461)
	tf.Groups = []map[string]any{
		{"id": fromAD, "displayName": "Finance", "securityEnabled": true, "mailEnabled": false, "mailNickname": "fin1460",
			"onPremisesSyncEnabled": true, "onPremisesSecurityIdentifier": sid, "members": []any{userID(0)}},
		{"id": parent, "displayName": "All finance", "securityEnabled": true, "mailEnabled": false, "mailNickname": "allfin1461",
			"writebackConfiguration": map[string]any{"isEnabled": true}, "members": []any{fromAD, userID(1)}},
	}
	e := newEnvOn(t, ad, tf, nil)
	e.sync(engine.RunOptions{})
	if err := e.tenant.SetCloudManaged(fromAD, true); err != nil {
		t.Fatal(err)
	}
	// Writeback turned on for it too: still no copy.
	if err := e.tenant.UpdateGroup(fromAD, map[string]any{"writebackConfiguration": map[string]any{"isEnabled": true}}); err != nil {
		t.Fatal(err)
	}
	res, _ := e.sync(engine.RunOptions{})
	if g := e.group(fromAD); g != nil {
		t.Fatalf("a copy of the original AD group was written: %s", g.DN)
	}
	var reason string
	for _, d := range res.Skipped {
		if d.CloudID == fromAD {
			reason = d.Reason
		}
	}
	if !strings.Contains(reason, "source of authority moved from AD to the cloud") {
		t.Fatalf("reason = %q", reason)
	}
	if ms := members(e.group(parent)); len(ms) != 2 || !slices.Contains(ms, strings.ToLower(originalDN)) {
		t.Fatalf("the parent's members = %v, want the original AD group among them", ms)
	}
}

// TestSourceOfAuthorityInPlace: with writeback.source_of_authority:
// in_place, a group whose source of authority moved to the cloud has its
// members and names written into its original AD group, wherever it lives,
// and nothing else of it changes; a global original is reported with how
// to convert it; the original is never deleted when the cloud group goes.
func TestSourceOfAuthorityInPlace(t *testing.T) {
	ad := openDir(t, directorytest.Options{})
	fx := ad.Users(t, 6)
	side := ad.NewOU(t, "onprem")
	universal := "CN=Engineering onprem," + side
	ad.Add(t, universal, map[string][]string{"objectClass": {"top", "group"}, "sAMAccountName": {"eng1470"},
		"groupType": {"-2147483640"}, // universal security
		"info":      {"kept by hand"}, "member": {fx[5].DN}})
	uniSID := ad.Read(t, universal).SID
	_, globalSID := adGroup(t, ad, side, "Global onprem") // global security
	tf := baseTenant(t, ad, 3)
	inPlace, global := groupID(1470), groupID(1471)
	tf.Groups = []map[string]any{
		{"id": inPlace, "displayName": "Engineering", "description": "now managed in the cloud", "securityEnabled": true, "mailEnabled": false,
			"mailNickname": "eng1470", "onPremisesSyncEnabled": false, "onPremisesSecurityIdentifier": uniSID, "members": []any{userID(0), userID(1)},
			"onPremisesSyncBehavior": map[string]any{"isCloudManaged": true}},
		{"id": global, "displayName": "Global", "securityEnabled": true, "mailEnabled": false, "mailNickname": "glob1471",
			"onPremisesSyncEnabled": false, "onPremisesSecurityIdentifier": globalSID, "members": []any{userID(2)},
			"onPremisesSyncBehavior": map[string]any{"isCloudManaged": true}},
		// Taken out of sync, not converted: left alone, even in place.
		{"id": groupID(1472), "displayName": "Desynced", "securityEnabled": true, "mailEnabled": false, "mailNickname": "desync1472",
			"onPremisesSyncEnabled": false, "onPremisesSecurityIdentifier": globalSID, "members": []any{userID(2)}},
	}
	e := newEnvOn(t, ad, tf, func(c *engine.Config) { c.Policy.InPlace = true })
	res, _ := e.sync(engine.RunOptions{})
	read := func() *directorytest.Entry { return ad.Read(t, universal) }
	g := read()
	if ms := members(g); len(ms) != 2 || !slices.Contains(ms, strings.ToLower(fx[0].DN)) || !slices.Contains(ms, strings.ToLower(fx[1].DN)) {
		t.Fatalf("original's members = %v", ms)
	}
	if attr(g, "description") != "now managed in the cloud" || attr(g, "displayName") != "Engineering" || attr(g, "info") != "kept by hand" ||
		attr(g, "sAMAccountName") != "eng1470" || attr(g, "adminDescription") != "" {
		t.Fatalf("original = %+v", g)
	}
	if e.group(inPlace) != nil || e.group(global) != nil || e.group(groupID(1472)) != nil {
		t.Fatal("a copy was written in the target OU")
	}
	if !slices.ContainsFunc(res.Skipped, func(d policy.Decision) bool {
		return d.CloudID == groupID(1472) && strings.Contains(d.Reason, "not cloud-managed")
	}) {
		t.Fatalf("the desynced group is not reported: %+v", res.Skipped)
	}
	for _, op := range kept(res) {
		if op.CloudID == inPlace && (op.SID != uniSID || op.Action == reconcile.Create || op.Action == reconcile.Delete) {
			t.Fatalf("in-place operation %+v", op)
		}
	}
	i := slices.IndexFunc(res.Failures, func(f engine.Failure) bool { return f.CloudID == global })
	if i < 0 || !strings.Contains(res.Failures[i].Message, "is a global group") || !strings.Contains(res.Failures[i].Message, "-GroupScope Universal") {
		t.Fatalf("failures = %+v", res.Failures)
	}
	if _, w := e.sync(engine.RunOptions{Full: true}); w != 0 {
		t.Fatalf("in step, yet %d writes", w)
	}
	// Gone from the cloud for good: the original stays, with its members.
	if err := e.tenant.DeleteGroup(inPlace); err != nil {
		t.Fatal(err)
	}
	_ = e.tenant.PurgeDeleted(inPlace)
	e.sync(engine.RunOptions{})
	if g := read(); len(members(g)) != 2 {
		t.Fatalf("after the cloud group went: %+v", g)
	}
}
