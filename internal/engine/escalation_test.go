package engine_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// The escalation suite: every way a cloud change could reach a privileged
// AD account is refused by the write gate, and reported before it is
// tried (plan, status), whoever put the group in reach. The same gate
// runs against Samba and memdir (directorytest); this is the engine's
// whole path on memdir, on a laptop.
func TestEscalationRefusedAndReported(t *testing.T) {
	ctx := context.Background()
	const (
		inAdmins = iota + 1601
		inEA
		direct
		deep
		plain
	)
	// Admin-made universal groups, whose source of authority moved to the
	// cloud: one in Administrators with adminCount=1, one nested in
	// Enterprise Admins, one in no privileged group.
	var adminsDN, eaDN, plainDN string
	ad := openDir(t, directorytest.Options{})
	e := newGroupsEnvOn(t, ad, 4, func(ad directorytest.Fixture) []map[string]any {
		side := ad.NewOU(t, "On premises")
		orig := func(name string) (string, string) { return ad.AddGroup(t, side, name) }
		var adminsSID, eaSID, plainSID string
		adminsDN, adminsSID = orig("Helpdesk admins")
		ad.Nest(t, "CN=Administrators,CN=Builtin,"+ad.BaseDN, adminsDN)
		ad.SetAttribute(t, adminsDN, "adminCount", []string{"1"})
		eaDN, eaSID = orig("Forest ops")
		ad.Nest(t, "CN=Enterprise Admins,CN=Users,"+ad.BaseDN, eaDN)
		plainDN, plainSID = orig("Project team")
		inPlace := func(id int, name, sid string) map[string]any {
			return map[string]any{"id": groupID(id), "displayName": name, "mailNickname": strings.ToLower(strings.ReplaceAll(name, " ", "")),
				"onPremisesSyncEnabled": false, "onPremisesSecurityIdentifier": sid, "onPremisesSyncBehavior": map[string]any{"isCloudManaged": true},
				"writebackConfiguration": map[string]any{}, "members": []any{userID(0)}}
		}
		return []map[string]any{
			inPlace(inAdmins, "Helpdesk admins", adminsSID), inPlace(inEA, "Forest ops", eaSID), inPlace(plain, "Project team", plainSID),
			{"id": groupID(direct), "displayName": "Written back A", "mailNickname": "wba", "members": []any{userID(1)}},
			{"id": groupID(deep), "displayName": "Written back B", "mailNickname": "wbb", "members": []any{userID(1)}},
		}
	}, func(c *engine.Config) { c.Policy.InPlace = true })
	res, _ := e.sync(engine.RunOptions{})
	// In place: the plain original gets its member; the protected ones
	// none, each reported with why.
	has := func(dn, member string) bool {
		g, err := e.dir.ReadGroup(ctx, dn, nil)
		if err != nil || g == nil {
			t.Fatalf("read %s: %v", dn, err)
		}
		return slices.ContainsFunc(g.Members, func(m string) bool { return strings.EqualFold(m, member) })
	}
	if !has(plainDN, e.users[0].DN) {
		t.Fatal("the plain original did not get its member")
	}
	reported := func(res *engine.Result, id int, why string) {
		t.Helper()
		i := slices.IndexFunc(res.Failures, func(f engine.Failure) bool { return f.CloudID == groupID(id) })
		if i < 0 || !strings.Contains(res.Failures[i].Message, "protected group") || !strings.Contains(res.Failures[i].Message, why) {
			t.Errorf("group %d is not reported protected (%q): %+v", id, why, res.Failures)
		}
		sts, err := e.store.StatusesOf(ctx, []string{groupID(id)})
		if err != nil || len(sts) != 1 || sts[0].State != state.Failed || !strings.Contains(sts[0].Message, "protected group") {
			t.Errorf("group %d's status: %+v, %v", id, sts, err)
		}
	}
	for _, tc := range []struct {
		id       int
		dn, why  string
		expected string
	}{
		{inAdmins, adminsDN, "built-in", "Administrators"},
		{inEA, eaDN, "Enterprise Admins", "Enterprise Admins"},
	} {
		if has(tc.dn, e.users[0].DN) {
			t.Errorf("%s got a cloud member", tc.dn)
		}
		reported(res, tc.id, tc.expected)
	}
	// Written back, then nested by an admin into Domain Admins (directly,
	// and through another group); then the cloud adds a member.
	directDN, deepDN := e.group(groupID(direct)).DN, e.group(groupID(deep)).DN
	e.ad.Nest(t, "CN=Domain Admins,CN=Users,"+e.ad.BaseDN, directDN)
	e.ad.Nest(t, directDN, deepDN)
	for _, id := range []int{direct, deep} {
		must(t, e.tenant.AddMember(groupID(id), userID(2)))
	}
	must(t, e.tenant.AddMember(groupID(inAdmins), userID(3)))
	res, _ = e.sync(engine.RunOptions{})
	for _, id := range []int{direct, deep} {
		reported(res, id, "Domain Admins")
	}
	reported(res, inAdmins, "Administrators")
	for _, dn := range []string{directDN, deepDN, adminsDN} {
		if has(dn, e.users[2].DN) || has(dn, e.users[3].DN) {
			t.Errorf("%s got the member the cloud added", dn)
		}
	}
	// The plan says so before anything is tried, and the gate stands
	// behind it: the very operation, handed over, is refused.
	p, err := e.eng.Plan(ctx, engine.RunOptions{Full: true})
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(p.Result.Plan.Ops, func(op reconcile.Op) bool { return op.Action == reconcile.AddMembers }) {
		t.Fatalf("the plan still adds members: %+v", p.Result.Plan.Ops)
	}
	for _, id := range []int{direct, deep, inAdmins, inEA} {
		if !slices.ContainsFunc(p.Result.Plan.Problems, func(pr reconcile.Problem) bool {
			return pr.CloudID == groupID(id) && errors.Is(pr.Err, gate.ErrRefused)
		}) {
			t.Errorf("the plan does not name group %d: %+v", id, p.Result.Plan.Problems)
		}
	}
	// Taken out of Domain Admins, the group gets its member again.
	e.ad.Unnest(t, "CN=Domain Admins,CN=Users,"+e.ad.BaseDN, directDN)
	e.sync(engine.RunOptions{Full: true})
	if !has(directDN, e.users[2].DN) || !has(deepDN, e.users[2].DN) {
		t.Fatal("out of Domain Admins, the groups still get no members")
	}
}
