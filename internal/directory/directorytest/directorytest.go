// Package directorytest is the conformance suite of the engine's
// directory: directory.Client runs it against a real Samba AD DC, and the
// in-memory directory (memdir) against itself, so that engine tests on
// memdir mean what they would on AD.
package directorytest

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// Directory is what the engine reads, and what the write gate writes to.
type Directory interface {
	engine.DirectoryReader
	gate.Target
}

// User is a user account the fixture made.
type User struct{ Name, DN, SID, GUID string }

// Fixture is one directory to test, and an admin's hand on it.
type Fixture struct {
	Kind   Kind
	Dir    Directory
	BaseDN string
	Admin
	Faults Faults
	// Schema is what directory.Client's schema probe finds in it.
	Schema directory.Schema
	// Writes counts the writes Dir made.
	Writes func() int64
	// Reads counts the member values Dir read and the values it looked
	// up: what reading AD costs beyond the searches.
	Reads func() (members, lookedUp int64)
}

// The built-in privileged groups every domain has, under its base DN.
func domainAdmins(base string) string     { return "CN=Domain Admins,CN=Users," + base }
func administrators(base string) string   { return "CN=Administrators,CN=Builtin," + base }
func enterpriseAdmins(base string) string { return "CN=Enterprise Admins,CN=Users," + base }

// clouds is what Graph says of the cloud groups a test writes in place.
type clouds map[string]gate.CloudGroup

func (c clouds) SourceOfAuthority(_ context.Context, id string) (gate.CloudGroup, error) {
	return c[id], nil
}

// Gate is the write gate over f's directory that a test writes through:
// groups created and changed in places, written in place as cloud says.
func Gate(f Fixture, cloud clouds, places ...string) *gate.Gate {
	return GateOver(f.Dir, cloud, places...)
}

// GateOver is the write gate over d that a test writes through (no
// writes in place when cloud is nil).
func GateOver(d gate.Target, cloud clouds, places ...string) *gate.Gate {
	var c gate.Cloud
	if cloud != nil {
		c = cloud
	}
	return gate.New(d, c, gate.Rules{Places: places, Managed: Managed, InPlace: cloud != nil}, nil)
}

// Run runs the suite; open returns the fixture (it may be shared between
// tests: every test works in OUs of its own).
//
// A test that needs a schema asks open for it (Options); an open that
// cannot give it skips the test, saying which fixture runs it.
func Run(t *testing.T, open func(t testing.TB, o Options) Fixture) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, f Fixture)
	}{
		{"WriteCycle", testWriteCycle},
		{"RetriesFindTheirWorkDone", testRetries},
		{"NeverWritesWhatItDoesNotOwn", testNotOwned},
		{"InPlaceGuardedBySID", testInPlace},
		{"MembersFollowRenameAndDelete", testMembersFollow},
		{"RefusesUnknownMember", testUnknownMember},
		{"Lookup", testLookup},
		{"CheckContainer", testCheckContainer},
		{"GateRefusesForgedWrites", testGateRefuses},
		{"GateKeepsProtectedGroupsShut", testProtected},
		{"MatchUsers", testMatchUsers},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, open(t, Options{})) })
	}
	for _, tc := range []struct {
		name string
		test func(t *testing.T, open func(t testing.TB, o Options) Fixture)
	}{
		{"SchemaRefusesWhatItLacks", testSchema},
		{"AdminHand", testAdminHand},
		{"TombstoneAndReanimation", testTombstone},
		{"RestoreDeletedGroup", testRestore},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, open) })
	}
}

// Managed are the attributes the suite reads back.
var Managed = []string{"sAMAccountName", "groupType", "displayName", "description", "adminDescription"}

// CreateOp is the creation of a global security group cn in ou for the
// cloud group id, with members.
func CreateOp(cn, ou, id string, members ...string) reconcile.Op {
	anchor := policy.Anchor(id)
	return reconcile.Op{Action: reconcile.Create, CloudID: id, DN: policy.GroupDN(cn, ou), Anchor: anchor, Members: members,
		Changes: []reconcile.AttrChange{{Name: "sAMAccountName", New: []string{policy.SAMAccountName(cn)}},
			{Name: "groupType", New: []string{"-2147483640"}}, {Name: "displayName", New: []string{cn}}, {Name: "adminDescription", New: []string{anchor}}}}
}

