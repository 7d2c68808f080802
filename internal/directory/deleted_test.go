package directory_test

import (
	"context"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/secret"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

// A written-back group deleted by hand is found in the Deleted Objects
// container by its anchor, with the objectGUID, objectSid and
// sAMAccountName it had (the tombstone keeps them, and
// msDS-ExternalDirectoryObjectId; not adminDescription). The delegated
// account, with no right on Deleted Objects, finds nothing, as on Windows.
func TestDeletedByAnchor(t *testing.T) {
	dc := testdc.Shared(t, testdc.Options{Exchange: true, Anchor: true})
	ou := dc.NewOU(t, "deleted")
	admin, err := dc.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	const anchor = "Group_6a1e0c55-0001-4f0e-9d3b-2c1a0b240001"
	dn := "CN=Deleted by hand," + ou
	add := ldap.NewAddRequest(dn, nil)
	add.Attribute("objectClass", []string{"group"})
	add.Attribute("sAMAccountName", []string{"deleted-by-hand"})
	add.Attribute("adminDescription", []string{anchor})
	add.Attribute(directory.AnchorAttribute, []string{anchor})
	if err := admin.Add(add); err != nil {
		t.Fatal(err)
	}
	before := dc.Search(t, dn, ldap.ScopeBaseObject, "(objectClass=*)", "objectGUID", "objectSid")[0]
	if err := admin.Del(ldap.NewDelRequest(dn, nil)); err != nil {
		t.Fatal(err)
	}
	c := open(t, dc)
	ctx := context.Background()
	found, err := c.DeletedByAnchor(ctx, []string{anchor, "Group_6a1e0c55-0002-4f0e-9d3b-2c1a0b240002"})
	if err != nil {
		t.Fatal(err)
	}
	d, ok := found[strings.ToLower(anchor)]
	if len(found) != 1 || !ok || d.SID != directory.SIDString(before.GetRawAttributeValue("objectSid")) ||
		d.GUID != directory.GUIDString(before.GetRawAttributeValue("objectGUID")) || d.SAM != "deleted-by-hand" || d.LastKnownParent != ou {
		t.Fatalf("found %+v, want the tombstone of %s", found, dn)
	}
	t.Logf("the tombstone: %+v", d)
	cfg := directory.Config{URL: dc.URL, BindDN: testdc.DelegatedDN, Password: secret.New(testdc.DelegatedPassword), CAFile: dc.CAFile, BaseDN: testdc.BaseDN}
	delegated, err := cfg.Open(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer delegated.Close()
	found, err = delegated.DeletedByAnchor(ctx, []string{anchor})
	t.Logf("as the delegated account: %+v, %v", found, err)
	if err != nil || len(found) != 0 {
		t.Fatalf("the delegated account found %+v (%v): it has no right on Deleted Objects", found, err)
	}
}
