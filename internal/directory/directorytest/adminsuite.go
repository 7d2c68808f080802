package directorytest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// testSchema: an attribute the schema lacks is refused, and nothing of
// the write is made; the same write passes on a schema that has it.
// Engine tests on memdir meet the plain schema as they would on a DC.
func testSchema(t *testing.T, open func(t testing.TB, o Options) Fixture) {
	ctx := context.Background()
	managed := append(slices.Clone(Managed), "mailNickname", directory.AnchorAttribute)
	for i, tc := range []struct {
		name   string
		o      Options
		attr   string
		passes bool
	}{
		{"an Exchange attribute on the plain schema", Options{}, "mailNickname", false},
		{"the anchor attribute on the plain schema", Options{}, directory.AnchorAttribute, false},
		{"an Exchange attribute on the Exchange schema", Options{Exchange: true, Anchor: true}, "mailNickname", true},
		{"the anchor attribute on the 2016 schema", Options{Exchange: true, Anchor: true}, directory.AnchorAttribute, true},
	} {
		n := 60 + i
		t.Run(tc.name, func(t *testing.T) {
			f := open(t, tc.o)
			if f.Schema.Exchange != tc.o.Exchange || f.Schema.AnchorAttribute != tc.o.Anchor {
				t.Fatalf("schema %+v, asked %+v", f.Schema, tc.o)
			}
			ou := f.NewOU(t, "schema")
			g := gate.New(f.Dir, nil, gate.Rules{Places: []string{ou}, Managed: managed}, nil)
			op := CreateOp(fmt.Sprintf("Schema %d", n), ou, id(n))
			value := fmt.Sprintf("schema%d", n)
			if tc.attr == directory.AnchorAttribute {
				value = policy.Anchor(id(n))
			}
			op.Changes = append(op.Changes, reconcile.AttrChange{Name: tc.attr, New: []string{value}})
			err := g.Apply(ctx, op)
			switch {
			case tc.passes && err != nil:
				t.Fatalf("refused: %v", err)
			case !tc.passes && !directory.IsCode(err, ldap.LDAPResultNoSuchAttribute):
				t.Fatalf("err = %v, want the attribute refused as undefined", err)
			case !tc.passes && f.Read(t, op.DN) != nil:
				t.Fatal("a refused add left an object")
			case tc.passes && f.Read(t, op.DN).Get(tc.attr) != value:
				t.Fatalf("%s not written", tc.attr)
			}
		})
	}
}

// testAdminHand: what an admin does outside the tool reads back the same
// on both directories.
func testAdminHand(t *testing.T, open func(t testing.TB, o Options) Fixture) {
	f := open(t, Options{})
	ou, other := f.NewOU(t, "hand"), f.NewOU(t, "other")
	users := f.AddUsers(t, ou, []string{"hand-user-1", "hand-user-2"})
	dn := "CN=Hand made," + ou
	f.Add(t, dn, map[string][]string{"objectClass": {"top", "group"}, "sAMAccountName": {"hand-made-65"}, "groupType": {"-2147483646"},
		"description": {"kept by hand"}, "adminDescription": {policy.Anchor(id(65))}, "member": {users[0].DN}})
	holder, _ := f.AddGroup(t, ou, "hand-holder-65")
	f.Nest(t, holder, dn)
	e := f.Read(t, dn)
	if e == nil || e.Get("description") != "kept by hand" || !strings.EqualFold(e.Get("sAMAccountName"), "hand-made-65") || e.GUID == "" ||
		!strings.HasPrefix(e.SID, "S-1-5-21-") || !slices.Contains(e.Class, "group") || len(e.Members) != 1 || !policy.SameDN(e.Members[0], users[0].DN) {
		t.Fatalf("read back: %+v", e)
	}
	if found := f.Find(t, f.BaseDN, "adminDescription", policy.Anchor(id(65))); len(found) != 1 || found[0].GUID != e.GUID {
		t.Fatalf("found by anchor: %+v", found)
	}
	if found := f.Find(t, ou, "objectSid", e.SID); len(found) != 1 || found[0].GUID != e.GUID {
		t.Fatalf("found by SID: %+v", found)
	}
	f.SetAttribute(t, dn, "description", []string{"changed by hand"})
	f.Nest(t, dn, users[1].DN)
	f.Unnest(t, dn, users[0].DN)
	moved := f.ModifyDN(t, dn, "CN=Moved by hand", other)
	m := f.Read(t, moved)
	if f.Read(t, dn) != nil || m == nil || m.GUID != e.GUID || m.Get("description") != "changed by hand" ||
		len(m.Members) != 1 || !policy.SameDN(m.Members[0], users[1].DN) {
		t.Fatalf("after the edits: %+v", m)
	}
	if h := f.Read(t, holder); len(h.Members) != 1 || !policy.SameDN(h.Members[0], moved) {
		t.Fatalf("the holder's member did not follow the move: %v", h.Members)
	}
	dump := f.Dump(t)
	if d := dump[strings.ToLower(moved)]; d == nil || !slices.Equal(d["description"], []string{"changed by hand"}) {
		t.Fatalf("the dump holds %v", d)
	}
	f.Delete(t, moved)
	after := f.Dump(t)
	if diff := Changed(dump, after, func(string, DumpEntry) bool { return false }); !slices.Contains(diff, "removed: "+strings.ToLower(moved)) {
		t.Fatalf("the dumps differ by %v", diff)
	}
	if h := f.Read(t, holder); len(h.Members) != 0 {
		t.Fatalf("a deleted object stayed a member: %v", h.Members)
	}
}

// testTombstone: a group deleted by hand keeps its GUID, SID,
// sAMAccountName and msDS-ExternalDirectoryObjectId (not adminDescription)
// in its tombstone, and comes back by reanimation as the same object,
// without members (facts-2026.md, measured on Samba 4.17).
func testTombstone(t *testing.T, open func(t testing.TB, o Options) Fixture) {
	f := open(t, Options{Exchange: true, Anchor: true})
	ou := f.NewOU(t, "tomb")
	users := f.AddUsers(t, ou, []string{"tomb-user"})
	anchor := policy.Anchor(id(66))
	dn := "CN=Tomb," + ou
	f.Add(t, dn, map[string][]string{"objectClass": {"top", "group"}, "sAMAccountName": {"tomb-66"}, "groupType": {"-2147483646"},
		"adminDescription": {anchor}, directory.AnchorAttribute: {anchor}, "member": {users[0].DN}})
	before := f.Read(t, dn)
	f.Delete(t, dn)
	if f.Read(t, dn) != nil {
		t.Fatal("deleted, and still there")
	}
	tomb := f.Tombstone(t, before.GUID)
	if tomb == nil || tomb.Get(directory.AnchorAttribute) != anchor || tomb.Get("adminDescription") != "" {
		t.Fatalf("the tombstone keeps %+v", tomb)
	}
	f.Reanimate(t, before.GUID, dn)
	back := f.Read(t, dn)
	if back == nil || back.GUID != before.GUID || back.SID != before.SID || !strings.EqualFold(back.Get("sAMAccountName"), "tomb-66") ||
		back.Get(directory.AnchorAttribute) != anchor || back.Get("adminDescription") != "" || len(back.Members) != 0 {
		t.Fatalf("reanimated: %+v (was %+v)", back, before)
	}
	if f.Tombstone(t, before.GUID) != nil {
		t.Fatal("a reanimated object left its tombstone")
	}
}
