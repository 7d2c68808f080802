package engine_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

// Tests that share a DC use their own cloud ids: anchors are looked for
// in the whole domain, as they must be.
var (
	gM365NoEx = groupID(11)
	gSecNoEx  = groupID(14)
	gMoved    = groupID(300)
)

func TestWithoutExchange(t *testing.T) {
	ad := openDir(t, directorytest.Options{})
	tf := baseTenant(t, ad, 3)
	tf.Groups = []map[string]any{
		{"id": gM365NoEx, "displayName": "Marketing", "mailEnabled": true, "mailNickname": "marketing", "securityEnabled": false,
			"groupTypes": []any{"Unified"}, "members": []any{userID(0)}},
		{"id": gSecNoEx, "displayName": "VPN users", "mailEnabled": false, "mailNickname": "vpn", "securityEnabled": true,
			"writebackConfiguration": map[string]any{"isEnabled": true}, "members": []any{userID(0), userID(1)}},
	}
	e := newEnvOn(t, ad, tf, nil)
	res, _ := e.sync(engine.RunOptions{})
	v := e.group(gSecNoEx)
	if v == nil || attr(v, "groupType") != "-2147483640" || len(members(v)) != 2 || attr(v, "adminDescription") != "Group_"+gSecNoEx {
		t.Fatalf("security group not written without Exchange: %v", v)
	}
	if attr(v, "msDS-ExternalDirectoryObjectId") != "" {
		t.Fatal("wrote msDS-ExternalDirectoryObjectId on a schema without it")
	}
	if e.group(gM365NoEx) != nil {
		t.Fatal("a Microsoft 365 group was written without the Exchange schema")
	}
	i := slices.IndexFunc(res.Failures, func(f engine.Failure) bool { return f.CloudID == gM365NoEx })
	if i < 0 || res.Failures[i].State != state.NotWritable || !strings.Contains(res.Failures[i].Message, "needs the Exchange schema") ||
		!strings.Contains(res.Failures[i].Message, "writebackConfiguration.onPremisesGroupType") {
		t.Fatalf("failures = %+v", res.Failures)
	}
	// It stays reported on later runs, which have nothing to do.
	res, w := e.sync(engine.RunOptions{})
	if w != 0 || !slices.ContainsFunc(res.Failures, func(f engine.Failure) bool { return f.CloudID == gM365NoEx }) {
		t.Fatalf("second run: %d writes, failures %+v", w, res.Failures)
	}
}

func TestNamesAndCollisions(t *testing.T) {
	ad := openDir(t, directorytest.Options{})
	tf := baseTenant(t, ad, 1)
	names := []string{`a,b+c"d\e<f>g;h=i`, "#leading hash", "  padded both ends  ", "Отдел продаж 営業部",
		strings.Repeat("Eighty characters long display name ", 3)[:80], "Domain Admins", "Twin", "Twin"}
	for i, n := range names {
		tf.Groups = append(tf.Groups, map[string]any{"id": groupID(100 + i), "displayName": n, "mailEnabled": false,
			"mailNickname": fmt.Sprintf("n%d", i), "securityEnabled": true, "writebackConfiguration": map[string]any{"isEnabled": true},
			"members": []any{userID(0)}})
	}
	e := newEnvOn(t, ad, tf, nil)
	domainAdmins := "CN=Domain Admins,CN=Users," + ad.BaseDN
	before := ad.Dump(t)
	res, _ := e.sync(engine.RunOptions{})
	if res.Counts.Created != len(names) || res.Counts.Failed != 0 {
		t.Fatalf("created %d of %d: %+v", res.Counts.Created, len(names), res.Failures)
	}
	seen := map[string]bool{}
	for i, n := range names {
		id := groupID(100 + i)
		g := e.group(id)
		if g == nil {
			t.Fatalf("%q not written", n)
		}
		parsed, err := ldap.ParseDN(g.DN)
		if err != nil {
			t.Fatalf("%q: DN %q: %v", n, g.DN, err)
		}
		cn := policy.CommonName(policy.NamingDisplayName, id, n)
		if got := parsed.RDNs[0].Attributes[0].Value; got != cn {
			t.Errorf("%q: cn %q, want %q", n, got, cn)
		}
		if want := strings.TrimSpace(n); attr(g, "displayName") != want {
			t.Errorf("%q: displayName %q, want %q", n, attr(g, "displayName"), want)
		}
		if seen[strings.ToLower(g.DN)] {
			t.Errorf("%q: DN %s used twice", n, g.DN)
		}
		seen[strings.ToLower(g.DN)] = true
		if strings.EqualFold(g.DN, domainAdmins) {
			t.Fatal("wrote to the real Domain Admins")
		}
	}
	if w := func() int64 { _, w := e.sync(engine.RunOptions{Full: true}); return w }(); w != 0 {
		t.Fatalf("full re-run over tricky names made %d writes", w)
	}
	if diff := directorytest.Changed(before, ad.Dump(t), e.notOwned()); len(diff) > 0 {
		t.Fatalf("objects the tool does not own changed:\n%s", strings.Join(diff, "\n"))
	}
}

