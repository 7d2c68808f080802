package alert_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/alert"
)

type memory map[string]string

func (m memory) Meta(_ context.Context, k string) (string, error) { return m[k], nil }
func (m memory) SetMeta(_ context.Context, k, v string) error     { m[k] = v; return nil }

// receiver is a local webhook that keeps what it is sent.
type receiver struct {
	mu     sync.Mutex
	bodies []map[string]any
	status int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, _ := io.ReadAll(req.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if req.Header.Get("Content-Type") != "application/json" {
		m = map[string]any{"wrong content type": req.Header.Get("Content-Type")}
	}
	if r.status != 0 {
		w.WriteHeader(r.status)
		return
	}
	r.bodies = append(r.bodies, m)
}

func (r *receiver) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, b := range r.bodies {
		out = append(out, b["alert"].(string))
	}
	return out
}

func setup(t *testing.T, format string) (*alert.Notifier, *receiver, *time.Time) {
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	n := alert.New(alert.Config{URL: srv.URL, Format: format, Repeat: 6 * time.Hour, Instance: "wb01", Memory: memory{},
		Now: func() time.Time { return now }})
	return n, rcv, &now
}

func TestPayloads(t *testing.T) {
	for _, tc := range []struct {
		format string
		check  func(map[string]any) bool
	}{
		{alert.FormatJSON, func(m map[string]any) bool {
			return m["version"] == 1.0 && m["kind"] == "alert" && m["alert"] == alert.CycleFailed && m["severity"] == "error" &&
				m["instance"] == "wb01" && m["summary"] == "the cycle failed: bind failed" && m["time"] == "2026-11-28T09:00:00Z"
		}},
		{alert.FormatSlack, func(m map[string]any) bool {
			return len(m) == 1 && m["text"] == "groupwriteback on wb01: the cycle failed: bind failed"
		}},
		{alert.FormatTeams, func(m map[string]any) bool {
			return m["@type"] == "MessageCard" && m["themeColor"] == "D13438" && m["text"] == "groupwriteback on wb01: the cycle failed: bind failed"
		}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			n, rcv, _ := setup(t, tc.format)
			sent, err := n.Send(context.Background(), alert.Alert{Kind: alert.CycleFailed, Severity: "error", Summary: "the cycle failed: bind failed"})
			if !sent || err != nil || len(rcv.bodies) != 1 || !tc.check(rcv.bodies[0]) {
				t.Fatalf("sent %v, %v: %v", sent, err, rcv.bodies)
			}
		})
	}
}

func TestRateLimitAndFailedWebhook(t *testing.T) {
	n, rcv, now := setup(t, alert.FormatJSON)
	ctx := context.Background()
	a := alert.Alert{Kind: alert.DeletesHeldBack, Severity: "warning", Summary: "held back"}
	for range 3 {
		if _, err := n.Send(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if len(rcv.bodies) != 1 {
		t.Fatalf("%d alerts within repeat_after, want 1", len(rcv.bodies))
	}
	*now = now.Add(6 * time.Hour)
	rcv.status = http.StatusInternalServerError
	if sent, err := n.Send(ctx, a); sent || err == nil {
		t.Fatalf("a webhook answering 500: sent %v, %v", sent, err)
	}
	rcv.status = 0
	if sent, err := n.Send(ctx, a); !sent || err != nil || len(rcv.bodies) != 2 {
		t.Fatalf("after the failed call, the alert goes out: %v %v %d", sent, err, len(rcv.bodies))
	}
	if sent, _ := (*alert.Notifier)(nil).Send(ctx, a); sent {
		t.Fatal("a notifier without a URL sent")
	}
}

func TestAfterCycle(t *testing.T) {
	n, rcv, now := setup(t, alert.FormatJSON)
	ctx := context.Background()
	week := 7 * 24 * time.Hour
	steps := []struct {
		cycle alert.Cycle
		want  []string
	}{
		{alert.Cycle{Err: errors.New("bind failed")}, []string{alert.CycleFailed}},
		{alert.Cycle{Err: errors.New("bind failed")}, nil}, // repeat_after
		{alert.Cycle{}, []string{alert.CycleRecovered}},
		{alert.Cycle{}, nil},
		{alert.Cycle{Err: errors.New("bind failed")}, []string{alert.CycleFailed}}, // a new failure is told at once
		{alert.Cycle{Disabled: true}, []string{alert.CycleRecovered, alert.WritebackDisabled}},
		{alert.Cycle{HeldBack: []string{"Team 1", "Team 2"}, Threshold: "run sync --allow-deletes 2"}, []string{alert.DeletesHeldBack}},
		{alert.Cycle{Staging: true}, nil}, // staging starts now
	}
	for i, st := range steps {
		before := len(rcv.kinds())
		if err := n.AfterCycle(ctx, st.cycle, week); err != nil {
			t.Fatal(err)
		}
		got := rcv.kinds()[before:]
		if len(got) != len(st.want) || (len(got) > 0 && (got[0] != st.want[0] || got[len(got)-1] != st.want[len(st.want)-1])) {
			t.Fatalf("step %d (%+v): sent %v, want %v", i, st.cycle, got, st.want)
		}
		*now = now.Add(time.Minute)
	}
	*now = now.Add(week)
	if err := n.AfterCycle(ctx, alert.Cycle{Staging: true}, week); err != nil {
		t.Fatal(err)
	}
	if k := rcv.kinds(); k[len(k)-1] != alert.StagingLeftOn {
		t.Fatalf("after a week in staging: %v", k)
	}
	last := rcv.bodies[len(rcv.bodies)-2]
	if d := last["details"].(map[string]any); len(d["groups"].([]any)) != 2 || last["summary"] != "2 deletes or quarantines held back by the delete threshold (Team 1, Team 2): run sync --allow-deletes 2" {
		t.Fatalf("held back alert: %v", last)
	}
}

// A webhook URL is a secret: errors show its scheme and host only, and a
// redirect is not followed (it would carry the alert, and the URL in
// Referer, to another host).
func TestWebhookSecretStaysPut(t *testing.T) {
	ctx := context.Background()
	var elsewhere sync.Mutex
	reached := false
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Lock()
		reached = true
		elsewhere.Unlock()
	}))
	defer other.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/collect", http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	const secretPath = "/hooks/T000/B000/XXXXsecretXXXX"
	n := alert.New(alert.Config{URL: redirect.URL + secretPath + "?sig=topsecret", Memory: memory{}})
	_, err := n.Send(ctx, alert.Alert{Kind: alert.CycleFailed, Severity: "error", Summary: "x"})
	if err == nil || !strings.Contains(err.Error(), "redirect, which is not followed") {
		t.Fatalf("a redirect: %v", err)
	}
	elsewhere.Lock()
	if reached {
		t.Fatal("the redirect was followed")
	}
	elsewhere.Unlock()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, url := range []string{redirect.URL + secretPath + "?sig=topsecret", closed.URL + secretPath + "?sig=topsecret"} {
		_, err := alert.New(alert.Config{URL: url, Memory: memory{}}).Send(ctx, alert.Alert{Kind: alert.CycleFailed, Summary: "x"})
		if err == nil || strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "hooks") || !strings.Contains(err.Error(), "http://127.0.0.1") {
			t.Errorf("error shows the URL's secret part, or no host: %v", err)
		}
	}
	if got := alert.Redact("https://outlook.office.com/webhook/abc@def/IncomingWebhook/123?x=1"); got != "https://outlook.office.com" {
		t.Errorf("Redact = %q", got)
	}
}

