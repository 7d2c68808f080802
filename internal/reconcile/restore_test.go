package reconcile_test

import (
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

func TestRestoreDeleted(t *testing.T) {
	const (
		ou    = "OU=Cloud,DC=contoso,DC=test"
		sales = "OU=Sales,DC=contoso,DC=test"
		quar  = "OU=Quarantine,DC=contoso,DC=test"
		tomb  = `CN=G\0ADEL:8b3df295-b3cc-4245-a355-c713bcc2acb9,CN=Deleted Objects,DC=contoso,DC=test`
	)
	id := "6a1e0c55-0001-4f0e-9d3b-2c1a0b000001"
	members := []string{"CN=u1,DC=contoso,DC=test", "CN=u2,DC=contoso,DC=test", "CN=u3,DC=contoso,DC=test"}
	create := reconcile.Op{Action: reconcile.Create, CloudID: id, DN: "CN=G," + ou, Anchor: policy.Anchor(id), Members: members,
		Changes: []reconcile.AttrChange{{Name: "groupType", New: []string{"-2147483640"}}, {Name: "adminDescription", New: []string{policy.Anchor(id)}}}}
	other := reconcile.Op{Action: reconcile.Update, CloudID: "6a1e0c55-0002-4f0e-9d3b-2c1a0b000002", DN: "CN=H," + ou, Anchor: policy.Anchor("6a1e0c55-0002-4f0e-9d3b-2c1a0b000002")}
	o := reconcile.Options{TargetOU: ou, OUs: []string{ou, sales}, QuarantineOU: quar, BatchSize: 2}
	deleted := func(parent string, recycled bool) map[string]reconcile.Deleted {
		return map[string]reconcile.Deleted{strings.ToLower(policy.Anchor(id)): {DN: tomb, Anchor: policy.Anchor(id), SID: "S-1-5-21-1-2-3-1105", LastKnownParent: parent, Recycled: recycled}}
	}
	for _, tc := range []struct {
		name    string
		deleted map[string]reconcile.Deleted
		// want is each op's action, and the reason's start.
		want   []reconcile.Action
		reason string
	}{
		{"nothing deleted", nil, []reconcile.Action{reconcile.Create, reconcile.Update}, ""},
		{"deleted from the target OU", deleted(ou, false), []reconcile.Action{reconcile.Restore, reconcile.Update, reconcile.AddMembers, reconcile.AddMembers}, "restored from deleted objects"},
		{"deleted from below a placement OU", deleted("OU=East,"+sales, false), []reconcile.Action{reconcile.Restore, reconcile.Update, reconcile.AddMembers, reconcile.AddMembers}, "restored from deleted objects"},
		{"deleted from quarantine", deleted(quar, false), []reconcile.Action{reconcile.Restore, reconcile.Update, reconcile.AddMembers, reconcile.AddMembers}, "restored from deleted objects"},
		{"deleted from CN=Users", deleted("CN=Users,DC=contoso,DC=test", false), []reconcile.Action{reconcile.Create, reconcile.Update}, "created anew, not restored: its deleted object in AD was deleted from CN=Users"},
		{"recycled", deleted(ou, true), []reconcile.Action{reconcile.Create, reconcile.Update}, "created anew, not restored: its deleted object in AD is recycled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops := reconcile.RestoreDeleted([]reconcile.Op{create, other}, tc.deleted, o)
			var got []reconcile.Action
			for _, op := range ops {
				got = append(got, op.Action)
			}
			if strings.Join(actions(got), " ") != strings.Join(actions(tc.want), " ") || !strings.HasPrefix(ops[0].Reason, tc.reason) {
				t.Fatalf("ops %v, reason %q; want %v, %q", got, ops[0].Reason, tc.want, tc.reason)
			}
			if ops[0].Action != reconcile.Restore {
				if len(ops[0].Members) != 3 || ops[0].From != "" {
					t.Fatalf("a create left as it is lost its members or names a deleted object: %+v", ops[0])
				}
				return
			}
			var added []string
			for _, op := range ops[2:] {
				if op.DN != create.DN || op.Anchor != create.Anchor {
					t.Fatalf("members added to %s (%s)", op.DN, op.Anchor)
				}
				added = append(added, op.Members...)
			}
			if r := ops[0]; r.From != tomb || r.DN != create.DN || len(r.Members) != 0 || len(r.Changes) != 2 || !strings.Contains(r.Reason, "S-1-5-21-1-2-3-1105") ||
				strings.Join(added, ";") != strings.Join(members, ";") {
				t.Fatalf("restore %+v, then members %v", r, added)
			}
		})
	}
	// A restore AD refuses falls back to the create it was.
	back := reconcile.RestoreDeleted([]reconcile.Op{create}, deleted(ou, false), o)[0].Unrestored("AD refused it: insufficient access rights")
	if back.Action != reconcile.Create || back.From != "" || back.DN != create.DN || len(back.Changes) != 2 || !strings.HasPrefix(back.Reason, "created anew, not restored: AD refused") {
		t.Fatalf("unrestored: %+v", back)
	}
}

func actions(as []reconcile.Action) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = string(a)
	}
	return out
}
