package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCommand starts graphsim as the README does, reads the URL it prints,
// and gets a token with the sample tenant's admin app, trusting its CA.
func TestCommand(t *testing.T) {
	base, hc, stop := startCommand(t, "-tenant", "../../examples/tenant.json")
	resp, err := hc.PostForm(base+"/7a1c3f9e-2b4d-4e8a-9c61-0d5e8f2a1b3c/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {"0d3c6a70-1f3b-4a4e-8d2c-9b8e7f6a5d40"},
		"client_secret": {"demo-admin-secret"}, "scope": {base + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"access_token"`) {
		t.Fatalf("token: %d %s", resp.StatusCode, body)
	}
	stop()
	if err := run(context.Background(), []string{"-listen", "127.0.0.1:0"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "-tenant is required") {
		t.Fatalf("without -tenant: %v", err)
	}
}

// TestReplayCommand: graphsim -replay serves a recording (the fixture made
// from the sample tenant) to the recorded app signing in with "replay".
func TestReplayCommand(t *testing.T) {
	base, hc, stop := startCommand(t, "-replay", "../../internal/recording/testdata/sample")
	resp, err := hc.PostForm(base+"/7a1c3f9e-2b4d-4e8a-9c61-0d5e8f2a1b3c/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {"5b0f8a8e-3b55-4c5e-9f5c-1f6f0f2d7e10"},
		"client_secret": {"replay"}, "scope": {base + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	req, _ := http.NewRequest("GET", base+"/v1.0/groupSettings", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"value"`) {
		t.Fatalf("a recorded answer: %d %s", resp.StatusCode, body)
	}
	req, _ = http.NewRequest("GET", base+"/v1.0/groups?never=recorded", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if resp, err = hc.Do(req); err != nil || resp.StatusCode != 404 {
		t.Fatalf("an answer not recorded: %v %v", err, resp)
	}
	stop()
}

// startCommand runs the graphsim command with args (and a -cert-dir), reads
// the base URL it prints, and returns it with a client trusting its CA and
// a stop function that checks the command ended cleanly.
func startCommand(t *testing.T, args ...string) (string, *http.Client, func()) {
	t.Helper()
	dir := t.TempDir()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append(args, "-listen", "127.0.0.1:0", "-cert-dir", dir, "-log-level", "warn"), pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSpace(line)
	if !strings.HasPrefix(base, "https://127.0.0.1:") {
		t.Fatalf("printed %q", line)
	}
	go io.Copy(io.Discard, pr)
	pem, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	return base, hc, func() {
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("run: %v", err)
		}
	}
}