func TestLargeGroup(t *testing.T) {
	ad := openDir(t, directorytest.Options{})
	const n = testdc.FixtureUserCount
	tf := baseTenant(t, ad, n)
	var ms []any
	for i := range n - 1 {
		ms = append(ms, userID(i))
	}
	big := groupID(200)
	tf.Groups = []map[string]any{{"id": big, "displayName": "Everyone", "mailEnabled": false, "mailNickname": "everyone",
		"securityEnabled": true, "writebackConfiguration": map[string]any{"isEnabled": true}, "members": ms}}
	e := newEnvOn(t, ad, tf, nil)
	res, writes := e.sync(engine.RunOptions{})
	if res.Counts.Created != 1 || res.Counts.Failed != 0 {
		t.Fatalf("first sync: %+v %+v", res.Counts, res.Failures)
	}
	if got := len(members(e.group(big))); got != n-1 {
		t.Fatalf("group has %d members, want %d", got, n-1)
	}
	t.Logf("wrote a %d-member group in %d LDAP writes", n-1, writes)
	// One more member: one small modify.
	if err := e.tenant.AddMember(big, userID(n-1)); err != nil {
		t.Fatal(err)
	}
	planned, err := e.eng.Run(context.Background(), engine.RunOptions{DryRun: true})
	if err != nil || len(planned.Plan.Ops) != 1 || planned.Plan.Ops[0].Action != "add-members" || len(planned.Plan.Ops[0].Members) != 1 {
		t.Fatalf("one new member planned as %+v (%v)", planned.Plan.Ops, err)
	}
	res, writes = e.sync(engine.RunOptions{})
	if writes != 1 || len(kept(res)) != 1 || kept(res)[0].Action != "add-members" {
		t.Fatalf("one new member took %d writes: %+v", writes, kept(res))
	}
	if got := len(members(e.group(big))); got != n {
		t.Fatalf("group has %d members, want %d", got, n)
	}
	// A full reconcile reads it back (ranged) and finds it in step.
	if _, w := e.sync(engine.RunOptions{Full: true}); w != 0 {
		t.Fatalf("full reconcile of the big group made %d writes", w)
	}
}

func TestMovedOutsideIsReportedNotDuplicated(t *testing.T) {
	ad := openDir(t, directorytest.Options{})
	tf := baseTenant(t, ad, 1)
	tf.Groups = []map[string]any{{"id": gMoved, "displayName": "VPN users", "mailEnabled": false, "mailNickname": "vpn",
		"securityEnabled": true, "writebackConfiguration": map[string]any{"isEnabled": true}, "members": []any{userID(0)}}}
	e := newEnvOn(t, ad, tf, nil)
	e.sync(engine.RunOptions{})
	elsewhere := ad.NewOU(t, "elsewhere")
	ad.ModifyDN(t, e.group(gMoved).DN, "CN=VPN users_2c1a0b000300", elsewhere)
	if _, w := e.sync(engine.RunOptions{}); w != 0 || e.groupUnder(e.ou, gMoved) != nil {
		t.Fatalf("quiet delta run: %d writes", w)
	}
	if err := e.tenant.UpdateGroup(gMoved, map[string]any{"displayName": "VPN"}); err != nil {
		t.Fatal(err)
	}
	for _, o := range []engine.RunOptions{{}, {Full: true}} {
		res, w := e.sync(o)
		if w != 0 || e.groupUnder(e.ou, gMoved) != nil {
			t.Fatalf("full=%v: %d writes; a copy was created in the target OU", o.Full, w)
		}
		if !slices.ContainsFunc(res.Plan.Problems, func(p reconcile.Problem) bool {
			return p.CloudID == gMoved && strings.Contains(p.Message, "outside the target OU")
		}) {
			t.Fatalf("full=%v: not reported: %+v", o.Full, res.Plan.Problems)
		}
	}
	// show says what is true: every cycle leaves it alone, and what to do
	// (issue 24: it claimed the next cycle would move it).
	x, err := e.eng.Explain(context.Background(), gMoved)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(x.Placement, "leaves it alone") || !strings.Contains(x.Placement, "move it into "+e.ou) ||
		!strings.Contains(x.Placement, "writeback.move_back: true") || strings.Contains(x.Placement, "the next cycle renames") {
		t.Errorf("placement: %q", x.Placement)
	}
	// With move_back on, the next cycle does move it, and show says so.
	e.cfg.MoveBack = true
	e.eng = engine.New(e.cloud, e.dir, e.dir, e.store, e.cfg, nil)
	if x, _ = e.eng.Explain(context.Background(), gMoved); !strings.Contains(x.Placement, "the next cycle moves it to CN=VPN") {
		t.Errorf("placement with move_back: %q", x.Placement)
	}
	e.sync(engine.RunOptions{Full: true})
	if e.groupUnder(e.ou, gMoved) == nil {
		t.Error("move_back did not move it")
	}
}

