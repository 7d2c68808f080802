package engine

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// TestDecideStatuses: each group's state after a cycle, from what the
// cycle set out to do and what became of it. No DC, no store.
func TestDecideStatuses(t *testing.T) {
	const (
		ou  = "OU=Cloud,DC=contoso,DC=com"
		qou = "OU=Quarantine,DC=contoso,DC=com"
	)
	inStep := func(id, name string) policy.Decision {
		return policy.Decision{CloudID: id, Name: name, InScope: true, Desired: &policy.DesiredGroup{CloudID: id, DN: "CN=" + name + "," + ou}}
	}
	outOfScope := policy.Decision{CloudID: "g", Name: "Old", Reason: "writeback turned off"}
	// A refused write is said with its fix first, the chain after it.
	ldapErr := fmt.Errorf("directory: add CN=Sales: %w", ldap.NewError(ldap.LDAPResultInsufficientAccessRights, errors.New("00002098: SecErr")))
	saidErr := "the service account lacks the right to do this. Fix: grant the delegation `groupwriteback doctor --print-delegation` prints, " +
		"then run `groupwriteback doctor` to check it (detail: " + ldapErr.Error() + ")"
	cases := []struct {
		name string
		o    cycleOutcome
		want []state.GroupStatus
	}{
		{"in step, renamed, with members not written and a field note",
			cycleOutcome{Work: []policy.Decision{func() policy.Decision {
				d := inStep("g", "Sales")
				d.Notes = []policy.Problem{{Field: "mail", Message: "no @"}}
				return d
			}()},
				Plan: reconcile.Plan{Ops: []reconcile.Op{{Action: reconcile.Rename, CloudID: "g", DN: "CN=Old," + ou, NewRDN: "CN=Sales"}},
					NotWritten: map[string][]reconcile.MemberProblem{"g": {{CloudID: "d1", Code: "unsupported_member_type", Reason: "a device"}, {CloudID: "d2", Code: "unsupported_member_type", Reason: "a device"}, {CloudID: "u", Code: "cloud_only_user", Reason: "cloud-only"}}}}},
			[]state.GroupStatus{{CloudID: "g", Name: "Sales", State: state.InStep, DN: "CN=Sales," + ou, Message: "mail: no @",
				MembersNotWritten: map[string]int{"unsupported_member_type": 2, "cloud_only_user": 1}}}},
		{"an operation failed",
			cycleOutcome{Work: []policy.Decision{inStep("g", "Sales")}, Failed: map[string]error{"g": ldapErr},
				Plan: reconcile.Plan{Ops: []reconcile.Op{{Action: reconcile.AddMembers, CloudID: "g", DN: "CN=Sales," + ou}}}},
			[]state.GroupStatus{{CloudID: "g", Name: "Sales", State: state.Failed, Message: saidErr}}},
		{"interrupted wins over everything",
			cycleOutcome{Work: []policy.Decision{inStep("g", "Sales")}, Unfinished: map[string]bool{"g": true},
				Plan: reconcile.Plan{Problems: []reconcile.Problem{{CloudID: "g", Message: "x"}}}},
			[]state.GroupStatus{{CloudID: "g", Name: "Sales", State: state.Pending, Message: msgInterrupted}}},
		{"a plan problem holds the group",
			cycleOutcome{Work: []policy.Decision{inStep("g", "Sales")},
				Plan: reconcile.Plan{Problems: []reconcile.Problem{{CloudID: "g", Message: "a group outside the OU carries its anchor"}}}},
			[]state.GroupStatus{{CloudID: "g", Name: "Sales", State: state.Failed, Message: "a group outside the OU carries its anchor"}}},
		{"not writable",
			cycleOutcome{Work: []policy.Decision{{CloudID: "g", Name: "Bad", InScope: true, Problem: &policy.Problem{CloudID: "g", Name: "Bad", Field: "mailNickname", Message: "has a space"}}}},
			[]state.GroupStatus{{CloudID: "g", Name: "Bad", State: state.NotWritable, Message: (&policy.Problem{CloudID: "g", Name: "Bad", Field: "mailNickname", Message: "has a space"}).Error()}}},
		{"out of scope, deleted",
			cycleOutcome{Work: []policy.Decision{outOfScope}, Plan: reconcile.Plan{Ops: []reconcile.Op{{Action: reconcile.Delete, CloudID: "g", DN: "CN=Old," + ou}}}},
			[]state.GroupStatus{{CloudID: "g", Name: "Old", State: state.Deleted, Message: "writeback turned off"}}},
		{"out of scope, delete failed",
			cycleOutcome{Work: []policy.Decision{outOfScope}, Failed: map[string]error{"g": ldapErr},
				Plan: reconcile.Plan{Ops: []reconcile.Op{{Action: reconcile.Delete, CloudID: "g", DN: "CN=Old," + ou}}}},
			[]state.GroupStatus{{CloudID: "g", Name: "Old", State: state.Failed, Message: saidErr}}},
		{"out of scope, quarantined",
			cycleOutcome{Work: []policy.Decision{outOfScope}, QuarantineOU: qou,
				Plan: reconcile.Plan{Ops: []reconcile.Op{{Action: reconcile.Move, CloudID: "g", DN: "CN=Old," + ou, NewParent: "ou=quarantine,dc=contoso,dc=com"}}}},
			[]state.GroupStatus{{CloudID: "g", Name: "Old", State: state.Quarantined, DN: "CN=Old,ou=quarantine,dc=contoso,dc=com", Message: "writeback turned off"}}},
		{"out of scope, kept",
			cycleOutcome{Work: []policy.Decision{outOfScope}},
			[]state.GroupStatus{{CloudID: "g", Name: "Old", State: state.OutOfScope, Message: "writeback turned off"}}},
		{"gone from the cloud: deleted, held back, interrupted, named by their AD object, by id",
			cycleOutcome{Unfinished: map[string]bool{"c": true},
				Plan: reconcile.Plan{
					Ops: []reconcile.Op{
						{Action: reconcile.Delete, CloudID: "d", DN: "CN=Gone D," + ou},
						{Action: reconcile.Delete, CloudID: "c", DN: `CN=Smith\, C,` + ou},
						{Action: reconcile.Move, CloudID: "q", DN: "CN=Gone Q," + ou, NewParent: qou},
					},
					HeldBack: []reconcile.Op{{Action: reconcile.Delete, CloudID: "b", DN: "CN=Gone B," + ou, Reason: msgCloudGone}}}},
			[]state.GroupStatus{
				{CloudID: "b", Name: "Gone B", DN: "CN=Gone B," + ou, State: state.Held, // held, not failed (issue 24)
					Message: "delete held back by the delete threshold (" + msgCloudGone + "); release it with `groupwriteback release \"Gone B\" --reason …`"},
				{CloudID: "c", Name: "Smith, C", DN: `CN=Smith\, C,` + ou, State: state.Pending, Message: msgInterrupted},
				{CloudID: "d", Name: "Gone D", State: state.Deleted, Message: msgCloudGone},
				{CloudID: "q", Name: "Gone Q", DN: "CN=Gone Q," + qou, State: state.Quarantined, Message: msgCloudGone},
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.o.QuarantineOU = qou
			got := decideStatuses(c.o)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, c.want)
			}
		})
	}
}
