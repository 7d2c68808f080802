package cloud

import (
	"encoding/json"
	"errors"
	"iter"
	"slices"
	"strings"
	"unique"
)

// Refs is a set of references (a group's members or owners): each object
// id once, with its kind, kept sorted by id. It takes 9 bytes a reference
// (a handle to the id, interned by package unique, and a kind byte): every
// membership of one object shares one copy of its id, whether it was read
// from Graph or from the state, and a tenant's memberships outnumber
// everything else the snapshot holds. The zero value is an empty set. In
// JSON it is an object, id to kind, as the map it replaces was.
//
// A set may be loaded in part (InPart): it then holds only some of its
// references, and counts the others. A state loads a large group that way
// when a cycle plans it from its member changes alone.
type Refs struct {
	ids   []unique.Handle[string]
	kinds []ObjectType
	// hidden are the references of a set loaded in part it does not hold.
	hidden int
}

// InPart returns a set loaded in part: the references held, and how many
// more there are.
func InPart(held Refs, more int) Refs {
	held.hidden = max(more, 0)
	return held
}

// Partial reports whether the set holds only some of its references: what
// it says of the ids it holds is true, but it cannot list them all.
func (s Refs) Partial() bool { return s.hidden > 0 }

// RefsOf returns the set of refs (the last kind of an id listed twice).
func RefsOf(refs ...ObjectRef) Refs {
	var s Refs
	s.Apply(refs, nil)
	return s
}

// RefsFrom returns the set of m's ids and kinds.
func RefsFrom(m map[string]ObjectType) Refs {
	refs := make([]ObjectRef, 0, len(m))
	for id, t := range m {
		refs = append(refs, ObjectRef{ID: id, Type: t})
	}
	return RefsOf(refs...)
}

// Len is the number of references (those a set loaded in part does not
// hold too).
func (s Refs) Len() int { return len(s.ids) + s.hidden }

// IsZero reports whether the set is empty (json's omitzero).
func (s Refs) IsZero() bool { return s.Len() == 0 }

func (s Refs) find(id string) (int, bool) {
	return slices.BinarySearchFunc(s.ids, id, func(h unique.Handle[string], id string) int { return strings.Compare(h.Value(), id) })
}

// Get returns the kind of id, and whether the set holds it.
func (s Refs) Get(id string) (ObjectType, bool) {
	if i, ok := s.find(id); ok {
		return s.kinds[i], true
	}
	return TypeUnknown, false
}

// Has reports whether the set holds id.
func (s Refs) Has(id string) bool {
	_, ok := s.find(id)
	return ok
}

// Set adds id, or changes its kind.
func (s *Refs) Set(id string, t ObjectType) {
	i, ok := s.find(id)
	if ok {
		s.kinds[i] = t
		return
	}
	s.ids, s.kinds = slices.Insert(s.ids, i, unique.Make(id)), slices.Insert(s.kinds, i, t)
}

// Clip lets go of the room a set built by Append grew beyond its size.
func (s *Refs) Clip() {
	if cap(s.ids) > len(s.ids) {
		s.ids, s.kinds = slices.Clone(s.ids), slices.Clone(s.kinds)
	}
}

// ErrPartial: a set loaded in part cannot be listed whole.
var ErrPartial = errors.New("cloud: a member list loaded in part cannot be listed whole")

// Append adds id, as Set does, at the end when it sorts after every id the
// set holds: a set read in id order is built without a search.
func (s *Refs) Append(id string, t ObjectType) {
	if n := len(s.ids); n == 0 || s.ids[n-1].Value() < id {
		s.ids, s.kinds = append(s.ids, unique.Make(id)), append(s.kinds, t)
		return
	}
	s.Set(id, t)
}

// Delete removes id, if the set holds it.
func (s *Refs) Delete(id string) {
	if i, ok := s.find(id); ok {
		s.ids, s.kinds = slices.Delete(s.ids, i, i+1), slices.Delete(s.kinds, i, i+1)
	}
}

// All yields each id held and its kind, in id order (of a set loaded in
// part, those it holds).
func (s Refs) All() iter.Seq2[string, ObjectType] {
	return func(yield func(string, ObjectType) bool) {
		for i, h := range s.ids {
			if !yield(h.Value(), s.kinds[i]) {
				return
			}
		}
	}
}

// List returns the references in id order.
func (s Refs) List() []ObjectRef {
	out := make([]ObjectRef, len(s.ids))
	for i, h := range s.ids {
		out[i] = ObjectRef{ID: h.Value(), Type: s.kinds[i]}
	}
	return out
}

// Minus yields, in id order, the ids s holds and t does not: one walk of
// the two sorted lists.
func (s Refs) Minus(t Refs) iter.Seq[string] {
	return func(yield func(string) bool) {
		j := 0
		for _, h := range s.ids {
			id := h.Value()
			for j < len(t.ids) && t.ids[j].Value() < id {
				j++
			}
			if j < len(t.ids) && t.ids[j] == h {
				continue
			}
			if !yield(id) {
				return
			}
		}
	}
}