// TestUserChangeMovesMembership: a member's on-premises SID changes (the
// cloud user is now synced from another AD object); the next delta cycle,
// with no change to the group itself, writes the membership anew.
func TestUserChangeMovesMembership(t *testing.T) {
	ad := openDir(t, directorytest.Options{})
	fx := ad.Users(t, 3)
	tf := baseTenant(t, ad, 3)
	g := groupID(950)
	tf.Groups = []map[string]any{{"id": g, "displayName": "Follows users", "mailEnabled": false, "mailNickname": "follows",
		"securityEnabled": true, "writebackConfiguration": map[string]any{"isEnabled": true}, "members": []any{userID(0)}}}
	e := newEnvOn(t, ad, tf, nil)
	e.sync(engine.RunOptions{})
	if got := members(e.group(g)); len(got) != 1 || got[0] != strings.ToLower(fx[0].DN) {
		t.Fatalf("before: %v", got)
	}
	if err := e.tenant.UpdateUser(userID(0), map[string]any{"onPremisesSecurityIdentifier": fx[2].SID}); err != nil {
		t.Fatal(err)
	}
	// A new cloud user joins, created as sync would create it.
	newUser, err := e.tenant.CreateUser(map[string]any{"displayName": "Late", "userPrincipalName": "late@contoso.test",
		"onPremisesSyncEnabled": true, "onPremisesDistinguishedName": fx[1].DN})
	if err != nil {
		t.Fatal(err)
	}
	res, _ := e.sync(engine.RunOptions{})
	if got := members(e.group(g)); len(got) != 1 || got[0] != strings.ToLower(fx[2].DN) || res.Mode != "delta" {
		t.Fatalf("after the SID changed: %v (%s)", got, res.Mode)
	}
	if err := e.tenant.AddMember(g, newUser); err != nil {
		t.Fatal(err)
	}
	e.sync(engine.RunOptions{})
	if got := members(e.group(g)); len(got) != 2 || !slices.Contains(got, strings.ToLower(fx[1].DN)) {
		t.Fatalf("after the new user joined (found by DN): %v", got)
	}
}

