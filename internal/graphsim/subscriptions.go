package graphsim

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Change notifications as Graph documents them (concepts/change-
// notifications-*.md, api-reference/v1.0/api/subscription-*.md):
// subscriptions on groups and users, validated by a handshake with both
// URLs, delivered as bare triggers, at most 41,760 minutes long, 100 per
// app, and the reauthorizationRequired lifecycle event, the only one
// groups get. What the real service does and the documents leave open is
// made the harder way here: a subscription due for reauthorization stops
// delivering at once, and a failed delivery is retried only a few times.

// Subscription limits (change-notifications-overview.md).
const (
	// maxSubscriptionLifetime is the longest a subscription to users or
	// groups may last.
	maxSubscriptionLifetime = 41760 * time.Minute
	// minSubscriptionLifetime: Graph raises any shorter expiry to it.
	minSubscriptionLifetime = 45 * time.Minute
	// subscriptionsPerApp is the most one app may hold in a tenant.
	subscriptionsPerApp = 100
	// validationTimeout is how long an endpoint has to echo the token.
	validationTimeout = 10 * time.Second
	// deliveryTimeout is how long Graph waits for a notification's 2xx.
	deliveryTimeout = 3 * time.Second
)

// NotifyFaults shape the delivery of change notifications.
type NotifyFaults struct {
	// Delay holds each notification back this long, plus a random part of
	// Jitter: notifications close together then arrive out of order.
	Delay  time.Duration `json:"delay,omitempty"`
	Jitter time.Duration `json:"jitter,omitempty"`
	// Loss is the share of notifications (0 to 1) never sent.
	Loss float64 `json:"loss,omitempty"`
	// Duplicate is the share sent twice.
	Duplicate float64 `json:"duplicate,omitempty"`
	// Retries is how many times a notification the endpoint did not
	// accept within 3 seconds is sent again (default 3), RetryDelay the
	// first wait (default 1s, doubling).
	Retries    int           `json:"retries,omitempty"`
	RetryDelay time.Duration `json:"retryDelay,omitempty"`
}

// subscription is one change notification subscription.
type subscription struct {
	id, appID, resource string
	kind                kind
	changeTypes         []string
	notificationURL     string
	lifecycleURL        string
	clientState         string
	tlsVersion          string
	expires             time.Time
	// paused: Graph asked for reauthorization and delivers nothing until
	// the app reauthorizes or renews.
	paused bool
}

// SubscriptionInfo is a subscription as the control API shows it.
type SubscriptionInfo struct {
	ID              string    `json:"id"`
	AppID           string    `json:"applicationId"`
	Resource        string    `json:"resource"`
	ChangeType      string    `json:"changeType"`
	NotificationURL string    `json:"notificationUrl"`
	LifecycleURL    string    `json:"lifecycleNotificationUrl,omitempty"`
	Expires         time.Time `json:"expirationDateTime"`
	Paused          bool      `json:"reauthorizationRequired"`
}

// NotifyStats count what was delivered.
type NotifyStats struct {
	Validations int `json:"validations"`
	Delivered   int `json:"delivered"`
	Lost        int `json:"lost"`
	Duplicated  int `json:"duplicated"`
	Failed      int `json:"failed"`
	Lifecycle   int `json:"lifecycle"`
}

// subscriptions are the server's subscriptions; their mutex is never held
// while calling into the tenant (the tenant calls in, holding its own).
type subscriptions struct {
	byID   map[string]*subscription
	faults NotifyFaults
	stats  NotifyStats
	// client posts notifications and validation requests.
	client *http.Client
}

// SetNotifyFaults replaces how notifications are delivered.
func (s *Server) SetNotifyFaults(f NotifyFaults) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	s.subs.faults = f
}

// NotifyStats returns what the server has delivered.
func (s *Server) NotifyStats() NotifyStats {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	return s.subs.stats
}

// TrustNotificationRoots makes the server trust pool, beside the system's
// roots, when it posts to notification URLs (which must be HTTPS).
func (s *Server) TrustNotificationRoots(pool *x509.CertPool) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	s.subs.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
}

