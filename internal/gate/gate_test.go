package gate_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

const (
	base  = "DC=contoso,DC=test"
	ou    = "OU=Cloud groups," + base
	place = "OU=Teams,OU=Cloud groups," + base
	quar  = "OU=Quarantine," + base
	id    = "6a1e0c55-0001-4f0e-9d3b-2c1a0b000001"
	other = "6a1e0c55-0002-4f0e-9d3b-2c1a0b000002"
	sid   = "S-1-5-21-1-2-3-1105"
)

var rules = gate.Rules{Places: []string{ou, place}, QuarantineOU: quar, Domain: base,
	Managed: policy.ManagedAttributes(policy.Options{AnchorAttribute: true})}

func owned(dn string) *gate.Object {
	return &gate.Object{DN: dn, Class: []string{"top", "group"}, AdminDescription: policy.Anchor(id), SID: sid}
}

func create(parent string, chs ...reconcile.AttrChange) reconcile.Op {
	return reconcile.Op{Action: reconcile.Create, CloudID: id, Anchor: policy.Anchor(id), DN: "CN=G_2c1a0b000001," + parent,
		Changes: append([]reconcile.AttrChange{{Name: "groupType", New: []string{"-2147483640"}}, {Name: "adminDescription", New: []string{policy.Anchor(id)}}}, chs...)}
}

// tomb is the deleted object of the group id, deleted from parent.
const tombDN = `CN=G_2c1a0b000001\0ADEL:8b3df295-b3cc-4245-a355-c713bcc2acb9,CN=Deleted Objects,` + base

func tomb(parent string) *gate.Object {
	return &gate.Object{DN: tombDN, Class: []string{"top", "group"}, ExternalID: policy.Anchor(id), SID: sid, Deleted: true, LastKnownParent: parent}
}

func restore(parent string) reconcile.Op {
	op := create(parent)
	op.Action, op.From = reconcile.Restore, tombDN
	return op
}

