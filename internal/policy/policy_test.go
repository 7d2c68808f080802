package policy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

func ptr[T any](v T) *T { return &v }

const (
	idM365 = "6a1e0c55-0001-4f0e-9d3b-2c1a0b9f8e7d"
	idSec  = "6a1e0c55-0004-4f0e-9d3b-2c1a0b9f8e7d"
)

func m365(mods ...func(*cloud.Group)) *cloud.Group {
	g := &cloud.Group{ID: idM365, DisplayName: "Marketing", Description: "All of marketing", Mail: "marketing@contoso.com",
		MailNickname: "marketing", MailEnabled: true, GroupTypes: []string{"Unified"},
		ProxyAddresses: []string{"SMTP:marketing@contoso.com", "smtp:mkt@contoso.com", "SPO:SPO_abc", "smtp:MKT@contoso.com"}}
	for _, m := range mods {
		m(g)
	}
	return g
}

func security(mods ...func(*cloud.Group)) *cloud.Group {
	g := &cloud.Group{ID: idSec, DisplayName: "VPN users", SecurityEnabled: true, MailNickname: "vpn",
		Writeback: cloud.WritebackConfiguration{IsEnabled: ptr(true)}}
	for _, m := range mods {
		m(g)
	}
	return g
}

var baseOpts = Options{TargetOU: "OU=Cloud Groups,DC=contoso,DC=test", Naming: NamingDisplayName, Exchange: true, AnchorAttribute: true}

func decideOne(g *cloud.Group, o Options) Decision {
	snap := cloud.NewSnapshot()
	snap.Groups[g.ID] = g
	return Decide(snap, o)[0]
}

func TestScope(t *testing.T) {
	withOpts := func(f func(*Options)) Options { o := baseOpts; f(&o); return o }
	cases := []struct {
		name    string
		g       *cloud.Group
		o       Options
		inScope bool
		reason  string
	}{
		{"M365 with isEnabled unset is written back, as Connect does", m365(), baseOpts, true, ""},
		{"M365 with isEnabled unset, left out by configuration", m365(), withOpts(func(o *Options) { o.SkipUnsetMicrosoft365 = true }), false, "cloud.unified_writeback_default is false"},
		{"M365 enabled explicitly, unset ones left out", m365(func(g *cloud.Group) { g.Writeback.IsEnabled = ptr(true) }), withOpts(func(o *Options) { o.SkipUnsetMicrosoft365 = true }), true, ""},
		{"M365 turned off", m365(func(g *cloud.Group) { g.Writeback.IsEnabled = ptr(false) }), baseOpts, false, "isEnabled = false"},
		{"security group enabled", security(), baseOpts, true, ""},
		{"security group, isEnabled unset", security(func(g *cloud.Group) { g.Writeback.IsEnabled = nil }), baseOpts, false, "only with writebackConfiguration.isEnabled = true"},
		{"synced from AD", security(func(g *cloud.Group) { g.OnPremisesSyncEnabled = ptr(true) }), baseOpts, false, "synced from on-premises AD"},
		{"source of authority moved to the cloud: never a duplicate", security(func(g *cloud.Group) {
			g.OnPremisesSyncEnabled, g.OnPremisesSecurityIdentifier = ptr(false), "S-1-5-21-1-2-3-2201"
		}), baseOpts, false, "source of authority moved from AD to the cloud"},
		{"source of authority moved, written in place", security(func(g *cloud.Group) {
			g.OnPremisesSyncEnabled, g.OnPremisesSecurityIdentifier, g.CloudManaged = ptr(false), "S-1-5-21-1-2-3-2201", ptr(true)
		}), withOpts(func(o *Options) { o.InPlace = true }), true, ""},
		{"taken out of sync, not converted: never in place", security(func(g *cloud.Group) {
			g.OnPremisesSyncEnabled, g.OnPremisesSecurityIdentifier, g.CloudManaged = ptr(false), "S-1-5-21-1-2-3-2201", ptr(false)
		}), withOpts(func(o *Options) { o.InPlace = true }), false, "not cloud-managed"},
		{"sync disabled without an on-premises SID is a cloud group", security(func(g *cloud.Group) { g.OnPremisesSyncEnabled = ptr(false) }), baseOpts, true, ""},
		{"distribution list", &cloud.Group{ID: "x", DisplayName: "DL", MailEnabled: true, Writeback: cloud.WritebackConfiguration{IsEnabled: ptr(true)}}, baseOpts, false, "not supported"},
		{"mail-enabled security group", &cloud.Group{ID: "x", DisplayName: "MESG", MailEnabled: true, SecurityEnabled: true}, baseOpts, false, "not supported"},
		{"soft-deleted", m365(func(g *cloud.Group) { g.Removed = cloud.SoftDeleted }), baseOpts, false, "soft-deleted"},
		{"excluded by id", m365(), withOpts(func(o *Options) { o.Scope.ExcludeIDs = []string{strings.ToUpper(idM365)} }), false, "exclude_ids"},
		{"not included by name", m365(), withOpts(func(o *Options) { o.Scope.IncludeNames = []string{"Sales*"} }), false, "include_ids or include_names"},
		{"included by name", m365(), withOpts(func(o *Options) { o.Scope.IncludeNames = []string{"Mark*"} }), true, ""},
		{"kind not listed", m365(), withOpts(func(o *Options) { o.Scope.Kinds = []string{"security"} }), false, "writeback.scope.kinds"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := decideOne(tc.g, tc.o)
			if d.InScope != tc.inScope || !strings.Contains(d.Reason, tc.reason) {
				t.Fatalf("InScope=%v Reason=%q, want %v and %q", d.InScope, d.Reason, tc.inScope, tc.reason)
			}
			if d.InScope && d.Problem == nil && d.Desired == nil {
				t.Fatal("in scope without a problem, yet nothing desired")
			}
		})
	}
}

