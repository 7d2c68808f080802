// Package cloud holds the tenant as groupwriteback last read it from Microsoft
// Graph: groups, users and the tenant's writeback default, advanced round by
// round by delta changes. It is plain data with no I/O, so that policy code can
// take it as input and tests can build it by hand.
package cloud

import "slices"

// ObjectType is the kind of a directory object a group member or owner can be.
type ObjectType string

// The directory object kinds Graph reports in members@delta and owners@delta,
// by their @odata.type without the "#microsoft.graph." prefix.
const (
	TypeUser             ObjectType = "user"
	TypeGroup            ObjectType = "group"
	TypeOrgContact       ObjectType = "orgContact"
	TypeDevice           ObjectType = "device"
	TypeServicePrincipal ObjectType = "servicePrincipal"
	TypeUnknown          ObjectType = ""
)

// TypeFromOData maps an "@odata.type" value such as "#microsoft.graph.user" to
// an ObjectType. An unrecognised or absent type is TypeUnknown.
func TypeFromOData(s string) ObjectType {
	const prefix = "#microsoft.graph."
	if len(s) > len(prefix) && s[:len(prefix)] == prefix {
		switch t := ObjectType(s[len(prefix):]); t {
		case TypeUser, TypeGroup, TypeOrgContact, TypeDevice, TypeServicePrincipal:
			return t
		}
	}
	return TypeUnknown
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
	// Members and Owners map object id to kind.
	Members map[string]ObjectType `json:"members,omitempty"`
	Owners  map[string]ObjectType `json:"owners,omitempty"`
	// Removed is SoftDeleted for a group Graph reported as restorable: the
	// snapshot keeps it so delete policy can tell soft from hard deletes.
	Removed Removal `json:"removed,omitempty"`
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
	// Removed is SoftDeleted (or RemovedUnknown) for a user Graph reported
	// deleted but restorable: it keeps its group memberships ("Users that
	// have been temporary deleted keep their group memberships"), so it
	// stays a member until it is deleted for good.
	Removed Removal `json:"removed,omitempty"`
}
