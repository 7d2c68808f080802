package policy

import "testing"

// TestDNRelations: one answer everywhere to "is this DN in that OU".
func TestDNRelations(t *testing.T) {
	const ou = "OU=Cloud Groups,DC=contoso,DC=test"
	cases := []struct {
		dn, base            string
		within, below, same bool
	}{
		{ou, ou, true, false, true},
		{"ou=cloud groups, dc=CONTOSO,dc=test", ou, true, false, true},
		{"CN=G1," + ou, ou, true, true, false},
		{"CN=G1,OU=Sub," + ou, ou, true, true, false},
		{"CN=G1,OU=Cloud Groups Admin,DC=contoso,DC=test", ou, false, false, false},
		{"DC=contoso,DC=test", ou, false, false, false},
		{`CN=why\?_1,` + ou, ou, true, true, false}, // as Samba writes "why?"
		{"not a dn", ou, false, false, false},
	}
	for _, c := range cases {
		if got := Within(c.dn, c.base); got != c.within {
			t.Errorf("Within(%q) = %v", c.dn, got)
		}
		if got := Below(c.dn, c.base); got != c.below {
			t.Errorf("Below(%q) = %v", c.dn, got)
		}
		if got := SameDN(c.dn, c.base); got != c.same {
			t.Errorf("SameDN(%q) = %v", c.dn, got)
		}
	}
}

// TestRDNValue: the name a report gives an AD group from its DN.
func TestRDNValue(t *testing.T) {
	for dn, want := range map[string]string{
		"CN=Team 1_0001,OU=Cloud,DC=contoso,DC=com": "Team 1_0001",
		`CN=Smith\, Ann,OU=Cloud,DC=contoso,DC=com`: "Smith, Ann",
		`CN=why\?_1,OU=Cloud,DC=contoso,DC=test`:    "why?_1",
		"":                                          "",
		"not a dn":                                  "not a dn",
	} {
		if got := RDNValue(dn); got != want {
			t.Errorf("RDNValue(%q) = %q, want %q", dn, got, want)
		}
	}
}
