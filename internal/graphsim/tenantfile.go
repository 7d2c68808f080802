package graphsim

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// The tenant file: the JSON a tenant is loaded from.

// TenantFile is the JSON a tenant is loaded from. It uses Graph's own
// property names. Groups may carry "members" and "owners" as lists of object
// ids; applications list the clients allowed to obtain tokens.
type TenantFile struct {
	TenantID      string           `json:"tenantId"`
	DefaultDomain string           `json:"defaultDomain,omitempty"`
	Applications  []Application    `json:"applications"`
	Users         []map[string]any `json:"users"`
	Groups        []map[string]any `json:"groups"`
	Settings      TenantSettings   `json:"settings"`
	// ManagedIdentities are emulator extensions: identities that get tokens
	// from the App Service managed identity endpoint (/msi/token), as an
	// app running on Azure does. Each names an application for permissions.
	ManagedIdentities []ManagedIdentity `json:"managedIdentities,omitempty"`
	// AppRoleAssignments give users the apps' roles (users sign in with
	// the password of their passwordProfile).
	AppRoleAssignments []AppRoleAssignment `json:"appRoleAssignments,omitempty"`
}

// ManagedIdentity is a managed identity the emulator hands tokens to.
type ManagedIdentity struct {
	// ClientID is the identity's client id, an appId of Applications.
	ClientID string `json:"clientId"`
	// IdentityHeader is the secret IDENTITY_HEADER the host gives the app.
	IdentityHeader string `json:"identityHeader"`
	// SystemAssigned answers requests that name no client id.
	SystemAssigned bool `json:"systemAssigned,omitempty"`
}

// TenantSettings are the directory settings the emulator exposes.
type TenantSettings struct {
	// NewUnifiedGroupWritebackDefault is the Group.Unified directory
	// setting; nil leaves the setting object absent, as in a new tenant.
	NewUnifiedGroupWritebackDefault *bool `json:"newUnifiedGroupWritebackDefault,omitempty"`
}

// Application is an app registration allowed to obtain tokens with the
// client credentials grant.
type Application struct {
	AppID               string               `json:"appId"`
	DisplayName         string               `json:"displayName,omitempty"`
	PasswordCredentials []PasswordCredential `json:"passwordCredentials,omitempty"`
	KeyCredentials      []KeyCredential      `json:"keyCredentials,omitempty"`
	// FederatedIdentityCredentials trust tokens of an external issuer
	// (workload identity federation).
	FederatedIdentityCredentials []FederatedIdentityCredential `json:"federatedIdentityCredentials,omitempty"`
	// GrantedApplicationPermissions is an emulator extension: the Graph
	// application permissions admin-consented for the app (the "roles" claim
	// of its tokens). Absent means Directory.ReadWrite.All.
	GrantedApplicationPermissions []string `json:"grantedApplicationPermissions,omitempty"`
	// ExtensionProperties are the directory extensions the app defines
	// (POST /applications/{id}/extensionProperties): each becomes the
	// property extension_<appId without hyphens>_<name> of its target
	// objects, which objects may carry and $select may name.
	ExtensionProperties []ExtensionProperty `json:"extensionProperties,omitempty"`
	// Web holds the redirect URIs users signing in to the app may be sent
	// back to (the application's web.redirectUris).
	Web *WebApplication `json:"web,omitempty"`
	// AppRoles are the roles the app defines (the application's
	// appRoles); a user assigned one gets its value in the roles claim of
	// the ID tokens issued to the app.
	AppRoles []AppRole `json:"appRoles,omitempty"`
}

// WebApplication is the web platform of an application registration.
type WebApplication struct {
	RedirectURIs []string `json:"redirectUris"`
}

// AppRole is a role an application defines.
type AppRole struct {
	ID                 string   `json:"id"`
	Value              string   `json:"value"`
	DisplayName        string   `json:"displayName,omitempty"`
	AllowedMemberTypes []string `json:"allowedMemberTypes,omitempty"`
	IsEnabled          *bool    `json:"isEnabled,omitempty"`
}

// AppRoleAssignment gives a user one of an app's roles. In Graph it is
// made on the app's service principal (resourceId); the emulator names the
// app by its appId.
type AppRoleAssignment struct {
	PrincipalID string `json:"principalId"`
	AppID       string `json:"appId"`
	AppRoleID   string `json:"appRoleId"`
}

// ExtensionProperty is a directory extension definition.
type ExtensionProperty struct {
	Name string `json:"name"`
	// TargetObjects are the resources that carry it: "User", "Group".
	TargetObjects []string `json:"targetObjects"`
}

// ExtensionName is the property name Graph gives the extension name of
// the app appID: extension_<appId without hyphens>_<name>.
func ExtensionName(appID, name string) string {
	return "extension_" + strings.ReplaceAll(appID, "-", "") + "_" + name
}

// PasswordCredential is a client secret.
type PasswordCredential struct {
	SecretText string `json:"secretText"`
}

// FederatedIdentityCredential trusts tokens with this issuer, subject and
// audience. PublicKeyPEM is an emulator extension standing in for the
// issuer's published keys (Entra fetches them from the issuer's JWKS).
type FederatedIdentityCredential struct {
	Issuer       string   `json:"issuer"`
	Subject      string   `json:"subject"`
	Audiences    []string `json:"audiences"`
	PublicKeyPEM string   `json:"publicKeyPem"`
}

// KeyCredential is a certificate: Key is the base64 DER certificate, as Graph
// returns it for an application's keyCredentials.
type KeyCredential struct {
	Key  string `json:"key"`
	Type string `json:"type,omitempty"`
}

// LoadTenantFile reads a tenant file.
func LoadTenantFile(path string) (*TenantFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("graphsim: read tenant: %w", err)
	}
	var tf TenantFile
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tf); err != nil {
		return nil, fmt.Errorf("graphsim: parse tenant %s: %w", path, err)
	}
	return &tf, nil
}
