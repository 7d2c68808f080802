package engine

import (
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
