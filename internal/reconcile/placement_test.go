package reconcile

import (
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/policy"
)

// placed is d written to parent instead of the target OU, as a placement
// rule puts it.
func placed(d Desired, parent, rule string) Desired {
	g := *d.Group
	g.DN, g.PlacedBy = policy.GroupDN(g.CN, parent), rule
	d.Group = &g
	return d
}

// A group whose placement changes is moved, never recreated; one in a
// sub-OU of its placement OU stays; one in a placement OU nested in
// another belongs to the deeper one; the anchor rules hold in every OU.
func TestPlacementMoves(t *testing.T) {
	const (
		sales  = "OU=Sales,DC=contoso,DC=test"
		nested = "OU=M365," + ou
		sub    = "OU=Teams," + ou
	)
	ous := []string{ou, sales, nested}
	d := desired(id1, "Sales EMEA", user(1))
	for _, tc := range []struct {
		name   string
		want   Desired
		actual ADGroup
		ops    string
		reason string
	}{
		{"a rule now places it elsewhere", placed(d, sales, "writeback.placement[0] (display name \"Sales *\")"), inAD(d, user(1).DN),
			"move 6a1e0c55-0001 ->" + sales, "placed in " + sales + " by writeback.placement[0]"},
		{"no rule matches any more: back to the target OU", d, inAD(placed(d, sales, "r"), user(1).DN),
			"move 6a1e0c55-0001 ->" + ou, "by writeback.target_ou"},
		{"in a placement OU nested in its own: moved out", d, inAD(placed(d, nested, "r"), user(1).DN),
			"move 6a1e0c55-0001 ->" + ou, "by writeback.target_ou"},
		{"in a sub-OU an admin made in its OU: left there", d, inAD(placed(d, sub, ""), user(1).DN), "", ""},
		{"moved and renamed in one plan", placed(desired(id1, "Sales APAC", user(1)), sales, "r"), inAD(d, user(1).DN),
			"move 6a1e0c55-0001 ->" + sales + "; rename 6a1e0c55-0001 CN=Sales APAC_2c1a0b9f8e7d; update 6a1e0c55-0001 sAMAccountName displayName", "placed in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Make([]Desired{tc.want}, []ADGroup{tc.actual}, nil, Options{TargetOU: ou, OUs: ous, Managed: managed})
			if got := summary(p); got != tc.ops || len(p.Problems) > 0 {
				t.Fatalf("ops %q, problems %+v; want %q", got, p.Problems, tc.ops)
			}
			if tc.reason != "" && !strings.Contains(p.Ops[0].Reason, tc.reason) {
				t.Fatalf("reason %q, want %q", p.Ops[0].Reason, tc.reason)
			}
		})
	}
	// Outside every placement OU: left alone and not created again.
	stray := inAD(d)
	stray.DN = "CN=Sales EMEA_2c1a0b9f8e7d,OU=Elsewhere,DC=contoso,DC=test"
	p := Make([]Desired{placed(d, sales, "r")}, []ADGroup{stray}, nil, Options{TargetOU: ou, OUs: ous, Managed: managed})
	if len(p.Ops) != 0 || len(p.Problems) != 1 || !strings.Contains(p.Problems[0].Message, "outside the placement OUs") {
		t.Fatalf("ops %q, problems %+v", summary(p), p.Problems)
	}
	// Created in its rule's OU.
	p = Make([]Desired{placed(d, sales, "r")}, nil, nil, Options{TargetOU: ou, OUs: ous, Managed: managed})
	if len(p.Ops) != 1 || p.Ops[0].Action != Create || !policy.SameDN(p.Ops[0].DN, "CN=Sales EMEA_2c1a0b9f8e7d,"+sales) {
		t.Fatalf("ops %q", summary(p))
	}
}