// A stretch of quiet cycles is one row of the run history: a service that
// cycles every 10 seconds would otherwise add 8,640 rows a day that say
// nothing. A cycle that writes ends the stretch.
func TestQuietCyclesShareARow(t *testing.T) {
	ad := openDir(t, directorytest.Options{})
	tf := baseTenant(t, ad, 2)
	g := groupID(951)
	tf.Groups = []map[string]any{{"id": g, "displayName": "Quiet", "mailEnabled": false, "mailNickname": "quiet",
		"securityEnabled": true, "writebackConfiguration": map[string]any{"isEnabled": true}, "members": []any{userID(0)}}}
	e := newEnvOn(t, ad, tf, nil)
	first, _ := e.sync(engine.RunOptions{})
	if first.Quiet {
		t.Fatal("the first writeback is called quiet")
	}
	var stretch int64
	for i := range 3 {
		res, w := e.sync(engine.RunOptions{})
		if !res.Quiet || w != 0 {
			t.Fatalf("quiet cycle %d: quiet %v, %d writes", i, res.Quiet, w)
		}
		if i == 0 {
			stretch = res.RunID
		}
		if res.RunID != stretch || stretch == first.RunID {
			t.Fatalf("quiet cycle %d is recorded in run %d; want the stretch's row %d (the first writeback was %d)", i, res.RunID, stretch, first.RunID)
		}
	}
	runs, err := e.store.Runs(context.Background(), 10)
	if err != nil || len(runs) != 2 || runs[0].ID != stretch || runs[0].Quiet != 3 || runs[1].Quiet != 0 {
		t.Fatalf("runs = %+v, %v; want the first writeback's row and one row standing for 3 quiet cycles", runs, err)
	}
	// A full cycle is never quiet, nor one that has a change to apply.
	if res, _ := e.sync(engine.RunOptions{Full: true}); res.Quiet {
		t.Error("a full cycle is called quiet")
	}
	if err := e.tenant.AddMember(g, userID(1)); err != nil {
		t.Fatal(err)
	}
	if res, w := e.sync(engine.RunOptions{}); res.Quiet || w != 1 {
		t.Fatalf("the cycle that adds a member: quiet %v, %d writes", res.Quiet, w)
	}
	res, _ := e.sync(engine.RunOptions{})
	if !res.Quiet || res.RunID == stretch {
		t.Fatalf("the quiet cycle after a write is in run %d (quiet %v), want a new row", res.RunID, res.Quiet)
	}
	if runs, _ := e.store.Runs(context.Background(), 10); len(runs) != 5 {
		t.Errorf("the history holds %d rows, want 5: %+v", len(runs), runs)
	}
}

// A cycle says which groups its writes brought in step, what it wrote and
// when: what the service tells as "AD now matches".
func TestMatchedSaysWhatAndWhen(t *testing.T) {
	ad := openDir(t, directorytest.Options{})
	tf := baseTenant(t, ad, 2)
	g := groupID(952)
	tf.Groups = []map[string]any{{"id": g, "displayName": "Matched", "mailEnabled": false, "mailNickname": "matched",
		"securityEnabled": true, "writebackConfiguration": map[string]any{"isEnabled": true}, "members": []any{userID(0)}}}
	e := newEnvOn(t, ad, tf, nil)
	// The first writeback writes what was never written: its operations'
	// audit entries say so, and no group is told in step.
	if res, _ := e.sync(engine.RunOptions{}); len(res.Matched) != 0 {
		t.Fatalf("the first writeback matched %+v", res.Matched)
	}
	// A group made in the cloud since is.
	g2, err := e.tenant.CreateGroup(map[string]any{"displayName": "Made later", "mailEnabled": false, "mailNickname": "later",
		"securityEnabled": true, "writebackConfiguration": map[string]any{"isEnabled": true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.tenant.AddMember(g2, userID(0)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, _ := e.sync(engine.RunOptions{})
	if len(res.Matched) != 1 || res.Matched[0].CloudID != g2 || res.Matched[0].Name != "Made later" || !slices.Equal(res.Matched[0].Changes, []string{"created with 1 members"}) ||
		!strings.EqualFold(res.Matched[0].DN, e.group(g2).DN) || res.Matched[0].Written.Before(start) || res.Matched[0].Written.After(time.Now()) {
		t.Fatalf("matched after a group was made: %+v", res.Matched)
	}
	// A full cycle writes nothing here, and matches nothing.
	if res, _ := e.sync(engine.RunOptions{Full: true}); len(res.Matched) != 0 {
		t.Fatalf("a full cycle matched %+v", res.Matched)
	}
	if err := e.tenant.UpdateGroup(g, map[string]any{"description": "now described"}); err != nil {
		t.Fatal(err)
	}
	if err := e.tenant.AddMember(g, userID(1)); err != nil {
		t.Fatal(err)
	}
	res, _ = e.sync(engine.RunOptions{})
	if len(res.Matched) != 1 || !slices.Contains(res.Matched[0].Changes, "description") || !slices.Contains(res.Matched[0].Changes, "+1 members") {
		t.Fatalf("matched after a description and a member: %+v", res.Matched)
	}
	if res, _ := e.sync(engine.RunOptions{}); len(res.Matched) != 0 {
		t.Fatalf("a quiet cycle matched %+v", res.Matched)
	}
}
