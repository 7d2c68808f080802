package engine

import (
	"reflect"
	"slices"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// joinSlices keeps the order (the slices as planned, then the rest) and
// lets each slice go once copied.
func TestJoinSlices(t *testing.T) {
	op := func(id string) reconcile.Op { return reconcile.Op{CloudID: id} }
	kept := [][]reconcile.Op{{op("a"), op("b")}, nil, {op("c")}}
	got := joinSlices(kept, []reconcile.Op{op("d")})
	var ids []string
	for _, o := range got {
		ids = append(ids, o.CloudID)
	}
	if !slices.Equal(ids, []string{"a", "b", "c", "d"}) || cap(got) != 4 {
		t.Errorf("joined %v (room for %d), want a b c d, exactly", ids, cap(got))
	}
	for i, s := range kept {
		if s != nil {
			t.Errorf("slice %d kept after the join: %v", i, s)
		}
	}
}

// The log gives back every operation it is given, as it was given (thin
// made it), whichever way it keeps it, and keeps most creates as their
// fields.
func TestOpLogKeepsOperationsAsGiven(t *testing.T) {
	sam := func(old []string, v string) []reconcile.AttrChange {
		return []reconcile.AttrChange{{Name: "sAMAccountName", Old: old, New: []string{v}}}
	}
	ops := []reconcile.Op{
		{Action: reconcile.Create, CloudID: "g1", DN: "CN=One,OU=W", Anchor: "Group_g1", Changes: sam(nil, "One_1"), MemberCount: 20},
		{Action: reconcile.Create, CloudID: "g2", DN: "CN=Two,OU=W", Anchor: "Group_g2"},
		{Action: reconcile.Create, CloudID: "g3", DN: "CN=Three,OU=W", Anchor: "Group_g3", Changes: sam(nil, "Three_3"), Reason: "adopted"},
		{Action: reconcile.Create, CloudID: "g4", DN: "CN=Four,OU=W", Anchor: "Group_g4", Changes: []reconcile.AttrChange{{Name: "description", New: []string{"x"}}}},
		{Action: reconcile.Update, CloudID: "g5", DN: "CN=Five,OU=W", Anchor: "Group_g5", Changes: sam([]string{"Old"}, "Five_5")},
		{Action: reconcile.Rename, CloudID: "g6", DN: "CN=Six,OU=W", NewRDN: "CN=Sechs", Anchor: "Group_g6"},
		{Action: reconcile.Move, CloudID: "g7", DN: "CN=Seven,OU=Q", NewParent: "OU=W", Anchor: "Group_g7"},
		{Action: reconcile.AddMembers, CloudID: "g1", DN: "CN=One,OU=W", Anchor: "Group_g1", MemberCount: 3},
		{Action: reconcile.Update, CloudID: "g8", DN: "CN=Eight,OU=W", SID: "S-1-5-21-1-2-3-1108", Changes: []reconcile.AttrChange{{Name: "displayName", New: []string{"8"}}}},
	}
	var l opLog
	l.add(ops[:4])
	l.add(ops[4:])
	if got := slices.Collect(l.all()); !reflect.DeepEqual(got, ops) {
		t.Fatalf("the log gives back\n%+v\nwant\n%+v", got, ops)
	}
	compact := 0
	for _, e := range l.entries {
		if e.op == nil {
			compact++
		}
	}
	if compact != 2 {
		t.Errorf("%d operations kept as their fields, want the two plain creates", compact)
	}
}
