package policy

import (
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

// MatchRule is one of writeback.match_unsynced's rules: a property of a
// cloud user that is not synced from AD, and the AD attribute of the user
// account it must equal. The rules are an admin's trust decision
// (docs/operating.md): whoever can set the property in the tenant chooses
// which AD account the user is written as.
type MatchRule string

// The rules.
const (
	MatchUPN        MatchRule = "userPrincipalName"
	MatchMail       MatchRule = "mail"
	MatchEmployeeID MatchRule = "employeeId"
	MatchSAM        MatchRule = "onPremisesSamAccountName"
)

// MatchRules are the rules there are.
var MatchRules = []MatchRule{MatchUPN, MatchMail, MatchEmployeeID, MatchSAM}

// Attribute is the AD attribute the rule matches.
func (r MatchRule) Attribute() string {
	switch r {
	case MatchUPN:
		return "userPrincipalName"
	case MatchMail:
		return "mail"
	case MatchEmployeeID:
		return "employeeID"
	case MatchSAM:
		return "sAMAccountName"
	}
	return ""
}

// value is the user's value of the rule's property ("" when unset).
func (r MatchRule) value(u *cloud.User) string {
	switch r {
	case MatchUPN:
		return u.UserPrincipalName
	case MatchMail:
		return u.Mail
	case MatchEmployeeID:
		return u.EmployeeID
	case MatchSAM:
		return u.OnPremisesSamAccountName
	}
	return ""
}

// MatchKey is one rule's value for a member, looked up in AD.
type MatchKey struct {
	Rule  MatchRule
	Value string
}

// IsGuest reports whether u is a B2B guest: userType Guest, or a user
// principal name Entra gives an invited account (…#EXT#@…).
func IsGuest(u *cloud.User) bool {
	return strings.EqualFold(u.UserType, "Guest") || strings.Contains(strings.ToUpper(u.UserPrincipalName), "#EXT#")
}

// matchKeys are the keys that match u, a user not synced from AD, to an
// AD account by the rules, in their order; or why it is not written
// (notSynced when no rule has a value; a guest is never matched).
func matchKeys(u *cloud.User, rules []MatchRule, keys keyTable, notSynced string) (*Keys, string) {
	if IsGuest(u) {
		return &noKeys, MemberGuest
	}
	k := keys.of(u.ID, func() Keys {
		var k Keys
		for _, r := range rules {
			if v := strings.TrimSpace(r.value(u)); v != "" {
				k.Match = append(k.Match, MatchKey{Rule: r, Value: v})
			}
		}
		return k
	})
	if len(k.Match) == 0 {
		return &noKeys, notSynced
	}
	return k, ""
}