// MustApply applies ops through g, failing the test on the first error.
func MustApply(t *testing.T, g *gate.Gate, ops ...reconcile.Op) {
	t.Helper()
	for _, op := range ops {
		if err := g.Apply(context.Background(), op); err != nil {
			t.Fatalf("%s %s: %v", op.Action, op.DN, err)
		}
	}
}

// Owned reads the owned groups under ou by cloud id.
func Owned(t *testing.T, d Directory, ou string) map[string]reconcile.ADGroup {
	t.Helper()
	gs, err := d.OwnedGroups(context.Background(), ou, Managed)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]reconcile.ADGroup{}
	for _, g := range gs {
		out[policy.CloudIDFromAnchor(g.Anchor)] = g
	}
	return out
}

// SortedLower is s lower-cased and sorted, to compare DNs.
func SortedLower(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strings.ToLower(v)
	}
	slices.Sort(out)
	return out
}

func id(n int) string { return fmt.Sprintf("6a1e0c55-%04d-4f0e-9d3b-2c1a0b9f8e7d", n) }

func testWriteCycle(t *testing.T, f Fixture) {
	ctx := context.Background()
	ou := f.NewOU(t, "cycle")
	sub := f.NewOU(t, "cycle-moved")
	w := Gate(f, nil, ou, sub)
	us := f.AddUsers(t, ou, []string{"cycle-u1", "cycle-u2", "cycle-u3"})
	op := CreateOp("Cycle_2c1a0b9f8e7d", ou, id(101), us[0].DN, us[1].DN)
	MustApply(t, w, op)
	g := Owned(t, f.Dir, ou)[id(101)]
	if !policy.SameDN(g.DN, op.DN) || len(g.Members) != 2 || g.Attrs["groupType"][0] != "-2147483640" || g.GUID == "" || g.Anchor != op.Anchor {
		t.Fatalf("after create: %+v", g)
	}
	guid := g.GUID
	newDN := policy.GroupDN("Cycle 2_2c1a0b9f8e7d", ou)
	MustApply(t, w,
		reconcile.Op{Action: reconcile.Rename, DN: op.DN, NewRDN: "CN=" + policy.EscapeRDNValue("Cycle 2_2c1a0b9f8e7d"), CloudID: op.CloudID, Anchor: op.Anchor},
		reconcile.Op{Action: reconcile.Update, DN: newDN, CloudID: op.CloudID, Anchor: op.Anchor, Changes: []reconcile.AttrChange{
			{Name: "description", New: []string{"now described"}}, {Name: "displayName", New: []string{"Cycle 2"}}}},
		reconcile.Op{Action: reconcile.RemoveMembers, DN: newDN, CloudID: op.CloudID, Anchor: op.Anchor, Members: []string{us[0].DN}},
		// us[1] is a member already: the batch steps over it.
		reconcile.Op{Action: reconcile.AddMembers, DN: newDN, CloudID: op.CloudID, Anchor: op.Anchor, Members: []string{us[1].DN, us[2].DN}},
	)
	g = Owned(t, f.Dir, ou)[id(101)]
	if !policy.SameDN(g.DN, newDN) || g.GUID != guid || g.Attrs["description"][0] != "now described" ||
		!slices.Equal(SortedLower(g.Members), SortedLower([]string{us[1].DN, us[2].DN})) {
		t.Fatalf("after changes: %+v", g)
	}
	byAnchor, err := f.Dir.GroupsByAnchor(ctx, f.BaseDN, []string{op.Anchor, policy.Anchor(id(999))}, Managed)
	if err != nil || len(byAnchor) != 1 || byAnchor[0].GUID != guid {
		t.Fatalf("GroupsByAnchor = %+v, %v", byAnchor, err)
	}
	heads, err := f.Dir.GroupAttrsByAnchor(ctx, f.BaseDN, []string{op.Anchor}, Managed)
	if err != nil || len(heads) != 1 || heads[0].GUID != guid || !heads[0].MembersUnread || heads[0].Members != nil || heads[0].Attrs["displayName"][0] != "Cycle 2" {
		t.Fatalf("GroupAttrsByAnchor = %+v, %v (attributes, no members)", heads, err)
	}
	// A removal of a member already gone is harmless, as an add of one
	// already there: a group planned from its changes relies on both.
	MustApply(t, w, reconcile.Op{Action: reconcile.RemoveMembers, DN: newDN, CloudID: op.CloudID, Anchor: op.Anchor, Members: []string{us[0].DN, us[2].DN}})
	MustApply(t, w, reconcile.Op{Action: reconcile.AddMembers, DN: newDN, CloudID: op.CloudID, Anchor: op.Anchor, Members: []string{us[2].DN}})
	read, err := f.Dir.ReadGroup(ctx, newDN, []string{"displayName"})
	if err != nil || read == nil || read.Attrs["displayName"][0] != "Cycle 2" || read.Attrs["description"] != nil || len(read.Members) != 2 {
		t.Fatalf("ReadGroup = %+v, %v (only the attributes asked for, all members)", read, err)
	}
	movedDN := "CN=" + policy.EscapeRDNValue("Cycle 2_2c1a0b9f8e7d") + "," + sub
	MustApply(t, w, reconcile.Op{Action: reconcile.Move, DN: newDN, NewParent: sub, CloudID: op.CloudID, Anchor: op.Anchor})
	if g := Owned(t, f.Dir, sub)[id(101)]; !policy.SameDN(g.DN, movedDN) || g.GUID != guid {
		t.Fatalf("after move: %+v", g)
	}
	MustApply(t, w, reconcile.Op{Action: reconcile.Update, DN: movedDN, CloudID: op.CloudID, Anchor: op.Anchor,
		Changes: []reconcile.AttrChange{{Name: "description", Old: []string{"now described"}}}})
	if d := Owned(t, f.Dir, sub)[id(101)].Attrs["description"]; d != nil {
		t.Fatalf("description not removed: %v", d)
	}
	MustApply(t, w, reconcile.Op{Action: reconcile.Delete, DN: movedDN, CloudID: op.CloudID, Anchor: op.Anchor})
	if len(Owned(t, f.Dir, sub)) != 0 {
		t.Fatal("group still there after delete")
	}
	if g, err := f.Dir.ReadGroup(ctx, movedDN, Managed); g != nil || err != nil {
		t.Fatalf("ReadGroup of a deleted group = %+v, %v; want nil, nil", g, err)
	}
}