// Subscriptions lists every live subscription, of every app.
func (s *Server) Subscriptions() []SubscriptionInfo {
	now := s.tenant.Now()
	s.subMu.Lock()
	defer s.subMu.Unlock()
	s.expireLocked(now)
	out := make([]SubscriptionInfo, 0, len(s.subs.byID))
	for _, sub := range s.subs.byID {
		out = append(out, SubscriptionInfo{ID: sub.id, AppID: sub.appID, Resource: sub.resource, ChangeType: strings.Join(sub.changeTypes, ","),
			NotificationURL: sub.notificationURL, LifecycleURL: sub.lifecycleURL, Expires: sub.expires, Paused: sub.paused})
	}
	slices.SortFunc(out, func(a, b SubscriptionInfo) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// RequireReauthorization does what Graph does when an app's access must
// be checked again: it posts reauthorizationRequired to the lifecycle URL
// and delivers nothing more until the app reauthorizes or renews. The
// changes in between are lost: the app must read them by delta.
func (s *Server) RequireReauthorization(id string) error {
	s.subMu.Lock()
	sub, ok := s.subs.byID[id]
	if !ok {
		s.subMu.Unlock()
		return notFound(id)
	}
	sub.paused = true
	item := map[string]any{"subscriptionId": sub.id, "subscriptionExpirationDateTime": graphTime(sub.expires), "tenantId": s.tenant.id,
		"clientState": sub.clientState, "lifecycleEvent": "reauthorizationRequired"}
	target := sub.lifecycleURL
	if target != "" {
		s.subs.stats.Lifecycle++
	}
	s.subMu.Unlock()
	if target != "" {
		go s.deliver(target, item, 0)
	}
	return nil
}

// Vanish removes a subscription without a word, as Graph may: groups get
// no subscriptionRemoved event.
func (s *Server) Vanish(id string) error {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	if _, ok := s.subs.byID[id]; !ok {
		return notFound(id)
	}
	delete(s.subs.byID, id)
	return nil
}

// expireLocked drops the subscriptions past their expiry.
func (s *Server) expireLocked(now time.Time) {
	for id, sub := range s.subs.byID {
		if !now.Before(sub.expires) {
			delete(s.subs.byID, id)
		}
	}
}

// graphTime is how Graph writes a subscription's times.
func graphTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }

// subscriptionKind is the kind a subscription's resource watches: groups
// or users, written with or without a leading slash, in any case.
func subscriptionKind(resource string) (kind, bool) {
	switch strings.ToLower(strings.TrimPrefix(resource, "/")) {
	case "groups":
		return kindGroup, true
	case "users":
		return kindUser, true
	}
	return "", false
}

// render is the subscription as Graph answers a create or a renewal; the
// list leaves out the client state and writes the resource as Graph
// keeps it.
func (sub *subscription) render(listed bool) map[string]any {
	out := map[string]any{
		"id": sub.id, "resource": sub.resource, "applicationId": sub.appID, "changeType": strings.Join(sub.changeTypes, ","),
		"clientState": sub.clientState, "notificationUrl": sub.notificationURL, "expirationDateTime": graphTime(sub.expires),
		"creatorId": sub.appID, "latestSupportedTlsVersion": sub.tlsVersion, "notificationContentType": "application/json",
		"includeResourceData": false, "encryptionCertificate": nil, "encryptionCertificateId": nil, "notificationQueryOptions": nil,
		"lifecycleNotificationUrl": nil,
	}
	if sub.lifecycleURL != "" {
		out["lifecycleNotificationUrl"] = sub.lifecycleURL
	}
	if listed {
		out["clientState"] = nil
		k := string(sub.kind)
		out["resource"] = strings.ToUpper(k[:1]) + k[1:]
	}
	return out
}

type subscriptionBody struct {
	ChangeType                *string `json:"changeType"`
	NotificationURL           *string `json:"notificationUrl"`
	LifecycleNotificationURL  *string `json:"lifecycleNotificationUrl"`
	Resource                  *string `json:"resource"`
	ExpirationDateTime        *string `json:"expirationDateTime"`
	ClientState               *string `json:"clientState"`
	LatestSupportedTLSVersion *string `json:"latestSupportedTlsVersion"`
}

// expiryOf checks a requested expiry: in the future, at most the
// lifetime, and raised to 45 minutes.
func expiryOf(raw *string, now time.Time) (time.Time, *apiError) {
	if raw == nil {
		return time.Time{}, badRequest("expirationDateTime is required")
	}
	t, err := time.Parse(time.RFC3339Nano, *raw)
	if err != nil {
		return time.Time{}, badRequest("expirationDateTime: " + err.Error())
	}
	switch {
	case !t.After(now):
		return time.Time{}, &apiError{status: 400, code: "InvalidRequest", msg: "Subscription expiration date must be in the future."}
	case t.Sub(now) > maxSubscriptionLifetime:
		return time.Time{}, &apiError{status: 400, code: "InvalidRequest", msg: fmt.Sprintf("Subscription expiration can only be %d minutes in the future.", int(maxSubscriptionLifetime.Minutes()))}
	case t.Sub(now) < minSubscriptionLifetime:
		t = now.Add(minSubscriptionLifetime)
	}
	return t.UTC(), nil
}

func (s *Server) handleCreateSubscription(w http.ResponseWriter, r *http.Request, c caller) {
	var b subscriptionBody
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&b); err != nil {
		writeError(w, badRequest("subscription: "+err.Error()))
		return
	}
	if b.Resource == nil || b.NotificationURL == nil || b.ChangeType == nil {
		writeError(w, badRequest("resource, notificationUrl and changeType are required"))
		return
	}
	k, ok := subscriptionKind(*b.Resource)
	if !ok {
		writeError(w, &apiError{status: 400, code: "ExtensionError", msg: fmt.Sprintf("Operation: Create; Exception: [Status Code: BadRequest; Reason: The resource '%s' is not supported by this emulator: subscribe to groups or users]", *b.Resource)})
		return
	}
	if !c.has(readPerms(k)...) {
		writeError(w, errDenied)
		return
	}
	var types []string
	for _, t := range strings.Split(*b.ChangeType, ",") {
		t = strings.TrimSpace(t)
		if t != "created" && t != "updated" && t != "deleted" || slices.Contains(types, t) {
			writeError(w, badRequest(fmt.Sprintf("changeType %q: each change type is one of created, updated, deleted, once", *b.ChangeType)))
			return
		}
		types = append(types, t)
	}
	sub := &subscription{id: newID(), appID: c.appID, resource: *b.Resource, kind: k, changeTypes: types, notificationURL: *b.NotificationURL, tlsVersion: "v1_2"}
	if b.ClientState != nil {
		if len(*b.ClientState) > 128 {
			writeError(w, badRequest("clientState is longer than 128 characters"))
			return
		}
		sub.clientState = *b.ClientState
	}
	if b.LatestSupportedTLSVersion != nil {
		sub.tlsVersion = *b.LatestSupportedTLSVersion
	}
	if b.LifecycleNotificationURL != nil {
		sub.lifecycleURL = *b.LifecycleNotificationURL
	}
	for _, u := range []string{sub.notificationURL, sub.lifecycleURL} {
		if u == "" {
			continue
		}
		if p, err := url.Parse(u); err != nil || p.Scheme != "https" || p.Host == "" {
			writeError(w, badRequest(fmt.Sprintf("The notification URL %q must be an absolute HTTPS URL", u)))
			return
		}
	}
	now := s.tenant.Now()
	exp, aerr := expiryOf(b.ExpirationDateTime, now)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	sub.expires = exp
	s.subMu.Lock()
	s.expireLocked(now)
	n := 0
	for _, o := range s.subs.byID {
		if o.appID == c.appID {
			n++
		}
	}
	s.subMu.Unlock()
	if n >= subscriptionsPerApp {
		writeError(w, &apiError{status: 403, code: "ExtensionError", msg: fmt.Sprintf("Operation: Create; Exception: [Status Code: Forbidden; Reason: The number of subscriptions for this application in this tenant has reached its limit of %d]", subscriptionsPerApp)})
		return
	}
	// Both URLs must echo a validation token within 10 seconds.
	for _, u := range []string{sub.notificationURL, sub.lifecycleURL} {
		if u == "" {
			continue
		}
		if err := s.validate(r.Context(), u); err != nil {
			writeError(w, &apiError{status: 400, code: "ValidationError", msg: "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request. " + err.Error()})
			return
		}
	}
	s.subMu.Lock()
	s.subs.byID[sub.id] = sub
	out := sub.render(false)
	s.subMu.Unlock()
	out["@odata.context"] = s.base(r) + "/" + r.PathValue("api") + "/$metadata#subscriptions/$entity"
	writeJSON(w, http.StatusCreated, out)
}

