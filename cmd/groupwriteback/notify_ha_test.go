//go:build linux

package main

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/testdc"
	"github.com/groupwriteback/groupwriteback/internal/testpg"
)

// Two instances share a PostgreSQL state; Graph's notification URL leads
// to the standby (a reverse proxy may send a post to either). The active
// one holds the subscriptions, and a notification the standby receives
// makes the active one cycle within seconds. When the active one stops,
// the other takes over and keeps the same subscriptions, found by their
// URL, rather than make new ones.
func TestHANotificationsReachTheActive(t *testing.T) {
	cfg, ou, tenant := dcSetup(t, testdc.Options{Exchange: true, Anchor: true}, 22)
	sim := sims[cfg]
	url := testpg.Shared(t).NewDB(t)
	dir := filepath.Dir(cfg)
	cert, err := sim.CA.Server("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"https.pem": cert.CertPEM, "https-key.pem": cert.KeyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base, _ := os.ReadFile(cfg)
	addrA, addrB := freePort(t), freePort(t)
	public := "https://" + addrB + "/graph/notifications" // the standby's
	write := func(name, addr string) string {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		c := strings.Replace(string(base), "ca_file: ca.pem", "ca_file: "+filepath.Join(dir, "ca.pem"), 1) + fmt.Sprintf(
			"state:\n  url: %s\nha:\n  instance: %s\n  lease: 3s\n  renew_interval: 1s\nserver:\n  listen: %s\n  tls_cert_file: %s\n  tls_key_file: %s\n"+
				"notifications:\n  public_url: %s\n  check_interval: 1m\n  debounce: 200ms\nschedule:\n  interval: 30m\n",
			url, name, addr, filepath.Join(dir, "https.pem"), filepath.Join(dir, "https-key.pem"), public)
		p := filepath.Join(d, "config.yaml")
		if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfgA, cfgB := write("gwb-a", addrA), write("gwb-b", addrB)
	if _, errOut, code := runCLI(t, "--config", cfgA, "enable"); code != exitOK {
		t.Fatalf("enable on the shared state: %s", errOut)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: sim.CA.Pool()}}}
	_, logsA, stopA := startServiceOn(t, cfgA, "https://"+addrA, client)
	waitFor(t, "gwb-a's first cycle", func() bool { return strings.Contains(logsA.String(), "cycle done") })
	_, logsB, _ := startServiceOn(t, cfgB, "https://"+addrB, client)
	waitFor(t, "the subscriptions", func() bool { return len(sim.Server.Subscriptions()) == 2 })
	held := sim.Server.Subscriptions()

	dc := testdc.Shared(t, testdc.Options{Exchange: true, Anchor: true})
	description := func() string {
		es := dc.Search(t, ou, ldap.ScopeWholeSubtree, "(adminDescription=Group_"+gid(22, 4)+")", "description")
		if len(es) != 1 {
			return ""
		}
		return es[0].GetAttributeValue("description")
	}
	change := func(to string) time.Duration {
		t.Helper()
		start := time.Now()
		if err := tenant.UpdateGroup(gid(22, 4), map[string]any{"description": to}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the change "+to+" in AD", func() bool { return description() == to })
		return time.Since(start)
	}
	// The notification reaches the standby; the active one writes.
	took := change("Told through the standby")
	t.Logf("a notification at the standby: the change reached AD %v after it was made", took.Round(time.Millisecond))
	if took > 15*time.Second {
		t.Errorf("the change took %v", took)
	}
	// The active one's cycle answered it (the schedule's next is 30
	// minutes away).
	if !strings.Contains(logsA.String(), "notifications=1") {
		t.Errorf("gwb-a's log says no cycle answered a notification:\n%s", logsA)
	}
	// The active stops; the standby takes over and keeps the same
	// subscriptions.
	stopA()
	waitFor(t, "gwb-b active", func() bool { return strings.Contains(logsB.String(), "took the writer lease") })
	waitFor(t, "gwb-b holding the subscriptions", func() bool {
		resp, err := client.Get("https://" + addrB + "/")
		if err != nil {
			return false
		}
		return strings.Contains(readAll(t, resp), "This instance holds the subscriptions")
	})
	if now := sim.Server.Subscriptions(); len(now) != 2 || now[0].ID != held[0].ID || now[1].ID != held[1].ID {
		t.Fatalf("after the take-over the subscriptions are %+v, want the ones gwb-a made: %+v", now, held)
	}
	took = change("Told the new active")
	t.Logf("after the take-over: the change reached AD %v after it was made", took.Round(time.Millisecond))
}
