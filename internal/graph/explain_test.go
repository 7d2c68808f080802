package graph

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
)

func TestExplain(t *testing.T) {
	cases := []struct {
		name, kind, detail string
		err                error
	}{
		{"azidentity TLS failure (text only)", "tls", "x509: certificate signed by unknown authority",
			errors.New("ClientSecretCredential: unable to resolve an endpoint: server response error:\n Get \"https://login.example/t/v2.0/.well-known/openid-configuration?\": " +
				"tls: failed to verify certificate: x509: certificate signed by unknown authority. To troubleshoot, visit https://aka.ms/azsdk/go/identity/troubleshoot#client-secret")},
		{"azidentity refused connection (text only)", "network", "connection refused",
			errors.New("ClientSecretCredential: unable to resolve an endpoint: server response error:\n Get \"https://127.0.0.1:1/t/v2.0/.well-known/openid-configuration?\": dial tcp 127.0.0.1:1: connect: connection refused. To troubleshoot, visit https://aka.ms")},
		{"typed certificate error", "tls", "x509: certificate signed by unknown authority",
			fmt.Errorf("graph: GET /v1.0/groups: %w", x509.UnknownAuthorityError{})},
		{"typed DNS error", "network", "no such host",
			fmt.Errorf("graph: GET /v1.0/groups: %w", &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "graph.microsoft.com", IsNotFound: true}})},
		{"sign-in refused", "sign-in", "AADSTS7000215: Invalid client secret provided.",
			errors.New(`ClientSecretCredential: authentication failed: {"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}`)},
		{"something else", "", "", errors.New("graph: GET /v1.0/groups: 400 BadRequest")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Explain(tc.err)
			if c.Kind != tc.kind || !strings.Contains(c.Detail, tc.detail) {
				t.Fatalf("Explain = %+v, want kind %q with %q", c, tc.kind, tc.detail)
			}
			if tc.kind == "tls" || tc.kind == "network" {
				if strings.Contains(c.Fix, "secret or certificate") || !strings.Contains(c.Fix, "not at fault") {
					t.Fatalf("fix %q sends the admin to the credentials", c.Fix)
				}
			}
		})
	}
}