func testRetries(t *testing.T, f Fixture) {
	ou := f.NewOU(t, "retry")
	w := Gate(f, nil, ou)
	us := f.AddUsers(t, ou, []string{"retry-u1"})
	op := CreateOp("Retry_2c1a0b9f8e7d", ou, id(201), us[0].DN)
	// A create whose answer was lost is tried again: the group is ours.
	MustApply(t, w, op, op)
	add := reconcile.Op{Action: reconcile.AddMembers, DN: op.DN, CloudID: op.CloudID, Anchor: op.Anchor, Members: []string{us[0].DN}}
	remove := reconcile.Op{Action: reconcile.RemoveMembers, DN: op.DN, CloudID: op.CloudID, Anchor: op.Anchor, Members: []string{us[0].DN}}
	MustApply(t, w, add, remove, remove)
	if g := Owned(t, f.Dir, ou)[id(201)]; len(g.Members) != 0 {
		t.Fatalf("members after add, remove, remove: %v", g.Members)
	}
	// A create on a name someone else's group holds is refused.
	other := CreateOp("Retry_2c1a0b9f8e7d", ou, id(202))
	if err := w.Apply(context.Background(), other); err == nil || !directory.IsCode(err, 68) {
		t.Fatalf("create over another's group: err = %v, want LDAP 68", err)
	}
}

func testNotOwned(t *testing.T, f Fixture) {
	ou := f.NewOU(t, "notmine")
	w := Gate(f, nil, ou)
	op := CreateOp("Theirs_2c1a0b9f8e7d", ou, id(301))
	MustApply(t, w, CreateOp("Theirs_2c1a0b9f8e7d", ou, id(399))) // someone else's group, of that name
	for _, bad := range []reconcile.Op{
		{Action: reconcile.Update, DN: op.DN, CloudID: op.CloudID, Anchor: op.Anchor, Changes: []reconcile.AttrChange{{Name: "description", New: []string{"x"}}}},
		{Action: reconcile.Delete, DN: op.DN, CloudID: op.CloudID, Anchor: op.Anchor},
		{Action: reconcile.Rename, DN: op.DN, NewRDN: "CN=Mine", CloudID: op.CloudID, Anchor: op.Anchor},
		{Action: reconcile.AddMembers, DN: "CN=Domain Admins,CN=Users," + f.BaseDN, CloudID: op.CloudID, Anchor: op.Anchor, Members: []string{op.DN}},
		{Action: reconcile.Update, DN: policy.GroupDN("Nobody_2c1a0b9f8e7d", ou), CloudID: op.CloudID, Anchor: op.Anchor, Changes: []reconcile.AttrChange{{Name: "description", New: []string{"x"}}}},
	} {
		err := w.Apply(context.Background(), bad)
		if !errors.Is(err, reconcile.ErrNotOwned) {
			t.Fatalf("%s %s: err = %v, want ErrNotOwned", bad.Action, bad.DN, err)
		}
		if !strings.Contains(err.Error(), "expected anchor "+op.Anchor) && !strings.Contains(err.Error(), "no such object") && !strings.Contains(err.Error(), "outside") {
			t.Fatalf("error does not say what it expected: %v", err)
		}
	}
	g := Owned(t, f.Dir, ou)[id(399)]
	if !policy.SameDN(g.DN, op.DN) || g.Attrs["description"] != nil {
		t.Fatalf("their group was changed: %+v", g)
	}
}

