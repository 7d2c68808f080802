package graph

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azcloud "github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/groupwriteback/groupwriteback/internal/secret"
)

// Credential kinds.
const (
	CredentialClientSecret     = "client_secret"
	CredentialCertificate      = "certificate"
	CredentialManagedIdentity  = "managed_identity"
	CredentialWorkloadIdentity = "workload_identity"
)

// Environment variables that may hold the cloud secrets.
const (
	EnvClientSecret        = "GROUPWRITEBACK_CLOUD_CLIENT_SECRET"
	EnvCertificatePassword = "GROUPWRITEBACK_CLOUD_CERTIFICATE_PASSWORD"
)

// Config is the "cloud" section of the configuration: the tenant and the app
// registration groupwriteback signs in as. The app needs the Microsoft Graph
// application permissions Group.Read.All and User.Read.All (Group.Read.All
// also reads the tenant's writeback default, to show it).
//
//	cloud:
//	  tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47
//	  client_id: 5b0f8a8e-3b55-4c5e-9f5c-1f6f0f2d7e10
//	  client_secret_file: /etc/groupwriteback/client-secret
//	  # or: certificate_file: /etc/groupwriteback/app.pem (certificate and key, PEM or PFX)
type Config struct {
	TenantID string `yaml:"tenant_id"`
	ClientID string `yaml:"client_id"`
	// Credential is client_secret, certificate, managed_identity (on an
	// Azure host; client_id names a user-assigned identity) or
	// workload_identity (federated token file, e.g. AKS); empty picks
	// client_secret or certificate, whichever keys are set.
	Credential          string       `yaml:"credential"`
	ClientSecret        secret.Value `yaml:"client_secret"`
	ClientSecretFile    string       `yaml:"client_secret_file"`
	CertificateFile     string       `yaml:"certificate_file"`
	CertificatePassword secret.Value `yaml:"certificate_password"`
	// FederatedTokenFile is the workload identity token file (default: the
	// environment variable AZURE_FEDERATED_TOKEN_FILE, as AKS sets it).
	FederatedTokenFile string `yaml:"federated_token_file"`
	// GraphURL defaults to https://graph.microsoft.com.
	GraphURL string `yaml:"graph_url"`
	// AuthorityURL defaults to https://login.microsoftonline.com.
	AuthorityURL string `yaml:"authority_url"`
	// CAFile is a PEM file of extra CAs to trust for Graph and the authority.
	CAFile string `yaml:"ca_file"`
	// UnifiedWritebackDefault, set false, leaves out Microsoft 365 groups
	// whose writebackConfiguration.isEnabled is unset; by default they are
	// written back, as Connect does. (The tenant's
	// NewUnifiedGroupWritebackDefault is applied by Entra to new groups.)
	UnifiedWritebackDefault *bool `yaml:"unified_writeback_default"`
}

// Complete fills defaults and resolves secrets from files and the environment.
func (c *Config) Complete(prefix string) error {
	if c.GraphURL == "" {
		c.GraphURL = "https://graph.microsoft.com"
	}
	if c.AuthorityURL == "" {
		c.AuthorityURL = "https://login.microsoftonline.com"
	}
	c.GraphURL = strings.TrimRight(c.GraphURL, "/")
	c.AuthorityURL = strings.TrimRight(c.AuthorityURL, "/")
	var err error
	c.ClientSecret, err = secret.Resolve(c.ClientSecret, prefix+"client_secret", c.ClientSecretFile, prefix+"client_secret_file", EnvClientSecret)
	if err != nil {
		return err
	}
	c.CertificatePassword, err = secret.Resolve(c.CertificatePassword, prefix+"certificate_password", "", "", EnvCertificatePassword)
	if err != nil {
		return err
	}
	if c.Credential == CredentialWorkloadIdentity && c.FederatedTokenFile == "" {
		c.FederatedTokenFile = os.Getenv("AZURE_FEDERATED_TOKEN_FILE")
	}
	if c.Credential == "" {
		switch {
		case c.CertificateFile != "":
			c.Credential = CredentialCertificate
		case c.ClientSecret.IsSet():
			c.Credential = CredentialClientSecret
		}
	}
	return nil
}

