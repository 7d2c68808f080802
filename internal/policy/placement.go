package policy

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

// PlacementRule puts the groups it matches in OU. A rule matches a group
// when every condition it gives holds; a rule with none matches all.
type PlacementRule struct {
	OU string
	// Kind is microsoft365 or security.
	Kind string
	// DisplayName is a path.Match pattern, matched without regard to case.
	DisplayName string
	// MailDomain matches the domain of the group's mail, without regard
	// to case.
	MailDomain string
	// Extension names an extension property of the group
	// (extensionAttribute1…15, or extension_<appId>_<name>); the rule
	// matches when one of its values matches ExtensionValue, a path.Match
	// pattern without regard to case, or, with no ExtensionValue, when it
	// has any value.
	Extension      string
	ExtensionValue string
	// GroupScope is the scope of the groups the rule places ("": the
	// writeback.group_scope default).
	GroupScope string
}

// Matches reports whether the rule matches g.
func (r PlacementRule) Matches(g *cloud.Group) bool {
	if r.Kind != "" && r.Kind != string(KindOf(g)) {
		return false
	}
	if r.DisplayName != "" {
		if ok, _ := path.Match(strings.ToLower(r.DisplayName), strings.ToLower(g.DisplayName)); !ok {
			return false
		}
	}
	if r.MailDomain != "" {
		_, domain, found := strings.Cut(g.Mail, "@")
		if !found || !strings.EqualFold(domain, strings.TrimPrefix(r.MailDomain, "@")) {
			return false
		}
	}
	if r.Extension != "" {
		return slices.ContainsFunc(g.Extensions[r.Extension], func(v string) bool {
			if r.ExtensionValue == "" {
				return v != ""
			}
			ok, _ := path.Match(strings.ToLower(r.ExtensionValue), strings.ToLower(v))
			return ok
		})
	}
	return true
}

// String names the rule as plan and show print it.
func (r PlacementRule) String() string {
	var conds []string
	if r.Kind != "" {
		conds = append(conds, "kind "+r.Kind)
	}
	if r.DisplayName != "" {
		conds = append(conds, fmt.Sprintf("display name %q", r.DisplayName))
	}
	if r.MailDomain != "" {
		conds = append(conds, "mail domain "+r.MailDomain)
	}
	if r.Extension != "" && r.ExtensionValue != "" {
		conds = append(conds, fmt.Sprintf("%s %q", r.Extension, r.ExtensionValue))
	} else if r.Extension != "" {
		conds = append(conds, r.Extension+" set")
	}
	if len(conds) == 0 {
		return "every group"
	}
	return strings.Join(conds, ", ")
}

// Placement decides, for each group, the OU it lives in: the OU of the
// first rule it matches, else the target OU.
type Placement struct {
	TargetOU string
	Rules    []PlacementRule
	// Scope is the group scope of the target OU's groups, and of a rule's
	// that names none ("": universal).
	Scope string
}

// OUFor is the OU g belongs in, and the rule that put it there (-1: the
// target OU, no rule matched).
func (p Placement) OUFor(g *cloud.Group) (ou string, rule int) {
	for i, r := range p.Rules {
		if r.Matches(g) {
			return r.OU, i
		}
	}
	return p.TargetOU, -1
}

// OUs are every OU groups are placed in: the target OU first, then each
// rule's once.
func (p Placement) OUs() []string {
	out := []string{p.TargetOU}
	for _, r := range p.Rules {
		seen := false
		for _, ou := range out {
			seen = seen || SameDN(ou, r.OU)
		}
		if !seen {
			out = append(out, r.OU)
		}
	}
	return out
}

// Extensions are the extension properties the rules match on, each once.
func (p Placement) Extensions() []string {
	var out []string
	for _, r := range p.Rules {
		if r.Extension != "" && !slices.Contains(out, r.Extension) {
			out = append(out, r.Extension)
		}
	}
	return out
}

// HomeOU is the OU among ous that dn lies in: the deepest one above it,
// since placement OUs may nest; "" when it lies in none.
func HomeOU(dn string, ous []string) string {
	home := ""
	for _, ou := range ous {
		if Below(dn, ou) && (home == "" || Below(ou, home)) {
			home = ou
		}
	}
	return home
}
