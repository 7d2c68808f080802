package graphsim

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/recording"
)

// Faults are the failures the emulator injects into Graph API requests
// (/v1.0 and /beta; never the token endpoint or the /_graphsim control API).
// A zero field turns its fault off. Counters run over all API requests.
type Faults struct {
	// PageSize is the number of items per delta or list page (default 100).
	PageSize int `json:"pageSize,omitempty"`
	// Latency delays every Graph answer, as the distance to Graph does
	// (benchmarks: what reading in parallel saves).
	Latency time.Duration `json:"latency,omitempty"`
	// MembersPerItem splits a group whose member changes exceed it into
	// several delta items, possibly on several pages (default 500).
	MembersPerItem int `json:"membersPerItem,omitempty"`
	// ThrottleEvery answers every Nth request 429 with Retry-After.
	ThrottleEvery int `json:"throttleEvery,omitempty"`
	// RetryAfterSeconds is the Retry-After of 429 and 503 answers (default 1).
	RetryAfterSeconds int `json:"retryAfterSeconds,omitempty"`
	// UnavailableEvery answers every Nth request 503 Service Unavailable.
	UnavailableEvery int `json:"unavailableEvery,omitempty"`
	// GatewayTimeoutEvery answers every Nth request 504 Gateway Timeout.
	GatewayTimeoutEvery int `json:"gatewayTimeoutEvery,omitempty"`
	// DropEvery closes the connection of every Nth request without answering.
	DropEvery int `json:"dropEvery,omitempty"`
	// ResyncEvery answers every Nth delta request made with a $deltatoken
	// 410 Gone, asking for a full resync.
	ResyncEvery int `json:"resyncEvery,omitempty"`
	// ReplayEvents widens each incremental delta round back by this many
	// change-log entries, so already delivered changes come again.
	ReplayEvents int `json:"replayEvents,omitempty"`
	// TokenLifetime is the lifetime of issued access tokens (default 1h).
	TokenLifetime time.Duration `json:"tokenLifetime,omitempty"`
	// RemovedWithoutReason sends "@removed": {} for deleted objects, as
	// Graph may: the overview says @removed "might" include a reason.
	RemovedWithoutReason bool `json:"removedWithoutReason,omitempty"`
	// RefuseLinkEvery answers every Nth delta request made with a
	// $deltatoken 400 with ExpiredLinkCode, as Graph answers a token it no
	// longer accepts; ExpiredLinkCode (default syncStateNotFound) is also
	// the code of tokens past their lifetime. Graph has been seen to use
	// others, e.g. Directory_ExpiredPageToken.
	RefuseLinkEvery int `json:"refuseLinkEvery,omitempty"`
	// EndlessPages never ends a round: the last page comes again and
	// again, each time with a fresh next link (as Graph has been reported
	// to do when members are selected).
	EndlessPages bool `json:"endlessPages,omitempty"`
	// InitialRemovals puts @removed items and removed members into initial
	// rounds, as Graph may.
	InitialRemovals bool `json:"initialRemovals,omitempty"`
	// InterleaveItems spreads a group's items (its member chunks) across
	// the round, between other groups' items, on non-consecutive pages.
	InterleaveItems bool `json:"interleaveItems,omitempty"`
	// LagEvents leaves the last N changes out of each incremental round,
	// as replication lag does; the next round carries them.
	LagEvents       int    `json:"lagEvents,omitempty"`
	ExpiredLinkCode string `json:"expiredLinkCode,omitempty"`
}

// Stats counts what the emulator has served, for tests and people.
type Stats struct {
	Requests       int `json:"requests"`
	Throttled      int `json:"throttled"`
	Unavailable    int `json:"unavailable"`
	GatewayTimeout int `json:"gatewayTimeout"`
	Dropped        int `json:"dropped"`
	Resyncs        int `json:"resyncs"`
	TokensIssued   int `json:"tokensIssued"`
	DeltaRequests  int `json:"deltaRequests"`
}

// Server serves a Tenant over HTTP as Graph and the identity platform do.
type Server struct {
	tenant *Tenant
	key    *rsa.PrivateKey
	keyID  string
	logger *slog.Logger
	// BaseURL, when set, is the external URL links are built on; otherwise
	// links use the request's host.
	BaseURL string
	// player, when set, answers Graph requests from a recording.
	player *recording.Player

	mu           sync.Mutex
	faults       Faults
	stats        Stats
	serial       uint64
	revokedBelow uint64
	plans        map[string]*plan
	planOrder    []string
	deltaCount   int
	// codes are the authorization codes of users' sign-ins (signin.go).
	codes codes

	// subMu guards subs, the change notification subscriptions
	// (subscriptions.go); never held while calling into the tenant.
	subMu sync.Mutex
	subs  subscriptions
}

// signingKey is made once per process: RSA key generation is slow, and
// each server still signs with its own key id.
var signingKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