// Validate reports every problem, each naming its key under prefix.
func (c *Config) Validate(prefix string) error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s: %s", prefix, key, fmt.Sprintf(format, args...)))
	}
	if c.TenantID == "" && c.Credential != CredentialManagedIdentity {
		bad("tenant_id", "required: the directory (tenant) id of the Entra tenant")
	} else if c.TenantID != "" && !validTenant(c.TenantID) {
		bad("tenant_id", "%q is not a tenant id or domain name", c.TenantID)
	}
	if c.ClientID == "" && c.Credential != CredentialManagedIdentity {
		bad("client_id", "required: the application (client) id of the app registration")
	}
	switch c.Credential {
	case CredentialClientSecret:
		if !c.ClientSecret.IsSet() {
			bad("client_secret", "required for credential client_secret: set client_secret, client_secret_file or %s", EnvClientSecret)
		}
	case CredentialCertificate:
		if c.CertificateFile == "" {
			bad("certificate_file", "required for credential certificate")
		} else if _, err := os.Stat(c.CertificateFile); err != nil {
			bad("certificate_file", "%v", err)
		}
	case CredentialManagedIdentity:
	case CredentialWorkloadIdentity:
		if c.FederatedTokenFile == "" {
			bad("federated_token_file", "required for credential workload_identity (or set AZURE_FEDERATED_TOKEN_FILE)")
		}
	case "":
		bad("client_secret", "no credential: set client_secret (or client_secret_file, or %s) or certificate_file", EnvClientSecret)
	default:
		bad("credential", "%q is not supported: use client_secret, certificate, managed_identity or workload_identity", c.Credential)
	}
	for key, v := range map[string]string{"graph_url": c.GraphURL, "authority_url": c.AuthorityURL} {
		if u, err := url.Parse(v); err != nil || u.Scheme != "https" || u.Host == "" {
			bad(key, "%q must be an https:// URL", v)
		}
	}
	if c.CAFile != "" {
		if _, err := loadCAs(c.CAFile); err != nil {
			bad("ca_file", "%v", err)
		}
	}
	return errors.Join(errs...)
}

func validTenant(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// loadCAs returns the system pool plus the certificates in file.
func loadCAs(file string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// HTTPClient returns the HTTP client used for Graph and the authority: TLS
// 1.2 or later, the system CAs plus CAFile.
func (c *Config) HTTPClient() (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pool, err := loadCAs(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("graph: ca_file: %w", err)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}, nil
}

// knownAuthorities are Microsoft's own sign-in hosts, which MSAL validates
// through instance discovery; any other host (a sovereign proxy, the
// emulator) is used as configured.
var knownAuthorities = map[string]bool{
	"login.microsoftonline.com": true, "login.microsoft.com": true, "login.windows.net": true,
	"sts.windows.net": true, "login.microsoftonline.us": true, "login.chinacloudapi.cn": true,
	"login.partner.microsoftonline.cn": true,
}

// TokenCredential builds the azidentity credential the config describes.
func (c *Config) TokenCredential(hc *http.Client) (azcore.TokenCredential, error) {
	u, err := url.Parse(c.AuthorityURL)
	if err != nil {
		return nil, fmt.Errorf("graph: authority_url: %w", err)
	}
	opts := azcore.ClientOptions{Cloud: azcloud.Configuration{ActiveDirectoryAuthorityHost: c.AuthorityURL + "/"}, Transport: hc}
	noDiscovery := !knownAuthorities[strings.ToLower(u.Hostname())]
	switch c.Credential {
	case CredentialClientSecret:
		return azidentity.NewClientSecretCredential(c.TenantID, c.ClientID, c.ClientSecret.Reveal(),
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: noDiscovery})
	case CredentialCertificate:
		certs, key, err := c.certificate()
		if err != nil {
			return nil, err
		}
		return azidentity.NewClientCertificateCredential(c.TenantID, c.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: noDiscovery})
	case CredentialManagedIdentity:
		o := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts}
		if c.ClientID != "" {
			o.ID = azidentity.ClientID(c.ClientID)
		}
		return azidentity.NewManagedIdentityCredential(o)
	case CredentialWorkloadIdentity:
		return azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{ClientOptions: opts,
			ClientID: c.ClientID, TenantID: c.TenantID, TokenFilePath: c.FederatedTokenFile, DisableInstanceDiscovery: noDiscovery})
	}
	return nil, fmt.Errorf("graph: credential %q is not supported", c.Credential)
}

