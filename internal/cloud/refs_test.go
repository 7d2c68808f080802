package cloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// Refs behaves as the map it replaced, whatever the changes: a few made in
// place, or many merged in one pass; and its JSON is the map's, byte for
// byte (stored snapshots and exports read the same). So it does whatever
// its ids: GUIDs as Graph writes them (kept as their bytes), other strings,
// or GUIDs first and then, part way, ids that are not (upper-case, or no
// GUID at all), which turn the set to strings.
func TestRefsAsAMap(t *testing.T) {
	for name, idOf := range map[string]func(n, round int) string{
		"strings": func(n, _ int) string { return fmt.Sprintf("id-%03d", n) },
		"guids":   func(n, _ int) string { return fmt.Sprintf("3f2b1c4d-0000-4a5b-8c6d-%012x", n*7919) },
		"guids, then others": func(n, round int) string {
			switch {
			case round > 120 && n%50 == 0:
				return fmt.Sprintf("id-%03d", n)
			case round > 150 && n%50 == 1:
				return fmt.Sprintf("3F2B1C4D-0000-4A5B-8C6D-%012X", n)
			}
			return fmt.Sprintf("3f2b1c4d-0000-4a5b-8c6d-%012x", n)
		},
	} {
		t.Run(name, func(t *testing.T) { refsAsAMap(t, idOf) })
	}
}

func refsAsAMap(t *testing.T, idOf func(n, round int) string) {
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := []ObjectType{TypeUser, TypeGroup, TypeDevice, TypeOrgContact}
	var s Refs
	m := map[string]ObjectType{}
	for round := range 200 {
		n := rng.IntN(3)
		if round%10 == 0 {
			n = 100 + rng.IntN(400) // a merge
		}
		var added, removed []ObjectRef
		for range n {
			r := ObjectRef{ID: idOf(rng.IntN(600), round), Type: kinds[rng.IntN(len(kinds))]}
			if rng.IntN(3) == 0 {
				removed = append(removed, r)
			} else {
				added = append(added, r)
			}
		}
		if round%7 == 3 {
			removed = append(removed, ObjectRef{ID: "never-added"}, ObjectRef{ID: "3F2B1C4D-0000-4A5B-8C6D-FFFFFFFFFFFF"})
		}
		s.Apply(added, removed)
		for _, r := range removed {
			delete(m, r.ID)
		}
		for _, r := range added {
			m[r.ID] = r.Type
		}
		if got := maps.Collect(s.All()); !maps.Equal(got, m) || s.Len() != len(m) {
			t.Fatalf("round %d: %d refs, want %d", round, s.Len(), len(m))
		}
		for id, want := range m {
			if got, ok := s.Get(id); !ok || got != want || !s.Has(id) {
				t.Fatalf("round %d: %s is %v, %v; want %v", round, id, got, ok, want)
			}
		}
		if s.Has("absent") || s.Has("3f2b1c4d-0000-4a5b-8c6d-ffffffffffff") {
			t.Fatal("holds an id never added")
		}
		if list := s.List(); !slices.IsSortedFunc(list, func(a, b ObjectRef) int { return strings.Compare(a.ID, b.ID) }) {
			t.Fatalf("round %d: listed out of id order", round)
		}
		got, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(m)
		if string(got) != string(want) {
			t.Fatalf("round %d: JSON %s, the map's %s", round, got, want)
		}
		var back Refs
		if err := json.Unmarshal(got, &back); err != nil || !maps.Equal(maps.Collect(back.All()), m) {
			t.Fatalf("round %d: read back %v, %v", round, back.List(), err)
		}
		// One by one, in place, in a copy: the same set.
		var one Refs
		for id, k := range s.All() {
			if round%2 == 0 {
				one.Append(id, k)
			} else {
				one.Set(id, k)
			}
		}
		if !maps.Equal(maps.Collect(one.All()), m) {
			t.Fatalf("round %d: built one by one: %v", round, one.List())
		}
	}
	// An id added twice in one merge takes its last kind; one both removed
	// and added is added.
	var r Refs
	many := make([]ObjectRef, smallChange+1)
	for i := range many {
		many[i] = ObjectRef{ID: fmt.Sprint(i), Type: TypeUser}
	}
	many[len(many)-1] = ObjectRef{ID: "0", Type: TypeGroup}
	r.Apply(many, []ObjectRef{{ID: "1"}})
	if k, _ := r.Get("0"); k != TypeGroup || !r.Has("1") || r.Len() != smallChange {
		t.Errorf("0 is %v, 1 held %v, %d refs", k, r.Has("1"), r.Len())
	}
	odd := map[string]ObjectType{"<a&b>": TypeUser, "é": TypeGroup, "x\u2028y": TypeDevice, `q"\`: TypeUser, "\x01": TypeUnknown}
	if got, want := mustJSON(t, RefsFrom(odd)), mustJSON(t, odd); got != want {
		t.Errorf("escaped ids: %s, the map's %s", got, want)
	}
	var empty Refs
	if b, _ := json.Marshal(struct {
		M Refs `json:"m,omitzero"`
	}{empty}); string(b) != "{}" {
		t.Errorf("an empty set is written: %s", b)
	}
}

// What the tool writes is read in one pass; anything else JSON allows
// (space, escapes, ids out of order or repeated, null) reads as the map
// did, and what is no object is refused.
func TestRefsRead(t *testing.T) {
	for in, want := range map[string]map[string]ObjectType{
		`{"a":"user","b":"group"}`:               {"a": TypeUser, "b": TypeGroup},
		"{\n \"a\": \"user\",\n \"b\": \"x\"\n}": {"a": TypeUser, "b": TypeUnknown},
		`{"b":"user","a":"group"}`:               {"a": TypeGroup, "b": TypeUser},
		`{"a":"user","a":"group"}`:               {"a": TypeGroup},
		`{"\u0061":"user","b\"c":"device"}`:      {"a": TypeUser, `b"c`: TypeDevice},
		`{}`:                                     {},
		`null`:                                   {},
	} {
		var r Refs
		if err := json.Unmarshal([]byte(in), &r); err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got := maps.Collect(r.All()); !maps.Equal(got, want) || r.Len() != len(want) {
			t.Errorf("%s: read %v, want %v", in, r.List(), want)
		}
	}
	for _, in := range []string{`[]`, `{"a":1}`, `"a"`, `{"a":"user"`} {
		var r Refs
		if err := json.Unmarshal([]byte(in), &r); err == nil {
			t.Errorf("%s: read as %v", in, r.List())
		}
	}
}

