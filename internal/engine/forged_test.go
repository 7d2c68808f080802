package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/graphsim"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// forgeFixture is a domain with groups written back and the objects a
// forged plan reaches for: a group carrying an anchor outside the
// configured OUs (away), a written-back group an admin nested in
// Administrators (b), an admin's own group in Administrators.
type forgeFixture struct {
	eng    *engine.Engine
	reader engine.DirectoryReader
	tenant *graphsim.Tenant
	base   string
	ou     string
	user   string
	// a and b are written back; away carries its anchor elsewhere.
	a, b, away string
	adminGroup string
}

func (f forgeFixture) dnOf(t *testing.T, id string) string {
	t.Helper()
	gs, err := f.reader.GroupsByAnchor(context.Background(), f.base, []string{policy.Anchor(id)}, nil)
	if err != nil || len(gs) != 1 {
		t.Fatalf("the AD group of %s: %+v, %v", id, gs, err)
	}
	return gs[0].DN
}

// watched is what no forged plan may change: the privileged groups, the
// groups in reach, and the places a forged create would go.
func (f forgeFixture) watched(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	dns := []string{"CN=Domain Admins,CN=Users," + f.base, "CN=Schema Admins,CN=Users," + f.base, "CN=Enterprise Admins,CN=Users," + f.base,
		"CN=Administrators,CN=Builtin," + f.base, "CN=Forged_2c1a0b001799,CN=Users," + f.base, "CN=Forged_2c1a0b001799,OU=Domain Controllers," + f.base,
		f.dnOf(t, f.b), f.dnOf(t, f.away), f.adminGroup}
	for _, dn := range dns {
		g, err := f.reader.ReadGroup(context.Background(), dn, []string{"description", "info", "managedBy", "groupType", "adminDescription", "displayName"})
		if err != nil {
			t.Fatal(err)
		}
		if g == nil {
			fmt.Fprintf(&b, "%s absent\n", dn)
			continue
		}
		ms := slices.Clone(g.Members)
		for i := range ms {
			ms[i] = strings.ToLower(ms[i])
		}
		slices.Sort(ms)
		fmt.Fprintf(&b, "%s %v %v\n", strings.ToLower(g.DN), g.Attrs, ms)
	}
	a, err := f.reader.GroupsByAnchor(context.Background(), f.base, []string{policy.Anchor(f.a)}, []string{"info", "managedBy", "groupType", "adminDescription"})
	if err != nil || len(a) != 1 {
		t.Fatalf("a: %v", err)
	}
	fmt.Fprintf(&b, "a at %s %v\n", strings.ToLower(a[0].DN), a[0].Attrs)
	return b.String()
}

// forgery is a saved plan edited as an attacker with the file would; ops
// are the operations it adds, each refused by the gate with rule (""
// where only the approval stops it: a write the gate allows, that no
// plan made now holds); refused is the error a re-signed plan meets
// before anything is planned, when it is refused whole.
type forgery struct {
	name    string
	edit    func(p *engine.Plan)
	ops     []reconcile.Op
	rules   []gate.Rule
	refused error
}

