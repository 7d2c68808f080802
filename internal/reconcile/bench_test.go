package reconcile

import (
	"fmt"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/policy"
)

// inStep makes n groups already in step: the plan must be empty.
func inStep(n int) ([]Desired, []ADGroup, Options) {
	o := Options{TargetOU: "OU=Cloud,DC=contoso,DC=test", Managed: []string{"displayName", "adminDescription"}, DeleteThreshold: 500}
	desired := make([]Desired, n)
	actual := make([]ADGroup, n)
	for i := range n {
		id := fmt.Sprintf("6a1e0c55-%04d-4f0e-9d3b-%012d", i%10000, i)
		cn := fmt.Sprintf("Group %d_%012d", i, i)
		dn := policy.GroupDN(cn, o.TargetOU)
		attrs := map[string][]string{"displayName": {fmt.Sprint("Group ", i)}, "adminDescription": {policy.Anchor(id)}}
		desired[i] = Desired{Group: &policy.DesiredGroup{CloudID: id, Anchor: policy.Anchor(id), CN: cn, DN: dn, Attrs: attrs},
			Members: []*Member{{DN: "CN=u1,OU=Users,DC=contoso,DC=test"}}}
		actual[i] = ADGroup{DN: dn, Anchor: policy.Anchor(id), Attrs: attrs, Members: []string{"CN=u1,OU=Users,DC=contoso,DC=test"}}
	}
	return desired, actual, o
}

// BenchmarkMakeInStep plans over groups already in step; the time per
// group must not grow with the number of groups (Make is linear).
func BenchmarkMakeInStep(b *testing.B) {
	for _, n := range []int{5000, 20000} {
		desired, actual, o := inStep(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for range b.N {
				if p := Make(desired, actual, nil, o); len(p.Ops) != 0 || p.Unchanged != n {
					b.Fatalf("%d ops, %d unchanged", len(p.Ops), p.Unchanged)
				}
			}
		})
	}
}
