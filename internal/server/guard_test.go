package server

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/testca"
)

// post sends a POST with the given headers.
func post(url string, headers map[string]string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return http.DefaultClient.Do(req)
}

// call makes one request with a Host and headers, returning the status.
func call(t *testing.T, method, url, host string, headers map[string]string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestGuard(t *testing.T) {
	const token = "0123456789abcdef-token"
	cases := []struct {
		name           string
		guard          Guard
		method, path   string
		host           string
		headers        map[string]string
		code, triggers int
	}{
		{"status page on the loopback address", Guard{}, "GET", "/", "", nil, 200, 0},
		{"status page for localhost", Guard{}, "GET", "/", "localhost:8080", nil, 200, 0},
		{"DNS rebinding: another site's name", Guard{}, "GET", "/", "attacker.example:8080", nil, 421, 0},
		{"an allowed name", Guard{Hosts: []string{"wb01.contoso.com"}}, "GET", "/", "WB01.contoso.com:8443", nil, 200, 0},
		{"form POST from another site", Guard{}, "POST", "/sync", "", map[string]string{"Origin": "https://attacker.example", "Content-Type": "application/x-www-form-urlencoded"}, 403, 0},
		{"POST without the header", Guard{}, "POST", "/sync", "", nil, 403, 0},
		{"POST with the header from another origin", Guard{}, "POST", "/sync", "", map[string]string{SyncHeader: "sync", "Origin": "https://attacker.example"}, 403, 0},
		{"POST with the header", Guard{}, "POST", "/sync", "", map[string]string{SyncHeader: "sync"}, 200, 1},
		{"token: page without it", Guard{Token: token}, "GET", "/", "", nil, 401, 0},
		{"token: metrics without it", Guard{Token: token}, "GET", "/metrics", "", nil, 401, 0},
		{"token: wrong token", Guard{Token: token}, "POST", "/sync", "", map[string]string{"Authorization": "Bearer nope", SyncHeader: "sync"}, 401, 0},
		{"token: POST with it", Guard{Token: token}, "POST", "/sync", "", map[string]string{"Authorization": "Bearer " + token}, 200, 1},
		{"token: page with it", Guard{Token: token}, "GET", "/", "", map[string]string{"Authorization": "Bearer " + token}, 200, 0},
		{"token: health stays open", Guard{Token: token}, "GET", "/healthz", "", nil, 200, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &cycles{}
			s := New(c, &history{}, NewMetrics(), time.Hour, notStaging, nil)
			s.Guard = tc.guard
			srv := httptest.NewServer(s.Handler())
			defer srv.Close()
			if code := call(t, tc.method, srv.URL+tc.path, tc.host, tc.headers); code != tc.code || len(c.triggers) != tc.triggers {
				t.Fatalf("%s %s: %d with %d cycles, want %d with %d", tc.method, tc.path, code, len(c.triggers), tc.code, tc.triggers)
			}
		})
	}
}

// TestMutualTLS: with a client CA, a client without a certificate that CA
// signed gets no answer at all.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := testca.New("status CA")
	if err != nil {
		t.Fatal(err)
	}
	srvCert, err := ca.Server("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	caFile, _ := ca.WriteFile(dir, "ca.pem")
	certFile, keyFile := filepath.Join(dir, "srv.pem"), filepath.Join(dir, "srv-key.pem")
	os.WriteFile(certFile, srvCert.CertPEM, 0o600)
	os.WriteFile(keyFile, srvCert.KeyPEM, 0o600)
	tlsCfg, err := TLSConfig(certFile, keyFile, caFile)
	if err != nil {
		t.Fatal(err)
	}
	s := New(&cycles{}, &history{}, NewMetrics(), time.Hour, notStaging, nil)
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.TLS = tlsCfg
	srv.StartTLS()
	defer srv.Close()
	pool := ca.Pool()
	noCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if _, err := noCert.Get(srv.URL + "/"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client without a certificate: %v", err)
	}
	clientCert, err := ca.Client("monitoring")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(clientCert.CertPEM, clientCert.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	withCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}}}
	resp, err := withCert.Get(srv.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("a client with a certificate: %v %v", err, resp)
	}
	resp.Body.Close()
}

// TestConsoleBehindItsOwnGuard: the console signs its users in itself, so
// the bearer token does not open it and it does not need one; the host
// check and the refusal of another origin's POST stand in front of it,
// and every other path still needs the token.
func TestConsoleBehindItsOwnGuard(t *testing.T) {
	const token = "0123456789abcdef-token"
	served := 0
	s := New(&cycles{}, &history{}, NewMetrics(), time.Hour, notStaging, nil)
	s.Guard = Guard{Token: token}
	s.Console = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served++ })
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for _, tc := range []struct {
		name, method, path, host string
		headers                  map[string]string
		code, served             int
	}{
		{"a console page, no token", "GET", "/console/", "", nil, 200, 1},
		{"a console form, same origin", "POST", "/console/held", "", map[string]string{"Origin": srv.URL}, 200, 2},
		{"a console form from another site", "POST", "/console/held", "", map[string]string{"Origin": "https://attacker.example"}, 403, 2},
		{"the console for another host", "GET", "/console/", "attacker.example", nil, 421, 2},
		{"the status page still needs the token", "GET", "/", "", nil, 401, 2},
	} {
		if code := call(t, tc.method, srv.URL+tc.path, tc.host, tc.headers); code != tc.code || served != tc.served {
			t.Errorf("%s: %d (console served %d), want %d (%d)", tc.name, code, served, tc.code, tc.served)
		}
	}
}