func TestCheck(t *testing.T) {
	dn := "CN=G_2c1a0b000001," + ou
	set := func(name string, vs ...string) reconcile.AttrChange { return reconcile.AttrChange{Name: name, New: vs} }
	inRules := rules
	inRules.InPlace = true
	withHolders := func(o *gate.Object, hs ...gate.Holder) *gate.Object { o.Holders = hs; return o }
	scoped := rules
	scoped.Scopes = map[string]string{strings.ToLower(place): policy.ScopeGlobal}
	for _, tc := range []struct {
		name  string
		rules gate.Rules
		op    reconcile.Op
		obj   *gate.Object
		cloud *gate.CloudGroup
		want  gate.Rule // "" allowed
	}{
		{"create in the target OU", rules, create(ou), nil, nil, ""},
		{"create in a placement OU", rules, create(place), nil, nil, ""},
		{"create in the quarantine OU", rules, create(quar), nil, nil, ""},
		{"create below a placement OU", rules, create("OU=Sub," + place), nil, nil, gate.RulePlace},
		{"create in CN=Users", rules, create("CN=Users," + base), nil, nil, gate.RulePlace},
		{"create of a global group", rules, func() reconcile.Op { op := create(ou); op.Changes[0].New = []string{"-2147483646"}; return op }(), nil, nil, gate.RuleGroupType},
		{"create of a distribution group", rules, func() reconcile.Op { op := create(ou); op.Changes[0].New = []string{"8"}; return op }(), nil, nil, ""},
		{"create without a groupType", rules, func() reconcile.Op { op := create(ou); op.Changes = op.Changes[1:]; return op }(), nil, nil, gate.RuleGroupType},
		{"create without its anchor", rules, func() reconcile.Op { op := create(ou); op.Changes = op.Changes[:1]; return op }(), nil, nil, gate.RuleAnchor},
		{"create with objectClass", rules, create(ou, set("objectClass", "user")), nil, nil, gate.RuleClass},
		{"create with info", rules, create(ou, set("info", "x")), nil, nil, gate.RuleAttributes},
		{"create under another's anchor", rules, func() reconcile.Op { op := create(ou); op.Anchor = policy.Anchor(other); return op }(), nil, nil, gate.RuleAnchor},
		{"update of an owned group", rules, reconcile.Op{Action: reconcile.Update, CloudID: id, Anchor: policy.Anchor(id), DN: dn, Changes: []reconcile.AttrChange{set("description", "d")}}, owned(dn), nil, ""},
		{"update of a group that is gone", rules, reconcile.Op{Action: reconcile.Update, CloudID: id, Anchor: policy.Anchor(id), DN: dn}, nil, nil, gate.RuleAnchor},
		{"update of another's group", rules, reconcile.Op{Action: reconcile.Update, CloudID: other, Anchor: policy.Anchor(other), DN: dn}, owned(dn), nil, gate.RuleAnchor},
		{"update of a user carrying the anchor", rules, reconcile.Op{Action: reconcile.Update, CloudID: id, Anchor: policy.Anchor(id), DN: dn},
			&gate.Object{DN: dn, Class: []string{"user"}, AdminDescription: policy.Anchor(id)}, nil, gate.RuleClass},
		{"update of a critical object carrying the anchor", rules, reconcile.Op{Action: reconcile.Update, CloudID: id, Anchor: policy.Anchor(id), DN: dn},
			func() *gate.Object { o := owned(dn); o.Critical = true; return o }(), nil, gate.RuleCritical},
		{"delete of an owned group outside the OUs", rules, reconcile.Op{Action: reconcile.Delete, CloudID: id, Anchor: policy.Anchor(id), DN: "CN=G,OU=Other," + base}, owned("CN=G,OU=Other," + base), nil, gate.RulePlace},
		{"move into quarantine", rules, reconcile.Op{Action: reconcile.Move, CloudID: id, Anchor: policy.Anchor(id), DN: dn, NewParent: quar}, owned(dn), nil, ""},
		{"move out of the OUs", rules, reconcile.Op{Action: reconcile.Move, CloudID: id, Anchor: policy.Anchor(id), DN: dn, NewParent: "CN=Users," + base}, owned(dn), nil, gate.RulePlace},
		{"move back without move_back", rules, reconcile.Op{Action: reconcile.Move, CloudID: id, Anchor: policy.Anchor(id), DN: "CN=G,OU=Other," + base, NewParent: ou}, owned("CN=G,OU=Other," + base), nil, gate.RulePlace},
		{"move back with move_back", func() gate.Rules { r := rules; r.MoveBack = true; return r }(),
			reconcile.Op{Action: reconcile.Move, CloudID: id, Anchor: policy.Anchor(id), DN: "CN=G,OU=Other," + base, NewParent: ou}, owned("CN=G,OU=Other," + base), nil, ""},
		{"rename to an OU", rules, reconcile.Op{Action: reconcile.Rename, CloudID: id, Anchor: policy.Anchor(id), DN: dn, NewRDN: "OU=X"}, owned(dn), nil, gate.RulePlace},
		{"members added to an owned group", rules, reconcile.Op{Action: reconcile.AddMembers, CloudID: id, Anchor: policy.Anchor(id), DN: dn, Members: []string{"CN=u," + base}}, owned(dn), nil, ""},
		{"members added to an owned group in Domain Admins", rules, reconcile.Op{Action: reconcile.AddMembers, CloudID: id, Anchor: policy.Anchor(id), DN: dn},
			withHolders(owned(dn), gate.Holder{DN: "CN=Domain Admins,CN=Users," + base, SID: "S-1-5-21-1-2-3-512"}), nil, gate.RuleProtected},
		{"members added under a group marked adminCount=1", rules, reconcile.Op{Action: reconcile.AddMembers, CloudID: id, Anchor: policy.Anchor(id), DN: dn},
			withHolders(owned(dn), gate.Holder{DN: "CN=Tier0," + base, SID: "S-1-5-21-1-2-3-1200", AdminCount: true}), nil, gate.RuleProtected},
		{"members removed from a protected group", rules, reconcile.Op{Action: reconcile.RemoveMembers, CloudID: id, Anchor: policy.Anchor(id), DN: dn},
			withHolders(owned(dn), gate.Holder{DN: "CN=Administrators,CN=Builtin," + base, SID: "S-1-5-32-544"}), nil, ""},
		{"a protected distribution group made security", rules, reconcile.Op{Action: reconcile.Update, CloudID: id, Anchor: policy.Anchor(id), DN: dn,
			Changes: []reconcile.AttrChange{set("groupType", "-2147483640")}}, withHolders(owned(dn), gate.Holder{DN: "CN=Schema Admins", SID: "S-1-5-21-9-9-9-518"}), nil, gate.RuleProtected},
		{"in place, off", rules, reconcile.Op{Action: reconcile.AddMembers, CloudID: id, DN: dn, SID: sid}, &gate.Object{DN: dn, Class: []string{"group"}, SID: sid},
			&gate.CloudGroup{SID: sid, CloudManaged: true}, gate.RuleInPlace},
		{"in place", inRules, reconcile.Op{Action: reconcile.AddMembers, CloudID: id, DN: dn, SID: sid}, &gate.Object{DN: dn, Class: []string{"group"}, SID: sid},
			&gate.CloudGroup{SID: sid, CloudManaged: true}, ""},
		{"in place, anywhere", inRules, reconcile.Op{Action: reconcile.Update, CloudID: id, DN: "CN=G,CN=Users," + base, SID: sid, Changes: []reconcile.AttrChange{set("description", "d")}},
			&gate.Object{DN: "CN=G,CN=Users," + base, Class: []string{"group"}, SID: sid}, &gate.CloudGroup{SID: sid, CloudManaged: true}, ""},
		{"in place, a SID Graph does not give", inRules, reconcile.Op{Action: reconcile.AddMembers, CloudID: id, DN: dn, SID: sid}, &gate.Object{DN: dn, Class: []string{"group"}, SID: sid},
			&gate.CloudGroup{SID: "S-1-5-21-1-2-3-512", CloudManaged: true}, gate.RuleInPlace},
		{"in place, not cloud-managed", inRules, reconcile.Op{Action: reconcile.AddMembers, CloudID: id, DN: dn, SID: sid}, &gate.Object{DN: dn, Class: []string{"group"}, SID: sid},
			&gate.CloudGroup{SID: sid}, gate.RuleInPlace},
		{"in place, sAMAccountName", inRules, reconcile.Op{Action: reconcile.Update, CloudID: id, DN: dn, SID: sid, Changes: []reconcile.AttrChange{set("sAMAccountName", "x")}},
			&gate.Object{DN: dn, Class: []string{"group"}, SID: sid}, &gate.CloudGroup{SID: sid, CloudManaged: true}, gate.RuleInPlace},
		{"in place, delete", inRules, reconcile.Op{Action: reconcile.Delete, CloudID: id, DN: dn, SID: sid}, &gate.Object{DN: dn, Class: []string{"group"}, SID: sid},
			&gate.CloudGroup{SID: sid, CloudManaged: true}, gate.RuleInPlace},
		{"in place into Domain Admins itself", inRules, reconcile.Op{Action: reconcile.AddMembers, CloudID: id, DN: "CN=Domain Admins,CN=Users," + base, SID: "S-1-5-21-1-2-3-512"},
			&gate.Object{DN: "CN=Domain Admins,CN=Users," + base, Class: []string{"group"}, SID: "S-1-5-21-1-2-3-512"}, &gate.CloudGroup{SID: "S-1-5-21-1-2-3-512", CloudManaged: true}, gate.RuleProtected},
		{"restore of a group deleted from the target OU", rules, restore(ou), tomb(ou), nil, ""},
		{"restore into a placement OU of one deleted from quarantine", rules, restore(place), tomb(quar), nil, ""},
		{"restore of a group deleted from below a placement OU", rules, restore(ou), tomb("OU=Sub," + place), nil, ""},
		{"restore of a group deleted from CN=Users", rules, restore(ou), tomb("CN=Users," + base), nil, gate.RulePlace},
		{"restore into CN=Users", rules, restore("CN=Users," + base), tomb(ou), nil, gate.RulePlace},
		{"restore of a live group", rules, restore(ou), owned(tombDN), nil, gate.RuleRestore},
		{"restore of nothing", rules, restore(ou), nil, nil, gate.RuleRestore},
		{"restore naming no deleted object", rules, func() reconcile.Op { op := restore(ou); op.From = ""; return op }(), tomb(ou), nil, gate.RuleRestore},
		{"restore of another's deleted group", rules, restore(ou), func() *gate.Object { o := tomb(ou); o.ExternalID = policy.Anchor(other); return o }(), nil, gate.RuleAnchor},
		{"restore of a deleted user carrying the anchor", rules, restore(ou), func() *gate.Object { o := tomb(ou); o.Class = []string{"user"}; return o }(), nil, gate.RuleClass},
		{"restore of a critical object", rules, restore(ou), func() *gate.Object { o := tomb(ou); o.Critical = true; return o }(), nil, gate.RuleCritical},
		{"restore with members", rules, func() reconcile.Op { op := restore(ou); op.Members = []string{"CN=u," + base}; return op }(), tomb(ou), nil, gate.RuleRestore},
		{"restore without a groupType", rules, func() reconcile.Op { op := restore(ou); op.Changes = op.Changes[1:]; return op }(), tomb(ou), nil, gate.RuleGroupType},
		{"restore writing info", rules, func() reconcile.Op { op := restore(ou); op.Changes = append(op.Changes, set("info", "x")); return op }(), tomb(ou), nil, gate.RuleAttributes},
		{"update of a deleted group", rules, reconcile.Op{Action: reconcile.Update, CloudID: id, Anchor: policy.Anchor(id), DN: tombDN, Changes: []reconcile.AttrChange{set("description", "d")}}, tomb(ou), nil, gate.RuleRestore},
		{"delete naming a deleted object to bring back", rules, reconcile.Op{Action: reconcile.Delete, CloudID: id, Anchor: policy.Anchor(id), DN: dn, From: tombDN}, owned(dn), nil, gate.RuleRestore},
		{"a global group created where groups are global", scoped, func() reconcile.Op { op := create(place); op.Changes[0].New = []string{"-2147483646"}; return op }(), nil, nil, ""},
		{"a universal group created where groups are global", scoped, create(place), nil, nil, ""},
		{"a global group created where groups are universal", scoped, func() reconcile.Op { op := create(ou); op.Changes[0].New = []string{"-2147483646"}; return op }(), nil, nil, gate.RuleGroupType},
		{"a domain-local group created where groups are global", scoped, func() reconcile.Op { op := create(place); op.Changes[0].New = []string{"-2147483644"}; return op }(), nil, nil, gate.RuleGroupType},
		{"a built-in groupType", scoped, func() reconcile.Op { op := create(place); op.Changes[0].New = []string{"-2147483643"}; return op }(), nil, nil, gate.RuleGroupType},
		{"a scope made global where groups are global", scoped, reconcile.Op{Action: reconcile.ChangeScope, CloudID: id, Anchor: policy.Anchor(id), DN: "CN=G," + place,
			Changes: []reconcile.AttrChange{set("groupType", "-2147483646")}}, owned("CN=G," + place), nil, ""},
		{"a scope made global where groups are universal", scoped, reconcile.Op{Action: reconcile.ChangeScope, CloudID: id, Anchor: policy.Anchor(id), DN: dn,
			Changes: []reconcile.AttrChange{set("groupType", "-2147483646")}}, owned(dn), nil, gate.RuleGroupType},
		{"a change of scope writing more than groupType", scoped, reconcile.Op{Action: reconcile.ChangeScope, CloudID: id, Anchor: policy.Anchor(id), DN: "CN=G," + place,
			Changes: []reconcile.AttrChange{set("groupType", "-2147483646"), set("description", "x")}}, owned("CN=G," + place), nil, gate.RuleGroupType},
		{"an unknown action", rules, reconcile.Op{Action: "grant", CloudID: id, Anchor: policy.Anchor(id), DN: dn}, owned(dn), nil, gate.RuleAction},
		{"not a DN", rules, reconcile.Op{Action: reconcile.Delete, CloudID: id, Anchor: policy.Anchor(id), DN: "nonsense"}, nil, nil, gate.RulePlace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.rules.Check(tc.op, tc.obj, tc.cloud)
			var ref *gate.RefusedError
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (!errors.As(err, &ref) || ref.Rule != tc.want || !errors.Is(err, gate.ErrRefused)):
				t.Fatalf("err = %v, want a refusal by %s", err, tc.want)
			}
		})
	}
}