func testInPlace(t *testing.T, f Fixture) {
	ctx := context.Background()
	ou := f.NewOU(t, "inplace")
	us := f.AddUsers(t, ou, []string{"inplace-u1"})
	dn, sid := f.AddGroup(t, ou, "Original") // an original AD group carries no anchor
	cloud := clouds{id(401): {SID: sid, CloudManaged: true}, id(402): {SID: sid}, id(403): {SID: us[0].SID, CloudManaged: true}}
	w := Gate(f, cloud) // in place, the group may be anywhere
	MustApply(t, w, reconcile.Op{Action: reconcile.AddMembers, CloudID: id(401), DN: dn, SID: sid, Members: []string{us[0].DN}})
	for _, bad := range []reconcile.Op{
		{Action: reconcile.AddMembers, CloudID: id(401), DN: dn, SID: us[0].SID, Members: []string{us[0].DN}}, // another object's SID
		{Action: reconcile.AddMembers, CloudID: id(402), DN: dn, SID: sid, Members: []string{us[0].DN}},       // not cloud-managed
		{Action: reconcile.AddMembers, CloudID: id(403), DN: dn, SID: sid, Members: []string{us[0].DN}},       // Graph names another SID
		{Action: reconcile.Delete, CloudID: id(401), DN: dn, SID: sid},
		{Action: reconcile.Rename, CloudID: id(401), DN: dn, SID: sid, NewRDN: "CN=Other"},
		{Action: reconcile.Update, CloudID: id(401), DN: dn, SID: sid, Changes: []reconcile.AttrChange{{Name: "sAMAccountName", New: []string{"other"}}}},
	} {
		if err := w.Apply(ctx, bad); !errors.Is(err, reconcile.ErrNotOwned) {
			t.Fatalf("%s of %s with SID %s: err = %v, want ErrNotOwned", bad.Action, bad.CloudID, bad.SID, err)
		}
	}
	if err := Gate(f, nil).Apply(ctx, reconcile.Op{Action: reconcile.AddMembers, CloudID: id(401), DN: dn, SID: sid, Members: []string{us[0].DN}}); !errors.Is(err, reconcile.ErrNotOwned) {
		t.Fatalf("in place without source_of_authority: in_place: err = %v, want ErrNotOwned", err)
	}
	if g, _ := f.Dir.ReadGroup(ctx, dn, nil); g == nil || len(g.Members) != 1 {
		t.Fatalf("the original group after in-place writes: %+v", g)
	}
}

func testMembersFollow(t *testing.T, f Fixture) {
	ctx := context.Background()
	ou := f.NewOU(t, "follow")
	w := Gate(f, nil, ou)
	inner := CreateOp("Inner_2c1a0b9f8e7d", ou, id(501))
	MustApply(t, w, inner)
	outer := CreateOp("Outer_2c1a0b9f8e7d", ou, id(502), inner.DN)
	MustApply(t, w, outer)
	renamed := policy.GroupDN("Inner 2_2c1a0b9f8e7d", ou)
	MustApply(t, w, reconcile.Op{Action: reconcile.Rename, DN: inner.DN, NewRDN: "CN=" + policy.EscapeRDNValue("Inner 2_2c1a0b9f8e7d"), CloudID: inner.CloudID, Anchor: inner.Anchor})
	g, err := f.Dir.ReadGroup(ctx, outer.DN, nil)
	if err != nil || g == nil || len(g.Members) != 1 || !policy.SameDN(g.Members[0], renamed) {
		t.Fatalf("outer's members after the inner group's rename = %+v, %v; want [%s]", g, err, renamed)
	}
	MustApply(t, w, reconcile.Op{Action: reconcile.Delete, DN: renamed, CloudID: inner.CloudID, Anchor: inner.Anchor})
	if g, _ := f.Dir.ReadGroup(ctx, outer.DN, nil); g == nil || len(g.Members) != 0 {
		t.Fatalf("outer's members after the inner group's delete = %+v", g)
	}
}

