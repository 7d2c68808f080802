package engine_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/audit"
	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// restoreEnv writes two security groups back on the Windows Server 2016
// schema (a tombstone keeps msDS-ExternalDirectoryObjectId), with an
// audit trail; deleting a group in the cloud deletes it in AD.
func restoreEnv(t *testing.T, base int) (e *env, a, b string, trail string) {
	t.Helper()
	ad := openDir(t, directorytest.Options{Exchange: true, Anchor: true})
	tf := baseTenant(t, ad, 3)
	a, b = groupID(base), groupID(base+1)
	tf.Groups = []map[string]any{
		{"id": a, "displayName": "File share", "mailEnabled": false, "mailNickname": "share", "securityEnabled": true,
			"writebackConfiguration": map[string]any{"isEnabled": true}, "members": []any{userID(0), userID(1)}},
		{"id": b, "displayName": "Printers", "mailEnabled": false, "mailNickname": "printers", "securityEnabled": true,
			"writebackConfiguration": map[string]any{"isEnabled": true}, "members": []any{userID(2)}},
	}
	trail = filepath.Join(t.TempDir(), "audit.jsonl")
	log, err := audit.Open(trail, audit.Options{Key: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	e = newEnvOn(t, ad, tf, func(c *engine.Config) {
		c.Audit = log
		c.Fates = engine.Fates{SoftDelete: reconcile.DeleteIt, HardDelete: reconcile.DeleteIt}
	})
	if res, _ := e.sync(engine.RunOptions{}); res.Counts.Created != 2 {
		t.Fatalf("setup: %+v %+v", res.Counts, res.Failures)
	}
	return e, a, b, trail
}

// identity is what ACLs and nestings know a group by.
func (e *env) identity(id string) (guid, sid string) {
	e.t.Helper()
	g := e.group(id)
	if g == nil {
		e.t.Fatalf("no AD group of %s", id)
	}
	return g.GUID, g.SID
}

// A written-back group deleted in AD by hand comes back at the next full
// cycle as the same object (objectGUID, objectSid), with its members; one
// the tool deleted after a cloud delete that was then undone comes back
// at the next delta cycle. The result, the plan and the audit trail say
// "restored from deleted objects".
func TestRestoreFromDeletedObjects(t *testing.T) {
	e, a, b, trail := restoreEnv(t, 760)
	e.ad.DelegateRestore(t, true)
	guidA, sidA := e.identity(a)
	dnA, _, _ := e.where(a)
	e.ad.Delete(t, dnA)

	plan, _ := e.sync(engine.RunOptions{Full: true, DryRun: true})
	var planned []reconcile.Op
	for _, op := range kept(plan) {
		if op.CloudID == a {
			planned = append(planned, op)
		}
	}
	if plan.Counts.Created != 1 || plan.Counts.FromDeleted != 1 || len(planned) != 2 || planned[0].Action != reconcile.Restore ||
		!strings.HasPrefix(planned[0].Reason, "restored from deleted objects") || !strings.Contains(planned[0].Reason, sidA) ||
		planned[1].Action != reconcile.AddMembers || len(planned[1].Members) != 2 {
		t.Fatalf("plan: %+v; %+v", plan.Counts, planned)
	}

	res, _ := e.sync(engine.RunOptions{Full: true})
	guid, sid := e.identity(a)
	dn, _, members := e.where(a)
	if res.Counts.Created != 1 || res.Counts.FromDeleted != 1 || guid != guidA || sid != sidA || dn != dnA || members != 2 || res.Counts.Failed != 0 {
		t.Fatalf("after a full cycle: %+v, same GUID %v, same SID %v, %s, %d members; %+v", res.Counts, guid == guidA, sid == sidA, dn, members, res.Failures)
	}
	entries, err := audit.Read(trail, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	restored := 0
	for _, en := range entries {
		if en.Action == string(reconcile.Restore) && en.Outcome == engine.OutcomeApplied {
			restored++
			if en.CloudID != a || en.DN != dnA || !strings.Contains(en.RestoredFrom, "CN=Deleted Objects") {
				t.Fatalf("audit entry of the restore: %+v", en)
			}
		}
	}
	if restored != 1 {
		t.Fatalf("%d restores in the audit trail", restored)
	}

	// Deleted by the tool when the cloud group was deleted, and back when
	// the cloud restores it: the same SID again.
	guidB, sidB := e.identity(b)
	if err := e.tenant.DeleteGroup(b); err != nil {
		t.Fatal(err)
	}
	if res, _ := e.sync(engine.RunOptions{}); res.Counts.Deleted != 1 || e.group(b) != nil {
		t.Fatalf("the cloud delete: %+v", res.Counts)
	}
	if err := e.tenant.Restore(b); err != nil {
		t.Fatal(err)
	}
	res, _ = e.sync(engine.RunOptions{})
	guid, sid = e.identity(b)
	if _, _, members := e.where(b); res.Counts.FromDeleted != 1 || guid != guidB || sid != sidB || members != 1 {
		t.Fatalf("after the cloud restore: %+v, same GUID %v, same SID %v, %d members", res.Counts, guid == guidB, sid == sidB, members)
	}
}

// Without the rights to list deleted objects the group is created anew,
// as before (nothing is tried); with the right to list them but not
// Reanimate Tombstones, AD refuses the restore, and the group is created
// anew in the same cycle, the audit trail holding the refusal and the
// result saying why.
func TestRestoreRefusedCreatesAnew(t *testing.T) {
	e, a, _, trail := restoreEnv(t, 770)
	_, sid0 := e.identity(a)
	dn0, _, _ := e.where(a)
	e.ad.Delete(t, dn0)
	res, _ := e.sync(engine.RunOptions{Full: true})
	_, sid1 := e.identity(a)
	if res.Counts.Created != 1 || res.Counts.FromDeleted != 0 || sid1 == sid0 {
		t.Fatalf("without rights: %+v, SID %s (was %s)", res.Counts, sid1, sid0)
	}

	e.ad.DelegateRestore(t, false)
	dn1, _, _ := e.where(a)
	e.ad.Delete(t, dn1)
	res, _ = e.sync(engine.RunOptions{Full: true})
	_, sid2 := e.identity(a)
	_, _, members := e.where(a)
	var create *reconcile.Op
	for _, op := range kept(res) {
		if op.CloudID == a && op.Creates() {
			create = &op
		}
	}
	if res.Counts.Created != 1 || res.Counts.FromDeleted != 0 || res.Counts.Failed != 0 || sid2 == sid1 || members != 2 || create == nil ||
		create.Action != reconcile.Create || !strings.HasPrefix(create.Reason, "created anew, not restored: AD refused the restore") {
		t.Fatalf("restore refused: %+v, new SID %v, %d members, %+v; %+v", res.Counts, sid2 != sid1, members, create, res.Failures)
	}
	entries, err := audit.Read(trail, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, en := range entries {
		if en.CloudID == a && en.RunID == res.RunID && (en.Action == "restore" || en.Action == "create") && en.Outcome != engine.OutcomeIntent {
			outcomes = append(outcomes, en.Action+" "+en.Outcome)
		}
	}
	if strings.Join(outcomes, ", ") != "restore failed, create applied" {
		t.Fatalf("audit trail: %v", outcomes)
	}
}
