package engine_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

// showDeleted is the LDAP control that makes tombstones visible.
const showDeleted = "1.2.840.113556.1.4.417"

// TestReadoptAfterADDeleteAndRestore deletes a written-back group in AD and
// restores it by tombstone reanimation, as restoring from deleted objects
// does. A tombstone keeps msDS-ExternalDirectoryObjectId (preserved on
// delete) but not adminDescription, so the restored group is recognised by
// the former: this needs the Windows Server 2016 schema.
func TestReadoptAfterADDeleteAndRestore(t *testing.T) {
	dc := testdc.Shared(t, testdc.Options{Exchange: true, Anchor: true})
	tf := baseTenant(t, dc, 2)
	id := groupID(700)
	tf.Groups = []map[string]any{{"id": id, "displayName": "Restored", "mailEnabled": false, "mailNickname": "restored700",
		"securityEnabled": true, "writebackConfiguration": map[string]any{"isEnabled": true}, "members": []any{userID(0), userID(1)}}}
	e := newEnv(t, testdc.Options{Exchange: true, Anchor: true}, tf, nil)
	e.sync(engine.RunOptions{})
	dn0, guid0, _ := e.where(id)
	conn, err := dc.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	guidRaw := e.group(id).GetRawAttributeValue("objectGUID")
	if err := conn.Del(ldap.NewDelRequest(dn0, nil)); err != nil {
		t.Fatal(err)
	}
	var filter strings.Builder
	filter.WriteString("(objectGUID=")
	for _, b := range guidRaw {
		fmt.Fprintf(&filter, `\%02x`, b)
	}
	filter.WriteString(")")
	res, err := conn.Search(ldap.NewSearchRequest("CN=Deleted Objects,"+testdc.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		filter.String(), []string{"isDeleted", "adminDescription", "msDS-ExternalDirectoryObjectId"},
		[]ldap.Control{ldap.NewControlString(showDeleted, true, "")}))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("tombstone: %v, %d entries", err, len(res.Entries))
	}
	tomb := res.Entries[0]
	t.Logf("tombstone keeps adminDescription %q, msDS-ExternalDirectoryObjectId %q", tomb.GetAttributeValue("adminDescription"), tomb.GetAttributeValue("msDS-ExternalDirectoryObjectId"))
	mod := ldap.NewModifyRequest(tomb.DN, []ldap.Control{ldap.NewControlString(showDeleted, true, "")})
	mod.Delete("isDeleted", nil)
	mod.Replace("distinguishedName", []string{dn0})
	if err := conn.Modify(mod); err != nil {
		t.Fatalf("Samba refused tombstone reanimation: %v", err)
	}
	// A full sync takes it up again: no duplicate, the same object, its
	// members back (a reanimated group returns without its linked values)
	// and its adminDescription rewritten.
	r, _ := e.sync(engine.RunOptions{Full: true})
	dn, guid, members := e.where(id)
	if r.Counts.Created != 0 || guid != guid0 || dn != dn0 || members != 2 {
		t.Fatalf("after restore: created %d, same object %v, %s, %d members; %+v", r.Counts.Created, guid == guid0, dn, members, r.Plan.Ops)
	}
}

func TestAdoptGroupWrittenByAnotherTool(t *testing.T) {
	dc := testdc.Shared(t, testdc.Options{})
	tf := baseTenant(t, dc, 2)
	id := groupID(720)
	tf.Groups = []map[string]any{{"id": id, "displayName": "Engineering", "mailEnabled": false, "mailNickname": "eng720",
		"securityEnabled": true, "writebackConfiguration": map[string]any{"isEnabled": true}, "members": []any{userID(0), userID(1)}}}
	e := newEnv(t, testdc.Options{}, tf, nil)
	// Connect Sync wrote it earlier, with its own naming and the same anchor.
	conn, err := dc.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	theirs := "CN=Group_" + id + "," + e.ou
	add := ldap.NewAddRequest(theirs, nil)
	add.Attribute("objectClass", []string{"top", "group"})
	add.Attribute("sAMAccountName", []string{"Group_eng720"})
	add.Attribute("groupType", []string{"-2147483640"})
	add.Attribute("adminDescription", []string{"Group_" + id})
	add.Attribute("info", []string{"notes an admin keeps"})
	if err := conn.Add(add); err != nil {
		t.Fatal(err)
	}
	_, guid0, _ := e.where(id)
	res, _ := e.sync(engine.RunOptions{})
	g := e.group(id)
	_, guid, _ := e.where(id)
	if res.Counts.Created != 0 || guid != guid0 || g.DN != policy.GroupDN("Engineering_2c1a0b000720", e.ou) || len(members(g)) != 2 ||
		attr(g, "info") != "notes an admin keeps" {
		t.Fatalf("adoption: created %d, same object %v, %s, %d members, info %q", res.Counts.Created, guid == guid0, g.DN, len(members(g)), attr(g, "info"))
	}
}

