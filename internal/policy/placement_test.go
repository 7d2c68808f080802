package policy

import (
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

func TestPlacement(t *testing.T) {
	const (
		target = "OU=Cloud,DC=c,DC=d"
		sales  = "OU=Groups,OU=Sales,DC=c,DC=d"
		m365   = "OU=M365,OU=Cloud,DC=c,DC=d"
		fab    = "OU=Fabrikam,DC=c,DC=d"
	)
	p := Placement{TargetOU: target, Rules: []PlacementRule{
		{OU: sales, DisplayName: "sales *", Kind: "security"},
		{OU: fab, MailDomain: "@Fabrikam.com"},
		{OU: m365, Kind: "microsoft365"},
		{OU: sales, DisplayName: "*-sales"},
	}}
	unified := []string{"Unified"}
	for _, tc := range []struct {
		name string
		g    cloud.Group
		ou   string
		rule int
	}{
		{"security, name matches without regard to case", cloud.Group{DisplayName: "Sales EMEA", SecurityEnabled: true}, sales, 0},
		{"the kind does not match the first rule", cloud.Group{DisplayName: "Sales EMEA", GroupTypes: unified, MailEnabled: true, Mail: "s@contoso.com"}, m365, 2},
		{"mail domain before kind: the first match wins", cloud.Group{DisplayName: "Sales EMEA", GroupTypes: unified, MailEnabled: true, Mail: "s@FABRIKAM.com"}, fab, 1},
		{"a later rule to the same OU", cloud.Group{DisplayName: "emea-sales", SecurityEnabled: true}, sales, 3},
		{"no rule matches", cloud.Group{DisplayName: "Finance", SecurityEnabled: true}, target, -1},
		{"no mail, no mail domain", cloud.Group{DisplayName: "x", SecurityEnabled: true, Mail: "fabrikam.com"}, target, -1},
	} {
		ou, rule := p.OUFor(&tc.g)
		if ou != tc.ou || rule != tc.rule {
			t.Errorf("%s: %s (rule %d), want %s (rule %d)", tc.name, ou, rule, tc.ou, tc.rule)
		}
	}
	if got := p.OUs(); len(got) != 4 || got[0] != target {
		t.Errorf("OUs %v: the target OU first, each OU once", got)
	}
	ous := p.OUs()
	for dn, want := range map[string]string{
		"CN=a," + m365:                             m365, // nested in the target OU: the deeper one
		"CN=a,OU=Teams," + m365:                    m365,
		"CN=a," + target:                           target,
		"CN=a,OU=Other,DC=c,DC=d":                  "",
		"CN=a,OU=Sub,OU=Groups,OU=Sales,DC=c,DC=d": sales,
	} {
		if got := HomeOU(dn, ous); got != want {
			t.Errorf("HomeOU(%s) = %q, want %q", dn, got, want)
		}
	}
	if s := p.Rules[0].String(); s != `kind security, display name "sales *"` {
		t.Errorf("rule named %q", s)
	}
}

func TestPlacementOnExtensions(t *testing.T) {
	const dept = "extension_b7d8e648520f41d3b9c0fdeb91768a0a_department"
	byValue := PlacementRule{OU: "OU=Sales,DC=c,DC=d", Extension: dept, ExtensionValue: "sales*"}
	anyValue := PlacementRule{OU: "OU=Tagged,DC=c,DC=d", Extension: "extensionAttribute1"}
	for _, tc := range []struct {
		ext       map[string][]string
		byV, anyV bool
	}{
		{map[string][]string{dept: {"Sales EMEA"}}, true, false},
		{map[string][]string{dept: {"Finance", "SALES-2"}}, true, false}, // one value of a collection is enough
		{map[string][]string{dept: {"Finance"}, "extensionAttribute1": {"CC-1"}}, false, true},
		{map[string][]string{"extensionAttribute1": {""}}, false, false},
		{nil, false, false},
	} {
		g := &cloud.Group{DisplayName: "x", SecurityEnabled: true, Extensions: tc.ext}
		if byValue.Matches(g) != tc.byV || anyValue.Matches(g) != tc.anyV {
			t.Errorf("%v: by value %v, any value %v; want %v, %v", tc.ext, byValue.Matches(g), anyValue.Matches(g), tc.byV, tc.anyV)
		}
	}
	if s := byValue.String(); s != dept+` "sales*"` {
		t.Errorf("rule named %q", s)
	}
	if s := anyValue.String(); s != "extensionAttribute1 set" {
		t.Errorf("rule named %q", s)
	}
}