func (f forgeFixture) forgeries(t *testing.T) []forgery {
	base := f.base
	da, sa := "CN=Domain Admins,CN=Users,"+base, "CN=Schema Admins,CN=Users,"+base
	aDN, bDN, awayDN := f.dnOf(t, f.a), f.dnOf(t, f.b), f.dnOf(t, f.away)
	anchorA := policy.Anchor(f.a)
	create := func(parent string, members ...string) reconcile.Op {
		return reconcile.Op{Action: reconcile.Create, CloudID: f.a, DN: "CN=Forged_2c1a0b001799," + parent, Anchor: anchorA, Members: members,
			Changes: []reconcile.AttrChange{{Name: "sAMAccountName", New: []string{"Forged_2c1a0b001799"}}, {Name: "groupType", New: []string{"-2147483640"}},
				{Name: "adminDescription", New: []string{anchorA}}}}
	}
	update := func(id, dn string, chs ...reconcile.AttrChange) reconcile.Op {
		return reconcile.Op{Action: reconcile.Update, CloudID: id, DN: dn, Anchor: policy.Anchor(id), Changes: chs}
	}
	set := func(name string, vs ...string) reconcile.AttrChange { return reconcile.AttrChange{Name: name, New: vs} }
	addTo := func(id, dn, anchor string) reconcile.Op {
		return reconcile.Op{Action: reconcile.AddMembers, CloudID: id, DN: dn, Anchor: anchor, Members: []string{f.user}}
	}
	harmless := create(f.ou)
	harmless.DN = "CN=Harmless_2c1a0b001799," + f.ou
	return []forgery{
		{name: "a global group in CN=Users holding Domain Admins, krbtgt and Administrator",
			ops: []reconcile.Op{create("CN=Users,"+base, da, "CN=krbtgt,CN=Users,"+base, "CN=Administrator,CN=Users,"+base)}, rules: []gate.Rule{gate.RulePlace}},
		{name: "a create in Domain Controllers", ops: []reconcile.Op{create("OU=Domain Controllers," + base)}, rules: []gate.Rule{gate.RulePlace}},
		{name: "a user added to Domain Admins in place, under source_of_authority: report",
			ops: []reconcile.Op{{Action: reconcile.AddMembers, CloudID: f.a, DN: da, SID: "S-1-5-21-1-2-3-512", Members: []string{f.user}}}, rules: []gate.Rule{gate.RuleInPlace}},
		{name: "Domain Admins' description replaced", ops: []reconcile.Op{update(f.a, da, set("description", "forged"))}, rules: []gate.Rule{gate.RuleAnchor}},
		{name: "a user added to Schema Admins", ops: []reconcile.Op{addTo(f.a, sa, anchorA)}, rules: []gate.Rule{gate.RuleAnchor}},
		{name: "an anchored group outside the OUs deleted", ops: []reconcile.Op{{Action: reconcile.Delete, CloudID: f.away, DN: awayDN, Anchor: policy.Anchor(f.away)}},
			rules: []gate.Rule{gate.RulePlace}},
		{name: "an owned group moved to CN=Users", ops: []reconcile.Op{{Action: reconcile.Move, CloudID: f.a, DN: aDN, NewParent: "CN=Users," + base, Anchor: anchorA}},
			rules: []gate.Rule{gate.RulePlace}},
		{name: "managedBy written", ops: []reconcile.Op{update(f.a, aDN, set("managedBy", f.user))}, rules: []gate.Rule{gate.RuleAttributes}},
		{name: "info written", ops: []reconcile.Op{update(f.a, aDN, set("info", "forged"))}, rules: []gate.Rule{gate.RuleAttributes}},
		{name: "the anchor rewritten", ops: []reconcile.Op{update(f.a, aDN, set("adminDescription", policy.Anchor(f.b)))}, rules: []gate.Rule{gate.RuleAttributes}},
		{name: "made a global group", ops: []reconcile.Op{update(f.a, aDN, set("groupType", "-2147483646"))}, rules: []gate.Rule{gate.RuleGroupType}},
		{name: "renamed to an OU", ops: []reconcile.Op{{Action: reconcile.Rename, CloudID: f.a, DN: aDN, NewRDN: "OU=Forged", Anchor: anchorA}}, rules: []gate.Rule{gate.RulePlace}},
		{name: "created as a user", ops: []reconcile.Op{func() reconcile.Op {
			op := create(f.ou)
			op.Changes = append(op.Changes, set("objectClass", "user"))
			return op
		}()}, rules: []gate.Rule{gate.RuleClass}},
		{name: "an op valid for another cloud group", ops: []reconcile.Op{{Action: reconcile.Update, CloudID: f.a, DN: bDN, Anchor: anchorA,
			Changes: []reconcile.AttrChange{set("description", "forged")}}}, rules: []gate.Rule{gate.RuleAnchor}},
		{name: "a member added to a written-back group nested in Administrators", ops: []reconcile.Op{addTo(f.b, bDN, policy.Anchor(f.b))},
			rules: []gate.Rule{gate.RuleProtected}},
		{name: "a member added to an admin's group in Administrators", ops: []reconcile.Op{addTo(f.a, f.adminGroup, anchorA)}, rules: []gate.Rule{gate.RuleAnchor}},
		{name: "a harmless create first, then Domain Admins", ops: []reconcile.Op{harmless, addTo(f.a, da, anchorA)}, rules: []gate.Rule{"", gate.RuleAnchor}},
		{name: "Domain Admins restored into the OU as this group", ops: []reconcile.Op{func() reconcile.Op {
			op := create(f.ou)
			op.Action, op.From, op.Members = reconcile.Restore, da, nil
			return op
		}()}, rules: []gate.Rule{gate.RuleRestore}},
		{name: "a restore carrying Domain Admins as a member", ops: []reconcile.Op{func() reconcile.Op {
			op := create(f.ou, da)
			op.Action, op.From = reconcile.Restore, `CN=Forged\0ADEL:8b3df295-b3cc-4245-a355-c713bcc2acb9,CN=Deleted Objects,`+base
			return op
		}()}, rules: []gate.Rule{gate.RuleRestore}},
		{name: "an update naming a deleted object to bring back", ops: []reconcile.Op{func() reconcile.Op {
			op := update(f.a, aDN, set("description", "forged"))
			op.From = da
			return op
		}()}, rules: []gate.Rule{gate.RuleRestore}},
		{name: "delta links emptied, and a write the gate allows", edit: func(p *engine.Plan) { p.Links = engine.Plan{}.Links },
			ops: []reconcile.Op{update(f.b, bDN, set("description", "not approved"))}, rules: []gate.Rule{""}},
		{name: "dated 2099", edit: func(p *engine.Plan) { p.Created = time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC) }, refused: engine.ErrPlanRefused},
		{name: "a disable plan", edit: func(p *engine.Plan) { p.Mode = "disable" }, refused: engine.ErrPlanRefused},
		{name: "another tenant's binding", edit: func(p *engine.Plan) { p.Binding.TenantID = otherTenant }, refused: engine.ErrPlanRefused},
	}
}

