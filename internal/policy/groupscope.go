package policy

import (
	"strconv"
	"strings"
)

// Group scopes (writeback.group_scope, and each placement rule's): what a
// group written back is in AD. Universal is the default, and the only one
// Exchange mail-enables; global groups hold only users and global groups
// of their own domain; domain-local groups hold anything of the forest,
// and are members only of domain-local groups.
const (
	ScopeUniversal   = "universal"
	ScopeGlobal      = "global"
	ScopeDomainLocal = "domain_local"
)

// Scopes are the group scopes there are.
var Scopes = []string{ScopeUniversal, ScopeGlobal, ScopeDomainLocal}

// groupType's bits (MS-ADTS 2.2.12).
const (
	groupTypeGlobal      = 0x2
	groupTypeDomainLocal = 0x4
	groupTypeUniversal   = 0x8
	groupTypeSecurity    = -0x80000000
)

// GroupTypeOf is the groupType AD stores for a group of scope, security
// or distribution.
func GroupTypeOf(scope string, security bool) int64 {
	gt := int64(groupTypeUniversal)
	switch scope {
	case ScopeGlobal:
		gt = groupTypeGlobal
	case ScopeDomainLocal:
		gt = groupTypeDomainLocal
	}
	if security {
		gt += groupTypeSecurity
	}
	return gt
}

// ScopeOfGroupType is the scope of a groupType value ("" for a value that
// is none of the six the tool writes: a built-in group's, an
// application group's, or garbage), and whether it is a security group.
func ScopeOfGroupType(v string) (scope string, security bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return "", false
	}
	return ScopeOf(n)
}

// ScopeOf is ScopeOfGroupType of the value n.
func ScopeOf(n int64) (scope string, security bool) {
	security = n < 0
	if security {
		n -= groupTypeSecurity
	}
	switch n {
	case groupTypeUniversal:
		return ScopeUniversal, security
	case groupTypeGlobal:
		return ScopeGlobal, security
	case groupTypeDomainLocal:
		return ScopeDomainLocal, security
	}
	return "", false
}

// ScopeSteps are the scopes a group goes through from one scope to
// another, as AD allows a change of scope (Microsoft Learn, Active
// Directory security groups, "Group scope"): global and domain local
// change into each other only through universal. Empty when from is to.
func ScopeSteps(from, to string) []string {
	switch {
	case from == to:
		return nil
	case from == ScopeGlobal && to == ScopeDomainLocal, from == ScopeDomainLocal && to == ScopeGlobal:
		return []string{ScopeUniversal, to}
	}
	return []string{to}
}

// scopeFor is the scope of the groups placed by rule (-1: the target OU).
func (p Placement) scopeFor(rule int) string {
	if rule >= 0 && p.Rules[rule].GroupScope != "" {
		return p.Rules[rule].GroupScope
	}
	if p.Scope != "" {
		return p.Scope
	}
	return ScopeUniversal
}

// ScopeByOU is each place's group scope, by OU DN lower-cased: the write
// gate allows there groups of that scope and universal ones. Rules that
// share an OU share its scope (the configuration is checked for it).
func (p Placement) ScopeByOU() map[string]string {
	out := map[string]string{strings.ToLower(p.TargetOU): p.scopeFor(-1)}
	for i, r := range p.Rules {
		if _, ok := out[strings.ToLower(r.OU)]; !ok {
			out[strings.ToLower(r.OU)] = p.scopeFor(i)
		}
	}
	return out
}
