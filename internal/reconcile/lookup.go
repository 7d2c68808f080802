package reconcile

import (
	"errors"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/policy"
)

// KeyKind is the identifier a lookup goes by.
type KeyKind string

// The kinds of key a member is looked up by.
const (
	ByGUID        KeyKind = "objectGUID"
	BySID         KeyKind = "objectSid"
	ByImmutableID KeyKind = "immutableId"
	ByDN          KeyKind = "distinguishedName"
	ByAnchor      KeyKind = "adminDescription"
	// BySAM finds the object holding a sAMAccountName, which Windows AD
	// keeps unique across every user, group and computer of a domain.
	BySAM KeyKind = "sAMAccountName"
)

// ADObject is a directory object a member lookup found.
type ADObject struct {
	DN        string
	GUID      string
	SID       string
	Class     []string
	GroupType int64
	// Critical is isCriticalSystemObject: krbtgt, the built-in accounts and
	// groups, domain controllers. Connect's default rules never sync them.
	Critical bool
	// Disabled (userAccountControl ACCOUNTDISABLE) and AdminCount
	// (adminCount=1: AD's mark on members of protected groups) are read
	// for the accounts a match rule finds.
	Disabled, AdminCount bool
	// OtherDomain: found in another domain of the forest (through the
	// global catalog), not the one written to.
	OtherDomain bool
	// Synced, for an account a match rule found: it carries
	// mS-DS-ConsistencyGuid, the anchor Entra Connect and Cloud Sync
	// stamp on the accounts they sync: it is another cloud user's.
	Synced bool
}

func (o ADObject) HasClass(name string) bool {
	for _, c := range o.Class {
		if strings.EqualFold(c, name) {
			return true
		}
	}
	return false
}

// IsUser reports whether the object is a user account: class user (or
// inetOrgPerson, a subclass), and not a computer, which is one too.
func (o ADObject) IsUser() bool { return o.HasClass("user") && !o.HasClass("computer") }

// IsGroup reports whether the object is a group.
func (o ADObject) IsGroup() bool { return o.HasClass("group") }

// IsDomainLocal reports whether the object is a domain-local group, which a
// universal group cannot contain.
func (o ADObject) IsDomainLocal() bool { return o.IsGroup() && o.GroupType&0x4 != 0 }

// Scope is a group's scope (policy.ScopeUniversal, …; "" for an object
// that is no group, or a group of no scope the tool knows).
func (o ADObject) Scope() string {
	if !o.IsGroup() {
		return ""
	}
	s, _ := policy.ScopeOf(o.GroupType)
	return s
}

// ErrDirectoryUnavailable: the domain controller cannot be reached, so no
// operation left in a cycle can be done (not one group's failure).
var ErrDirectoryUnavailable = errors.New("the domain controller cannot be reached")
