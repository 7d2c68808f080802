package engine_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// The demo-like tenant's groups.
var (
	gMarketing = groupID(1) // M365, default writeback: distribution with mail
	gFalcon    = groupID(2) // M365, writeback off
	gFinance   = groupID(3) // M365 as mail-enabled security
	gVPN       = groupID(4) // security, writeback on, nests gMarketing and gSales
	gLab       = groupID(5) // security, writeback not enabled
	gSales     = groupID(6) // synced from AD
	gAllStaff  = groupID(7) // cloud distribution list: not supported
)

// adGroup creates a global security group in AD (what Connect synced to the
// cloud as "Sales (from AD)") and returns its DN and SID.
func adGroup(t *testing.T, ad directorytest.Fixture, ou, name string) (string, string) {
	t.Helper()
	dn := "CN=" + name + "," + ou
	ad.Add(t, dn, map[string][]string{"objectClass": {"top", "group"}, "sAMAccountName": {name + "-onprem"},
		"groupType": {"-2147483646"}}) // global security
	return dn, ad.Read(t, dn).SID
}

func demoTenant(salesSID string) []map[string]any {
	yes, no := true, false
	return []map[string]any{
		{"id": gMarketing, "displayName": "Marketing", "description": "Everyone in marketing", "mailEnabled": true, "mailNickname": "marketing",
			"securityEnabled": false, "groupTypes": []any{"Unified"}, "members": []any{userID(0), userID(1), cloudOnly}},
		{"id": gFalcon, "displayName": "Project Falcon", "mailEnabled": true, "mailNickname": "falcon", "securityEnabled": false,
			"groupTypes": []any{"Unified"}, "writebackConfiguration": map[string]any{"isEnabled": no}, "members": []any{userID(2)}},
		{"id": gFinance, "displayName": "Finance approvers", "mailEnabled": true, "mailNickname": "finance-approvers", "securityEnabled": false,
			"groupTypes": []any{"Unified"}, "writebackConfiguration": map[string]any{"isEnabled": yes, "onPremisesGroupType": "universalMailEnabledSecurityGroup"},
			"members": []any{userID(1), userID(2)}},
		{"id": gVPN, "displayName": "VPN users", "mailEnabled": false, "mailNickname": "vpn", "securityEnabled": true,
			"writebackConfiguration": map[string]any{"isEnabled": yes}, "members": []any{userID(0), gMarketing, gSales}},
		{"id": gLab, "displayName": "Lab admins", "mailEnabled": false, "mailNickname": "lab", "securityEnabled": true, "members": []any{userID(2)}},
		{"id": gSales, "displayName": "Sales", "mailEnabled": false, "mailNickname": "sales", "securityEnabled": true,
			"onPremisesSyncEnabled": true, "onPremisesSecurityIdentifier": salesSID, "members": []any{userID(1)}},
		{"id": gAllStaff, "displayName": "All staff", "mailEnabled": true, "mailNickname": "allstaff", "securityEnabled": false, "members": []any{userID(0)}},
	}
}