func TestMapping(t *testing.T) {
	noExchange := baseOpts
	noExchange.Exchange = false
	cases := []struct {
		name    string
		g       *cloud.Group
		o       Options
		attrs   map[string]string // attribute → values joined by "|"; "" means absent
		problem string            // field at fault, if any
	}{
		{"M365 defaults to universal distribution with mail", m365(), baseOpts, map[string]string{
			"groupType": "8", "mail": "marketing@contoso.com", "mailNickname": "marketing",
			"proxyAddresses": "SMTP:marketing@contoso.com|smtp:mkt@contoso.com", "msExchRecipientDisplayType": "1",
			"msExchRecipientTypeDetails": "8796093022208", "msExchRequireAuthToSendTo": "TRUE",
			"adminDescription": "Group_" + idM365, "msDS-ExternalDirectoryObjectId": "Group_" + idM365,
			"description": "All of marketing", "displayName": "Marketing", "sAMAccountName": "Marketing_2c1a0b9f8e7d"}, ""},
		{"M365 as mail-enabled security", m365(func(g *cloud.Group) { g.Writeback.OnPremisesGroupType = UniversalMailEnabledSecurity }), baseOpts,
			map[string]string{"groupType": "-2147483640", "msExchRecipientDisplayType": "1073741833", "mail": "marketing@contoso.com"}, ""},
		{"M365 as security: no mail attributes", m365(func(g *cloud.Group) { g.Writeback.OnPremisesGroupType = UniversalSecurity }), baseOpts,
			map[string]string{"groupType": "-2147483640", "mail": "", "proxyAddresses": "", "msExchRecipientTypeDetails": ""}, ""},
		{"security group", security(), baseOpts, map[string]string{"groupType": "-2147483640", "mail": "", "description": ""}, ""},
		{"security group without Exchange", security(), noExchange, map[string]string{"groupType": "-2147483640"}, ""},
		{"M365 without Exchange needs it", m365(), noExchange, nil, "writebackConfiguration.onPremisesGroupType"},
		{"M365 without Exchange, allowed without mail", m365(), func() Options { o := noExchange; o.WithoutExchange = true; return o }(),
			map[string]string{"groupType": "8", "mail": ""}, ""},
		{"security group as distribution", security(func(g *cloud.Group) { g.Writeback.OnPremisesGroupType = UniversalDistribution }), baseOpts, nil, "writebackConfiguration.onPremisesGroupType"},
		{"unknown group type", m365(func(g *cloud.Group) { g.Writeback.OnPremisesGroupType = "globalSecurityGroup" }), baseOpts, nil, "writebackConfiguration.onPremisesGroupType"},
		{"group type as Terraform writes it", security(func(g *cloud.Group) { g.Writeback.OnPremisesGroupType = "UniversalSecurityGroup" }), baseOpts,
			map[string]string{"groupType": "-2147483640"}, ""},
		{"group type in any case", m365(func(g *cloud.Group) { g.Writeback.OnPremisesGroupType = " UNIVERSALMAILENABLEDSECURITYGROUP" }), baseOpts,
			map[string]string{"groupType": "-2147483640", "msExchRecipientDisplayType": "1073741833"}, ""},
		{"empty display name", m365(func(g *cloud.Group) { g.DisplayName = " \t" }), baseOpts, nil, "displayName"},
		{"mail-enabled without mail", m365(func(g *cloud.Group) { g.Mail = "" }), baseOpts, nil, "mail"},
		{"no anchor attribute in schema", security(), func() Options { o := baseOpts; o.AnchorAttribute = false; return o }(),
			map[string]string{"msDS-ExternalDirectoryObjectId": "", "adminDescription": "Group_" + idSec}, ""},
		{"long description is cut at 448", m365(func(g *cloud.Group) { g.Description = strings.Repeat("é", 500) }), baseOpts,
			map[string]string{"description": strings.Repeat("é", 448)}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := decideOne(tc.g, tc.o)
			if tc.problem != "" {
				if d.Problem == nil || d.Problem.Field != tc.problem || d.Desired != nil {
					t.Fatalf("problem = %v, want one on %s", d.Problem, tc.problem)
				}
				if !strings.Contains(d.Problem.Error(), tc.g.ID) {
					t.Fatalf("problem %q does not name the group", d.Problem.Error())
				}
				return
			}
			if d.Desired == nil {
				t.Fatalf("nothing desired: %+v", d)
			}
			madeAgain(t, []Decision{d})
			for name, want := range tc.attrs {
				if got := strings.Join(d.Desired.Attrs[name], "|"); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestMemberRefs(t *testing.T) {
	snap := cloud.NewSnapshot()
	snap.Users["synced"] = &cloud.User{ID: "synced", OnPremisesSyncEnabled: ptr(true), OnPremisesSecurityIdentifier: "S-1-5-21-1-2-3-1105", OnPremisesImmutableID: "q83vEjRWeJA="}
	snap.Users["once"] = &cloud.User{ID: "once", OnPremisesSyncEnabled: ptr(false), OnPremisesSecurityIdentifier: "S-1-5-21-1-2-3-500"}
	snap.Users["neversynced"] = &cloud.User{ID: "neversynced", OnPremisesDistinguishedName: "CN=krbtgt,CN=Users,DC=contoso,DC=test"}
	snap.Users["cloud"] = &cloud.User{ID: "cloud", UserPrincipalName: "c@contoso.onmicrosoft.com"}
	snap.Groups[idSec] = security()
	snap.Groups["adgroup"] = &cloud.Group{ID: "adgroup", DisplayName: "From AD", SecurityEnabled: true, OnPremisesSyncEnabled: ptr(true), OnPremisesSecurityIdentifier: "S-1-5-21-1-2-3-2201"}
	snap.Groups["cloudsec"] = &cloud.Group{ID: "cloudsec", DisplayName: "Not written", SecurityEnabled: true}
	snap.Groups[idM365] = m365(func(g *cloud.Group) {
		g.Members = cloud.RefsFrom(map[string]cloud.ObjectType{"synced": cloud.TypeUser, "cloud": cloud.TypeUser, idSec: cloud.TypeGroup, idM365: cloud.TypeGroup,
			"once": cloud.TypeUser, "neversynced": cloud.TypeUser,
			"adgroup": cloud.TypeGroup, "cloudsec": cloud.TypeGroup, "dev1": cloud.TypeDevice, "gone": cloud.TypeUser})
	})
	var d Decision
	for _, x := range Decide(snap, baseOpts) {
		if x.CloudID == idM365 {
			d = x
		}
	}
	got := map[string]string{}
	for _, m := range d.Desired.Members {
		got[m.CloudID] = fmt.Sprintf("%s %+v %s", m.Type, *m.Keys, m.NotWritable)
	}
	want := map[string]string{
		"synced":      "user {GUID: SID:S-1-5-21-1-2-3-1105 ImmutableID:q83vEjRWeJA= DN: Anchor: Match:[]} ",
		"cloud":       "user {GUID: SID: ImmutableID: DN: Anchor: Match:[]} " + MemberCloudOnly,
		idSec:         "group {GUID: SID: ImmutableID: DN: Anchor:Group_" + idSec + " Match:[]} ",
		"adgroup":     "group {GUID: SID:S-1-5-21-1-2-3-2201 ImmutableID: DN: Anchor: Match:[]} ",
		"cloudsec":    "group {GUID: SID: ImmutableID: DN: Anchor: Match:[]} " + MemberGroupNotWritten,
		"dev1":        "device {GUID: SID: ImmutableID: DN: Anchor: Match:[]} " + MemberUnsupportedType,
		"gone":        "user {GUID: SID: ImmutableID: DN: Anchor: Match:[]} " + MemberUnknown,
		idM365:        "group {GUID: SID: ImmutableID: DN: Anchor: Match:[]} " + MemberItself,
		"once":        "user {GUID: SID: ImmutableID: DN: Anchor: Match:[]} " + MemberCloudOnlyWithIDs,
		"neversynced": "user {GUID: SID: ImmutableID: DN: Anchor: Match:[]} " + MemberCloudOnlyWithIDs,
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("member %s = %q, want %q", id, got[id], w)
		}
	}
	// With writeback.match_unsynced's rules, a user not synced from AD
	// (with or without stale on-premises identifiers) carries the values
	// of the rules it has, in their order; one with none stays cloud-only;
	// a B2B guest is never matched.
	snap.Users["guest"] = &cloud.User{ID: "guest", UserPrincipalName: "g_fabrikam.com#EXT#@contoso.onmicrosoft.com", Mail: "g@fabrikam.com"}
	snap.Users["typedguest"] = &cloud.User{ID: "typedguest", UserPrincipalName: "t@contoso.test", UserType: "Guest"}
	snap.Users["bare"] = &cloud.User{ID: "bare"}
	snap.Users["cloud"].Mail, snap.Users["cloud"].EmployeeID = "c@contoso.test", " E-1 "
	snap.Groups[idM365].Members = cloud.RefsFrom(map[string]cloud.ObjectType{"synced": cloud.TypeUser, "cloud": cloud.TypeUser, "once": cloud.TypeUser,
		"guest": cloud.TypeUser, "typedguest": cloud.TypeUser, "bare": cloud.TypeUser})
	matching := baseOpts
	matching.Match = []MatchRule{MatchEmployeeID, MatchUPN, MatchSAM}
	for _, x := range Decide(snap, matching) {
		if x.CloudID != idM365 {
			continue
		}
		got := map[string]string{}
		for _, m := range x.Desired.Members {
			got[m.CloudID] = fmt.Sprintf("%v %s", m.Keys.Match, m.NotWritable)
		}
		for id, w := range map[string]string{
			"synced":     "[] ",
			"cloud":      "[{employeeId E-1} {userPrincipalName c@contoso.onmicrosoft.com}] ",
			"once":       "[] " + MemberCloudOnlyWithIDs,
			"guest":      "[] " + MemberGuest,
			"typedguest": "[] " + MemberGuest,
			"bare":       "[] " + MemberCloudOnly,
		} {
			if got[id] != w {
				t.Errorf("with rules, member %s = %q, want %q", id, got[id], w)
			}
		}
	}
	limited := baseOpts
	limited.MemberLimit = 3
	for _, x := range Decide(snap, limited) {
		if x.CloudID == idM365 && (x.Problem == nil || x.Problem.Field != "members") {
			t.Fatalf("member limit not enforced: %+v", x)
		}
	}
}

func TestNames(t *testing.T) {
	const id = "6a1e0c55-0001-4f0e-9d3b-2c1a0b9f8e7d"
	cases := []struct {
		name, display, cn, sam, dn string
	}{
		{"plain", "Marketing", "Marketing_2c1a0b9f8e7d", "Marketing_2c1a0b9f8e7d", `CN=Marketing_2c1a0b9f8e7d,OU=X`},
		{"specials", `a,b+c"d\e<f>g;h=i`, `a,b+c"d\e<f>g;h=i_2c1a0b9f8e7d`, "a_b_c_d_e_f_g_h_i_2c1a0b9f8e7d", `CN=a\,b\+c\"d\\e\<f\>g\;h\3Di_2c1a0b9f8e7d,OU=X`},
		{"leading hash", "#general", "#general_2c1a0b9f8e7d", "#general_2c1a0b9f8e7d", `CN=\#general_2c1a0b9f8e7d,OU=X`},
		{"spaces are trimmed", "  padded  ", "padded_2c1a0b9f8e7d", "padded_2c1a0b9f8e7d", `CN=padded_2c1a0b9f8e7d,OU=X`},
		{"non-Latin", "Отдел продаж 営業部", "Отдел продаж 営業部_2c1a0b9f8e7d", "Отдел продаж 営業部_2c1a0b9f8e7d", `CN=Отдел продаж 営業部_2c1a0b9f8e7d,OU=X`},
		{"80 characters are cut to 51", strings.Repeat("x", 80), strings.Repeat("x", 51) + "_2c1a0b9f8e7d", strings.Repeat("x", 51) + "_2c1a0b9f8e7d", "CN=" + strings.Repeat("x", 51) + "_2c1a0b9f8e7d,OU=X"},
		{"cut ending in a space", strings.Repeat("x", 50) + " yz", strings.Repeat("x", 50) + "_2c1a0b9f8e7d", strings.Repeat("x", 50) + "_2c1a0b9f8e7d", "CN=" + strings.Repeat("x", 50) + "_2c1a0b9f8e7d,OU=X"},
		{"emoji count twice", strings.Repeat("😀", 30), strings.Repeat("😀", 25) + "_2c1a0b9f8e7d", strings.Repeat("😀", 25) + "_2c1a0b9f8e7d", "CN=" + strings.Repeat("😀", 25) + "_2c1a0b9f8e7d,OU=X"},
		{"control characters", "a\nb\x00c", "a b c_2c1a0b9f8e7d", "a b c_2c1a0b9f8e7d", "CN=a b c_2c1a0b9f8e7d,OU=X"},
		{"trailing period", "Sales.", "Sales._2c1a0b9f8e7d", "Sales._2c1a0b9f8e7d", "CN=Sales._2c1a0b9f8e7d,OU=X"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cn := CommonName(NamingDisplayName, id, tc.display)
			if cn != tc.cn || SAMAccountName(cn) != tc.sam || GroupDN(cn, "OU=X") != tc.dn {
				t.Fatalf("cn %q sam %q dn %q\nwant cn %q sam %q dn %q", cn, SAMAccountName(cn), GroupDN(cn, "OU=X"), tc.cn, tc.sam, tc.dn)
			}
		})
	}
	if got := CommonName(NamingObjectID, id, "whatever"); got != "Group_"+id {
		t.Fatalf("object_id naming = %q", got)
	}
	if got := SAMAccountName("Sales."); got != "Sales_" {
		t.Fatalf("trailing period kept: %q", got)
	}
	if got := CloudIDFromAnchor("Group_" + strings.ToUpper(id)); got != id {
		t.Fatalf("CloudIDFromAnchor = %q", got)
	}
	for _, bad := range []string{"", "Group_", "group_" + id, "Group_x"} {
		if CloudIDFromAnchor(bad) != "" {
			t.Fatalf("CloudIDFromAnchor(%q) accepted", bad)
		}
	}
}

func ExampleDecide() {
	snap := cloud.NewSnapshot()
	snap.Groups["6a1e0c55-0001-4f0e-9d3b-2c1a0b9f8e7d"] = &cloud.Group{
		ID: "6a1e0c55-0001-4f0e-9d3b-2c1a0b9f8e7d", DisplayName: "Marketing", GroupTypes: []string{"Unified"},
		MailEnabled: true, Mail: "marketing@contoso.com", MailNickname: "marketing",
	}
	snap.Groups["6a1e0c55-0005-4f0e-9d3b-2c1a0b9f8e7d"] = &cloud.Group{
		ID: "6a1e0c55-0005-4f0e-9d3b-2c1a0b9f8e7d", DisplayName: "Lab admins", SecurityEnabled: true,
	}
	for _, d := range Decide(snap, Options{TargetOU: "OU=Cloud Groups,DC=contoso,DC=com", Naming: NamingDisplayName,
		Exchange: true}) {
		if d.Desired != nil {
			fmt.Println(d.Name, "→", d.Desired.DN, d.Desired.Type)
		} else {
			fmt.Println(d.Name, "→ not written back:", d.Reason)
		}
	}
	// Output:
	// Marketing → CN=Marketing_2c1a0b9f8e7d,OU=Cloud Groups,DC=contoso,DC=com universalDistributionGroup
	// Lab admins → not written back: security groups are written back only with writebackConfiguration.isEnabled = true
}

// The sAMAccountName made of any cn passes Windows AD's rules, which
// Samba enforces only in part (it takes 256 characters, "@", a leading
// period, a name of digits alone).
func TestSAMAccountNameWindowsRules(t *testing.T) {
	cases := []struct{ cn, want string }{
		{".hidden", "_hidden"},
		{"  .x", "_x"},
		{"12345", "g12345"},
		{"1.2 3", "g1.2 3"},
		{"a@b", "a_b"},
		{"Sales.", "Sales_"},
		{"x" + strings.Repeat("y", 70), "x" + strings.Repeat("y", 63)},
		{"tab\tand\x7fdel", "tab and del"},
	}
	for _, tc := range cases {
		got := SAMAccountName(tc.cn)
		if got != tc.want {
			t.Errorf("SAMAccountName(%q) = %q, want %q", tc.cn, got, tc.want)
		}
		if err := ValidSAMAccountName(got); err != nil {
			t.Errorf("SAMAccountName(%q) = %q: %v", tc.cn, got, err)
		}
	}
	for _, bad := range []string{"", ".x", " x", "x.", "123", "1. 2", "a@b", "a[b", "a\x01b", strings.Repeat("x", 65)} {
		if ValidSAMAccountName(bad) == nil {
			t.Errorf("ValidSAMAccountName(%q) accepted it", bad)
		}
	}
	if err := ValidSAMAccountName(strings.Repeat("😀", 32)); err != nil {
		t.Errorf("32 emoji are 64 UTF-16 units: %v", err)
	}
}

// Every membership of one user points at one Keys: a tenant's memberships
// outnumber its users by far, and each Keys is five strings.
func TestMemberRefsShareKeys(t *testing.T) {
	snap := cloud.NewSnapshot()
	yes := true
	snap.Users["u1"] = &cloud.User{ID: "u1", OnPremisesSyncEnabled: &yes, OnPremisesSecurityIdentifier: "S-1-5-21-1-2-3-1001"}
	for _, id := range []string{"6a1e0c55-0001-4f0e-9d3b-2c1a0b9f8e7d", "6a1e0c55-0002-4f0e-9d3b-2c1a0b9f8e7d"} {
		snap.Groups[id] = &cloud.Group{ID: id, DisplayName: id[:13], SecurityEnabled: true, MailNickname: "x",
			Writeback: cloud.WritebackConfiguration{IsEnabled: &yes}, Members: cloud.RefsFrom(map[string]cloud.ObjectType{"u1": cloud.TypeUser})}
	}
	var keys []*Keys
	for _, d := range Decide(snap, Options{TargetOU: "OU=X,DC=c,DC=d", Naming: NamingDisplayName}) {
		if d.Desired == nil || len(d.Desired.Members) != 1 {
			t.Fatalf("%+v", d)
		}
		keys = append(keys, d.Desired.Members[0].Keys)
	}
	if len(keys) != 2 || keys[0] != keys[1] || keys[0].SID != "S-1-5-21-1-2-3-1001" {
		t.Fatalf("keys %v", keys)
	}
}
