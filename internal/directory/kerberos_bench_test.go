package directory_test

import (
	"context"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

// BenchmarkProtection compares, on one DC, a simple bind over LDAPS (the
// baseline) with a Kerberos bind on ldap:// signed and sealed: the cost
// of connecting and binding, and of a lookup of 50 users by SID.
//
//	go test ./internal/directory -run '^$' -bench Protection
func BenchmarkProtection(b *testing.B) {
	dc := testdc.Shared(b, testdc.Options{Kerberos: true})
	kt, err := dc.Keytab(testdc.DelegatedUser)
	if err != nil {
		b.Fatal(err)
	}
	var sids []string
	for _, u := range dc.Fixtures(b)[:50] {
		sids = append(sids, u.SID)
	}
	simple := config(dc)
	sealed := directory.Config{URL: "ldap://" + dc.Addr, Auth: directory.AuthKerberos, CAFile: dc.CAFile, BaseDN: testdc.BaseDN,
		Kerberos: directory.Kerberos{Principal: testdc.DelegatedUser, Realm: testdc.Realm, Keytab: kt, KDCs: []string{dc.KDC()}}}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cfg  directory.Config
	}{{"simple-ldaps", simple}, {"kerberos-sealed", sealed}} {
		b.Run("open/"+tc.name, func(b *testing.B) {
			for b.Loop() {
				c, err := tc.cfg.Open(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
		b.Run("lookup50/"+tc.name, func(b *testing.B) {
			c, err := tc.cfg.Open(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			for b.Loop() {
				if got, err := c.Lookup(ctx, reconcile.BySID, testdc.BaseDN, sids); err != nil || len(got) != 50 {
					b.Fatalf("%d found: %v", len(got), err)
				}
			}
		})
	}
}
