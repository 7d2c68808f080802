package graphsim

import "sort"

// GroupState is a live group as the emulator holds it.
type GroupState struct {
	Props   map[string]any
	Members []string
	Owners  []string
}

// State is the tenant's live objects, for tests to compare with what a
// client assembled from delta rounds.
type State struct {
	Groups map[string]GroupState
	Users  map[string]map[string]any
	// Deleted are the ids of soft-deleted objects.
	Deleted []string
}

// State returns a copy of the tenant's current objects.
func (t *Tenant) State() State {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := State{Groups: map[string]GroupState{}, Users: map[string]map[string]any{}}
	for id, o := range t.live {
		switch o.kind {
		case kindGroup:
			st.Groups[id] = GroupState{Props: copyProps(o.props), Members: sortedKeys(o.members), Owners: sortedKeys(o.owners)}
		case kindUser:
			st.Users[id] = copyProps(o.props)
		}
	}
	for id := range t.deleted {
		st.Deleted = append(st.Deleted, id)
	}
	sort.Strings(st.Deleted)
	return st
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