// smallChange is how many changes are made in place; more are merged in
// one pass (a round's member list of a large group, read whole).
const smallChange = 64

// Apply removes removed and adds added (an id in both lists is added; an
// id listed twice takes its last kind). A set made from nothing is made at
// its size.
func (s *Refs) Apply(added, removed []ObjectRef) {
	if len(added)+len(removed) == 0 {
		return
	}
	if s.Len() > 0 && len(added)+len(removed) <= smallChange {
		for _, r := range removed {
			s.Delete(r.ID)
		}
		for _, r := range added {
			s.Set(r.ID, r.Type)
		}
		return
	}
	type change struct {
		ObjectRef
		add bool
	}
	ch := make([]change, 0, len(added)+len(removed))
	for _, r := range removed {
		ch = append(ch, change{r, false})
	}
	for _, r := range added {
		ch = append(ch, change{r, true})
	}
	// By id, each id's last change last; then only that one is kept.
	slices.SortStableFunc(ch, func(a, b change) int { return strings.Compare(a.ID, b.ID) })
	n := 0
	for i := range ch {
		if n > 0 && ch[n-1].ID == ch[i].ID {
			n--
		}
		ch[n] = ch[i]
		n++
	}
	ch = ch[:n]
	grow := 0
	for _, c := range ch {
		if c.add {
			grow++
		}
	}
	out := Refs{ids: make([]unique.Handle[string], 0, len(s.ids)+grow), kinds: make([]ObjectType, 0, len(s.ids)+grow), hidden: s.hidden}
	i := 0
	for _, c := range ch {
		for ; i < len(s.ids) && s.ids[i].Value() < c.ID; i++ {
			out.ids, out.kinds = append(out.ids, s.ids[i]), append(out.kinds, s.kinds[i])
		}
		if i < len(s.ids) && s.ids[i].Value() == c.ID {
			i++ // replaced or removed
		}
		if c.add {
			out.ids, out.kinds = append(out.ids, unique.Make(c.ID)), append(out.kinds, c.Type)
		}
	}
	out.ids, out.kinds = append(out.ids, s.ids[i:]...), append(out.kinds, s.kinds[i:]...)
	*s = out
}

// MarshalJSON writes the set as an object, id to kind, in id order (as
// encoding/json writes a map, escapes included).
func (s Refs) MarshalJSON() ([]byte, error) {
	if s.Partial() {
		return nil, ErrPartial
	}
	b := make([]byte, 0, len(s.ids)*48+2)
	b = append(b, '{')
	for i, h := range s.ids {
		if i > 0 {
			b = append(b, ',')
		}
		if id := h.Value(); plain(id) {
			b = append(append(append(b, '"'), id...), '"')
		} else {
			k, err := json.Marshal(h.Value())
			if err != nil {
				return nil, err
			}
			b = append(b, k...)
		}
		b = append(append(append(append(b, ':'), '"'), s.kinds[i].String()...), '"')
	}
	return append(b, '}'), nil
}

// plain reports whether encoding/json writes v as it is, in quotes.
func plain(v string) bool {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c < 0x20, c >= 0x80, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// UnmarshalJSON reads an object, id to kind (null: empty). What the tool
// wrote (ids in order, no escapes) is read in one pass, the ids cut from
// one copy of the input; anything else is read as a map.
func (s *Refs) UnmarshalJSON(b []byte) error {
	if r, ok := readRefs(string(b)); ok {
		*s = r
		return nil
	}
	var m map[string]ObjectType
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*s = RefsFrom(m)
	return nil
}

// readRefs reads {"id":"kind",...} with no escapes, whitespace or
// repeated id, ids in order; ok is false for anything else. The ids are
// interned: none keeps the input.
func readRefs(in string) (r Refs, ok bool) {
	if in == "null" {
		return Refs{}, true
	}
	if len(in) < 2 || in[0] != '{' || in[len(in)-1] != '}' {
		return Refs{}, false
	}
	body := in[1 : len(in)-1]
	if body == "" {
		return Refs{}, true
	}
	n := strings.Count(body, ",") + 1
	r = Refs{ids: make([]unique.Handle[string], 0, n), kinds: make([]ObjectType, 0, n)}
	str := func() (string, bool) {
		if len(body) < 2 || body[0] != '"' {
			return "", false
		}
		end := strings.IndexByte(body[1:], '"')
		if end < 0 {
			return "", false
		}
		v := body[1 : 1+end]
		if strings.IndexByte(v, '\\') >= 0 {
			return "", false
		}
		body = body[end+2:]
		return v, true
	}
	for {
		id, ok := str()
		if !ok || body == "" || body[0] != ':' {
			return Refs{}, false
		}
		body = body[1:]
		kind, ok := str()
		if !ok || (len(r.ids) > 0 && r.ids[len(r.ids)-1].Value() >= id) {
			return Refs{}, false
		}
		r.ids, r.kinds = append(r.ids, unique.Make(id)), append(r.kinds, typeNamed(kind))
		if body == "" {
			return r, true
		}
		if body[0] != ',' {
			return Refs{}, false
		}
		body = body[1:]
	}
}