// A membership of a GUID (every object id Graph gives) takes 17 bytes:
// the id's 16 and its kind, with no copy of the id's text, whether the
// set was made from Graph's references or read from the state. A group
// of a million members holds 17 MB of them.
func TestRefsHoldGUIDsAsBytes(t *testing.T) {
	const n = 100000
	refs := make([]ObjectRef, n)
	for i := range refs {
		refs[i] = ObjectRef{ID: fmt.Sprintf("3f2b1c4d-%04x-4a5b-8c6d-%012x", i%65536, i), Type: TypeUser}
	}
	data := []byte(mustJSON(t, RefsOf(refs...))) // made before: json's buffers outlive a collection
	for name, make := range map[string]func() Refs{
		"from references": func() Refs { return RefsOf(refs...) },
		"read back":       func() Refs { var r Refs; _ = json.Unmarshal(data, &r); return r },
		"appended": func() Refs {
			var r Refs
			for _, ref := range slices.SortedFunc(slices.Values(refs), func(a, b ObjectRef) int { return strings.Compare(a.ID, b.ID) }) {
				r.Append(ref.ID, ref.Type)
			}
			r.Clip()
			return r
		},
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&before)
		r := make()
		runtime.GC()
		runtime.ReadMemStats(&after)
		per := float64(after.HeapAlloc-min(after.HeapAlloc, before.HeapAlloc)) / n
		if r.Len() != n || per > 20 {
			t.Errorf("%s: %d refs hold %.1f bytes each, want about 17", name, r.Len(), per)
		}
		runtime.KeepAlive(r)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Minus walks two sets once: what one holds and the other does not.
func TestRefsMinus(t *testing.T) {
	of := func(ids ...string) Refs {
		var s Refs
		for _, id := range ids {
			s.Set(id, TypeUser)
		}
		return s
	}
	for _, tc := range []struct {
		s, t Refs
		want []string
	}{
		{of("a", "b", "d"), of("b", "c", "d", "e"), []string{"a"}},
		{of("b", "c", "d", "e"), of("a", "b", "d"), []string{"c", "e"}},
		{of("a"), Refs{}, []string{"a"}},
		{Refs{}, of("a"), nil},
		{of("a", "b"), of("a", "b"), nil},
	} {
		if got := slices.Collect(tc.s.Minus(tc.t)); !slices.Equal(got, tc.want) {
			t.Errorf("%v − %v = %v, want %v", tc.s.List(), tc.t.List(), got, tc.want)
		}
	}
}

// Append keeps the set sorted and each id once, in or out of order.
func TestRefsAppend(t *testing.T) {
	for _, order := range [][]string{{"a", "b", "c"}, {"c", "a", "b"}, {"b", "b", "a", "c"}} {
		var s Refs
		for _, id := range order {
			s.Append(id, TypeUser)
		}
		s.Append("b", TypeGroup)
		if got := s.List(); !reflect.DeepEqual(got, []ObjectRef{{"a", TypeUser}, {"b", TypeGroup}, {"c", TypeUser}}) {
			t.Errorf("appended %v: %v", order, got)
		}
	}
}

// A set loaded in part counts what it does not hold, keeps counting it
// through changes, and refuses to be written out as if it were whole.
func TestRefsInPart(t *testing.T) {
	s := InPart(RefsOf(ObjectRef{"g1", TypeGroup}, ObjectRef{"u1", TypeUser}), 1000)
	if !s.Partial() || s.Len() != 1002 || !s.Has("u1") || s.Has("u2") {
		t.Fatalf("loaded in part: partial %v, len %d", s.Partial(), s.Len())
	}
	s.Apply([]ObjectRef{{"u2", TypeUser}}, []ObjectRef{{"u1", TypeUser}})
	if s.Len() != 1002 || !s.Has("u2") || s.Has("u1") || !s.Partial() {
		t.Errorf("after a change: len %d, partial %v, %v", s.Len(), s.Partial(), s.List())
	}
	var many []ObjectRef
	for i := range 100 {
		many = append(many, ObjectRef{ID: fmt.Sprintf("n%03d", i), Type: TypeUser})
	}
	s.Apply(many, nil) // merged in one pass
	if s.Len() != 1102 || !s.Partial() {
		t.Errorf("after a large change: len %d, partial %v", s.Len(), s.Partial())
	}
	if _, err := json.Marshal(struct{ M Refs }{s}); !errors.Is(err, ErrPartial) {
		t.Errorf("written out: %v, want ErrPartial", err)
	}
	if whole := InPart(RefsOf(ObjectRef{"u1", TypeUser}), 0); whole.Partial() || whole.Len() != 1 {
		t.Errorf("a set with nothing more is whole: partial %v, len %d", whole.Partial(), whole.Len())
	}
}
