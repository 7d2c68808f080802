package directorytest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// refusedBy fails the test unless err is the gate's refusal by rule.
func refusedBy(t *testing.T, what string, err error, rule gate.Rule) {
	t.Helper()
	var refused *gate.RefusedError
	if !errors.As(err, &refused) || refused.Rule != rule {
		t.Errorf("%s: err = %v, want a refusal by rule %s", what, err, rule)
	}
}

// state is what a test reads back to prove nothing changed: each group's
// DN, managed attributes and members.
func state(t *testing.T, f Fixture, dns ...string) string {
	t.Helper()
	var b strings.Builder
	for _, dn := range dns {
		g, err := f.Dir.ReadGroup(context.Background(), dn, append(slices.Clone(Managed), "info", "managedBy"))
		if err != nil {
			t.Fatal(err)
		}
		if g == nil {
			fmt.Fprintf(&b, "%s: absent\n", dn)
			continue
		}
		fmt.Fprintf(&b, "%s: %v %v\n", strings.ToLower(g.DN), g.Attrs, SortedLower(g.Members))
	}
	return b.String()
}

// testGateRefuses: operations no plan of the tool's would make, each
// refused by its rule, with AD as it was.
func testGateRefuses(t *testing.T, f Fixture) {
	ctx := context.Background()
	ou := f.NewOU(t, "gate")
	elsewhere := f.NewOU(t, "gate-elsewhere")
	w := Gate(f, nil, ou)
	us := f.AddUsers(t, ou, []string{"gate-u1"})
	mine := CreateOp("Mine_2c1a0b9f8e7d", ou, id(801))
	MustApply(t, w, mine)
	// An anchored group outside the configured OUs (another tool's, or an
	// old OU's).
	away := CreateOp("Away_2c1a0b9f8e7d", elsewhere, id(802))
	MustApply(t, Gate(f, nil, elsewhere), away)
	adminGroup, _ := f.AddGroup(t, ou, "gate-admin-made")
	users := "CN=Users," + f.BaseDN
	watch := []string{mine.DN, away.DN, adminGroup, domainAdmins(f.BaseDN)}
	before := state(t, f, watch...)
	withChanges := func(op reconcile.Op, chs ...reconcile.AttrChange) reconcile.Op {
		op.Changes = append(slices.Clone(op.Changes), chs...)
		return op
	}
	for _, tc := range []struct {
		name string
		op   reconcile.Op
		rule gate.Rule
	}{
		{"create in CN=Users", CreateOp("Forged_2c1a0b9f8e7d", users, id(810), domainAdmins(f.BaseDN)), gate.RulePlace},
		{"create in Domain Controllers", CreateOp("Forged_2c1a0b9f8e7d", "OU=Domain Controllers,"+f.BaseDN, id(811)), gate.RulePlace},
		{"create in a sub-OU", CreateOp("Forged_2c1a0b9f8e7d", elsewhere, id(812)), gate.RulePlace},
		{"create with objectClass", withChanges(CreateOp("Forged_2c1a0b9f8e7d", ou, id(813)), reconcile.AttrChange{Name: "objectClass", New: []string{"user"}}), gate.RuleClass},
		{"create of a global group", func() reconcile.Op {
			op := CreateOp("Forged_2c1a0b9f8e7d", ou, id(814))
			op.Changes[1] = reconcile.AttrChange{Name: "groupType", New: []string{"-2147483646"}}
			return op
		}(), gate.RuleGroupType},
		{"create with managedBy", withChanges(CreateOp("Forged_2c1a0b9f8e7d", ou, id(815)), reconcile.AttrChange{Name: "managedBy", New: []string{us[0].DN}}), gate.RuleAttributes},
		{"create under another group's anchor", func() reconcile.Op {
			op := CreateOp("Forged_2c1a0b9f8e7d", ou, id(816))
			op.Anchor = mine.Anchor
			return op
		}(), gate.RuleAnchor},
		{"update of Domain Admins", reconcile.Op{Action: reconcile.Update, CloudID: mine.CloudID, Anchor: mine.Anchor, DN: domainAdmins(f.BaseDN),
			Changes: []reconcile.AttrChange{{Name: "description", New: []string{"forged"}}}}, gate.RuleAnchor},
		{"member added to Domain Admins", reconcile.Op{Action: reconcile.AddMembers, CloudID: mine.CloudID, Anchor: mine.Anchor, DN: domainAdmins(f.BaseDN), Members: []string{us[0].DN}}, gate.RuleAnchor},
		{"member added to an admin's group", reconcile.Op{Action: reconcile.AddMembers, CloudID: mine.CloudID, Anchor: mine.Anchor, DN: adminGroup, Members: []string{us[0].DN}}, gate.RuleAnchor},
		{"op valid for another cloud group", reconcile.Op{Action: reconcile.Update, CloudID: id(899), Anchor: policy.Anchor(id(899)), DN: mine.DN,
			Changes: []reconcile.AttrChange{{Name: "description", New: []string{"forged"}}}}, gate.RuleAnchor},
		{"anchor not the op's cloud group's", reconcile.Op{Action: reconcile.Update, CloudID: id(899), Anchor: mine.Anchor, DN: mine.DN,
			Changes: []reconcile.AttrChange{{Name: "description", New: []string{"forged"}}}}, gate.RuleAnchor},
		{"delete outside the OUs", reconcile.Op{Action: reconcile.Delete, CloudID: away.CloudID, Anchor: away.Anchor, DN: away.DN}, gate.RulePlace},
		{"move to CN=Users", reconcile.Op{Action: reconcile.Move, CloudID: mine.CloudID, Anchor: mine.Anchor, DN: mine.DN, NewParent: users}, gate.RulePlace},
		{"rename to an OU", reconcile.Op{Action: reconcile.Rename, CloudID: mine.CloudID, Anchor: mine.Anchor, DN: mine.DN, NewRDN: "OU=Mine"}, gate.RulePlace},
		{"managedBy written", reconcile.Op{Action: reconcile.Update, CloudID: mine.CloudID, Anchor: mine.Anchor, DN: mine.DN,
			Changes: []reconcile.AttrChange{{Name: "managedBy", New: []string{us[0].DN}}}}, gate.RuleAttributes},
		{"info written", reconcile.Op{Action: reconcile.Update, CloudID: mine.CloudID, Anchor: mine.Anchor, DN: mine.DN,
			Changes: []reconcile.AttrChange{{Name: "info", New: []string{"forged"}}}}, gate.RuleAttributes},
		{"anchor rewritten", reconcile.Op{Action: reconcile.Update, CloudID: mine.CloudID, Anchor: mine.Anchor, DN: mine.DN,
			Changes: []reconcile.AttrChange{{Name: "adminDescription", New: []string{policy.Anchor(id(898))}}}}, gate.RuleAttributes},
		{"in place without source_of_authority", reconcile.Op{Action: reconcile.AddMembers, CloudID: mine.CloudID, DN: domainAdmins(f.BaseDN), SID: "S-1-5-21-1-2-3-512",
			Members: []string{us[0].DN}}, gate.RuleInPlace},
		{"unknown action", reconcile.Op{Action: "modrdn", CloudID: mine.CloudID, Anchor: mine.Anchor, DN: mine.DN}, gate.RuleAction},
	} {
		err := w.Apply(ctx, tc.op)
		refusedBy(t, tc.name, err, tc.rule)
	}
	if after := state(t, f, watch...); after != before {
		t.Fatalf("AD changed under refused writes:\nbefore %s\nafter  %s", before, after)
	}
	// The writers take nothing the gate did not approve.
	if err := f.Dir.Write(ctx, &gate.Approved{}); !errors.Is(err, gate.ErrNotApproved) {
		t.Fatalf("a write with no approval: err = %v, want ErrNotApproved", err)
	}
}