func TestMovedWithinScopeStays(t *testing.T) {
	e, _, sec := lifecycleEnv(t, 740, engine.Fates{}, nil)
	conn, err := e.dc.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sub := "OU=Sub," + e.ou
	add := ldap.NewAddRequest(sub, nil)
	add.Attribute("objectClass", []string{"organizationalUnit"})
	if err := conn.Add(add); err != nil {
		t.Fatal(err)
	}
	dn0, _, _ := e.where(sec)
	rdn, _ := policy.SplitDN(dn0)
	if err := conn.ModifyDN(ldap.NewModifyDNRequest(dn0, rdn, true, sub)); err != nil {
		t.Fatal(err)
	}
	if err := e.tenant.UpdateGroup(sec, map[string]any{"displayName": "Access v2"}); err != nil {
		t.Fatal(err)
	}
	for _, o := range []engine.RunOptions{{}, {Full: true}} {
		e.sync(o)
		if dn, _, _ := e.where(sec); !strings.HasSuffix(dn, ","+sub) || !strings.HasPrefix(dn, "CN=Access v2_") {
			t.Fatalf("full=%v: group at %s, want renamed in %s", o.Full, dn, sub)
		}
	}
}

func TestMoveBack(t *testing.T) {
	e, _, sec := lifecycleEnv(t, 760, engine.Fates{}, func(c *engine.Config) { c.MoveBack = true })
	elsewhere := e.dc.NewOU(t, "moved-away")
	conn, err := e.dc.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dn0, guid0, _ := e.where(sec)
	rdn, _ := policy.SplitDN(dn0)
	if err := conn.ModifyDN(ldap.NewModifyDNRequest(dn0, rdn, true, elsewhere)); err != nil {
		t.Fatal(err)
	}
	e.sync(engine.RunOptions{Full: true})
	if dn, guid, _ := e.where(sec); dn != dn0 || guid != guid0 {
		t.Fatalf("with move_back: at %s (same object %v), want %s", dn, guid == guid0, dn0)
	}
}

func TestDriftIsOverwrittenAndReported(t *testing.T) {
	e, m365, sec := lifecycleEnv(t, 780, engine.Fates{}, nil)
	conn, err := e.dc.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	g := e.group(sec)
	mod := ldap.NewModifyRequest(g.DN, nil)
	mod.Replace("displayName", []string{"Edited by hand"})
	mod.Replace("info", []string{"not the tool's"})
	mod.Delete("member", nil)
	if err := conn.Modify(mod); err != nil {
		t.Fatal(err)
	}
	// A delta run does not look; a full reconcile repairs it.
	if _, w := e.sync(engine.RunOptions{}); w != 0 {
		t.Fatalf("delta run wrote %d", w)
	}
	res, _ := e.sync(engine.RunOptions{Full: true})
	g = e.group(sec)
	if attr(g, "displayName") != "Access" || len(members(g)) != 1 || attr(g, "info") != "not the tool's" {
		t.Fatalf("after full reconcile: displayName %q, %d members, info %q", attr(g, "displayName"), len(members(g)), attr(g, "info"))
	}
	if len(res.Drift) != 1 || res.Drift[0] != sec || res.Counts.Drifted != 1 {
		t.Fatalf("drift reported: %v (the untouched %s must not be)", res.Drift, m365)
	}
}