// validate posts a validation token to u, as Graph does before it
// creates a subscription, and checks the answer: 200, text/plain, the
// token as sent, within 10 seconds.
func (s *Server) validate(ctx context.Context, u string) error {
	token := "Validation: Testing client application reachability for subscription Request-Id: " + newID()
	p, _ := url.Parse(u) // checked by the caller
	q := p.Query()
	q.Set("validationToken", token)
	p.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, validationTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	s.subMu.Lock()
	s.subs.stats.Validations++
	client := s.subs.client
	s.subMu.Unlock()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("the validation request to %s failed: %w", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("%s answered %d", u, resp.StatusCode)
	case !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain"):
		return fmt.Errorf("%s answered with Content-Type %q, not text/plain", u, resp.Header.Get("Content-Type"))
	case string(body) != token:
		return fmt.Errorf("%s did not echo the validation token", u)
	}
	return nil
}

// ownSubscription is the caller's subscription of the request's id.
// Called under subMu, with now read before it was taken.
func (s *Server) ownSubscription(r *http.Request, c caller, now time.Time) (*subscription, *apiError) {
	id := r.PathValue("id")
	s.expireLocked(now)
	sub, ok := s.subs.byID[id]
	if !ok || sub.appID != c.appID {
		return nil, &apiError{status: 404, code: "ResourceNotFound", msg: fmt.Sprintf("The object was not found. Subscription '%s' does not exist or is not owned by this application.", id)}
	}
	return sub, nil
}