func TestEndToEnd(t *testing.T) {
	ad := openDir(t, directorytest.Options{Exchange: true, Anchor: true})
	fx := ad.Users(t, 10)
	tf := baseTenant(t, ad, 10)
	// The env's OU is made inside newEnv; the AD-synced group lives apart.
	salesOU := ad.NewOU(t, "sales")
	salesDN, salesSID := adGroup(t, ad, salesOU, "Sales")
	tf.Groups = demoTenant(salesSID)
	e := newEnvOn(t, ad, tf, nil)
	before := ad.Dump(t)

	res, writes := e.sync(engine.RunOptions{})
	if res.Mode != "full" || res.Counts.Created != 3 || res.Counts.Failed != 0 || writes == 0 {
		t.Fatalf("first sync: %+v, %d writes, failures %+v", res.Counts, writes, res.Failures)
	}
	lower := func(s string) string { return strings.ToLower(s) }
	// Marketing: Microsoft 365 → universal distribution group with mail.
	m := e.group(gMarketing)
	checks := []struct{ got, want string }{
		{m.DN, policy.GroupDN("Marketing_2c1a0b000001", e.ou)},
		{attr(m, "groupType"), "8"},
		{attr(m, "sAMAccountName"), "Marketing_2c1a0b000001"},
		{attr(m, "displayName"), "Marketing"},
		{attr(m, "description"), "Everyone in marketing"},
		{attr(m, "adminDescription"), "Group_" + gMarketing},
		{attr(m, "msDS-ExternalDirectoryObjectId"), "Group_" + gMarketing},
		{attr(m, "mail"), "marketing@contoso.onmicrosoft.com"},
		{attr(m, "mailNickname"), "marketing"},
		{attr(m, "proxyAddresses"), "SMTP:marketing@contoso.onmicrosoft.com"},
		{attr(m, "msExchRecipientDisplayType"), "1"},
		{attr(m, "msExchRecipientTypeDetails"), "8796093022208"},
		{attr(m, "msExchRequireAuthToSendTo"), "TRUE"},
		{strings.Join(members(m), "|"), strings.Join(sorted(lower(fx[0].DN), lower(fx[1].DN)), "|")},
	}
	// Finance: mail-enabled security.
	f := e.group(gFinance)
	checks = append(checks, []struct{ got, want string }{
		{attr(f, "groupType"), "-2147483640"}, {attr(f, "msExchRecipientDisplayType"), "1073741833"},
		{attr(f, "mail"), "finance-approvers@contoso.onmicrosoft.com"},
		{strings.Join(members(f), "|"), strings.Join(sorted(lower(fx[1].DN), lower(fx[2].DN)), "|")},
	}...)
	// VPN: security group nesting the written-back Marketing and the AD group.
	v := e.group(gVPN)
	checks = append(checks, []struct{ got, want string }{
		{attr(v, "groupType"), "-2147483640"}, {attr(v, "mail"), ""}, {attr(v, "proxyAddresses"), ""},
		{strings.Join(members(v), "|"), strings.Join(sorted(lower(fx[0].DN), lower(m.DN), lower(salesDN)), "|")},
	}...)
	for i, c := range checks {
		if c.got != c.want {
			t.Errorf("check %d: got %q, want %q", i, c.got, c.want)
		}
	}
	for _, id := range []string{gFalcon, gLab, gSales, gAllStaff} {
		if e.group(id) != nil {
			t.Errorf("group %s was written back; it must not be", id)
		}
	}
	if n := res.Counts.MembersNotWritten["cloud_only_user"]; n != 1 {
		t.Errorf("cloud-only members reported %d, want 1 (%v)", n, res.Counts.MembersNotWritten)
	}

	// A second run, by delta or in full, writes nothing.
	if res, w := e.sync(engine.RunOptions{}); w != 0 || res.Mode != "delta" || len(kept(res)) != 0 {
		t.Fatalf("second (delta) sync made %d writes: %+v", w, kept(res))
	}
	if res, w := e.sync(engine.RunOptions{Full: true}); w != 0 || res.Counts.Unchanged != 3 {
		t.Fatalf("full sync in step made %d writes, unchanged %d: %+v", w, res.Counts.Unchanged, kept(res))
	}

	// Changes through Graph reach AD on the next delta sync.
	tn := e.tenant
	newGroup := groupID(8)
	for _, err := range []error{
		tn.UpdateGroup(gMarketing, map[string]any{"displayName": "Marketing EMEA", "description": "EMEA marketing"}),
		tn.AddMember(gVPN, userID(3)),
		tn.RemoveMember(gVPN, userID(0)),
		tn.DeleteGroup(gFinance), // soft delete: kept (default)
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := tn.UpdateGroup(gVPN, map[string]any{"writebackConfiguration": map[string]any{"isEnabled": true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.CreateGroup(map[string]any{"id": newGroup, "displayName": "New team", "mailEnabled": true, "mailNickname": "newteam",
		"securityEnabled": false, "groupTypes": []any{"Unified"}, "members@odata.bind": []any{"directoryObjects/" + userID(4)}}); err != nil {
		t.Fatal(err)
	}
	res, writes = e.sync(engine.RunOptions{})
	if res.Mode != "delta" || res.Counts.Failed != 0 || writes == 0 {
		t.Fatalf("delta sync: %+v %+v, %d writes", res.Counts, res.Failures, writes)
	}
	m2 := e.group(gMarketing)
	if m2.DN != policy.GroupDN("Marketing EMEA_2c1a0b000001", e.ou) || attr(m2, "description") != "EMEA marketing" ||
		attr(m2, "sAMAccountName") != "Marketing_2c1a0b000001" || attr(m2, "objectGUID") != attr(m, "objectGUID") { // renamed; its sAMAccountName kept (writeback.sam_on_rename: keep)
		t.Errorf("after rename: %s %q %q", m2.DN, attr(m2, "description"), attr(m2, "sAMAccountName"))
	}
	v2 := e.group(gVPN)
	if want := sorted(lower(fx[3].DN), lower(m2.DN), lower(salesDN)); !slices.Equal(members(v2), want) {
		t.Errorf("VPN members after change: %v, want %v", members(v2), want)
	}
	if f2 := e.group(gFinance); f2 == nil || attr(f2, "mail") != attr(f, "mail") {
		t.Errorf("soft-deleted group must be kept as it was: %v", f2)
	}
	if ng := e.group(newGroup); ng == nil || !slices.Equal(members(ng), []string{lower(fx[4].DN)}) {
		t.Errorf("new group: %v", ng)
	}
	// Writeback turned off for one group: kept, no longer updated.
	if err := tn.UpdateGroup(gVPN, map[string]any{"writebackConfiguration": map[string]any{"isEnabled": false}, "description": "changed after"}); err != nil {
		t.Fatal(err)
	}
	if res, _ = e.sync(engine.RunOptions{}); res.Counts.Failed != 0 {
		t.Fatalf("sync: %+v", res.Counts)
	}
	if vg := e.group(gVPN); vg == nil || attr(vg, "description") != "" {
		t.Errorf("group with writeback turned off: %v (description %q)", vg, attr(vg, "description"))
	}
	st, _ := e.store.Statuses(context.Background(), state.OutOfScope)
	if !slices.ContainsFunc(st, func(s state.GroupStatus) bool {
		return s.CloudID == gVPN && strings.Contains(s.Message, "isEnabled = false")
	}) {
		t.Errorf("status of the turned-off group not recorded: %+v", st)
	}

	// The state file is a cache: without it the next run reads everything
	// again, re-adopts the groups by their anchors and writes nothing.
	e.resetStore()
	if res, w := e.sync(engine.RunOptions{}); w != 0 || res.Mode != "full" || res.Counts.Created != 0 {
		t.Fatalf("run after losing the state file: mode %s, %d writes, %+v", res.Mode, w, kept(res))
	}

	// Security groups are soft-deleted too (restorable for 30 days): the
	// AD copy is kept (on_soft_delete: keep); deleted for good, it goes.
	if err := tn.DeleteGroup(gVPN); err != nil {
		t.Fatal(err)
	}
	if res, _ := e.sync(engine.RunOptions{}); res.Counts.Deleted != 0 || e.group(gVPN) == nil {
		t.Fatalf("soft delete of a security group: %+v; group still there: %v", res.Counts, e.group(gVPN) != nil)
	}
	if err := tn.PurgeDeleted(gVPN); err != nil {
		t.Fatal(err)
	}
	if res, _ := e.sync(engine.RunOptions{}); res.Counts.Deleted != 1 || e.group(gVPN) != nil {
		t.Fatalf("hard delete: %+v; group still there: %v", res.Counts, e.group(gVPN) != nil)
	}

	// Nothing the tool does not own changed.
	if diff := directorytest.Changed(before, ad.Dump(t), e.notOwned()); len(diff) > 0 {
		t.Fatalf("objects the tool does not own changed:\n%s", strings.Join(diff, "\n"))
	}
}

func sorted(s ...string) []string { slices.Sort(s); return s }