func TestPrivilegedName(t *testing.T) {
	for sid, want := range map[string]string{
		"S-1-5-32-544": "Administrators", "s-1-5-32-551": "Backup Operators", "S-1-5-21-1-2-3-512": "Domain Admins",
		"S-1-5-21-9-8-7-519": "Enterprise Admins", "S-1-5-21-1-2-3-502": "krbtgt", "S-1-5-21-1-2-3-513": "", "S-1-5-32-545": "",
		"S-1-5-21-1-2-512": "", "not a sid": "",
	} {
		if got := gate.PrivilegedName(sid); got != want {
			t.Errorf("%s: %q, want %q", sid, got, want)
		}
	}
}

// A group the tool wrote, that an admin nested in Domain Admins through
// another group, is protected: the gate names the privileged group.
func ExampleProtection() {
	obj := &gate.Object{DN: "CN=Sales_2c1a0b000001,OU=Cloud groups,DC=contoso,DC=test", SID: "S-1-5-21-1-2-3-1105",
		Holders: []gate.Holder{{DN: "CN=Helpdesk,OU=Admins,DC=contoso,DC=test", SID: "S-1-5-21-1-2-3-1200"},
			{DN: "CN=Domain Admins,CN=Users,DC=contoso,DC=test", SID: "S-1-5-21-1-2-3-512"}}}
	fmt.Println(gate.Protection(obj))
	// Output: it is a member, directly or nested, of CN=Domain Admins,CN=Users,DC=contoso,DC=test (Domain Admins)
}