func testUnknownMember(t *testing.T, f Fixture) {
	ou := f.NewOU(t, "unknown")
	w := Gate(f, nil, ou)
	us := f.AddUsers(t, ou, []string{"unknown-u1"})
	op := CreateOp("Unknown_2c1a0b9f8e7d", ou, id(601))
	MustApply(t, w, op)
	ghost := "CN=Nobody Here," + ou
	if err := w.Apply(context.Background(), reconcile.Op{Action: reconcile.AddMembers, DN: op.DN, CloudID: op.CloudID, Anchor: op.Anchor, Members: []string{ghost}}); err == nil {
		t.Fatal("adding a member that does not exist succeeded")
	}
	MustApply(t, w, reconcile.Op{Action: reconcile.AddMembers, DN: op.DN, CloudID: op.CloudID, Anchor: op.Anchor, Members: []string{us[0].DN}})
	if g := Owned(t, f.Dir, ou)[id(601)]; len(g.Members) != 1 {
		t.Fatalf("members = %v", g.Members)
	}
}

func testLookup(t *testing.T, f Fixture) {
	ou := f.NewOU(t, "lookup")
	w := Gate(f, nil, ou)
	us := f.AddUsers(t, ou, []string{"lookup-a", "lookup-b"})
	op := CreateOp("Lookup_2c1a0b9f8e7d", ou, id(701))
	MustApply(t, w, op)
	guidBytes, _ := directory.GUIDBytes(us[1].GUID)
	immutable := base64.StdEncoding.EncodeToString(guidBytes)
	cases := []struct {
		kind  reconcile.KeyKind
		value string
		dn    string
		user  bool
	}{
		{reconcile.ByGUID, strings.ToUpper(us[0].GUID), us[0].DN, true},
		{reconcile.BySID, us[1].SID, us[1].DN, true},
		{reconcile.ByImmutableID, immutable, us[1].DN, true},
		{reconcile.ByDN, strings.ToUpper(us[0].DN), us[0].DN, true},
		{reconcile.ByAnchor, op.Anchor, op.DN, false},
		{reconcile.BySAM, strings.ToUpper(policy.SAMAccountName("Lookup_2c1a0b9f8e7d")), op.DN, false},
		{reconcile.BySAM, "LOOKUP-B", us[1].DN, true},
	}
	for _, tc := range cases {
		t.Run(string(tc.kind), func(t *testing.T) {
			got, err := f.Dir.Lookup(context.Background(), tc.kind, f.BaseDN, []string{tc.value, "S-1-5-21-1-2-3-999999", "not even a key"})
			if err != nil {
				t.Fatal(err)
			}
			o, ok := got[tc.value]
			if len(got) != 1 || !ok || !policy.SameDN(o.DN, tc.dn) || o.IsUser() != tc.user || o.IsGroup() == tc.user || o.GUID == "" {
				t.Fatalf("lookup %s = %+v, want %s", tc.value, got, tc.dn)
			}
		})
	}
	// Only objects under the base given are found.
	other := f.NewOU(t, "lookup-elsewhere")
	if got, err := f.Dir.Lookup(context.Background(), reconcile.BySID, other, []string{us[0].SID}); err != nil || len(got) != 0 {
		t.Fatalf("lookup outside its base = %+v, %v", got, err)
	}
}

func testCheckContainer(t *testing.T, f Fixture) {
	ctx := context.Background()
	ou := f.NewOU(t, "container")
	if err := f.Dir.CheckContainer(ctx, ou, true); err != nil {
		t.Fatalf("a fresh OU is refused: %v", err)
	}
	for _, dn := range []string{f.BaseDN, "CN=Users," + f.BaseDN, "OU=Domain Controllers," + f.BaseDN} {
		if err := f.Dir.CheckContainer(ctx, dn, false); !errors.Is(err, directory.ErrUnsafeContainer) {
			t.Errorf("%s: err = %v, want ErrUnsafeContainer", dn, err)
		}
	}
	if err := f.Dir.CheckContainer(ctx, "OU=No Such OU,"+f.BaseDN, false); !errors.Is(err, directory.ErrNoSuchOU) {
		t.Errorf("a missing OU: err = %v, want ErrNoSuchOU", err)
	}
}
