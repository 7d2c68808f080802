// Package console is the admin console: pages an admin signs in to with
// Entra ID (OpenID Connect, authorization code with PKCE), to find any
// group, see why it is as it is, and act on it, as Connect's
// Synchronization Service Manager and Cloud Sync's provisioning logs let
// admins do, and approve what the tool holds back. Pages are rendered on
// the server (html/template, assets embedded) and work without
// JavaScript. Roles come from the ID token's app roles: a reader sees, an
// operator acts. Every action goes through the same engine paths the
// command line uses (and so through the one write gate), with the
// signed-in identity as the actor the audit trail records.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/ha"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// The app roles the console knows (the app registration's appRoles
// values; docs/onboarding.md says how to make and assign them).
const (
	// RoleReader sees every page.
	RoleReader = "GroupWriteback.Reader"
	// RoleOperator also provisions groups now and approves held deletes.
	RoleOperator = "GroupWriteback.Operator"
)

// State is what the console reads and records in the state.
type State interface {
	Inventory(ctx context.Context, q state.InventoryQuery) ([]state.GroupStatus, int, error)
	Statuses(ctx context.Context, states ...string) ([]state.GroupStatus, error)
	StatusesOf(ctx context.Context, ids []string) ([]state.GroupStatus, error)
	Operations(ctx context.Context, cloudID string, n int) ([]state.Operation, error)
	Runs(ctx context.Context, n int) ([]state.Run, error)
	Enablement(ctx context.Context) (state.Enablement, error)
	// PendingPlan is the plan a staging instance (or a standby) would
	// apply, as its last cycle made it.
	PendingPlan(ctx context.Context) (json.RawMessage, time.Time, error)
	RunOperations(ctx context.Context, runID int64, n int) ([]state.Operation, error)
	Releases(ctx context.Context) ([]state.Release, error)
	AddReleases(ctx context.Context, rs []state.Release) error
	DropReleases(ctx context.Context, ids []string) error
}

// OnDemand provisions one group now, as `sync --group` does, plans it as
// `plan --group` does, and explains it as `show` does (the AD side read
// from the DC now).
type OnDemand interface {
	SyncGroup(ctx context.Context, group string) (*engine.Result, error)
	PlanGroup(ctx context.Context, group string) (*engine.Result, error)
	Explain(ctx context.Context, group string) (*engine.Explanation, error)
	// CheckSaved checks a saved plan as apply does, writing nothing;
	// ApplySaved applies it as apply does (ctx carries the actor and the
	// approval). Both refuse on an instance that writes nothing.
	CheckSaved(ctx context.Context, p *engine.Plan) error
	ApplySaved(ctx context.Context, p *engine.Plan) (*engine.Result, error)
}

// Config is how the console signs users in.
type Config struct {
	// Issuer is the tenant's OpenID Connect issuer
	// (https://login.microsoftonline.com/<tenant>/v2.0).
	Issuer string
	// ClientID is the app registration's; the token request
	// authenticates with ClientAuth.
	ClientID string
	// ClientAuth adds the app's credential to a token request: its
	// secret, or a client assertion for a certificate.
	ClientAuth func(ctx context.Context, form map[string]string) error
	// RedirectURL is the console's callback as the browser reaches it
	// (the public URL + /console/callback), registered on the app.
	RedirectURL string
	// HTTPClient reaches the identity platform (nil: the default).
	HTTPClient *http.Client
	// SessionLifetime bounds a sign-in (default 8h).
	SessionLifetime time.Duration
	// ReleaseFor is how long an approval of a held delete stands.
	ReleaseFor time.Duration
	// AuditFile is the audit trail the run pages read their entries from
	// ("" when none is kept).
	AuditFile string
	// Election, with a shared state, says which instance is active.
	Election interface {
		View(ctx context.Context) (ha.View, error)
	}
	Logger *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Console serves the console's pages.
type Console struct {
	cfg      Config
	state    State
	onDemand OnDemand
	auth     *authenticator
	sessions *sessions
	pages    *template.Template
	logger   *slog.Logger
}

//go:embed templates/*.html
var templateFS embed.FS

// New makes a console; it reaches the issuer's discovery document first.
func New(ctx context.Context, cfg Config, st State, od OnDemand) (*Console, error) {
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = 8 * time.Hour
	}
	if cfg.ReleaseFor <= 0 {
		cfg.ReleaseFor = state.ReleaseFor
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	auth, err := newAuthenticator(ctx, cfg)
	if err != nil {
		return nil, err
	}
	pages, err := template.New("console").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	return &Console{cfg: cfg, state: st, onDemand: od, auth: auth, sessions: newSessions(cfg.Now, cfg.SessionLifetime), pages: pages, logger: cfg.Logger}, nil
}

// Handler serves the console under /console/.
func (c *Console) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /console/login", c.login)
	mux.HandleFunc("GET /console/callback", c.callback)
	mux.HandleFunc("POST /console/logout", c.signedIn(RoleReader, c.logout))
	mux.HandleFunc("GET /console/{$}", c.signedIn(RoleReader, c.inventory))
	mux.HandleFunc("GET /console/groups.csv", c.signedIn(RoleReader, c.inventoryCSV))
	mux.HandleFunc("GET /console/groups/{id}", c.signedIn(RoleReader, c.group))
	mux.HandleFunc("POST /console/groups/{id}/provision", c.signedIn(RoleOperator, c.provision))
	mux.HandleFunc("POST /console/groups/{id}/plan", c.signedIn(RoleReader, c.planGroup))
	mux.HandleFunc("GET /console/held", c.signedIn(RoleReader, c.held))
	mux.HandleFunc("GET /console/runs", c.signedIn(RoleReader, c.runs))
	mux.HandleFunc("GET /console/health", c.signedIn(RoleReader, c.health))
	mux.HandleFunc("GET /console/staged", c.signedIn(RoleReader, c.staged))
	mux.HandleFunc("GET /console/runs/{id}", c.signedIn(RoleReader, c.run))
	mux.HandleFunc("POST /console/held", c.signedIn(RoleOperator, c.decideHeld))
	mux.HandleFunc("POST /console/staged/check", c.signedIn(RoleOperator, c.checkSaved))
	mux.HandleFunc("POST /console/staged/apply", c.signedIn(RoleOperator, c.applySaved))
	return secureHeaders(limitBodies(mux))
}

// limitBodies bounds what a POST may send: a form, or a saved plan.
func limitBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int64(1 << 20)
		if r.URL.Path == "/console/staged/check" {
			n = MaxPlanUpload
		}
		r.Body = http.MaxBytesReader(w, r.Body, n)
		next.ServeHTTP(w, r)
	})
}

// secureHeaders are on every page: no framing, no script but the
// console's own, no referrer leaving the site.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
