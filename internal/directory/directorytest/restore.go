package directorytest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// deletedFinder finds deleted groups by anchor (directory.Client, memdir).
type deletedFinder interface {
	AnyDeleted(ctx context.Context) (bool, error)
	DeletedByAnchor(ctx context.Context, anchors []string) (map[string]reconcile.Deleted, error)
}

// RestoreOp restores the deleted object from as the group cn of cloud
// group id in ou, with the attributes CreateOp writes.
func RestoreOp(cn, ou, id, from string) reconcile.Op {
	op := CreateOp(cn, ou, id)
	op.Action, op.From, op.Members = reconcile.Restore, from, nil
	return op
}

// testRestore: a written-back group deleted by hand is restored through
// the gate as the same object (objectGUID, objectSid), with the
// attributes of a create, in one write that a retry finds done; members
// are added after it. The account finds nothing without the rights to
// list Deleted Objects (and the gate refuses the restore, seeing no
// deleted object), and AD refuses it without Reanimate Tombstones. A
// group deleted from outside the gate's OUs is never restored.
func testRestore(t *testing.T, open func(t testing.TB, o Options) Fixture) {
	f := open(t, Options{Exchange: true, Anchor: true})
	finder, ok := f.Dir.(deletedFinder)
	if !ok {
		t.Fatalf("%T finds no deleted groups", f.Dir)
	}
	ctx := context.Background()
	ou, elsewhere := f.NewOU(t, "restore"), f.NewOU(t, "restore elsewhere")
	us := f.AddUsers(t, ou, []string{"restore-u1"})
	w := Gate(f, nil, ou)
	anchor, stray := policy.Anchor(id(901)), policy.Anchor(id(902))
	written := func(dn, anchor, sam string) *Entry {
		f.Add(t, dn, map[string][]string{"objectClass": {"top", "group"}, "sAMAccountName": {sam}, "groupType": {"-2147483640"},
			"adminDescription": {anchor}, directory.AnchorAttribute: {anchor}, "member": {us[0].DN}})
		before := f.Read(t, dn)
		f.Delete(t, dn)
		return before
	}
	before := written("CN=Restore_2c1a0b9f8e7d,"+ou, anchor, "restore-901")
	strayBefore := written("CN=Stray_2c1a0b9f8e7d,"+elsewhere, stray, "restore-902")
	tomb, strayTomb := f.Tombstone(t, before.GUID), f.Tombstone(t, strayBefore.GUID)
	if tomb == nil || strayTomb == nil {
		t.Fatal("no tombstones")
	}
	op := RestoreOp("Restored_2c1a0b9f8e7d", ou, id(901), tomb.DN)
	refusedBy := func(err error) gate.Rule {
		var r *gate.RefusedError
		if errors.As(err, &r) {
			return r.Rule
		}
		return ""
	}

	// No rights on deleted objects (the default): nothing is found, and
	// the gate, which sees no deleted object, refuses.
	if found, err := finder.DeletedByAnchor(ctx, []string{anchor}); err != nil || len(found) != 0 {
		t.Fatalf("without rights, found %v (%v)", found, err)
	}
	if some, err := finder.AnyDeleted(ctx); err != nil || some {
		t.Fatalf("without rights, any deleted: %v (%v)", some, err)
	}
	if err := w.Apply(ctx, op); refusedBy(err) != gate.RuleRestore {
		t.Fatalf("restore without rights: %v, want the gate's refusal (rule restore)", err)
	}

	// List and read, without Reanimate Tombstones: found, refused by AD.
	f.DelegateRestore(t, false)
	if some, err := finder.AnyDeleted(ctx); err != nil || !some {
		t.Fatalf("with the right to list, any deleted: %v (%v)", some, err)
	}
	found, err := finder.DeletedByAnchor(ctx, []string{anchor, stray})
	d := found[strings.ToLower(anchor)]
	if err != nil || len(found) != 2 || d.SID != before.SID || d.GUID != before.GUID || !policy.SameDN(d.DN, tomb.DN) || !policy.SameDN(d.LastKnownParent, ou) || d.Recycled {
		t.Fatalf("found %+v (%v), want the deleted %s", found, err, before.DN)
	}
	if err := w.Apply(ctx, op); err == nil || refusedBy(err) != "" || !directory.IsCode(err, 50) {
		t.Fatalf("restore without Reanimate Tombstones: %v, want AD's insufficient access rights (50)", err)
	}

	// All the rights: back, the same object, written as a create.
	f.DelegateRestore(t, true)
	MustApply(t, w, op)
	back := f.Read(t, op.DN)
	if back == nil || back.GUID != before.GUID || back.SID != before.SID || back.Get("displayName") != "Restored_2c1a0b9f8e7d" ||
		back.Get("adminDescription") != anchor || back.Get(directory.AnchorAttribute) != anchor || len(back.Members) != 0 {
		t.Fatalf("restored: %+v, want %s's GUID %s and SID %s with the create's attributes and no members", back, before.DN, before.GUID, before.SID)
	}
	MustApply(t, w, reconcile.Op{Action: reconcile.AddMembers, CloudID: op.CloudID, DN: op.DN, Anchor: op.Anchor, Members: []string{us[0].DN}})
	if back := f.Read(t, op.DN); len(back.Members) != 1 {
		t.Fatalf("members after the restore: %v", back.Members)
	}

	// Never: a group deleted from outside the OUs, the same restore again
	// (the group is back: nothing is deleted at From), a restore of a
	// group that is back already, a deleted group carrying another cloud
	// group's anchor, a restore carrying members.
	for _, bad := range []struct {
		op   reconcile.Op
		want gate.Rule
	}{
		{RestoreOp("Stray_2c1a0b9f8e7d", ou, id(902), strayTomb.DN), gate.RulePlace},
		{op, gate.RuleRestore},
		{RestoreOp("Again_2c1a0b9f8e7d", ou, id(901), op.DN), gate.RuleRestore},
		{RestoreOp("Stray_2c1a0b9f8e7d", ou, id(901), strayTomb.DN), gate.RuleAnchor},
		{func() reconcile.Op {
			o := RestoreOp("Stray_2c1a0b9f8e7d", ou, id(902), strayTomb.DN)
			o.Members = []string{us[0].DN}
			return o
		}(), gate.RuleRestore},
	} {
		if err := w.Apply(ctx, bad.op); refusedBy(err) != bad.want {
			t.Fatalf("restore of %s into %s: %v, want a refusal by rule %s", bad.op.From, bad.op.DN, err, bad.want)
		}
	}
	if f.Tombstone(t, strayBefore.GUID) == nil {
		t.Fatal("the group deleted from elsewhere was restored")
	}
}