// NewServer returns a server for t. A nil logger discards logs.
func NewServer(t *Tenant, logger *slog.Logger) (*Server, error) {
	key, err := signingKey()
	if err != nil {
		return nil, fmt.Errorf("graphsim: signing key: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{tenant: t, key: key, keyID: newID()[:8], logger: logger, plans: map[string]*plan{},
		subs: subscriptions{byID: map[string]*subscription{}, client: &http.Client{}}}
	t.observe(s.notice)
	return s, nil
}

// Tenant returns the tenant the server serves.
func (s *Server) Tenant() *Tenant { return s.tenant }

// SetFaults replaces the injected faults and restarts their counters.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	s.stats.Requests = 0
	s.deltaCount = 0
}

// Faults returns the injected faults.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// Stats returns what the server has counted.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func (s *Server) base(r *http.Request) string {
	if s.BaseURL != "" {
		return s.BaseURL
	}
	if r == nil {
		return "https://localhost"
	}
	return "https://" + r.Host
}

// Handler returns the HTTP handler of the whole emulator.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.handleOpenIDConfiguration)
	mux.HandleFunc("GET /common/discovery/instance", s.handleInstanceDiscovery)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.handleToken)
	mux.HandleFunc("GET /{tenant}/oauth2/v2.0/authorize", s.handleAuthorize)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/authorize", s.handleAuthorize)
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", s.handleKeys)
	mux.HandleFunc("GET /msi/token", s.handleManagedIdentity)

	api := func(pattern string, h func(http.ResponseWriter, *http.Request, caller)) {
		mux.Handle(pattern, s.graphAPI(h))
	}
	for _, k := range []kind{kindGroup, kindUser} {
		k := k
		api("GET /{api}/"+string(k), func(w http.ResponseWriter, r *http.Request, c caller) { s.handleList(w, r, c, k) })
		api("POST /{api}/"+string(k), func(w http.ResponseWriter, r *http.Request, c caller) { s.handleCreate(w, r, c, k) })
		api("GET /{api}/"+string(k)+"/{id}", func(w http.ResponseWriter, r *http.Request, c caller) { s.handleGet(w, r, c, k) })
		api("PATCH /{api}/"+string(k)+"/{id}", func(w http.ResponseWriter, r *http.Request, c caller) { s.handleUpdate(w, r, c, k) })
		api("DELETE /{api}/"+string(k)+"/{id}", func(w http.ResponseWriter, r *http.Request, c caller) { s.handleDelete(w, r, c, k) })
	}
	for _, rel := range []string{"members", "owners"} {
		owner := rel == "owners"
		api("GET /{api}/groups/{id}/"+rel, func(w http.ResponseWriter, r *http.Request, c caller) { s.handleListRefs(w, r, c, owner) })
		api("POST /{api}/groups/{id}/"+rel+"/$ref", func(w http.ResponseWriter, r *http.Request, c caller) { s.handleAddRef(w, r, c, owner) })
		api("DELETE /{api}/groups/{id}/"+rel+"/{ref}/$ref", func(w http.ResponseWriter, r *http.Request, c caller) { s.handleRemoveRef(w, r, c, owner) })
	}
	api("GET /{api}/directory/deletedItems/{id}", s.handleDeletedGet)
	api("POST /{api}/directory/deletedItems/{id}/restore", s.handleDeletedRestore)
	api("DELETE /{api}/directory/deletedItems/{id}", s.handleDeletedPurge)
	api("GET /{api}/groups/{id}/onPremisesSyncBehavior", s.handleSyncBehaviorGet)
	api("PATCH /{api}/groups/{id}/onPremisesSyncBehavior", s.handleSyncBehaviorPatch)
	api("GET /{api}/subscriptions", s.handleListSubscriptions)
	api("POST /{api}/subscriptions", s.handleCreateSubscription)
	api("GET /{api}/subscriptions/{id}", s.handleGetSubscription)
	api("PATCH /{api}/subscriptions/{id}", s.handleRenewSubscription)
	api("DELETE /{api}/subscriptions/{id}", s.handleDeleteSubscription)
	api("POST /{api}/subscriptions/{id}/reauthorize", s.handleReauthorizeSubscription)
	api("GET /{api}/groupSettings", s.handleSettings)
	api("GET /{api}/settings", s.handleSettings)

	mux.HandleFunc("GET /_graphsim/faults", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, s.Faults()) })
	mux.HandleFunc("POST /_graphsim/faults", s.handleSetFaults)
	mux.HandleFunc("GET /_graphsim/stats", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, s.Stats()) })
	mux.HandleFunc("POST /_graphsim/clock", s.handleClock)
	mux.HandleFunc("POST /_graphsim/resync", func(w http.ResponseWriter, r *http.Request) {
		s.tenant.InvalidateDeltaTokens()
		w.WriteHeader(204)
	})
	mux.HandleFunc("GET /_graphsim/subscriptions", s.handleSimSubscriptions)
	mux.HandleFunc("POST /_graphsim/subscriptions/{id}/reauthorization-required", s.handleSimReauthorize)
	mux.HandleFunc("POST /_graphsim/subscriptions/{id}/vanish", s.handleSimVanish)
	mux.HandleFunc("GET /_graphsim/notify", s.handleSimNotifyStats)
	mux.HandleFunc("POST /_graphsim/notify", s.handleSimNotifyFaults)
	mux.HandleFunc("POST /_graphsim/expire-tokens", func(w http.ResponseWriter, r *http.Request) {
		s.ExpireTokens()
		w.WriteHeader(204)
	})
	return mux
}

