package cloud

import (
	"bytes"
	"encoding/json"
	"errors"
	"iter"
	"slices"
	"strings"
)

// Refs is a set of references (a group's members or owners): each object
// id once, with its kind, kept sorted by id. An id that is a GUID as Graph
// writes it (lower-case, hyphenated: every object id Graph gives) is kept
// as its 16 bytes, so a reference takes 17 bytes with its kind, whatever
// the number of objects: a tenant's memberships outnumber everything else
// the snapshot holds, and one group may name a million users. A set that
// holds any other id keeps every id as its string. The zero value is an
// empty set. In JSON it is an object, id to kind, as the map it replaces
// was.
//
// A set may be loaded in part (InPart): it then holds only some of its
// references, and counts the others. A state loads a large group that way
// when a cycle plans it from its member changes alone.
type Refs struct {
	// ids are the ids, while every one is a GUID; strs, once one is not,
	// every id (ids is then nil).
	ids   []guid
	strs  []string
	kinds []ObjectType
	// hidden are the references of a set loaded in part it does not hold.
	hidden int
}

// guid is an object id's 16 bytes, in the order its text writes them: the
// order of the bytes is that of the texts.
type guid [16]byte

// parseGUID reads s as a GUID written lower-case with hyphens.
func parseGUID(s string) (guid, bool) {
	var g guid
	if len(s) != 36 {
		return g, false
	}
	j := 0
	for i := 0; i < 36; {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return g, false
			}
			i++
			continue
		}
		hi, ok1 := hexValue(s[i])
		lo, ok2 := hexValue(s[i+1])
		if !ok1 || !ok2 {
			return g, false
		}
		g[j] = hi<<4 | lo
		i, j = i+2, j+1
	}
	return g, true
}

