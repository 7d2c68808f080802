package graph

import (
	"slices"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

// A round's reference changes come as Graph sends them: one reference can
// be added, removed and added again across pages. Each is kept once, by
// its last change, in the order it was first seen; the log is let go.
func TestRefChangesKeepTheLastOfEach(t *testing.T) {
	u, g := cloud.TypeFromOData("#microsoft.graph.user"), cloud.TypeFromOData("#microsoft.graph.group")
	type change struct {
		id    string
		typ   cloud.ObjectType
		added bool
	}
	for _, tc := range []struct {
		name           string
		changes        []change
		added, removed []cloud.ObjectRef
	}{
		{"none", nil, nil, nil},
		{"each once", []change{{"a", u, true}, {"b", g, true}, {"c", u, false}},
			[]cloud.ObjectRef{{ID: "a", Type: u}, {ID: "b", Type: g}}, []cloud.ObjectRef{{ID: "c", Type: u}}},
		{"added, removed, added again", []change{{"a", u, true}, {"b", u, true}, {"a", u, false}, {"c", u, true}, {"a", u, true}},
			[]cloud.ObjectRef{{ID: "a", Type: u}, {ID: "b", Type: u}, {ID: "c", Type: u}}, nil},
		{"removed last", []change{{"a", u, true}, {"b", u, true}, {"a", u, false}},
			[]cloud.ObjectRef{{ID: "b", Type: u}}, []cloud.ObjectRef{{ID: "a", Type: u}}},
		{"a repeat", []change{{"a", u, true}, {"a", u, true}}, []cloud.ObjectRef{{ID: "a", Type: u}}, nil},
		{"every kind, kept as packed", []change{{"u", cloud.TypeUnknown, true}, {"s", cloud.TypeServicePrincipal, true}, {"d", cloud.TypeDevice, false},
			{"o", cloud.TypeOrgContact, true}, {"g", g, false}, {"v", u, true}},
			[]cloud.ObjectRef{{ID: "u", Type: cloud.TypeUnknown}, {ID: "s", Type: cloud.TypeServicePrincipal}, {ID: "o", Type: cloud.TypeOrgContact}, {ID: "v", Type: u}},
			[]cloud.ObjectRef{{ID: "d", Type: cloud.TypeDevice}, {ID: "g", Type: g}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var acc refAcc
			ids := newRefNumbers()
			for _, c := range tc.changes {
				n, err := ids.of(c.id)
				if err != nil {
					t.Fatal(err)
				}
				acc.add(n, c.typ, c.added)
			}
			added, removed := acc.split(&ids)
			if !slices.Equal(added, tc.added) || !slices.Equal(removed, tc.removed) {
				t.Errorf("added %v, removed %v; want %v, %v", added, removed, tc.added, tc.removed)
			}
			if acc.log != nil {
				t.Errorf("the log is kept: %v", acc.log)
			}
		})
	}
}