// Open returns a ready client for the configured tenant. It does no I/O:
// the first request obtains the first token.
func (c *Config) Open(_ context.Context, logger *slog.Logger) (*Client, error) {
	hc, err := c.HTTPClient()
	if err != nil {
		return nil, err
	}
	cred, err := c.TokenCredential(hc)
	if err != nil {
		return nil, err
	}
	return c.Client(hc, cred, logger, RetryPolicy{})
}

// Client returns a client for the configured Graph with the HTTP client
// and credential given (HTTPClient, TokenCredential): Open's constructor,
// which doctor uses too, with a shorter retry policy (zero: the default).
func (c *Config) Client(hc *http.Client, cred azcore.TokenCredential, logger *slog.Logger, retry RetryPolicy) (*Client, error) {
	return New(Options{GraphURL: c.GraphURL, Credential: cred, HTTPClient: hc, Logger: logger, Retry: retry})
}

// SignInAuth is how the app authenticates when it redeems a user's
// authorization code (the console's sign-in): its client secret, a client
// assertion signed with its certificate's key (private_key_jwt), or the
// federated token of workload identity. A managed identity cannot sign
// users in.
func (c *Config) SignInAuth() (func(ctx context.Context, form map[string]string) error, error) {
	tokenURL := c.AuthorityURL + "/" + c.TenantID + "/oauth2/v2.0/token"
	switch c.Credential {
	case CredentialClientSecret:
		return func(_ context.Context, form map[string]string) error {
			form["client_secret"] = c.ClientSecret.Reveal()
			return nil
		}, nil
	case CredentialCertificate:
		certs, key, err := c.certificate()
		if err != nil {
			return nil, err
		}
		rsaKey, ok := key.(*rsa.PrivateKey)
		if !ok || len(certs) == 0 {
			return nil, fmt.Errorf("graph: certificate_file %s: Entra ID takes an RSA key for a client assertion", c.CertificateFile)
		}
		thumb := sha256.Sum256(certs[0].Raw)
		return func(_ context.Context, form map[string]string) error {
			now := time.Now()
			tok := jwt.NewWithClaims(jwt.SigningMethodPS256, jwt.MapClaims{"aud": tokenURL, "iss": c.ClientID, "sub": c.ClientID,
				"jti": uuid.NewString(), "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()})
			tok.Header["x5t#S256"] = base64.RawURLEncoding.EncodeToString(thumb[:])
			signed, err := tok.SignedString(rsaKey)
			if err != nil {
				return err
			}
			form["client_assertion_type"], form["client_assertion"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", signed
			return nil
		}, nil
	case CredentialWorkloadIdentity:
		return func(_ context.Context, form map[string]string) error {
			b, err := os.ReadFile(c.FederatedTokenFile)
			if err != nil {
				return fmt.Errorf("graph: federated_token_file: %w", err)
			}
			form["client_assertion_type"], form["client_assertion"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", strings.TrimSpace(string(b))
			return nil
		}, nil
	}
	return nil, fmt.Errorf("graph: credential %q cannot sign users in to the console: use a client secret, a certificate or workload identity", c.Credential)
}

// certificate reads certificate_file (with its password): the
// certificates and the private key of the app's certificate credential.
func (c *Config) certificate() ([]*x509.Certificate, crypto.PrivateKey, error) {
	data, err := os.ReadFile(c.CertificateFile)
	if err != nil {
		return nil, nil, fmt.Errorf("graph: certificate_file: %w", err)
	}
	var pw []byte
	if c.CertificatePassword.IsSet() {
		pw = []byte(c.CertificatePassword.Reveal())
	}
	certs, key, err := azidentity.ParseCertificates(data, pw)
	if err != nil {
		return nil, nil, fmt.Errorf("graph: certificate_file %s: %w", c.CertificateFile, err)
	}
	return certs, key, nil
}
