package directory_test

import (
	"context"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

// The global catalog, as far as one domain shows it (Samba 4.17 cannot
// host a second domain in a forest): the forest is searched on the GC
// port, by objectSid and DN, on a connection of its own, and names the
// forest's domains by SID.
func TestGlobalCatalog(t *testing.T) {
	dc := testdc.Shared(t, testdc.Options{})
	fx := dc.Fixtures(t)
	for _, gc := range []string{"auto", "ldaps://" + dc.Addr + ":3269"} {
		t.Run(gc, func(t *testing.T) {
			cfg := config(dc)
			cfg.GlobalCatalog = gc
			c, err := cfg.Open(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if u, _ := c.GCURL(); u != "ldaps://"+dc.Addr+":3269" {
				t.Fatalf("GC URL %s", u)
			}
			ctx := context.Background()
			bySID, err := c.Lookup(ctx, reconcile.BySID, engine.ForestBase, []string{fx[0].SID, fx[1].SID, "S-1-5-21-1-2-3-1000"})
			if err != nil {
				t.Fatal(err)
			}
			byDN, err := c.Lookup(ctx, reconcile.ByDN, engine.ForestBase, []string{fx[2].DN})
			if err != nil {
				t.Fatal(err)
			}
			if len(bySID) != 2 || bySID[fx[0].SID].DN != fx[0].DN || !bySID[fx[1].SID].IsUser() || byDN[fx[2].DN].SID != fx[2].SID {
				t.Fatalf("by SID %+v, by DN %+v", bySID, byDN)
			}
			sids, err := c.ForestDomainSIDs(ctx)
			if err != nil || len(sids) != 1 || !strings.HasPrefix(fx[0].SID, sids[0]+"-") {
				t.Fatalf("forest domains %v, %v", sids, err)
			}
			if _, err := c.Lookup(ctx, reconcile.BySAM, engine.ForestBase, []string{"x"}); err == nil {
				t.Fatal("the forest searched by sAMAccountName, which is unique only within a domain")
			}
		})
	}
	cfg := config(dc)
	cfg.GlobalCatalog = "ldap://" + dc.Addr + ":3268"
	if err := cfg.Validate("directory."); err == nil || !strings.Contains(err.Error(), "directory.global_catalog: ldap:// without start_tls") {
		t.Fatalf("a GC in clear text: %v", err)
	}
}
