package policy

// Reasons a member cannot be written, known before AD is asked.
const (
	MemberCloudOnly        = "cloud-only user: not synced from on-premises AD"
	MemberGroupNotWritten  = "member group is neither written back nor synced from AD"
	MemberUnsupportedType  = "members of this kind cannot be written to AD"
	MemberUnknown          = "member not found in the tenant snapshot"
	MemberNotFoundInAD     = "not found in AD by any of its on-premises identifiers"
	MemberDomainLocalGroup = "a universal group cannot contain a domain-local group"
	// MemberOtherForest: its objectSid is of a domain outside the forest
	// (a trusted forest). AD keeps such members as foreign security
	// principals, which only domain-local groups may hold.
	MemberOtherForest = "from a trusted forest (its SID's domain is none of this forest's): AD holds it as a foreign security principal, which only a domain-local group may hold, and the tool writes none"
	// MemberGlobalOtherDomain and MemberGlobalOnlyGlobal: a global group
	// holds only users, computers and global groups of its own domain.
	MemberGlobalOtherDomain = "of another domain of the forest: a global group holds members of its own domain only"
	MemberGlobalOnlyGlobal  = "a universal or domain-local group: a global group holds only accounts and global groups of its own domain"
	// MemberCloudOnlyWithIDs is a user Entra does not sync from AD
	// (onPremisesSyncEnabled is not true) that still carries on-premises
	// identifiers: once synced, or set by hand. They may name any object,
	// so they are not trusted.
	MemberCloudOnlyWithIDs = "cloud user not synced from AD (onPremisesSyncEnabled is not true) carries on-premises identifiers: not trusted, not resolved"
	MemberItself           = "a group is never written as a member of itself"
	// MemberGuest: a B2B guest is never matched to an AD account by
	// writeback.match_unsynced's rules.
	MemberGuest = "B2B guest (userType Guest): never matched to an AD account"
	// MemberNoMatch: writeback.match_unsynced's rules found no enabled
	// user account for a user not synced from AD.
	MemberNoMatch = "not synced from AD, and no enabled AD user account in writeback.match_unsynced.search_bases matched any rule"
	// MemberMatchAmbiguous: a rule found more than one enabled account:
	// which one is meant is not known, and none is written.
	MemberMatchAmbiguous = "not synced from AD, and more than one enabled AD user account matched a writeback.match_unsynced rule: none is written"
	// MemberMatchProtected: the one account a rule found is a critical
	// or protected account (isCriticalSystemObject, adminCount=1).
	// MemberMatchSynced: the one account a rule found carries
	// mS-DS-ConsistencyGuid, the anchor Entra Connect and Cloud Sync stamp
	// on what they sync: it is another cloud user's.
	MemberMatchSynced    = "not synced from AD, and the AD account a writeback.match_unsynced rule matched is synced to Entra ID (it carries mS-DS-ConsistencyGuid, the anchor Entra Connect and Cloud Sync stamp): it is another cloud user's, never written for this one"
	MemberMatchProtected = "not synced from AD, and the AD account a writeback.match_unsynced rule matched is critical or protected (isCriticalSystemObject or adminCount=1): never written"
	MemberNotAUser       = "a user's on-premises identifier points at an AD object that is not a user account (a computer, a group, a contact …)"
	MemberNotAGroup      = "a group's on-premises identifier points at an AD object that is not a group"
	MemberCritical       = "points at a critical system object (isCriticalSystemObject: krbtgt, a built-in account or group, a domain controller), which Connect never syncs: never written"
	// MemberGroupNoADObject, known once AD is asked: a member group that
	// is written back has no AD object yet (its own write failed).
	MemberGroupNoADObject = "member group is written back but has no AD object yet"
)

// memberReasonCodes are the stable codes of the reasons a member is not
// written, for scripts and metric labels; the sentence goes beside them.
var memberReasonCodes = map[string]string{
	MemberCloudOnly:         "cloud_only_user",
	MemberGroupNotWritten:   "member_group_not_written",
	MemberUnsupportedType:   "unsupported_member_type",
	MemberUnknown:           "not_in_tenant",
	MemberNotFoundInAD:      "not_found_in_ad",
	MemberDomainLocalGroup:  "domain_local_group",
	MemberOtherForest:       "other_forest",
	MemberCloudOnlyWithIDs:  "untrusted_onprem_ids",
	MemberItself:            "group_itself",
	MemberGuest:             "guest_user",
	MemberMatchSynced:       "match_synced",
	MemberGlobalOtherDomain: "global_other_domain",
	MemberGlobalOnlyGlobal:  "global_holds_global_only",
	MemberNoMatch:           "no_match",
	MemberMatchAmbiguous:    "ambiguous_match",
	MemberMatchProtected:    "match_protected",
	MemberNotAUser:          "not_a_user_in_ad",
	MemberNotAGroup:         "not_a_group_in_ad",
	MemberCritical:          "critical_system_object",
	MemberGroupNoADObject:   "member_group_not_in_ad_yet",
}

// MemberReasonCode is the stable code of a reason a member is not written
// ("other" for a reason without one).
func MemberReasonCode(reason string) string {
	if c, ok := memberReasonCodes[reason]; ok {
		return c
	}
	return "other"
}

// MemberReasonText is the sentence of a member reason code (the code
// itself when it is none).
func MemberReasonText(code string) string {
	for sentence, c := range memberReasonCodes {
		if c == code {
			return sentence
		}
	}
	return code
}
