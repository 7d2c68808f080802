package engine_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/audit"
	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/policy"
)

// TestReadoptAfterADDeleteAndRestore deletes a written-back group in AD and
// restores it by tombstone reanimation, as restoring from deleted objects
// does. A tombstone keeps msDS-ExternalDirectoryObjectId (preserved on
// delete) but not adminDescription, so the restored group is recognised by
// the former: this needs the Windows Server 2016 schema.
func TestReadoptAfterADDeleteAndRestore(t *testing.T) {
	ad := openDir(t, directorytest.Options{Exchange: true, Anchor: true})
	tf := baseTenant(t, ad, 2)
	id := groupID(700)
	tf.Groups = []map[string]any{{"id": id, "displayName": "Restored", "mailEnabled": false, "mailNickname": "restored700",
		"securityEnabled": true, "writebackConfiguration": map[string]any{"isEnabled": true}, "members": []any{userID(0), userID(1)}}}
	e := newEnvOn(t, ad, tf, nil)
	e.sync(engine.RunOptions{})
	dn0, guid0, _ := e.where(id)
	e.ad.Delete(t, dn0)
	tomb := e.ad.Tombstone(t, guid0)
	if tomb == nil {
		t.Fatal("no tombstone")
	}
	t.Logf("tombstone keeps adminDescription %q, msDS-ExternalDirectoryObjectId %q", tomb.Get("adminDescription"), tomb.Get(directory.AnchorAttribute))
	e.ad.Reanimate(t, guid0, dn0)
	// A full sync takes it up again: no duplicate, the same object, its
	// members back (a reanimated group returns without its linked values)
	// and its adminDescription rewritten.
	r, _ := e.sync(engine.RunOptions{Full: true})
	dn, guid, members := e.where(id)
	if r.Counts.Created != 0 || guid != guid0 || dn != dn0 || members != 2 {
		t.Fatalf("after restore: created %d, same object %v, %s, %d members; %+v", r.Counts.Created, guid == guid0, dn, members, kept(r))
	}
}

func TestAdoptGroupWrittenByAnotherTool(t *testing.T) {
	ad := openDir(t, directorytest.Options{})
	tf := baseTenant(t, ad, 2)
	id := groupID(720)
	tf.Groups = []map[string]any{{"id": id, "displayName": "Engineering", "mailEnabled": false, "mailNickname": "eng720",
		"securityEnabled": true, "writebackConfiguration": map[string]any{"isEnabled": true}, "members": []any{userID(0), userID(1)}}}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	trail, err := audit.Open(path, audit.Options{Key: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	defer trail.Close()
	e := newEnvOn(t, ad, tf, func(c *engine.Config) { c.Audit = trail })
	// Connect Sync wrote it earlier, with its own naming and the same anchor.
	e.ad.Add(t, "CN=Group_"+id+","+e.ou, map[string][]string{"objectClass": {"top", "group"}, "sAMAccountName": {"Group_eng720"},
		"groupType": {"-2147483640"}, "adminDescription": {"Group_" + id}, "info": {"notes an admin keeps"}})
	_, guid0, _ := e.where(id)
	res, _ := e.sync(engine.RunOptions{})
	g := e.group(id)
	_, guid, _ := e.where(id)
	if res.Counts.Created != 0 || guid != guid0 || g.DN != policy.GroupDN("Engineering_2c1a0b000720", e.ou) || len(members(g)) != 2 ||
		attr(g, "info") != "notes an admin keeps" {
		t.Fatalf("adoption: created %d, same object %v, %s, %d members, info %q", res.Counts.Created, guid == guid0, g.DN, len(members(g)), attr(g, "info"))
	}
	// The take-over is said: in the result (plan and sync print it) and
	// on every audit entry of its writes (issue 24).
	if len(res.Adopted) != 1 || res.Adopted[0] != id {
		t.Fatalf("adopted = %v", res.Adopted)
	}
	entries, err := audit.Read(path, audit.Filter{})
	if err != nil || len(entries) == 0 {
		t.Fatal(entries, err)
	}
	for _, en := range entries {
		if !en.Adopted {
			t.Errorf("entry not marked adopt: %+v", en)
		}
	}
	// Once written by this state, it is no adoption any more.
	must(t, e.tenant.UpdateGroup(id, map[string]any{"description": "now ours"}))
	if res, _ = e.sync(engine.RunOptions{}); len(res.Adopted) != 0 || res.Counts.Updated != 1 {
		t.Fatalf("second cycle: adopted %v, updated %d", res.Adopted, res.Counts.Updated)
	}
}

func TestMovedWithinScopeStays(t *testing.T) {
	e, _, sec := lifecycleEnv(t, 740, engine.Fates{}, nil)
	sub := "OU=Sub," + e.ou
	e.ad.Add(t, sub, map[string][]string{"objectClass": {"organizationalUnit"}})
	dn0, _, _ := e.where(sec)
	rdn, _ := policy.SplitDN(dn0)
	e.ad.ModifyDN(t, dn0, rdn, sub)
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
	elsewhere := e.ad.NewOU(t, "moved-away")
	dn0, guid0, _ := e.where(sec)
	rdn, _ := policy.SplitDN(dn0)
	e.ad.ModifyDN(t, dn0, rdn, elsewhere)
	e.sync(engine.RunOptions{Full: true})
	if dn, guid, _ := e.where(sec); dn != dn0 || guid != guid0 {
		t.Fatalf("with move_back: at %s (same object %v), want %s", dn, guid == guid0, dn0)
	}
}

func TestDriftIsOverwrittenAndReported(t *testing.T) {
	e, m365, sec := lifecycleEnv(t, 780, engine.Fates{}, nil)
	g := e.group(sec)
	e.ad.SetAttribute(t, g.DN, "displayName", []string{"Edited by hand"})
	e.ad.SetAttribute(t, g.DN, "info", []string{"not the tool's"})
	for _, m := range g.Members {
		e.ad.Unnest(t, g.DN, m)
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

// A first writeback of a group holding another new group adds that member
// after the member group is created (a held member add): the group is
// created, not adopted (a regression the demo showed).
func TestNewGroupHoldingNewGroupIsNotAdopted(t *testing.T) {
	e := newGroupsEnv(t, 2, []map[string]any{
		{"id": groupID(731), "displayName": "Marketing", "mailNickname": "mkt731", "members": []any{userID(0)}},
		{"id": groupID(734), "displayName": "VPN", "mailNickname": "vpn734", "members": []any{userID(1), groupID(731)}},
	}, nil)
	res, _ := e.sync(engine.RunOptions{})
	if _, _, n := e.where(groupID(734)); res.Counts.Created != 2 || len(res.Adopted) != 0 || n != 2 {
		t.Fatalf("created %d, adopted %v, %d members", res.Counts.Created, res.Adopted, n)
	}
}
