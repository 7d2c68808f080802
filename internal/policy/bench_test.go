package policy

import (
	"fmt"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

// benchTenant is n Microsoft 365 groups of m synced members each.
func benchTenant(n, m int) *cloud.Snapshot {
	snap := cloud.NewSnapshot()
	for u := range m * 10 {
		id := fmt.Sprintf("u%06d", u)
		snap.Users[id] = &cloud.User{ID: id, OnPremisesSecurityIdentifier: fmt.Sprintf("S-1-5-21-1-2-3-%d", u)}
	}
	for g := range n {
		id := fmt.Sprintf("6a1e0c55-%04d-4f0e-9d3b-2c1a0b%06d", g%10000, g)
		grp := &cloud.Group{ID: id, DisplayName: "Group " + id, GroupTypes: []string{"Unified"}, MailEnabled: true,
			Mail: "g@contoso.com", MailNickname: "g", Members: cloud.RefsFrom(map[string]cloud.ObjectType{})}
		for k := range m {
			grp.Members.Set(fmt.Sprintf("u%06d", (g+k)%(m*10)), cloud.TypeUser)
		}
		snap.Groups[id] = grp
	}
	return snap
}

// BenchmarkDecide compares deciding a whole tenant (a full cycle) with a
// delta cycle that changed 10 of its 10,000 groups.
func BenchmarkDecide(b *testing.B) {
	snap := benchTenant(10000, 50)
	o := Options{TargetOU: "OU=X,DC=contoso,DC=com", Naming: NamingDisplayName, Exchange: true}
	changed := map[string]bool{}
	for id := range snap.Groups {
		if len(changed) == 10 {
			break
		}
		changed[id] = true
	}
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			Decide(snap, o)
		}
	})
	b.Run("delta-10-changed", func(b *testing.B) {
		for b.Loop() {
			DecideSome(snap, o, changed)
		}
	})
}
