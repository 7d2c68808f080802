package graphsim

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver is an HTTPS endpoint with a certificate of the emulator's CA:
// it echoes validation tokens (unless told not to) and records the
// notifications posted to it.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	// got are the items posted, by path.
	got map[string][]map[string]any
	// noEcho: answer validations with something else.
	noEcho bool
	// status answers notifications (0: 202).
	status int
	posts  int
}

func newReceiver(t *testing.T, e *env) *receiver {
	t.Helper()
	cert, err := e.inst.CA.Server("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{got: map[string][]map[string]any{}}
	rc.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if tok := r.URL.Query().Get("validationToken"); tok != "" {
			w.Header().Set("Content-Type", "text/plain")
			if rc.noEcho {
				_, _ = io.WriteString(w, "hello")
				return
			}
			_, _ = io.WriteString(w, tok)
			return
		}
		rc.posts++
		if rc.status != 0 {
			w.WriteHeader(rc.status)
			return
		}
		var body struct {
			Value []map[string]any `json:"value"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		rc.got[r.URL.Path] = append(rc.got[r.URL.Path], body.Value...)
		w.WriteHeader(http.StatusAccepted)
	}))
	rc.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
	rc.srv.StartTLS()
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) items(path string) []map[string]any {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]map[string]any(nil), rc.got[path]...)
}

// waitFor polls cond for up to five seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestSubscriptionLifecycle(t *testing.T) {
	e := start(t, Faults{})
	rc := newReceiver(t, e)
	tok := e.bearer(readerID, "reader-secret")
	exp := func(d time.Duration) string { return e.inst.Server.Tenant().Now().Add(d).Format(time.RFC3339Nano) }
	body := func(resource string, d time.Duration) map[string]any {
		return map[string]any{"changeType": "updated,deleted", "resource": resource, "notificationUrl": rc.srv.URL + "/notify",
			"lifecycleNotificationUrl": rc.srv.URL + "/lifecycle", "clientState": "s3cret", "expirationDateTime": exp(d)}
	}
	// Refusals, each before any validation request.
	for _, tc := range []struct {
		name   string
		edit   func(map[string]any)
		status int
		says   string
	}{
		{"plain HTTP", func(b map[string]any) { b["notificationUrl"] = "http://127.0.0.1/notify" }, 400, "HTTPS"},
		{"past the lifetime", func(b map[string]any) { b["expirationDateTime"] = exp(41761 * time.Minute) }, 400, "41760 minutes"},
		{"in the past", func(b map[string]any) { b["expirationDateTime"] = exp(-time.Minute) }, 400, "future"},
		{"an unknown change type", func(b map[string]any) { b["changeType"] = "updated,renamed" }, 400, "changeType"},
		{"another resource", func(b map[string]any) { b["resource"] = "me/messages" }, 400, "not supported"},
		{"a long client state", func(b map[string]any) { b["clientState"] = strings.Repeat("x", 129) }, 400, "128"},
	} {
		b := body("groups", time.Hour)
		tc.edit(b)
		status, out, _ := e.call(tok, "POST", "/v1.0/subscriptions", b)
		if status != tc.status || !strings.Contains(out["error"].(map[string]any)["message"].(string), tc.says) {
			t.Errorf("%s: %d %v, want %d saying %q", tc.name, status, out, tc.status, tc.says)
		}
	}
	if n := e.inst.Server.NotifyStats().Validations; n != 0 {
		t.Fatalf("%d validation requests for refused subscriptions", n)
	}
	// An app without Group.Read.All cannot watch groups.
	if status, _, _ := e.call(e.bearer(usersOnlyID, "users-secret"), "POST", "/v1.0/subscriptions", body("groups", time.Hour)); status != 403 {
		t.Errorf("a users-only app subscribed to groups: %d", status)
	}
	// An endpoint that does not echo the token gets no subscription.
	rc.noEcho = true
	if status, out, _ := e.call(tok, "POST", "/v1.0/subscriptions", body("groups", time.Hour)); status != 400 || errCode(out) != "ValidationError" {
		t.Fatalf("a subscription whose endpoint does not echo: %d %v", status, out)
	}
	rc.noEcho = false
	// Created, after both URLs were validated; a short expiry is raised to 45 minutes.
	status, sub, _ := e.call(tok, "POST", "/v1.0/subscriptions", body("/groups", 10*time.Minute))
	if status != 201 || sub["clientState"] != "s3cret" || sub["resource"] != "/groups" {
		t.Fatalf("create: %d %v", status, sub)
	}
	if v := e.inst.Server.NotifyStats().Validations; v != 1+2 {
		t.Errorf("%d validation requests, want 3 (one refused, then both URLs)", v)
	}
	id := sub["id"].(string)
	got, _ := time.Parse(time.RFC3339Nano, sub["expirationDateTime"].(string))
	if d := time.Until(got); d < 44*time.Minute || d > 46*time.Minute {
		t.Errorf("a 10-minute expiry became %v from now, want 45 minutes", d)
	}
	// Listed as Graph lists: no client state, the resource as Graph keeps it.
	status, list, _ := e.call(tok, "GET", "/v1.0/subscriptions", nil)
	v := list["value"].([]any)
	if status != 200 || len(v) != 1 || v[0].(map[string]any)["clientState"] != nil || v[0].(map[string]any)["resource"] != "Groups" {
		t.Fatalf("list: %d %v", status, list)
	}
	if _, list, _ := e.call(e.bearer(adminID, "admin-secret"), "GET", "/v1.0/subscriptions", nil); len(list["value"].([]any)) != 0 {
		t.Errorf("another app lists this app's subscriptions: %v", list)
	}
	// A member added notifies the group, as an update, without data.
	if err := e.inst.Server.Tenant().AddMember(sec, bob); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the notification", func() bool { return len(rc.items("/notify")) == 1 })
	n := rc.items("/notify")[0]
	if n["subscriptionId"] != id || n["clientState"] != "s3cret" || n["changeType"] != "updated" || n["resource"] != "Groups/"+sec ||
		n["resourceData"].(map[string]any)["id"] != sec || n["tenantId"] != tid {
		t.Errorf("notification = %v", n)
	}
	// A user change is not a groups subscription's.
	if err := e.inst.Server.Tenant().UpdateUser(alice, map[string]any{"displayName": "Alicia"}); err != nil {
		t.Fatal(err)
	}
	// Reauthorization: the lifecycle URL is told, and nothing is
	// delivered until the app reauthorizes; what changed meanwhile is lost.
	if err := e.inst.Server.RequireReauthorization(id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the lifecycle event", func() bool { return len(rc.items("/lifecycle")) == 1 })
	if l := rc.items("/lifecycle")[0]; l["lifecycleEvent"] != "reauthorizationRequired" || l["clientState"] != "s3cret" || l["subscriptionId"] != id {
		t.Errorf("lifecycle notification = %v", l)
	}
	if err := e.inst.Server.Tenant().UpdateGroup(sec, map[string]any{"description": "lost"}); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := e.call(tok, "POST", "/v1.0/subscriptions/"+id+"/reauthorize", nil); status != 204 {
		t.Fatalf("reauthorize: %d", status)
	}
	if err := e.inst.Server.Tenant().UpdateGroup(sec, map[string]any{"description": "seen"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the notification after reauthorization", func() bool { return len(rc.items("/notify")) == 2 })
	if st := e.inst.Server.NotifyStats(); st.Lost != 1 || st.Delivered != 2+1 {
		t.Errorf("stats %+v, want 1 lost while paused, 3 delivered (2 changes, 1 lifecycle)", st)
	}
	// Renewal: within the lifetime only.
	if status, _, _ := e.call(tok, "PATCH", "/v1.0/subscriptions/"+id, map[string]any{"expirationDateTime": exp(41761 * time.Minute)}); status != 400 {
		t.Errorf("a renewal past the lifetime: %d", status)
	}
	status, renewed, _ := e.call(tok, "PATCH", "/v1.0/subscriptions/"+id, map[string]any{"expirationDateTime": exp(41000 * time.Minute)})
	if status != 200 || renewed["expirationDateTime"] == sub["expirationDateTime"] {
		t.Fatalf("renew: %d %v", status, renewed)
	}
	// Expiry: past it, the subscription is gone.
	e.inst.Server.Tenant().Advance(41001 * time.Minute)
	if status, _, _ := e.call(tok, "PATCH", "/v1.0/subscriptions/"+id, map[string]any{"expirationDateTime": exp(41700 * time.Minute)}); status != 404 {
		t.Errorf("renewing an expired subscription: %d, want 404", status)
	}
	// Vanish and delete: 404 after.
	_, sub2, _ := e.call(tok, "POST", "/v1.0/subscriptions", body("users", 41000*time.Minute))
	if err := e.inst.Server.Vanish(sub2["id"].(string)); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := e.call(tok, "DELETE", "/v1.0/subscriptions/"+sub2["id"].(string), nil); status != 404 {
		t.Errorf("deleting a vanished subscription: %d, want 404", status)
	}
}

// Delivery faults: lost notifications are never sent, duplicates twice,
// and one the endpoint refuses is sent again.
func TestNotificationDeliveryFaults(t *testing.T) {
	e := start(t, Faults{})
	rc := newReceiver(t, e)
	tok := e.bearer(readerID, "reader-secret")
	status, _, _ := e.call(tok, "POST", "/v1.0/subscriptions", map[string]any{"changeType": "updated", "resource": "groups",
		"notificationUrl": rc.srv.URL + "/n", "clientState": "c", "expirationDateTime": time.Now().Add(time.Hour).Format(time.RFC3339)})
	if status != 201 {
		t.Fatal(status)
	}
	srv := e.inst.Server
	srv.SetNotifyFaults(NotifyFaults{Loss: 1})
	_ = srv.Tenant().UpdateGroup(sec, map[string]any{"description": "a"})
	srv.SetNotifyFaults(NotifyFaults{Duplicate: 1})
	_ = srv.Tenant().UpdateGroup(sec, map[string]any{"description": "b"})
	waitFor(t, "the duplicated notification", func() bool { return len(rc.items("/n")) == 2 })
	rc.mu.Lock()
	rc.status = 500
	rc.mu.Unlock()
	srv.SetNotifyFaults(NotifyFaults{RetryDelay: 20 * time.Millisecond, Retries: 2})
	_ = srv.Tenant().UpdateGroup(sec, map[string]any{"description": "c"})
	waitFor(t, "the retries", func() bool { return srv.NotifyStats().Failed == 1 })
	rc.mu.Lock()
	posts := rc.posts
	rc.mu.Unlock()
	if st := srv.NotifyStats(); st.Lost != 1 || st.Duplicated != 1 || st.Delivered != 2 || posts != 2+3 {
		t.Errorf("stats %+v, %d posts; want 1 lost, 1 duplicated, 2 delivered, 2+3 posts (the refused one sent 3 times)", st, posts)
	}
}

// The control API: notification faults set and checked, stats read,
// lifecycle events and silent removal asked for by id.
func TestNotifyControlAPI(t *testing.T) {
	e := start(t, Faults{})
	post := e.control
	if code := post("/_graphsim/notify", `{"loss":2}`); code != 400 {
		t.Errorf("a loss of 2: %d", code)
	}
	if code := post("/_graphsim/notify", `{"loss":0.2,"duplicate":0.1,"delay":1000000000}`); code != 200 || e.inst.Server.subs.faults.Loss != 0.2 {
		t.Errorf("notify faults: %d, %+v", code, e.inst.Server.subs.faults)
	}
	for _, path := range []string{"/_graphsim/subscriptions/nope/reauthorization-required", "/_graphsim/subscriptions/nope/vanish"} {
		if code := post(path, ""); code != 404 {
			t.Errorf("%s: %d, want 404", path, code)
		}
	}
	resp, err := e.hc.Get(e.inst.URL + "/_graphsim/notify")
	if err != nil {
		t.Fatal(err)
	}
	var st NotifyStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st != (NotifyStats{}) {
		t.Errorf("stats %+v, %v", st, err)
	}
	resp.Body.Close()
}
