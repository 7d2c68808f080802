package policy

import (
	"fmt"
	"sort"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

// noteCycles finds written-back groups that contain one another, directly
// or through other written-back groups, and notes the cycle on each. AD
// allows circular nesting (access tokens resolve it) and a cycle is written
// as the cloud has it: the tool mirrors the tenant, it does not redesign it.
// But tools that expand nested membership may loop on one, and it grants
// every member of any group in the cycle the access of all of them, so an
// admin should know. (A group that lists itself is never written: memberRefs.)
func noteCycles(ds []Decision, snap *cloud.Snapshot, written map[string]bool) {
	index := map[string]int{}
	for i, d := range ds {
		if d.Desired != nil {
			index[d.CloudID] = i
		}
	}
	// Tarjan's strongly connected components over written-back groups.
	var (
		stack   []string
		onStack = map[string]bool{}
		order   = map[string]int{}
		low     = map[string]int{}
		next    int
		sccs    [][]string
	)
	var visit func(id string)
	visit = func(id string) {
		order[id], low[id] = next, next
		next++
		stack = append(stack, id)
		onStack[id] = true
		// Only members that are written-back groups count: they are few,
		// sorted for a stable report (the others may be a million users).
		var nested []string
		for m := range snap.Groups[id].Members.All() {
			if _, ok := index[m]; ok && m != id && written[m] {
				nested = append(nested, m)
			}
		}
		sort.Strings(nested)
		for _, m := range nested {
			if _, seen := order[m]; !seen {
				visit(m)
				low[id] = min(low[id], low[m])
			} else if onStack[m] {
				low[id] = min(low[id], order[m])
			}
		}
		if low[id] == order[id] {
			var scc []string
			for {
				top := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[top] = false
				scc = append(scc, top)
				if top == id {
					break
				}
			}
			if len(scc) > 1 {
				sccs = append(sccs, scc)
			}
		}
	}
	ids := make([]string, 0, len(index))
	for id := range index {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if _, seen := order[id]; !seen {
			visit(id)
		}
	}
	for _, scc := range sccs {
		sort.Strings(scc)
		names := make([]string, len(scc))
		for i, id := range scc {
			names[i] = fmt.Sprintf("%q", ds[index[id]].Name)
		}
		for _, id := range scc {
			d := &ds[index[id]]
			d.Notes = append(d.Notes, Problem{CloudID: id, Name: d.Name, Field: "members",
				Message: fmt.Sprintf("is in a cycle of nested written-back groups (%s): written as the cloud has it, since AD allows circular nesting, but tools that expand nested members may loop on it", strings.Join(names, ", "))})
		}
	}
}