func (s *Server) handleListSubscriptions(w http.ResponseWriter, r *http.Request, c caller) {
	now := s.tenant.Now()
	s.subMu.Lock()
	s.expireLocked(now)
	var value []any
	for _, sub := range s.subs.byID {
		if sub.appID == c.appID {
			value = append(value, sub.render(true))
		}
	}
	s.subMu.Unlock()
	if value == nil {
		value = []any{}
	}
	writeJSON(w, 200, map[string]any{"@odata.context": s.base(r) + "/" + r.PathValue("api") + "/$metadata#subscriptions", "value": value})
}

func (s *Server) handleGetSubscription(w http.ResponseWriter, r *http.Request, c caller) {
	s.withOwn(w, r, c, func(sub *subscription) (map[string]any, *apiError) { return sub.render(false), nil })
}

// handleRenewSubscription moves the expiry; it reauthorizes too.
func (s *Server) handleRenewSubscription(w http.ResponseWriter, r *http.Request, c caller) {
	var b subscriptionBody
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&b); err != nil {
		writeError(w, badRequest("subscription: "+err.Error()))
		return
	}
	exp, aerr := expiryOf(b.ExpirationDateTime, s.tenant.Now())
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	s.withOwn(w, r, c, func(sub *subscription) (map[string]any, *apiError) {
		if !c.has(readPerms(sub.kind)...) {
			return nil, errDenied
		}
		sub.expires, sub.paused = exp, false
		return sub.render(false), nil
	})
}

func (s *Server) handleReauthorizeSubscription(w http.ResponseWriter, r *http.Request, c caller) {
	s.withOwn(w, r, c, func(sub *subscription) (map[string]any, *apiError) {
		if !c.has(readPerms(sub.kind)...) {
			return nil, errDenied
		}
		sub.paused = false
		return nil, nil
	})
}

func (s *Server) handleDeleteSubscription(w http.ResponseWriter, r *http.Request, c caller) {
	s.withOwn(w, r, c, func(sub *subscription) (map[string]any, *apiError) {
		delete(s.subs.byID, sub.id)
		return nil, nil
	})
}

// withOwn does act, under subMu, on the caller's subscription of the
// request's id, and answers what it returns (204 when nothing), or the
// error.
func (s *Server) withOwn(w http.ResponseWriter, r *http.Request, c caller, act func(sub *subscription) (map[string]any, *apiError)) {
	now := s.tenant.Now()
	s.subMu.Lock()
	sub, aerr := s.ownSubscription(r, c, now)
	var out map[string]any
	if aerr == nil {
		out, aerr = act(sub)
	}
	s.subMu.Unlock()
	switch {
	case aerr != nil:
		writeError(w, aerr)
	case out == nil:
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, 200, out)
	}
}