// apiError is an error answered in Graph's JSON error shape.
type apiError struct {
	status  int
	code    string
	msg     string
	headers map[string]string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.msg) }

func writeError(w http.ResponseWriter, err error) {
	e, ok := err.(*apiError)
	if !ok {
		e = &apiError{status: 500, code: "generalException", msg: err.Error()}
	}
	for k, v := range e.headers {
		w.Header().Set(k, v)
	}
	if e.status == 401 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="`+graphAppID+`"`)
	}
	id := newID()
	w.Header().Set("request-id", id)
	writeJSON(w, e.status, map[string]any{"error": map[string]any{
		"code": e.code, "message": e.msg,
		"innerError": map[string]any{"date": time.Now().UTC().Format("2006-01-02T15:04:05"), "request-id": id, "client-request-id": id},
	}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// graphAPI wraps a Graph endpoint: version check, faults, authentication.
func (s *Server) graphAPI(h func(http.ResponseWriter, *http.Request, caller)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.PathValue("api"); v != "v1.0" && v != "beta" {
			writeError(w, &apiError{status: 400, code: "BadRequest", msg: "Invalid version: " + v})
			return
		}
		if s.injectFault(w) {
			return
		}
		c, aerr := s.authenticate(r)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		s.logger.Debug("graph request", "method", r.Method, "url", r.URL.String(), "app", c.appID)
		if s.player != nil {
			s.replay(w, r)
			return
		}
		h(w, r, c)
	})
}

// ReplaySecret is the client secret a replay's app signs in with.
const ReplaySecret = "replay"

// replay answers a Graph request from the recording.
func (s *Server) replay(w http.ResponseWriter, r *http.Request) {
	ex, ok := s.player.Answer(r.Method, r.URL.RequestURI())
	if !ok {
		writeError(w, &apiError{status: 404, code: "Request_ResourceNotFound",
			msg: fmt.Sprintf("graphsim replay: the recording has no answer to %s %s", r.Method, r.URL.RequestURI())})
		return
	}
	base := s.base(r)
	for k, v := range ex.Header {
		w.Header().Set(k, strings.ReplaceAll(v, recording.GraphPlaceholder, base))
	}
	if w.Header().Get("Content-Type") == "" && len(ex.Body) > 0 {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(ex.Status)
	_, _ = w.Write([]byte(strings.ReplaceAll(string(ex.Body), recording.GraphPlaceholder, base)))
}

// injectFault answers the request with a fault when one is due.
func (s *Server) injectFault(w http.ResponseWriter) bool {
	s.mu.Lock()
	s.stats.Requests++
	n, f := s.stats.Requests, s.faults
	due := func(every int) bool { return every > 0 && n%every == 0 }
	retry := f.RetryAfterSeconds
	if retry <= 0 {
		retry = 1
	}
	var e *apiError
	drop := false
	switch {
	case due(f.DropEvery):
		s.stats.Dropped++
		drop = true
	case due(f.ThrottleEvery):
		s.stats.Throttled++
		e = &apiError{status: 429, code: "TooManyRequests", msg: fmt.Sprintf("Too many requests. Please retry after %d seconds.", retry),
			headers: map[string]string{"Retry-After": fmt.Sprint(retry)}}
	case due(f.UnavailableEvery):
		s.stats.Unavailable++
		e = &apiError{status: 503, code: "serviceNotAvailable", msg: "The service is temporarily unavailable.",
			headers: map[string]string{"Retry-After": fmt.Sprint(retry)}}
	case due(f.GatewayTimeoutEvery):
		s.stats.GatewayTimeout++
		e = &apiError{status: 504, code: "UnknownError", msg: "The gateway did not receive a timely response."}
	}
	s.mu.Unlock()
	if f.Latency > 0 {
		time.Sleep(f.Latency)
	}
	if drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler) // HTTP/2: abort the stream
	}
	if e != nil {
		writeError(w, e)
		return true
	}
	return false
}

func (s *Server) handleSetFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
		writeError(w, badRequest("faults: "+err.Error()))
		return
	}
	s.SetFaults(f)
	writeJSON(w, 200, f)
}

func (s *Server) handleClock(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Advance string `json:"advance"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, badRequest("clock: "+err.Error()))
		return
	}
	d, err := time.ParseDuration(body.Advance)
	if err != nil || d < 0 {
		writeError(w, badRequest(`clock: "advance" must be a positive Go duration such as "720h"`))
		return
	}
	s.tenant.Advance(d)
	writeJSON(w, 200, map[string]any{"now": s.tenant.Now().Format(time.RFC3339)})
}
