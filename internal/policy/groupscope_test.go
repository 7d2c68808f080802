package policy

import (
	"strconv"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

func TestGroupScopes(t *testing.T) {
	for _, tc := range []struct {
		scope    string
		security bool
		gt       int64
	}{
		{ScopeUniversal, true, -2147483640}, {ScopeUniversal, false, 8}, {ScopeGlobal, true, -2147483646}, {ScopeGlobal, false, 2},
		{ScopeDomainLocal, true, -2147483644}, {ScopeDomainLocal, false, 4},
	} {
		if gt := GroupTypeOf(tc.scope, tc.security); gt != tc.gt {
			t.Errorf("GroupTypeOf(%s, %v) = %d, want %d", tc.scope, tc.security, gt, tc.gt)
		}
		if s, sec := ScopeOfGroupType(strconv.FormatInt(tc.gt, 10)); s != tc.scope || sec != tc.security {
			t.Errorf("ScopeOfGroupType(%d) = %s %v", tc.gt, s, sec)
		}
	}
	// A built-in group (0x1), an application group, a group of two scopes,
	// garbage: none is a scope the tool writes.
	for _, v := range []string{"-2147483643", "16", "32", "-2147483638", "x", ""} {
		if s, _ := ScopeOfGroupType(v); s != "" {
			t.Errorf("ScopeOfGroupType(%q) = %s", v, s)
		}
	}
	for _, tc := range []struct{ from, to, want string }{
		{ScopeUniversal, ScopeGlobal, "global"}, {ScopeGlobal, ScopeDomainLocal, "universal domain_local"},
		{ScopeDomainLocal, ScopeGlobal, "universal global"}, {ScopeDomainLocal, ScopeUniversal, "universal"}, {ScopeGlobal, ScopeGlobal, ""},
	} {
		if got := strings.Join(ScopeSteps(tc.from, tc.to), " "); got != tc.want {
			t.Errorf("ScopeSteps(%s, %s) = %q, want %q", tc.from, tc.to, got, tc.want)
		}
	}
}

// A placement rule's group scope is the security group's; a Microsoft 365
// group stays universal (Exchange mail-enables universal groups only),
// and says so; writeback.group_scope is the target OU's default.
func TestDecideGroupScope(t *testing.T) {
	snap := cloud.NewSnapshot()
	snap.Groups[idSec] = security()
	snap.Groups[idM365] = m365()
	o := baseOpts
	o.GroupScope = ScopeDomainLocal
	o.Placement = []PlacementRule{{OU: "OU=Global,DC=contoso,DC=test", GroupScope: ScopeGlobal, DisplayName: "*"}}
	for _, d := range Decide(snap, o) {
		switch d.CloudID {
		case idSec:
			if d.Desired.Scope != ScopeGlobal || d.Desired.Attrs["groupType"][0] != "-2147483646" {
				t.Errorf("security group: %s %v", d.Desired.Scope, d.Desired.Attrs["groupType"])
			}
		case idM365:
			if d.Desired.Scope != ScopeUniversal || len(d.Notes) != 1 || d.Notes[0].Field != "group_scope" {
				t.Errorf("Microsoft 365 group: %s, notes %+v", d.Desired.Scope, d.Notes)
			}
		}
	}
	o.Placement = nil
	for _, d := range Decide(snap, o) {
		if d.CloudID == idSec && (d.Desired.Scope != ScopeDomainLocal || d.Desired.Attrs["groupType"][0] != "-2147483644") {
			t.Errorf("writeback.group_scope: %s %v", d.Desired.Scope, d.Desired.Attrs["groupType"])
		}
	}
	p := Placement{TargetOU: "OU=T,DC=x", Scope: ScopeGlobal, Rules: []PlacementRule{{OU: "OU=A,DC=x", GroupScope: ScopeDomainLocal}, {OU: "OU=B,DC=x"}}}
	if got := p.ScopeByOU(); got["ou=t,dc=x"] != ScopeGlobal || got["ou=a,dc=x"] != ScopeDomainLocal || got["ou=b,dc=x"] != ScopeGlobal {
		t.Errorf("ScopeByOU = %v", got)
	}
}