// changeTypeOf is the change type a tenant change is notified as: for
// groups, "creation and soft-deletion ... also trigger the updated
// changeType", and member changes are the group's updates.
func changeTypeOf(k kind, o op) string {
	switch {
	case o == opHardDelete:
		return "deleted"
	case k == kindUser && o == opCreate:
		return "created"
	case k == kindUser && o == opSoftDelete:
		return "deleted"
	}
	return "updated"
}

// notice is called by the tenant, under its lock, for each change: each
// subscription that watches it gets a notification, held back, lost or
// doubled as the faults say.
func (s *Server) notice(k kind, id string, o op, now time.Time) {
	ct := changeTypeOf(k, o)
	s.subMu.Lock()
	defer s.subMu.Unlock()
	if len(s.subs.byID) == 0 {
		return
	}
	s.expireLocked(now)
	f := s.subs.faults
	for _, sub := range s.subs.byID {
		if sub.kind != k || !slices.Contains(sub.changeTypes, ct) {
			continue
		}
		if sub.paused || f.Loss > 0 && rand.Float64() < f.Loss {
			s.subs.stats.Lost++
			continue
		}
		odataType, path := "#Microsoft.Graph.Group", "Groups/"+id
		if k == kindUser {
			odataType, path = "#Microsoft.Graph.User", "Users/"+id
		}
		item := map[string]any{"subscriptionId": sub.id, "subscriptionExpirationDateTime": graphTime(sub.expires), "changeType": ct,
			"resource": path, "clientState": sub.clientState, "tenantId": s.tenant.id,
			"resourceData": map[string]any{"@odata.type": odataType, "@odata.id": path, "id": id, "organizationId": s.tenant.id}}
		copies := 1
		if f.Duplicate > 0 && rand.Float64() < f.Duplicate {
			copies = 2
			s.subs.stats.Duplicated++
		}
		for range copies {
			d := f.Delay
			if f.Jitter > 0 {
				d += rand.N(f.Jitter)
			}
			target := sub.notificationURL
			time.AfterFunc(d, func() { s.deliver(target, item, 0) })
		}
	}
}

// deliver posts one notification to target; when the endpoint does not
// answer 2xx within 3 seconds it is sent again later, a few times.
func (s *Server) deliver(target string, item map[string]any, attempt int) {
	body, _ := json.Marshal(map[string]any{"value": []any{item}}) // maps of strings: cannot fail
	s.subMu.Lock()
	client, f := s.subs.client, s.subs.faults
	s.subMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), deliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	ok := false
	if err == nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		var resp *http.Response
		if resp, err = client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			ok = resp.StatusCode >= 200 && resp.StatusCode < 300
		}
	}
	retries, wait := f.Retries, f.RetryDelay
	if retries == 0 {
		retries = 3
	}
	if wait <= 0 {
		wait = time.Second
	}
	s.subMu.Lock()
	defer s.subMu.Unlock()
	switch {
	case ok:
		s.subs.stats.Delivered++
	case attempt < retries:
		s.logger.Debug("graphsim: notification not accepted; sending it again", "url", target, "attempt", attempt+1, "error", err)
		time.AfterFunc(wait<<attempt, func() { s.deliver(target, item, attempt+1) })
	default:
		s.subs.stats.Failed++
	}
}

func (s *Server) handleSimSubscriptions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, s.Subscriptions())
}

func (s *Server) handleSimReauthorize(w http.ResponseWriter, r *http.Request) {
	if err := s.RequireReauthorization(r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleSimVanish(w http.ResponseWriter, r *http.Request) {
	if err := s.Vanish(r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleSimNotifyFaults(w http.ResponseWriter, r *http.Request) {
	var f NotifyFaults
	if err := json.NewDecoder(r.Body).Decode(&f); err != nil || f.Loss < 0 || f.Loss > 1 || f.Duplicate < 0 || f.Duplicate > 1 {
		writeError(w, badRequest("notify faults: loss and duplicate are shares from 0 to 1"))
		return
	}
	s.SetNotifyFaults(f)
	writeJSON(w, 200, f)
}

func (s *Server) handleSimNotifyStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, s.NotifyStats())
}
