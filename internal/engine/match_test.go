package engine_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/policy"
)

// Members that are not synced from AD are matched to AD user accounts by
// writeback.match_unsynced's rules, in order, within the search bases: a
// member is written only when a rule finds exactly one enabled account,
// never a critical or protected one, and never for a B2B guest. The plan
// and the trace say which rule matched; what is not matched is reported
// with its reason code.
func TestMatchUnsyncedMembers(t *testing.T) {
	ad := openDir(t, directorytest.Options{})
	staff, elsewhere := ad.NewOU(t, "staff"), ad.NewOU(t, "elsewhere")
	names := []string{"m-ann", "m-bob", "m-cat1", "m-cat2", "m-dan", "m-dan-old", "m-eve-old", "m-guest", "m-admin", "m-twin", "m-far"}
	made := ad.AddUsers(t, staff, names[:10])
	made = append(made, ad.AddUsers(t, elsewhere, names[10:])...)
	acct := map[string]directorytest.User{}
	for _, u := range made {
		acct[u.Name] = u
	}
	set := func(name, attr, v string) { t.Helper(); ad.SetAttribute(t, acct[name].DN, attr, []string{v}) }
	// Accounts added without a password are disabled (514): enable those
	// meant to be (544: no password required, as provisioning may leave
	// an account).
	for _, n := range []string{"m-ann", "m-bob", "m-cat1", "m-cat2", "m-dan", "m-guest", "m-admin", "m-twin", "m-far"} {
		set(n, "userAccountControl", "544")
	}
	set("m-ann", "userPrincipalName", "ann@contoso.test")
	set("m-ann", "mail", "ann@contoso.test")
	set("m-bob", "mail", "Bob@Contoso.test")
	set("m-cat1", "employeeID", "E-300")
	set("m-cat2", "employeeID", "E-300")
	set("m-dan", "employeeID", "E-400")
	set("m-dan-old", "employeeID", "E-400")
	set("m-eve-old", "employeeID", "E-500")
	set("m-guest", "userPrincipalName", "gus@fabrikam.test")
	set("m-admin", "employeeID", "E-700")
	set("m-admin", "adminCount", "1")
	set("m-far", "employeeID", "E-800")
	set("m-twin", "employeeID", "E-900")
	set("m-twin", "mS-DS-ConsistencyGuid", "0123456789abcdef") // Connect syncs it: another cloud user's

	tf := baseTenant(t, ad, 1)
	cloud := func(n int, props map[string]any) string {
		id := fmt.Sprintf("3f2b1c4d-eeee-4a5b-8c6d-%012d", n)
		u := map[string]any{"id": id, "displayName": fmt.Sprintf("Cloud %d", n)}
		for k, v := range props {
			u[k] = v
		}
		tf.Users = append(tf.Users, u)
		return id
	}
	ann := cloud(1, map[string]any{"userPrincipalName": "Ann@contoso.test"})
	bob := cloud(2, map[string]any{"userPrincipalName": "bob@contoso.onmicrosoft.com", "mail": "bob@contoso.test"})
	cat := cloud(3, map[string]any{"userPrincipalName": "cat@contoso.onmicrosoft.com", "employeeId": "E-300"})
	dan := cloud(4, map[string]any{"userPrincipalName": "dan@contoso.onmicrosoft.com", "employeeId": "E-400"})
	eve := cloud(5, map[string]any{"userPrincipalName": "eve@contoso.onmicrosoft.com", "employeeId": "E-500"})
	gus := cloud(6, map[string]any{"userPrincipalName": "gus_fabrikam.test#EXT#@contoso.onmicrosoft.com", "mail": "gus@fabrikam.test", "userType": "Guest"})
	adm := cloud(7, map[string]any{"userPrincipalName": "adm@contoso.onmicrosoft.com", "employeeId": "E-700"})
	far := cloud(8, map[string]any{"userPrincipalName": "far@contoso.onmicrosoft.com", "employeeId": "E-800"})
	twin := cloud(10, map[string]any{"userPrincipalName": "twin@contoso.onmicrosoft.com", "employeeId": "E-900"})
	// Not synced, with stale on-premises identifiers naming m-cat1: the
	// identifiers stay untrusted; the rules decide.
	stale := cloud(9, map[string]any{"userPrincipalName": "stale@contoso.onmicrosoft.com", "mail": "Ann@Contoso.test", "onPremisesSecurityIdentifier": acct["m-cat1"].SID})
	list := []any{userID(0), ann, bob, cat, dan, eve, gus, adm, far, stale, twin}
	tf.Groups = []map[string]any{{"id": groupID(880), "displayName": "Everyone", "mailEnabled": false, "mailNickname": "everyone880", "securityEnabled": true,
		"writebackConfiguration": map[string]any{"isEnabled": true}, "members": list}}
	e := newEnvOn(t, ad, tf, func(c *engine.Config) {
		c.Policy.Match = []policy.MatchRule{policy.MatchUPN, policy.MatchMail, policy.MatchEmployeeID}
		c.MatchBases = []string{staff}
	})

	res, err := e.eng.Run(context.Background(), engine.RunOptions{Group: groupID(880)})
	if err != nil {
		t.Fatal(err)
	}
	g := e.group(groupID(880))
	want := []string{e.users[0].DN, acct["m-ann"].DN, acct["m-bob"].DN, acct["m-dan"].DN}
	for i := range want {
		want[i] = strings.ToLower(want[i])
	}
	slices.Sort(want)
	if got := members(g); !slices.Equal(got, want) {
		t.Fatalf("members %v, want %v", got, want)
	}
	matched := map[string]string{}
	for _, m := range res.MembersMatched[groupID(880)] {
		matched[m.CloudID] = m.Rule + " " + m.DN
	}
	for id, w := range map[string]string{ann: "userPrincipalName " + acct["m-ann"].DN, bob: "mail " + acct["m-bob"].DN, dan: "employeeId " + acct["m-dan"].DN,
		stale: "mail " + acct["m-ann"].DN} {
		if matched[id] != w {
			t.Errorf("%s matched %q, want %q", id, matched[id], w)
		}
	}
	codes := map[string]string{}
	for _, mp := range res.Plan.NotWritten[groupID(880)] {
		codes[mp.CloudID] = mp.Code
	}
	for id, w := range map[string]string{cat: "ambiguous_match", eve: "no_match", gus: "guest_user", adm: "match_protected", far: "no_match", twin: "match_synced"} {
		if codes[id] != w {
			t.Errorf("%s not written as %q, want %q", id, codes[id], w)
		}
	}
	// The trace says which rule matched, and what each rule found.
	byID := map[string]engine.MemberTrace{}
	for _, m := range res.Trace.Members {
		byID[m.CloudID] = m
	}
	if d := byID[dan]; d.MatchedBy != "employeeId" || len(d.Matches) != 2 || d.Matches[1].Rule != "employeeId" || len(d.Matches[1].Enabled) != 1 ||
		len(d.Matches[1].Disabled) != 1 || d.Matches[0].Rule != "userPrincipalName" || len(d.Matches[0].Enabled) != 0 {
		t.Errorf("dan's trace: %+v", d)
	}
	if c := byID[cat]; c.MatchedBy != "" || c.NotWritten != policy.MemberMatchAmbiguous || len(c.Matches) != 2 || len(c.Matches[1].Enabled) != 2 {
		t.Errorf("cat's trace: %+v", c)
	}
	// Without rules, the same members are cloud-only, as before.
	cfg := e.cfg
	cfg.Policy.Match, cfg.MatchBases = nil, nil
	res, err = engine.New(e.cloud, e.dir, e.dir, e.store, cfg, nil).Run(context.Background(), engine.RunOptions{Full: true, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	codes = map[string]string{}
	for _, mp := range res.Plan.NotWritten[groupID(880)] {
		codes[mp.CloudID] = mp.Code
	}
	if len(res.MembersMatched) != 0 || codes[ann] != "cloud_only_user" || codes[stale] != "untrusted_onprem_ids" || codes[gus] != "cloud_only_user" {
		t.Fatalf("without rules: matched %v, not written %v", res.MembersMatched, codes)
	}
}