// runForgeries: every forged plan is refused as altered; re-signed with
// the state's key (an attacker who has the state too), it is refused as
// stale, writing nothing of it; each forged operation handed to the gate
// is refused by its rule; AD is as it was; the genuine plan applies.
func runForgeries(t *testing.T, f forgeFixture) {
	ctx := context.Background()
	dir := t.TempDir()
	must(t, f.tenant.UpdateGroup(f.a, map[string]any{"description": "approved"}))
	genuine, err := f.eng.Plan(ctx, engine.RunOptions{})
	must(t, err)
	path := filepath.Join(dir, "genuine.json")
	must(t, f.eng.SavePlan(ctx, genuine, path))
	before := f.watched(t)
	forgeries := f.forgeries(t)
	refused := 0
	for i, fg := range forgeries {
		t.Run(fg.name, func(t *testing.T) {
			p, err := engine.LoadPlan(path)
			must(t, err)
			if fg.edit != nil {
				fg.edit(p)
			}
			p.Result.Plan.Ops = append(p.Result.Plan.Ops, fg.ops...)
			// Edited by hand, the MAC no longer holds.
			edited := filepath.Join(dir, fmt.Sprintf("edited-%d.json", i))
			b, err := json.Marshal(p)
			must(t, err)
			must(t, os.WriteFile(edited, b, 0o600))
			ep, err := engine.LoadPlan(edited)
			must(t, err)
			if err := f.eng.CheckSaved(ctx, ep, time.Hour); !errors.Is(err, engine.ErrPlanAltered) {
				t.Fatalf("the edited plan: %v, want ErrPlanAltered", err)
			}
			if _, err := f.eng.Apply(ctx, ep); !errors.Is(err, engine.ErrPlanAltered) {
				t.Fatalf("the edited plan applied without CheckSaved: %v, want ErrPlanAltered", err)
			}
			// Re-signed with the state's own key: an approval of what the
			// engine would not plan is still refused.
			resigned := filepath.Join(dir, fmt.Sprintf("resigned-%d.json", i))
			must(t, f.eng.SavePlan(ctx, p, resigned))
			rp, err := engine.LoadPlan(resigned)
			must(t, err)
			err = f.eng.CheckSaved(ctx, rp, time.Hour)
			if fg.refused != nil {
				if !errors.Is(err, fg.refused) {
					t.Fatalf("re-signed: %v, want %v", err, fg.refused)
				}
				refused++
				return
			}
			must(t, err)
			res, err := f.eng.Apply(ctx, rp)
			must(t, err)
			for _, op := range fg.ops {
				if !slices.ContainsFunc(res.Failures, func(fl engine.Failure) bool {
					return fl.CloudID == op.CloudID && strings.Contains(fl.Message, "stale")
				}) {
					t.Errorf("the forged %s of %s is not refused as stale: %+v", op.Action, op.DN, res.Failures)
				}
			}
			// Handed to the gate directly, each forged op meets its rule.
			for j, op := range fg.ops {
				_, err := f.eng.Gate().Approve(ctx, op) // checked, not written
				if fg.rules[j] == "" {
					if err != nil {
						t.Errorf("the gate on %s of %s: %v, want it allowed (only the approval refuses it)", op.Action, op.DN, err)
					}
					continue
				}
				var ref *gate.RefusedError
				if !errors.As(err, &ref) || ref.Rule != fg.rules[j] {
					t.Errorf("the gate on %s of %s: %v, want rule %s", op.Action, op.DN, err, fg.rules[j])
				}
			}
			if after := f.watched(t); after != before {
				t.Fatalf("AD changed:\nbefore %s\nafter  %s", before, after)
			}
			refused++
		})
	}
	if refused != len(forgeries) || len(forgeries) < 15 {
		t.Fatalf("forged plans refused: %d/%d", refused, len(forgeries))
	}
	t.Logf("forged plans refused: %d/%d", refused, len(forgeries))
	// The genuine plan of a new change still applies.
	must(t, f.tenant.UpdateGroup(f.a, map[string]any{"description": "genuine"}))
	p, err := f.eng.Plan(ctx, engine.RunOptions{})
	must(t, err)
	must(t, f.eng.SavePlan(ctx, p, path))
	saved, err := engine.LoadPlan(path)
	must(t, err)
	must(t, f.eng.CheckSaved(ctx, saved, time.Hour))
	res, err := f.eng.Apply(ctx, saved)
	if err != nil || slices.ContainsFunc(res.Failures, func(fl engine.Failure) bool { return fl.CloudID == f.a }) || res.Counts.Updated != 1 {
		t.Fatalf("the genuine plan: %v, %+v %+v", err, res.Counts, res.Failures)
	}
	g, err := f.reader.ReadGroup(ctx, f.dnOf(t, f.a), []string{"description"})
	if err != nil || g == nil || g.Attrs["description"][0] != "genuine" {
		t.Fatalf("after the genuine plan: %+v, %v", g, err)
	}
}