// testProtected: no member is ever added to a protected group, however it
// came in reach: written in place into one (adminCount=1, or nested in a
// built-in privileged group), or a group the tool wrote that an admin
// nested into Domain Admins, directly or through another group.
func testProtected(t *testing.T, f Fixture) {
	ctx := context.Background()
	ou := f.NewOU(t, "protected")
	us := f.AddUsers(t, ou, []string{"protected-u1", "protected-u2"})
	// In place: an admin-made universal group in Administrators, marked
	// adminCount=1; another nested in Enterprise Admins.
	inAdmins, sidA := f.AddGroup(t, ou, "protected-in-admins")
	f.Nest(t, administrators(f.BaseDN), inAdmins)
	f.SetAttribute(t, inAdmins, "adminCount", []string{"1"})
	inEA, sidE := f.AddGroup(t, ou, "protected-in-ea")
	f.Nest(t, enterpriseAdmins(f.BaseDN), inEA)
	plain, sidP := f.AddGroup(t, ou, "protected-plain")
	cloud := clouds{id(901): {SID: sidA, CloudManaged: true}, id(902): {SID: sidE, CloudManaged: true}, id(903): {SID: sidP, CloudManaged: true}}
	w := Gate(f, cloud, ou)
	add := func(cloudID, dn, sid, anchor string) reconcile.Op {
		return reconcile.Op{Action: reconcile.AddMembers, CloudID: cloudID, DN: dn, SID: sid, Anchor: anchor, Members: []string{us[0].DN}}
	}
	refusedBy(t, "in place into adminCount=1", w.Apply(ctx, add(id(901), inAdmins, sidA, "")), gate.RuleProtected)
	refusedBy(t, "in place into a group in Enterprise Admins", w.Apply(ctx, add(id(902), inEA, sidE, "")), gate.RuleProtected)
	MustApply(t, w, add(id(903), plain, sidP, ""))
	// Written back, then nested by an admin into Domain Admins: directly,
	// and through another group.
	direct := CreateOp("Direct_2c1a0b9f8e7d", ou, id(904))
	deep := CreateOp("Deep_2c1a0b9f8e7d", ou, id(905))
	MustApply(t, w, direct, deep)
	f.Nest(t, domainAdmins(f.BaseDN), direct.DN)
	f.Nest(t, direct.DN, deep.DN)
	refusedBy(t, "a written-back group in Domain Admins", w.Apply(ctx, add(id(904), direct.DN, "", direct.Anchor)), gate.RuleProtected)
	refusedBy(t, "a written-back group nested deeper", w.Apply(ctx, add(id(905), deep.DN, "", deep.Anchor)), gate.RuleProtected)
	// What takes no power away stays allowed: members removed, names and
	// descriptions written.
	MustApply(t, w, reconcile.Op{Action: reconcile.RemoveMembers, CloudID: deep.CloudID, DN: deep.DN, Anchor: deep.Anchor, Members: []string{us[1].DN}},
		reconcile.Op{Action: reconcile.Update, CloudID: deep.CloudID, DN: deep.DN, Anchor: deep.Anchor, Changes: []reconcile.AttrChange{{Name: "description", New: []string{"still written"}}}})
	// A distribution group in Domain Admins grants nothing, until it
	// becomes a security group: that is refused too.
	dist := CreateOp("Dist_2c1a0b9f8e7d", ou, id(906))
	dist.Changes[1] = reconcile.AttrChange{Name: "groupType", New: []string{"8"}}
	MustApply(t, w, dist)
	f.Nest(t, domainAdmins(f.BaseDN), dist.DN)
	refusedBy(t, "a distribution group in Domain Admins made security", w.Apply(ctx, reconcile.Op{Action: reconcile.Update, CloudID: dist.CloudID, DN: dist.DN, Anchor: dist.Anchor,
		Changes: []reconcile.AttrChange{{Name: "groupType", Old: []string{"8"}, New: []string{"-2147483640"}}}}), gate.RuleProtected)
	for _, dn := range []string{inAdmins, inEA, direct.DN, deep.DN} {
		if g, err := f.Dir.ReadGroup(ctx, dn, nil); err != nil || g == nil || slices.ContainsFunc(g.Members, func(m string) bool { return policy.SameDN(m, us[0].DN) }) {
			t.Errorf("%s: %+v, %v: the user was added", dn, g, err)
		}
	}
	o, err := f.Dir.Inspect(ctx, deep.DN, true)
	if err != nil || gate.Protection(o) == "" || !strings.Contains(gate.Protection(o), "Domain Admins") {
		t.Errorf("Inspect of the nested group: %+v, %v; protection %q", o, err, gate.Protection(o))
	}
}
