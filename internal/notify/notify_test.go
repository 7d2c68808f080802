package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/graph"
	"github.com/groupwriteback/groupwriteback/internal/graphsim"
	"github.com/groupwriteback/groupwriteback/internal/secret"
)

const (
	tenantID  = "7a1c3f9e-2b4d-4e8a-9c61-0d5e8f2a1b3c"
	appID     = "11111111-1111-4111-8111-111111111111"
	appSecret = "reader-secret-value"
	groupID   = "b0000000-0000-4000-8000-000000000002"
	userID    = "a0000000-0000-4000-8000-000000000001"
)

// counter counts nudges and what the handler observed.
type counter struct {
	nudges atomic.Int64
	mu     sync.Mutex
	seen   map[string]int
}

func (c *counter) Nudge() { c.nudges.Add(1) }
func (c *counter) ObserveNotification(r string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]int{}
	}
	c.seen[r]++
}
func (c *counter) count(r string) int { c.mu.Lock(); defer c.mu.Unlock(); return c.seen[r] }

// world is graphsim, a Graph client of it, and the service's notification
// endpoint (the handler, on HTTPS with a certificate graphsim trusts),
// with a manager keeping its subscriptions.
type world struct {
	inst    *graphsim.Instance
	client  *graph.Client
	srv     *httptest.Server
	handler *Handler
	manager *Manager
	c       *counter
	url     string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	inst, err := graphsim.Start(graphsim.Options{CertDir: t.TempDir(), Tenant: &graphsim.TenantFile{TenantID: tenantID,
		Applications: []graphsim.Application{{AppID: appID, PasswordCredentials: []graphsim.PasswordCredential{{SecretText: appSecret}},
			GrantedApplicationPermissions: []string{"Group.Read.All", "User.Read.All"}}},
		Users:  []map[string]any{{"id": userID, "displayName": "Ann", "userPrincipalName": "ann@contoso.test"}},
		Groups: []map[string]any{{"id": groupID, "displayName": "VPN", "mailEnabled": false, "mailNickname": "vpn", "securityEnabled": true}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	cfg := graph.Config{TenantID: tenantID, ClientID: appID, ClientSecret: secret.New(appSecret), GraphURL: inst.URL, AuthorityURL: inst.URL, CAFile: inst.CAFile}
	if err := cfg.Complete("cloud."); err != nil {
		t.Fatal(err)
	}
	client, err := cfg.Open(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{inst: inst, client: client, c: &counter{}}
	state := "a-secret-of-this-service"
	w.handler = &Handler{ClientState: func() string { return state }, TenantID: tenantID, Trigger: w.c, Observer: w.c}
	mux := http.NewServeMux()
	mux.Handle("/graph/notifications", w.handler)
	mux.Handle("/graph/notifications/lifecycle", w.handler)
	w.srv = httptest.NewUnstartedServer(mux)
	cert, err := inst.CA.Server("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	w.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
	w.srv.StartTLS()
	t.Cleanup(w.srv.Close)
	w.url = w.srv.URL + "/graph/notifications"
	w.manager = NewManager(Config{URL: w.url, ClientState: func() string { return state }}, client, w.c, nil, nil)
	w.handler.Lifecycle = w.manager
	return w
}

// groupsSubscription is the subscription to groups graphsim holds.
func (w *world) groupsSubscription() graphsim.SubscriptionInfo {
	for _, s := range w.inst.Server.Subscriptions() {
		if s.Resource == "groups" {
			return s
		}
	}
	return graphsim.SubscriptionInfo{}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// The handshake: Graph's validation request is answered with its token,
// so Graph makes the subscriptions; a change then nudges a cycle.
func TestSubscribeAndNotify(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.manager.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	subs := w.inst.Server.Subscriptions()
	if len(subs) != 2 || w.c.count("validation") != 4 {
		t.Fatalf("subscriptions %+v after %d validations; want groups and users, each with both URLs validated", subs, w.c.count("validation"))
	}
	st := w.manager.Status()
	if len(st.Held) != 2 || st.Created != 2 || st.LastError != "" || time.Until(st.Held[0].Expires) < 28*24*time.Hour {
		t.Fatalf("status %+v", st)
	}
	// A second check changes nothing.
	if err := w.manager.Ensure(ctx); err != nil || len(w.inst.Server.Subscriptions()) != 2 || w.manager.Status().Created != 2 {
		t.Fatalf("the second check: %v, %+v", err, w.manager.Status())
	}
	if err := w.inst.Server.Tenant().AddMember(groupID, userID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a nudge", func() bool { return w.c.nudges.Load() == 1 })
	if got := w.handler.Noticed(); len(got) != 1 || got[groupID].IsZero() {
		t.Errorf("noticed %v, want the group", got)
	}
	if w.handler.Last().IsZero() || w.c.count("accepted") != 1 {
		t.Errorf("last %v, accepted %d", w.handler.Last(), w.c.count("accepted"))
	}
	// Remove deletes them (writeback disabled).
	if n, err := w.manager.Remove(ctx); err != nil || n != 2 || len(w.inst.Server.Subscriptions()) != 0 {
		t.Fatalf("remove: %d, %v; %d left", n, err, len(w.inst.Server.Subscriptions()))
	}
}

// A notification whose clientState is not this service's is answered
// (Graph must not retry it) and never acted on; so is one of another
// tenant, and a post that is no notification is refused.
func TestHandlerRefusesWhatIsNotGraphs(t *testing.T) {
	c := &counter{}
	h := &Handler{ClientState: func() string { return "right" }, TenantID: tenantID, Trigger: c, Observer: c}
	post := func(body, ctype, query string) int {
		req := httptest.NewRequest(http.MethodPost, "/graph/notifications"+query, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	item := func(state, tenant string) string {
		return `{"value":[{"subscriptionId":"s1","clientState":"` + state + `","changeType":"updated","resource":"Groups/g1","tenantId":"` + tenant + `","resourceData":{"id":"g1"}}]}`
	}
	for _, tc := range []struct {
		name, body, ctype string
		status            int
		result            string
	}{
		{"a wrong clientState", item("wrong", tenantID), "application/json", 202, "bad_client_state"},
		{"no clientState", item("", tenantID), "application/json", 202, "bad_client_state"},
		{"another tenant", item("right", "00000000-0000-4000-8000-000000000000"), "application/json", 202, "other_tenant"},
		{"not JSON", "{", "application/json", 400, "malformed"},
		{"not application/json", item("right", tenantID), "text/plain", 415, "malformed"},
	} {
		if got := post(tc.body, tc.ctype, ""); got != tc.status || c.count(tc.result) == 0 {
			t.Errorf("%s: %d (%v), want %d counted as %s", tc.name, got, c.seen, tc.status, tc.result)
		}
	}
	if n := c.nudges.Load(); n != 0 || len(h.Noticed()) != 0 {
		t.Fatalf("%d nudges from posts that are not Graph's", n)
	}
	if got := post(strings.Repeat("x", maxBody+1), "application/json", ""); got != http.StatusRequestEntityTooLarge {
		t.Errorf("a 1 MiB post: %d", got)
	}
	// The right one, in a batch beside a wrong one: one nudge.
	batch := `{"value":[` + strings.TrimSuffix(strings.TrimPrefix(item("right", tenantID), `{"value":[`), `]}`) + `,` +
		strings.TrimSuffix(strings.TrimPrefix(item("wrong", tenantID), `{"value":[`), `]}`) + `]}`
	if got := post(batch, "application/json; charset=utf-8", ""); got != 202 || c.nudges.Load() != 1 {
		t.Errorf("a batch with one good item: %d, %d nudges", got, c.nudges.Load())
	}
	// The validation token comes back as text, and only a POST is answered.
	req := httptest.NewRequest(http.MethodPost, "/graph/notifications?validationToken=Validation%3A+Testing+%3Cb%3E", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Body.String() != "Validation: Testing <b>" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") ||
		rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("validation: %d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/graph/notifications?validationToken=x", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/graph/notifications?validationToken="+strings.Repeat("x", maxToken+1), bytes.NewReader(nil)))
	if rec.Code != 400 {
		t.Errorf("a long token: %d", rec.Code)
	}
}

// Renewal: a subscription with less than RenewBefore left is renewed to
// the longest lifetime Graph allows.
func TestRenewal(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.manager.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	before := w.inst.Server.Subscriptions()
	// Fifteen days later less than fourteen are left.
	w.inst.Server.Tenant().Advance(15 * 24 * time.Hour)
	w.manager.now = func() time.Time { return time.Now().Add(15 * 24 * time.Hour) }
	if err := w.manager.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	after := w.inst.Server.Subscriptions()
	if len(after) != 2 || after[0].ID != before[0].ID || !after[0].Expires.After(before[0].Expires.Add(14*24*time.Hour)) || w.manager.Status().Renewed != 2 {
		t.Fatalf("before %+v, after %+v, status %+v", before, after, w.manager.Status())
	}
	if w.c.nudges.Load() != 0 {
		t.Errorf("a renewal nudged a cycle")
	}
}

// A subscription Graph dropped without a word is made again at the next
// check, and a delta cycle reads what changed meanwhile.
func TestVanishedSubscriptionIsRemade(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.manager.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	groups := w.groupsSubscription()
	if err := w.inst.Server.Vanish(groups.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.manager.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	subs := w.inst.Server.Subscriptions()
	if len(subs) != 2 || w.manager.Status().Recreated != 1 || w.c.nudges.Load() != 1 {
		t.Fatalf("after the groups subscription vanished: %+v, status %+v, %d nudges", subs, w.manager.Status(), w.c.nudges.Load())
	}
	// Two subscriptions to one resource (two instances once both made
	// one): the extra goes.
	if _, err := w.client.CreateSubscription(ctx, cloud.Subscription{Resource: "groups", ChangeType: "updated", NotificationURL: w.url,
		ClientState: "a-secret-of-this-service", Expires: time.Now().Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := w.manager.Ensure(ctx); err != nil || len(w.inst.Server.Subscriptions()) != 2 {
		t.Fatalf("the extra subscription: %v, %+v", err, w.inst.Server.Subscriptions())
	}
}

// reauthorizationRequired: Graph stops delivering and says so on the
// lifecycle URL; the manager reauthorizes, delivery resumes, and a delta
// cycle reads what was not delivered meanwhile.
func TestReauthorization(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.manager.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	groups := w.groupsSubscription()
	if err := w.inst.Server.RequireReauthorization(groups.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reauthorization", func() bool { return w.manager.Status().Reauthorized == 1 })
	waitFor(t, "the nudge after it", func() bool { return w.c.nudges.Load() == 1 })
	if s := w.inst.Server.Subscriptions(); s[0].Paused || s[1].Paused {
		t.Fatalf("still paused: %+v", s)
	}
	if err := w.inst.Server.Tenant().UpdateGroup(groupID, map[string]any{"description": "after"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the notification after reauthorization", func() bool { return w.c.nudges.Load() == 2 })
	// A reauthorization of a subscription that is gone makes it again.
	if err := w.inst.Server.RequireReauthorization(groups.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.inst.Server.Vanish(groups.ID); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	runCtx, cancel := context.WithCancel(ctx)
	go func() { w.manager.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the subscription made again", func() bool { return w.manager.Status().Recreated == 1 && len(w.inst.Server.Subscriptions()) == 2 })
}
