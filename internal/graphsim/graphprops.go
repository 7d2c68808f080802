// Code generated from Microsoft Graph's published metadata. DO NOT EDIT.

// The source: the repository microsoftgraph/msgraph-metadata at commit
// f54f11b60956ea7b185ca0447b2b80805836ec7b (2026-08-20), files
// schemas/type-mappings/v1.0-entity-types.json and beta-entity-types.json:
// the properties of microsoft.graph.user and microsoft.graph.group, with
// those they inherit from directoryObject and entity. Regenerate from a
// newer commit of that repository when Graph changes.

package graphsim

// graphProperties are the structural properties of each resource, by API
// version: a $select of anything else is answered 400, as Graph answers it.
var graphProperties = map[string]map[kind][]string{
	"v1.0": {
		kindUser: {
			"aboutMe", "accountEnabled", "ageGroup", "assignedLicenses", "assignedPlans", "authorizationInfo",
			"birthday", "businessPhones", "city", "companyName", "consentProvidedForMinor", "country",
			"createdDateTime", "creationType", "customSecurityAttributes", "deletedDateTime", "department",
			"deviceEnrollmentLimit", "displayName", "employeeHireDate", "employeeId", "employeeLeaveDateTime",
			"employeeOrgData", "employeeType", "externalUserState", "externalUserStateChangeDateTime", "faxNumber",
			"givenName", "hireDate", "id", "identities", "identityParentId", "imAddresses", "interests",
			"isManagementRestricted", "isResourceAccount", "jobTitle", "lastPasswordChangeDateTime",
			"legalAgeGroupClassification", "licenseAssignmentStates", "mail", "mailNickname", "mailboxSettings",
			"mobilePhone", "mySite", "officeLocation", "onPremisesDistinguishedName", "onPremisesDomainName",
			"onPremisesExtensionAttributes", "onPremisesImmutableId", "onPremisesLastSyncDateTime",
			"onPremisesProvisioningErrors", "onPremisesSamAccountName", "onPremisesSecurityIdentifier",
			"onPremisesSyncEnabled", "onPremisesUserPrincipalName", "otherMails", "passwordPolicies",
			"passwordProfile", "pastProjects", "postalCode", "preferredDataLocation", "preferredLanguage",
			"preferredName", "print", "provisionedPlans", "proxyAddresses", "responsibilities", "schools",
			"securityIdentifier", "serviceProvisioningErrors", "showInAddressList", "signInActivity",
			"signInSessionsValidFromDateTime", "skills", "state", "streetAddress", "surname", "usageLocation",
			"userPrincipalName", "userType",
		},
		kindGroup: {
			"accessType", "allowExternalSenders", "assignedLabels", "assignedLicenses", "autoSubscribeNewMembers",
			"classification", "createdDateTime", "deletedDateTime", "description", "displayName",
			"expirationDateTime", "groupTypes", "hasMembersWithLicenseErrors", "hideFromAddressLists",
			"hideFromOutlookClients", "id", "infoCatalogs", "isArchived", "isAssignableToRole", "isFavorite",
			"isManagementRestricted", "isSubscribedByMail", "licenseProcessingState", "mail", "mailEnabled",
			"mailNickname", "membershipRule", "membershipRuleProcessingState", "onPremisesDomainName",
			"onPremisesExtensionAttributes", "onPremisesLastSyncDateTime", "onPremisesNetBiosName",
			"onPremisesProvisioningErrors", "onPremisesSamAccountName", "onPremisesSecurityIdentifier",
			"onPremisesSyncEnabled", "organizationId", "preferredDataLocation", "preferredLanguage", "proxyAddresses",
			"renewedDateTime", "resourceBehaviorOptions", "resourceProvisioningOptions", "securityEnabled",
			"securityIdentifier", "serviceProvisioningErrors", "theme", "uniqueName", "unseenConversationsCount",
			"unseenCount", "unseenMessagesCount", "visibility", "welcomeMessageEnabled",
		},
	},
	"beta": {
		kindUser: {
			"aboutMe", "accountEnabled", "ageGroup", "assignedLicenses", "assignedPlans", "authorizationInfo",
			"birthday", "businessPhones", "city", "cloudLicensing", "cloudRealtimeCommunicationInfo", "companyName",
			"consentProvidedForMinor", "country", "createdDateTime", "creationType", "customSecurityAttributes",
			"deletedDateTime", "department", "deviceEnrollmentLimit", "deviceKeys", "displayName", "employeeHireDate",
			"employeeId", "employeeLeaveDateTime", "employeeOrgData", "employeeType", "externalUserState",
			"externalUserStateChangeDateTime", "faxNumber", "givenName", "hireDate", "id", "identities",
			"identityGovernance", "identityParentId", "imAddresses", "infoCatalogs", "interests",
			"isLicenseReconciliationNeeded", "isManagementRestricted", "isResourceAccount", "jobTitle",
			"lastPasswordChangeDateTime", "legalAgeGroupClassification", "licenseAssignmentStates", "mail",
			"mailNickname", "mailboxSettings", "mobilePhone", "mySite", "officeLocation",
			"onPremisesDistinguishedName", "onPremisesDomainName", "onPremisesExtensionAttributes",
			"onPremisesImmutableId", "onPremisesLastSyncDateTime", "onPremisesProvisioningErrors",
			"onPremisesSamAccountName", "onPremisesSecurityIdentifier", "onPremisesSipInfo", "onPremisesSyncEnabled",
			"onPremisesUserPrincipalName", "otherMails", "passwordPolicies", "passwordProfile", "pastProjects",
			"postalCode", "preferredDataLocation", "preferredLanguage", "preferredName", "print", "provisionedPlans",
			"proxyAddresses", "refreshTokensValidFromDateTime", "responsibilities", "schools", "securityIdentifier",
			"serviceProvisioningErrors", "showInAddressList", "signInActivity", "signInSessionsValidFromDateTime",
			"skills", "state", "streetAddress", "surname", "usageLocation", "userPrincipalName", "userType",
		},
		kindGroup: {
			"accessType", "allowExternalSenders", "assignedLabels", "assignedLicenses", "autoSubscribeNewMembers",
			"classification", "cloudLicensing", "createdByAppId", "createdDateTime", "deletedDateTime", "description",
			"displayName", "expirationDateTime", "groupTypes", "hasMembersWithLicenseErrors", "hideFromAddressLists",
			"hideFromOutlookClients", "id", "infoCatalogs", "isArchived", "isAssignableToRole", "isFavorite",
			"isManagementRestricted", "isSubscribedByMail", "licenseProcessingState", "mail", "mailEnabled",
			"mailNickname", "membershipRule", "membershipRuleProcessingState", "membershipRuleProcessingStatus",
			"onPremisesDomainName", "onPremisesExtensionAttributes", "onPremisesLastSyncDateTime",
			"onPremisesNetBiosName", "onPremisesProvisioningErrors", "onPremisesSamAccountName",
			"onPremisesSecurityIdentifier", "onPremisesSyncEnabled", "organizationId", "preferredDataLocation",
			"preferredLanguage", "proxyAddresses", "renewedDateTime", "resourceBehaviorOptions",
			"resourceProvisioningOptions", "securityEnabled", "securityIdentifier", "serviceProvisioningErrors",
			"theme", "uniqueName", "unseenConversationsCount", "unseenCount", "unseenMessagesCount", "visibility",
			"welcomeMessageEnabled", "writebackConfiguration",
		},
	},
}

// graphNavigation are the relationships delta may $select, by resource.
var graphNavigation = map[kind][]string{kindGroup: {"members", "owners"}}
