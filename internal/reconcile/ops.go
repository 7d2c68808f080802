package reconcile

import (
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/policy"
)

// The operations' building blocks: in-place groups, member batches, value
// comparison, and where a group lands.

// inPlace plans what brings an original AD group, written in place, to the
// cloud's displayName, description and members: never a create, rename,
// move or delete, and every operation guarded by the group's SID.
func inPlace(g *policy.DesiredGroup, a *ADGroup, members []string, o Options) []Op {
	var ops []Op
	var changes []AttrChange
	for _, name := range []string{"displayName", "description"} {
		if want, have := g.Attrs[name], a.Attrs[name]; !sameValues(name, want, have) {
			changes = append(changes, AttrChange{Name: name, Old: have, New: want})
		}
	}
	if len(changes) > 0 {
		ops = append(ops, Op{Action: Update, CloudID: g.CloudID, DN: a.DN, Changes: changes, SID: g.InPlaceSID})
	}
	want := map[string]bool{}
	for _, m := range members {
		want[strings.ToLower(m)] = true
	}
	have := map[string]bool{}
	var remove, add []string
	for _, m := range a.Members {
		have[strings.ToLower(m)] = true
		if !want[strings.ToLower(m)] {
			remove = append(remove, m)
		}
	}
	for _, m := range members {
		if !have[strings.ToLower(m)] {
			add = append(add, m)
		}
	}
	for _, b := range append(batches(RemoveMembers, g.CloudID, a.DN, "", remove, o.BatchSize), batches(AddMembers, g.CloudID, a.DN, "", add, o.BatchSize)...) {
		b.SID = g.InPlaceSID
		ops = append(ops, b)
	}
	return ops
}

func batches(a Action, id, dn, anchor string, members []string, size int) []Op {
	var ops []Op
	for start := 0; start < len(members); start += size {
		ops = append(ops, Op{Action: a, CloudID: id, DN: dn, Anchor: anchor, Members: members[start:min(start+size, len(members))]})
	}
	return ops
}

// sameValues compares attribute values as AD would store them: as sets,
// numbers by value, proxyAddresses keeping case (SMTP: marks the primary).
func sameValues(name string, want, have []string) bool {
	if len(want) != len(have) {
		return false
	}
	norm := func(vs []string) []string {
		out := make([]string, len(vs))
		for i, v := range vs {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && name != "proxyAddresses" {
				v = strconv.FormatInt(n, 10)
			}
			if strings.EqualFold(v, "true") || strings.EqualFold(v, "false") {
				v = strings.ToUpper(v)
			}
			out[i] = v
		}
		sort.Strings(out)
		return out
	}
	return slices.Equal(norm(want), norm(have))
}

// renamedDN is dn with its cn replaced, in the same parent: a group an
// admin moved within the target OU stays where it is.
func renamedDN(dn, cn string) string {
	parsed, err := policy.ParseDN(dn)
	if err != nil || len(parsed.RDNs) < 2 {
		return dn
	}
	rdn := parsed.RDNs[0]
	if len(rdn.Attributes) == 1 && strings.EqualFold(rdn.Attributes[0].Type, "cn") && rdn.Attributes[0].Value == cn {
		return dn
	}
	_, parent := policy.SplitDN(dn)
	return policy.GroupDN(cn, parent)
}

// homeDN is where a wanted group lives after the plan: where it is, if
// that is in the OU placement gives it (below it, and in no placement OU
// nested deeper), else moved there under its own RDN.
func homeDN(dn string, g *policy.DesiredGroup, o Options) string {
	want := parentOf(g.DN)
	if policy.SameDN(o.home(dn), want) {
		return dn
	}
	return childDN(dn, want)
}

// parentOf is the DN of dn's parent.
func parentOf(dn string) string {
	_, parent := policy.SplitDN(dn)
	return parent
}

// ous are the OUs groups are placed in.
func (o Options) ous() []string {
	if len(o.OUs) == 0 {
		return []string{o.TargetOU}
	}
	return o.OUs
}

// home is the placement OU dn lies in, or "".
func (o Options) home(dn string) string { return policy.HomeOU(dn, o.ous()) }

// placesText names the OUs groups are placed in, for messages.
func (o Options) placesText() string {
	if ous := o.ous(); len(ous) > 1 {
		return "the placement OUs (" + strings.Join(ous, "; ") + ")"
	}
	return "the target OU " + o.TargetOU
}

// childDN is dn's RDN under a new parent.
func childDN(dn, parent string) string {
	rdn, _ := policy.SplitDN(dn)
	return rdn + "," + parent
}

// under is policy.Below: a group lies in an OU when it is below it.
func under(dn, base string) bool { return policy.Below(dn, base) }

func sortedKeys(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
