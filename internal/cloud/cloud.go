// Package cloud holds the tenant as groupwriteback last read it from Microsoft
// Graph: groups, users and the tenant's writeback default, advanced round by
// round by delta changes. It is plain data with no I/O, so that policy code can
// take it as input and tests can build it by hand.
package cloud

import (
	"slices"
	"strings"
)

// ObjectType is the kind of a directory object a group member or owner can
// be. It is one byte, since a tenant holds millions of memberships, and it
// reads and writes (JSON, text) as Graph names the kind: "user", "group", ….
type ObjectType uint8

// The directory object kinds Graph reports in members@delta and owners@delta.
const (
	TypeUnknown ObjectType = iota
	TypeUser
	TypeGroup
	TypeOrgContact
	TypeDevice
	TypeServicePrincipal
)

// typeNames are the kinds' names: their @odata.type without the
// "#microsoft.graph." prefix ("" for TypeUnknown).
var typeNames = [...]string{"", "user", "group", "orgContact", "device", "servicePrincipal"}

func (t ObjectType) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return ""
}

// MarshalText writes the kind's name.
func (t ObjectType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText reads a kind's name; an unknown one is TypeUnknown.
func (t *ObjectType) UnmarshalText(b []byte) error {
	*t = typeNamed(string(b))
	return nil
}

func typeNamed(s string) ObjectType {
	for i, n := range typeNames {
		if n == s {
			return ObjectType(i)
		}
	}
	return TypeUnknown
}

// TypeFromOData maps an "@odata.type" value such as "#microsoft.graph.user" to
// an ObjectType. An unrecognised or absent type is TypeUnknown.
func TypeFromOData(s string) ObjectType {
	name, ok := strings.CutPrefix(s, "#microsoft.graph.")
	if !ok {
		return TypeUnknown
	}
	return typeNamed(name)
}

// Removal says whether and how Graph reported an object as removed.
type Removal string

const (
	// NotRemoved is an object that exists.
	NotRemoved Removal = ""
	// SoftDeleted is "@removed": {"reason": "changed"}: deleted, restorable
	// from deletedItems for 30 days.
	SoftDeleted Removal = "changed"
	// HardDeleted is "@removed": {"reason": "deleted"}: gone for good.
	HardDeleted Removal = "deleted"
	// RemovedUnknown is "@removed" with no reason, or one Graph does not
	// document: restorable or gone, Graph did not say. The object leaves the
	// snapshot, and whoever acts on its absence asks deleted items first
	// (as after a fresh read, which lists no soft-deleted group).
	RemovedUnknown Removal = "unknown"
)

// ObjectRef names a directory object by id and kind: a member or an owner.
type ObjectRef struct {
	ID   string     `json:"id"`
	Type ObjectType `json:"type,omitempty"`
}

// WritebackConfiguration is the beta groupWritebackConfiguration of a group.
// A nil IsEnabled or an empty OnPremisesGroupType means the property is unset.
type WritebackConfiguration struct {
	IsEnabled           *bool  `json:"isEnabled,omitempty"`
	OnPremisesGroupType string `json:"onPremisesGroupType,omitempty"`
}

// Group is a cloud group with the properties writeback needs.
type Group struct {
	ID                           string                 `json:"id"`
	DisplayName                  string                 `json:"displayName,omitempty"`
	Description                  string                 `json:"description,omitempty"`
	Mail                         string                 `json:"mail,omitempty"`
	MailNickname                 string                 `json:"mailNickname,omitempty"`
	MailEnabled                  bool                   `json:"mailEnabled,omitempty"`
	SecurityEnabled              bool                   `json:"securityEnabled,omitempty"`
	GroupTypes                   []string               `json:"groupTypes,omitempty"`
	ProxyAddresses               []string               `json:"proxyAddresses,omitempty"`
	OnPremisesSyncEnabled        *bool                  `json:"onPremisesSyncEnabled,omitempty"`
	OnPremisesSecurityIdentifier string                 `json:"onPremisesSecurityIdentifier,omitempty"`
	Writeback                    WritebackConfiguration `json:"writebackConfiguration"`
	// Extensions are the extension properties read for placement rules:
	// extensionAttribute1…15 (onPremisesExtensionAttributes) and directory
	// extensions (extension_<appId>_<name>), by name, with their values.
	Extensions map[string][]string `json:"extensions,omitempty"`
	// CloudManaged is onPremisesSyncBehavior.isCloudManaged, read for groups
	// that were synced from AD and no longer are: true when an admin moved
	// the source of authority to the cloud; nil when not read.
	CloudManaged *bool `json:"cloudManaged,omitempty"`
	// Members and Owners map object id to kind. Owners is nil while the
	// group has none (most have none, or are never read with them): a
	// tenant's groups do not each carry an empty set.
	Members Refs  `json:"members,omitzero"`
	Owners  *Refs `json:"owners,omitempty"`
	// Removed is SoftDeleted for a group Graph reported as restorable: the
	// snapshot keeps it so delete policy can tell soft from hard deletes.
	Removed Removal `json:"removed,omitempty"`
}

// OwnerRefs are the group's owners (none while Owners is nil).
func (g *Group) OwnerRefs() Refs {
	if g.Owners == nil {
		return Refs{}
	}
	return *g.Owners
}

// IsUnified reports whether the group is a Microsoft 365 group.
func (g *Group) IsUnified() bool { return slices.Contains(g.GroupTypes, "Unified") }

// User is a cloud user with the on-premises identifiers that locate it in AD.
type User struct {
	ID                           string `json:"id"`
	DisplayName                  string `json:"displayName,omitempty"`
	UserPrincipalName            string `json:"userPrincipalName,omitempty"`
	OnPremisesSyncEnabled        *bool  `json:"onPremisesSyncEnabled,omitempty"`
	OnPremisesObjectIdentifier   string `json:"onPremisesObjectIdentifier,omitempty"`
	OnPremisesSecurityIdentifier string `json:"onPremisesSecurityIdentifier,omitempty"`
	OnPremisesImmutableID        string `json:"onPremisesImmutableId,omitempty"`
	OnPremisesDistinguishedName  string `json:"onPremisesDistinguishedName,omitempty"`
	OnPremisesSamAccountName     string `json:"onPremisesSamAccountName,omitempty"`
	OnPremisesDomainName         string `json:"onPremisesDomainName,omitempty"`
	// Mail, EmployeeID and UserType are what writeback.match_unsynced's
	// rules read of a user that is not synced from AD; a UserType of Guest
	// is a B2B guest, never matched.
	Mail       string `json:"mail,omitempty"`
	EmployeeID string `json:"employeeId,omitempty"`
	UserType   string `json:"userType,omitempty"`
	// Removed is SoftDeleted (or RemovedUnknown) for a user Graph reported
	// deleted but restorable: it keeps its group memberships ("Users that
	// have been temporary deleted keep their group memberships"), so it
	// stays a member until it is deleted for good.
	Removed Removal `json:"removed,omitempty"`
}
