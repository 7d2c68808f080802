package graph

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/groupwriteback/groupwriteback/internal/graphsim"
)

// TestManagedIdentity signs in with azidentity's managed identity
// credential, through the App Service endpoint graphsim serves.
func TestManagedIdentity(t *testing.T) {
	tf := testTenant()
	tf.ManagedIdentities = []graphsim.ManagedIdentity{{ClientID: readerApp, IdentityHeader: "host-secret", SystemAssigned: true}}
	s := startSim(t, tf, graphsim.Faults{})
	t.Setenv("IDENTITY_ENDPOINT", s.inst.URL+"/msi/token")
	for _, tc := range []struct {
		name, header, clientID string
		ok                     bool
	}{
		// MSAL caches managed identity tokens for the whole process: the
		// refused request goes first, before any token is cached.
		{"wrong host secret", "guess", "", false},
		{"system-assigned", "host-secret", "", true},
		{"user-assigned", "host-secret", readerApp, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("IDENTITY_HEADER", tc.header)
			c := newSimClient(t, s, Config{Credential: CredentialManagedIdentity, ClientID: tc.clientID})
			r, err := c.GroupsDelta(context.Background(), "")
			if tc.ok && (err != nil || len(r.Changes) != 4) {
				t.Fatalf("read with managed identity: %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatal("a wrong identity header got a token")
			}
		})
	}
}

// TestWorkloadIdentity signs in with azidentity's workload identity
// credential: a token of an external issuer, read from a file, exchanged
// through the app's federated identity credential.
func TestWorkloadIdentity(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	const issuer = "https://oidc.cluster.example.test"
	tf := testTenant()
	tf.Applications[0].FederatedIdentityCredentials = []graphsim.FederatedIdentityCredential{{Issuer: issuer,
		Subject: "system:serviceaccount:identity:groupwriteback", Audiences: []string{"api://AzureADTokenExchange"},
		PublicKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}}
	s := startSim(t, tf, graphsim.Faults{})
	for _, tc := range []struct {
		name, subject string
		ok            bool
	}{{"trusted subject", "system:serviceaccount:identity:groupwriteback", true}, {"other subject", "system:serviceaccount:default:other", false}} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": issuer, "sub": tc.subject,
				"aud": []string{"api://AzureADTokenExchange"}, "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}).SignedString(key)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "token")
			if err := os.WriteFile(file, []byte(tok), 0o600); err != nil {
				t.Fatal(err)
			}
			c := newSimClient(t, s, Config{TenantID: testTenantID, ClientID: readerApp, Credential: CredentialWorkloadIdentity, FederatedTokenFile: file})
			r, err := c.GroupsDelta(context.Background(), "")
			if tc.ok && (err != nil || len(r.Changes) != 4) {
				t.Fatalf("read with workload identity: %v", err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), "AADSTS700027")) {
				t.Fatalf("untrusted subject: %v", err)
			}
		})
	}
}