// TestForgedPlans: every forged plan is refused, on the directory the
// tests run on (memdir; Samba in CI's matrix), and the genuine plan
// still applies.
func TestForgedPlans(t *testing.T) {
	const a, b, away = 1701, 1702, 1703
	e := newGroupsEnv(t, 3, []map[string]any{
		{"id": groupID(a), "displayName": "Alpha", "mailNickname": "alpha", "members": []any{userID(0)}},
		{"id": groupID(b), "displayName": "Beta", "mailNickname": "beta", "members": []any{userID(1)}},
	}, nil)
	e.sync(engine.RunOptions{})
	elsewhere := e.ad.NewOU(t, "elsewhere")
	awayDN, _ := e.ad.AddGroup(t, elsewhere, "Away_2c1a0b001703")
	e.ad.SetAttribute(t, awayDN, "adminDescription", []string{policy.Anchor(groupID(away))})
	adminGroup, _ := e.ad.AddGroup(t, elsewhere, "Helpdesk-1703")
	admins := "CN=Administrators,CN=Builtin," + e.ad.BaseDN
	e.ad.Nest(t, admins, adminGroup)
	f := forgeFixture{eng: e.eng, reader: e.dir, tenant: e.tenant, base: e.ad.BaseDN, ou: e.ou, user: e.users[2].DN,
		a: groupID(a), b: groupID(b), away: groupID(away), adminGroup: adminGroup}
	e.ad.Nest(t, admins, f.dnOf(t, f.b))
	runForgeries(t, f)
}