// userMatcher matches user accounts by an attribute (directory.Client,
// memdir): writeback.match_unsynced's lookups.
type userMatcher interface {
	MatchUsers(ctx context.Context, attr string, bases, values []string) (map[string][]reconcile.ADObject, error)
}

// testMatchUsers: user accounts are found by userPrincipalName, mail,
// employeeID and sAMAccountName, case aside, only under the bases given,
// each once however many bases hold it, every one (disabled, and
// adminCount, said), and never a group or a computer.
func testMatchUsers(t *testing.T, f Fixture) {
	m, ok := f.Dir.(userMatcher)
	if !ok {
		t.Fatalf("%T matches no users", f.Dir)
	}
	ctx := context.Background()
	staff, other := f.NewOU(t, "match staff"), f.NewOU(t, "match other")
	us := f.AddUsers(t, staff, []string{"match-a", "match-b", "match-c"})
	far := f.AddUsers(t, other, []string{"match-far"})[0]
	f.SetAttribute(t, us[0].DN, "userPrincipalName", []string{"match-a@contoso.test"})
	f.SetAttribute(t, us[0].DN, "mail", []string{"A@Contoso.test"})
	f.SetAttribute(t, us[1].DN, "employeeID", []string{"E-1"})
	f.SetAttribute(t, us[2].DN, "employeeID", []string{"E-1"})
	// Accounts added without a password are disabled (514); 544 enables
	// one (PASSWD_NOTREQD), as HR provisioning may leave it.
	for _, dn := range []string{us[0].DN, us[1].DN, far.DN} {
		f.SetAttribute(t, dn, "userAccountControl", []string{"544"})
	}
	f.SetAttribute(t, us[1].DN, "adminCount", []string{"1"})
	f.SetAttribute(t, us[0].DN, "mS-DS-ConsistencyGuid", []string{"0123456789abcdef"})
	f.SetAttribute(t, far.DN, "employeeID", []string{"E-1"})
	g, _ := f.AddGroup(t, staff, "match-group")
	f.SetAttribute(t, g, "mail", []string{"a@contoso.test"})
	for _, tc := range []struct {
		attr   string
		bases  []string
		values []string
		want   map[string][]string // lower-case value → DNs
	}{
		{"userPrincipalName", []string{staff}, []string{"MATCH-A@contoso.test", "nobody@contoso.test"}, map[string][]string{"match-a@contoso.test": {us[0].DN}}},
		{"mail", []string{staff}, []string{"a@contoso.test"}, map[string][]string{"a@contoso.test": {us[0].DN}}},
		{"employeeID", []string{staff}, []string{"e-1"}, map[string][]string{"e-1": {us[1].DN, us[2].DN}}},
		{"employeeID", []string{staff, other, staff}, []string{"E-1"}, map[string][]string{"e-1": {us[1].DN, us[2].DN, far.DN}}},
		{"sAMAccountName", []string{staff}, []string{"match-c"}, map[string][]string{"match-c": {us[2].DN}}},
	} {
		got, err := m.MatchUsers(ctx, tc.attr, tc.bases, tc.values)
		if err != nil {
			t.Fatal(err)
		}
		dns := map[string][]string{}
		for v, objs := range got {
			for _, o := range objs {
				dns[v] = append(dns[v], strings.ToLower(o.DN))
				if o.Disabled != (o.DN == us[2].DN) || o.AdminCount != (o.DN == us[1].DN) || o.Synced != (o.DN == us[0].DN) || !o.IsUser() {
					t.Errorf("%s: %+v", o.DN, o)
				}
			}
			slices.Sort(dns[v])
		}
		for v := range tc.want {
			for i := range tc.want[v] {
				tc.want[v][i] = strings.ToLower(tc.want[v][i])
			}
			slices.Sort(tc.want[v])
		}
		if fmt.Sprint(dns) != fmt.Sprint(tc.want) {
			t.Errorf("%s %v under %v: %v, want %v", tc.attr, tc.values, tc.bases, dns, tc.want)
		}
	}
}
