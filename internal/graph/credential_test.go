package graph

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/graphsim"
	"github.com/groupwriteback/groupwriteback/internal/testca"
)

// TestCertificateCredential signs in with azidentity's certificate
// credential: MSAL builds and signs the client assertion, graphsim checks it
// against the app's keyCredentials.
func TestCertificateCredential(t *testing.T) {
	ca, err := testca.New("app certs")
	if err != nil {
		t.Fatal(err)
	}
	good, err := ca.Client("groupwriteback")
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.Client("someone else")
	if err != nil {
		t.Fatal(err)
	}
	tf := testTenant()
	tf.Applications[0].KeyCredentials = []graphsim.KeyCredential{{Key: base64.StdEncoding.EncodeToString(good.Cert.Raw), Type: "AsymmetricX509Cert"}}
	s := startSim(t, tf, graphsim.Faults{})
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		issued *testca.Issued
		ok     bool
	}{{"registered certificate", good, true}, {"unregistered certificate", other, false}} {
		t.Run(tc.name, func(t *testing.T) {
			pemFile := filepath.Join(dir, tc.name+".pem")
			if err := os.WriteFile(pemFile, append(append([]byte{}, tc.issued.CertPEM...), tc.issued.KeyPEM...), 0o600); err != nil {
				t.Fatal(err)
			}
			c := newSimClient(t, s, Config{TenantID: testTenantID, ClientID: readerApp, CertificateFile: pemFile})
			r, err := c.GroupsDelta(context.Background(), "")
			if tc.ok && (err != nil || len(r.Changes) != 4) {
				t.Fatalf("read with certificate: %v", err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), "AADSTS700027")) {
				t.Fatalf("err = %v, want AADSTS700027 (assertion failed validation)", err)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name, header string
		want         time.Duration
	}{
		{"seconds", "7", 7 * time.Second},
		{"zero", "0", 0},
		{"HTTP date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"date in the past", now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"garbage", "soon", 0},
		{"absent", "", 0},
		{"negative", "-3", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.header != "" {
				h.Set("Retry-After", tc.header)
			}
			if got := retryAfter(h, now); got != tc.want {
				t.Fatalf("Retry-After %q = %v, want %v", tc.header, got, tc.want)
			}
		})
	}
}