func hexValue(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// appendText appends g as parseGUID reads it.
func (g guid) appendText(b []byte) []byte {
	const digits = "0123456789abcdef"
	for i, c := range g {
		switch i {
		case 4, 6, 8, 10:
			b = append(b, '-')
		}
		b = append(b, digits[c>>4], digits[c&0xf])
	}
	return b
}

func (g guid) String() string {
	var b [36]byte
	return string(g.appendText(b[:0]))
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
func (s Refs) Len() int { return len(s.kinds) + s.hidden }

// IsZero reports whether the set is empty (json's omitzero).
func (s Refs) IsZero() bool { return s.Len() == 0 }

// id is the i-th id held.
func (s Refs) id(i int) string {
	if s.strs != nil {
		return s.strs[i]
	}
	return s.ids[i].String()
}

// find returns where id is, or would be, in the set.
func (s Refs) find(id string) (int, bool) {
	if s.strs != nil {
		return slices.BinarySearch(s.strs, id)
	}
	if g, ok := parseGUID(id); ok {
		return slices.BinarySearchFunc(s.ids, g, func(a, b guid) int { return bytes.Compare(a[:], b[:]) })
	}
	return slices.BinarySearchFunc(s.ids, id, func(a guid, id string) int { return strings.Compare(a.String(), id) })
}

// asStrings keeps every id as its string from now on: the set is to hold
// an id that is no GUID.
func (s *Refs) asStrings() {
	if s.strs != nil {
		return
	}
	s.strs = make([]string, len(s.ids), cap(s.ids))
	for i, g := range s.ids {
		s.strs[i] = g.String()
	}
	s.ids = nil
}

// insert puts id of kind t at i (find's place for it).
func (s *Refs) insert(i int, id string, t ObjectType) {
	g, ok := parseGUID(id)
	if !ok {
		s.asStrings()
	}
	if s.strs != nil {
		s.strs = slices.Insert(s.strs, i, strings.Clone(id))
	} else {
		s.ids = slices.Insert(s.ids, i, g)
	}
	s.kinds = slices.Insert(s.kinds, i, t)
}

// Part returns the references from the i-th to the j-th (not included),
// in id order, as a set: a view of s, not a copy. Part of a set loaded in
// part is of those it holds.
func (s Refs) Part(i, j int) Refs {
	p := Refs{kinds: s.kinds[i:j:j]}
	if s.strs != nil {
		p.strs = s.strs[i:j:j]
	} else {
		p.ids = s.ids[i:j:j]
	}
	return p
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
	s.insert(i, id, t)
}

// Clip lets go of the room a set built by Append grew beyond its size.
func (s *Refs) Clip() {
	if cap(s.kinds) > len(s.kinds) {
		s.ids, s.strs, s.kinds = slices.Clip(slices.Clone(s.ids)), slices.Clip(slices.Clone(s.strs)), slices.Clone(s.kinds)
	}
}

// ErrPartial: a set loaded in part cannot be listed whole.
var ErrPartial = errors.New("cloud: a member list loaded in part cannot be listed whole")

// Append adds id, as Set does, at the end when it sorts after every id the
// set holds: a set read in id order is built without a search.
func (s *Refs) Append(id string, t ObjectType) {
	n := len(s.kinds)
	if s.strs == nil {
		if g, ok := parseGUID(id); ok && (n == 0 || bytes.Compare(s.ids[n-1][:], g[:]) < 0) {
			s.ids, s.kinds = append(s.ids, g), append(s.kinds, t)
			return
		}
	} else if n == 0 || s.strs[n-1] < id {
		s.strs, s.kinds = append(s.strs, strings.Clone(id)), append(s.kinds, t)
		return
	}
	s.Set(id, t)
}

// Delete removes id, if the set holds it.
func (s *Refs) Delete(id string) {
	i, ok := s.find(id)
	if !ok {
		return
	}
	if s.strs != nil {
		s.strs = slices.Delete(s.strs, i, i+1)
	} else {
		s.ids = slices.Delete(s.ids, i, i+1)
	}
	s.kinds = slices.Delete(s.kinds, i, i+1)
}

// All yields each id held and its kind, in id order (of a set loaded in
// part, those it holds).
func (s Refs) All() iter.Seq2[string, ObjectType] {
	return func(yield func(string, ObjectType) bool) {
		for i, k := range s.kinds {
			if !yield(s.id(i), k) {
				return
			}
		}
	}
}

// List returns the references in id order.
func (s Refs) List() []ObjectRef {
	out := make([]ObjectRef, len(s.kinds))
	for i, k := range s.kinds {
		out[i] = ObjectRef{ID: s.id(i), Type: k}
	}
	return out
}

// compareAt compares the i-th id of s with the j-th of t.
func compareAt(s Refs, i int, t Refs, j int) int {
	if s.strs == nil && t.strs == nil {
		return bytes.Compare(s.ids[i][:], t.ids[j][:])
	}
	return strings.Compare(s.id(i), t.id(j))
}

// Minus yields, in id order, the ids s holds and t does not: one walk of
// the two sorted lists.
func (s Refs) Minus(t Refs) iter.Seq[string] {
	return func(yield func(string) bool) {
		j := 0
		for i := range s.kinds {
			for j < len(t.kinds) && compareAt(t, j, s, i) < 0 {
				j++
			}
			if j < len(t.kinds) && compareAt(t, j, s, i) == 0 {
				continue
			}
			if !yield(s.id(i)) {
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
		add    bool
		g      guid // the id's bytes, when it is a GUID (isGUID)
		isGUID bool
	}
	ch := make([]change, 0, len(added)+len(removed))
	for _, r := range removed {
		ch = append(ch, change{ObjectRef: r})
	}
	for _, r := range added {
		ch = append(ch, change{ObjectRef: r, add: true})
	}
	// By id, each id's last change last; then only that one is kept.
	slices.SortStableFunc(ch, func(a, b change) int { return strings.Compare(a.ID, b.ID) })
	n, grow := 0, 0
	guids := s.strs == nil
	for i := range ch {
		if n > 0 && ch[n-1].ID == ch[i].ID {
			n--
		}
		ch[n] = ch[i]
		n++
	}
	ch = ch[:n]
	for i := range ch {
		if ch[i].add {
			grow++
		}
		ch[i].g, ch[i].isGUID = parseGUID(ch[i].ID)
		if !ch[i].isGUID && ch[i].add {
			guids = false
		}
	}
	if !guids {
		s.asStrings()
	}
	out := Refs{kinds: make([]ObjectType, 0, len(s.kinds)+grow), hidden: s.hidden}
	if guids {
		out.ids = make([]guid, 0, len(s.kinds)+grow)
	} else {
		out.strs = make([]string, 0, len(s.kinds)+grow)
	}
	keep := func(i int) {
		if guids {
			out.ids = append(out.ids, s.ids[i])
		} else {
			out.strs = append(out.strs, s.strs[i])
		}
		out.kinds = append(out.kinds, s.kinds[i])
	}
	// compare compares the i-th id held with c's.
	compare := func(i int, c *change) int {
		if guids {
			if !c.isGUID {
				return strings.Compare(s.id(i), c.ID) // a removal of an id no set of GUIDs holds
			}
			return bytes.Compare(s.ids[i][:], c.g[:])
		}
		return strings.Compare(s.strs[i], c.ID)
	}
	i := 0
	for _, c := range ch {
		for ; i < len(s.kinds) && compare(i, &c) < 0; i++ {
			keep(i)
		}
		if i < len(s.kinds) && compare(i, &c) == 0 {
			i++ // replaced or removed
		}
		if c.add {
			if guids {
				out.ids = append(out.ids, c.g)
			} else {
				out.strs = append(out.strs, strings.Clone(c.ID))
			}
			out.kinds = append(out.kinds, c.Type)
		}
	}
	for ; i < len(s.kinds); i++ {
		keep(i)
	}
	*s = out
}

// MarshalJSON writes the set as an object, id to kind, in id order (as
// encoding/json writes a map, escapes included).
func (s Refs) MarshalJSON() ([]byte, error) {
	if s.Partial() {
		return nil, ErrPartial
	}
	b := make([]byte, 0, len(s.kinds)*48+2)
	b = append(b, '{')
	for i, k := range s.kinds {
		if i > 0 {
			b = append(b, ',')
		}
		switch {
		case s.strs == nil:
			b = append(s.ids[i].appendText(append(b, '"')), '"')
		case plain(s.strs[i]):
			b = append(append(append(b, '"'), s.strs[i]...), '"')
		default:
			k, err := json.Marshal(s.strs[i])
			if err != nil {
				return nil, err
			}
			b = append(b, k...)
		}
		b = append(append(append(append(b, ':'), '"'), k.String()...), '"')
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
// repeated id, ids in order; ok is false for anything else. No id keeps
// the input.
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
	r = Refs{ids: make([]guid, 0, n), kinds: make([]ObjectType, 0, n)}
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
	last := ""
	for {
		id, ok := str()
		if !ok || body == "" || body[0] != ':' {
			return Refs{}, false
		}
		body = body[1:]
		kind, ok := str()
		if !ok || (len(r.kinds) > 0 && last >= id) {
			return Refs{}, false
		}
		last = id
		if g, ok := parseGUID(id); ok && r.strs == nil {
			r.ids = append(r.ids, g)
		} else {
			r.asStrings()
			r.strs = append(r.strs, strings.Clone(id))
		}
		r.kinds = append(r.kinds, typeNamed(kind))
		if body == "" {
			return r, true
		}
		if body[0] != ',' {
			return Refs{}, false
		}
		body = body[1:]
	}
}