// brokenMemory is a state that cannot be read (the database is down).
type brokenMemory struct{ writes int }

func (m *brokenMemory) Meta(context.Context, string) (string, error) {
	return "", errors.New("database unreachable")
}
func (m *brokenMemory) SetMeta(context.Context, string, string) error {
	m.writes++
	return errors.New("database unreachable")
}

// A state that cannot be read neither resets "staging since" nor makes
// every cycle alert again: the alert goes out once per repeat period of
// the process, and the error is told.
func TestAlertsWhenTheStateCannotBeRead(t *testing.T) {
	ctx := context.Background()
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	mem := &brokenMemory{}
	n := alert.New(alert.Config{URL: srv.URL, Repeat: time.Hour, Memory: mem, Now: func() time.Time { return now }})
	for range 3 {
		if err := n.AfterCycle(ctx, alert.Cycle{Err: errors.New("the DC is gone"), Staging: true}, time.Minute); err == nil {
			t.Fatal("the memory's error is not told")
		}
	}
	if got := rcv.kinds(); len(got) != 1 || got[0] != alert.CycleFailed {
		t.Fatalf("alerts sent: %v, want one cycle_failed", got)
	}
	if mem.writes != 1 { // the cycle_failed alert's own record; staging_since is left alone
		t.Fatalf("%d writes to the unreadable state", mem.writes)
	}
	now = now.Add(time.Hour)
	_ = n.AfterCycle(ctx, alert.Cycle{Err: errors.New("the DC is gone")}, 0)
	if got := rcv.kinds(); len(got) != 2 {
		t.Fatalf("after the repeat period: %v", got)
	}
}

// explained says itself, as the adapters' errors do.
type explained struct{}

func (explained) Error() string {
	return `directory: bind: LDAP Result Code 49 "Invalid Credentials": 80090308`
}
func (explained) Explain() (string, string) {
	return "AD refused the service account's sign-in", "check directory.password_file"
}

func TestCycleFailedLeadsWithTheSummary(t *testing.T) {
	n, rcv, _ := setup(t, alert.FormatJSON)
	if err := n.AfterCycle(context.Background(), alert.Cycle{Err: fmt.Errorf("engine: connect: %w", explained{})}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if len(rcv.bodies) != 1 {
		t.Fatalf("sent %d alerts", len(rcv.bodies))
	}
	b := rcv.bodies[0]
	d, _ := b["details"].(map[string]any)
	if b["summary"] != "the cycle failed: AD refused the service account's sign-in" || d["fix"] != "check directory.password_file" ||
		d["detail"] != `engine: connect: directory: bind: LDAP Result Code 49 "Invalid Credentials": 80090308` {
		t.Errorf("alert: %v", b)
	}
}

// An event goes out each time, never held back by repeat_after, and says
// it is an event; a failing webhook is an error.
func TestEventsAreNotRateLimited(t *testing.T) {
	n, rcv, _ := setup(t, alert.FormatJSON)
	ctx := context.Background()
	ev := alert.Alert{Kind: alert.GroupInStep, Severity: "info", Summary: "AD now matches VPN users", Details: map[string]any{"cloudId": "g1"}}
	for range 3 {
		if err := n.Event(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if len(rcv.bodies) != 3 || rcv.bodies[0]["kind"] != "event" || rcv.bodies[0]["alert"] != alert.GroupInStep ||
		rcv.bodies[2]["details"].(map[string]any)["cloudId"] != "g1" {
		t.Fatalf("events: %v", rcv.bodies)
	}
	rcv.status = http.StatusBadGateway
	if err := n.Event(ctx, ev); err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("an event to a failing webhook: %v", err)
	}
	if err := (*alert.Notifier)(nil).Event(ctx, ev); err != nil {
		t.Fatal(err)
	}
}
