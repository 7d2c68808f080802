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

// Group scope per placement rule: groups are written global or domain
// local where a rule says so (universal by default), AD's rules of scope
// are kept before writing (a global group holds only accounts and global
// groups of its own domain; a domain-local group is held only by
// domain-local groups), what the scope prevents is reported by reason
// code, and a change of scope goes as AD allows: members that no longer
// fit removed first, then the scope (through universal between global and
// domain local), then the members that fit the new scope added. memdir
// keeps Windows AD's rules, which Samba 4.17 does not all enforce.
func TestGroupScopePerPlacementRule(t *testing.T) {
	ad := openDir(t, directorytest.Options{})
	globalOU, localOU := ad.NewOU(t, "global groups"), ad.NewOU(t, "local groups")
	uTeam, gTeam, gSub, dlShare, uOther := groupID(901), groupID(902), groupID(903), groupID(904), groupID(905)
	groups := []map[string]any{
		{"id": uTeam, "displayName": "U Team", "mailNickname": "uteam", "members": []any{userID(0), dlShare, uOther}},
		{"id": gTeam, "displayName": "G Team", "mailNickname": "gteam", "members": []any{userID(1), uTeam, gSub}},
		{"id": gSub, "displayName": "G Sub", "mailNickname": "gsub", "members": []any{userID(2)}},
		{"id": dlShare, "displayName": "DL Share", "mailNickname": "dlshare", "members": []any{gTeam, uTeam, userID(3)}},
		{"id": uOther, "displayName": "U Other", "mailNickname": "uother", "members": []any{userID(4)}},
	}
	e := newGroupsEnvOn(t, ad, 5, func(directorytest.Fixture) []map[string]any { return groups }, func(c *engine.Config) {
		c.Policy.Placement = []policy.PlacementRule{{OU: globalOU, DisplayName: "G *", GroupScope: policy.ScopeGlobal},
			{OU: localOU, DisplayName: "DL *", GroupScope: policy.ScopeDomainLocal}}
	})
	gt := func(id string) string { t.Helper(); return attr(e.group(id), "groupType") }
	memberDNs := func(id string) []string { t.Helper(); return members(e.group(id)) }
	dnOf := func(id string) string { t.Helper(); return strings.ToLower(e.group(id).DN) }
	res, _ := e.sync(engine.RunOptions{})
	if res.Counts.Created != 5 || res.Counts.Failed != 0 {
		t.Fatalf("first sync: %+v %+v", res.Counts, res.Failures)
	}
	for id, want := range map[string]string{uTeam: "-2147483640", gTeam: "-2147483646", gSub: "-2147483646", dlShare: "-2147483644", uOther: "-2147483640"} {
		if got := gt(id); got != want {
			t.Errorf("%s: groupType %s, want %s", id, got, want)
		}
	}
	codes := map[string]string{}
	for id, mps := range res.Plan.NotWritten {
		for _, mp := range mps {
			codes[id+" "+mp.CloudID] = mp.Code
		}
	}
	if codes[uTeam+" "+dlShare] != "domain_local_group" || codes[gTeam+" "+uTeam] != "global_holds_global_only" || codes[gTeam+" "+gSub] != "" {
		t.Fatalf("members not written: %v", codes)
	}
	if !slices.Contains(memberDNs(gTeam), dnOf(gSub)) || !slices.Contains(memberDNs(dlShare), dnOf(gTeam)) || !slices.Contains(memberDNs(dlShare), dnOf(uTeam)) ||
		!slices.Contains(memberDNs(uTeam), dnOf(uOther)) {
		t.Fatalf("members: G Team %v, DL Share %v, U Team %v", memberDNs(gTeam), memberDNs(dlShare), memberDNs(uTeam))
	}

	// U Team is renamed into the global rule: moved, its universal member
	// removed, then made global; G Sub into the domain-local rule: G Team
	// (global) lets it go, and it goes global → universal → domain local.
	for id, name := range map[string]string{uTeam: "G Former U", gSub: "DL Former G"} {
		if err := e.tenant.UpdateGroup(id, map[string]any{"displayName": name}); err != nil {
			t.Fatal(err)
		}
	}
	plan, _ := e.sync(engine.RunOptions{DryRun: true})
	var steps []string
	for _, op := range kept(plan) {
		if op.Action == reconcile.ChangeScope {
			steps = append(steps, op.CloudID+" "+op.Changes[0].New[0])
		}
	}
	if strings.Join(steps, ", ") != uTeam+" -2147483646, "+gSub+" -2147483640, "+gSub+" -2147483644" {
		t.Fatalf("scope changes planned: %v", steps)
	}
	res, _ = e.sync(engine.RunOptions{})
	if res.Counts.Failed != 0 || gt(uTeam) != "-2147483646" || gt(gSub) != "-2147483644" {
		t.Fatalf("after the renames: %+v %+v; U Team %s, G Sub %s", res.Counts, res.Failures, gt(uTeam), gt(gSub))
	}
	if m := memberDNs(uTeam); slices.Contains(m, dnOf(uOther)) || len(m) != 1 {
		t.Fatalf("the group made global still holds %v", m)
	}
	if m := memberDNs(gTeam); slices.Contains(m, dnOf(gSub)) || !slices.Contains(m, dnOf(uTeam)) {
		t.Fatalf("G Team holds %v: the domain-local group out, the group made global in", m)
	}
	if !strings.HasSuffix(dnOf(uTeam), strings.ToLower(globalOU)) || !strings.HasSuffix(dnOf(gSub), strings.ToLower(localOU)) {
		t.Fatalf("placed at %s and %s", dnOf(uTeam), dnOf(gSub))
	}
	if _, w := e.sync(engine.RunOptions{}); w != 0 {
		t.Fatalf("a third sync wrote %d times", w)
	}
}
