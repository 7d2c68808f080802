package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/audit"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

// notifyService runs the service of a dcSetup configuration with change
// notifications on: HTTPS with a certificate graphsim trusts, the
// notification URL on it, and a 30-minute schedule, so that only a
// notification explains a cycle within seconds.
func notifyService(t *testing.T, cfg string, extra string) (base string, client *http.Client, logs *syncBuffer) {
	t.Helper()
	sim := sims[cfg]
	dir := filepath.Dir(cfg)
	cert, err := sim.CA.Server("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "https.pem"), cert.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "https-key.pem"), cert.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	b, _ := os.ReadFile(cfg)
	b = append(b, []byte("server:\n  listen: "+addr+"\n  tls_cert_file: https.pem\n  tls_key_file: https-key.pem\n"+
		"notifications:\n  public_url: https://"+addr+"/graph/notifications\n  check_interval: 1m\n  debounce: 500ms\nschedule:\n  interval: 30m\n"+extra)...)
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: sim.CA.Pool()}}}
	base, logs, _ = startServiceOn(t, cfg, "https://"+addr, client)
	return base, client, logs
}

// With notifications on, the service subscribes (graphsim validates its
// URL), and a change in the cloud reaches AD within seconds, not at the
// next interval; the status page says what it holds; a forged post is
// ignored; disabling writeback deletes the subscriptions.
func TestServiceNotificationsBringAChangeWithinSeconds(t *testing.T) {
	cfg, ou, tenant := dcSetup(t, testdc.Options{Exchange: true, Anchor: true}, 21)
	if _, _, code := runCLI(t, "--config", cfg, "enable"); code != exitOK {
		t.Fatal("enable failed")
	}
	sim := sims[cfg]
	var mu sync.Mutex
	var events []map[string]any
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		defer mu.Unlock()
		if m["kind"] == "event" {
			events = append(events, m)
		}
	}))
	defer rcv.Close()
	base, client, logs := notifyService(t, cfg, "alerts:\n  webhook_url: "+rcv.URL+"\n  in_step: true\n")
	waitFor(t, "the subscriptions", func() bool { return len(sim.Server.Subscriptions()) == 2 })
	waitFor(t, "the first cycle", func() bool { return strings.Contains(logs.String(), "cycle done") })
	dc := testdc.Shared(t, testdc.Options{Exchange: true, Anchor: true})
	description := func() string {
		es := dc.Search(t, ou, ldap.ScopeWholeSubtree, "(adminDescription=Group_"+gid(21, 4)+")", "description")
		if len(es) != 1 {
			return ""
		}
		return es[0].GetAttributeValue("description")
	}
	if got := description(); got != "" {
		t.Fatalf("description before the change: %q", got)
	}
	changed := time.Now()
	if err := tenant.UpdateGroup(gid(21, 4), map[string]any{"description": "Told by a notification"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the change in AD", func() bool { return description() == "Told by a notification" })
	if took := time.Since(changed); took > 15*time.Second {
		t.Errorf("the change took %v to reach AD", took)
	}
	t.Logf("a cloud change reached AD %v after it was made", time.Since(changed).Round(time.Millisecond))
	// "AD now matches": an event, an audit entry, the latency metric.
	waitFor(t, "the in-step event", func() bool { mu.Lock(); defer mu.Unlock(); return len(events) == 1 })
	mu.Lock()
	ev := events[0]
	mu.Unlock()
	d, _ := ev["details"].(map[string]any)
	if ev["alert"] != "group_in_step" || d["cloudId"] != gid(21, 4) || d["noticedBy"] != "notification" || fmt.Sprint(d["changes"]) != "[description]" ||
		d["seconds"].(float64) <= 0 || d["seconds"].(float64) > 15 {
		t.Errorf("the in-step event: %v", ev)
	}
	entries, err := audit.Read(filepath.Join(filepath.Dir(cfg), "audit.jsonl"), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var inStep []audit.Entry
	for _, en := range entries {
		if en.Outcome == engine.OutcomeInStep {
			inStep = append(inStep, en)
		}
	}
	if len(inStep) != 1 || inStep[0].CloudID != gid(21, 4) || inStep[0].InStep.By != "notification" || inStep[0].InStep.Written.Before(inStep[0].InStep.Noticed) {
		t.Errorf("in-step audit entries: %+v", inStep)
	}
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if m := readAll(t, resp); !strings.Contains(m, "groupwriteback_change_to_ad_seconds_count 1") || !strings.Contains(m, `groupwriteback_notifications_total{result="accepted"} 1`) ||
		!strings.Contains(m, "groupwriteback_notification_subscriptions 2") {
		t.Errorf("metrics:\n%s", m)
	}
	// The status page says what the instance holds.
	resp, err = client.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(t, resp)
	if !strings.Contains(page, "This instance holds the subscriptions") || !strings.Contains(page, "Last notification: 20") {
		t.Errorf("status page:\n%s", page)
	}
	// A post with the wrong clientState is answered and ignored.
	before := strings.Count(logs.String(), "cycle starting")
	resp, err = client.Post(base+"/graph/notifications", "application/json", strings.NewReader(
		`{"value":[{"subscriptionId":"x","clientState":"guess","changeType":"updated","resource":"Groups/`+gid(21, 4)+`","tenantId":"`+tenant.ID()+`","resourceData":{"id":"`+gid(21, 4)+`"}}]}`))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("a forged post: %v %v", err, resp)
	}
	resp.Body.Close()
	time.Sleep(1500 * time.Millisecond)
	if after := strings.Count(logs.String(), "cycle starting"); after != before || !strings.Contains(logs.String(), "wrong clientState") {
		t.Errorf("a forged notification started %d cycles", after-before)
	}
	// status says what the service holds, from the state.
	waitFor(t, "status to show the subscriptions", func() bool {
		out, _, _ := runCLI(t, "--config", cfg, "status")
		return strings.Contains(out, "change notifications to https://") && strings.Contains(out, ": groups until") && strings.Contains(out, ", users until") &&
			!strings.Contains(out, "last notification never")
	})
	// doctor lists what Graph holds and finds the URL answering.
	out, _, code := runCLI(t, "--config", cfg, "doctor")
	if code != exitOK {
		t.Errorf("doctor: exit %d", code)
	}
	for _, want := range []string{"notifications: subscriptions", "Graph holds groups until", "notifications: endpoint", "answers Graph's validation request"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor does not say %q:\n%s", want, out)
		}
	}
	// Disabling writeback deletes the subscriptions.
	out, errOut, code := runCLI(t, "--config", cfg, "disable", "--yes")
	if code != exitOK || !strings.Contains(out, "change notifications: 2 subscriptions deleted") || len(sim.Server.Subscriptions()) != 0 {
		t.Fatalf("disable: exit %d, %d subscriptions left\n%s%s", code, len(sim.Server.Subscriptions()), out, errOut)
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
