package console

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// authenticator signs users in with the authorization code flow and PKCE,
// and checks the ID token the way OpenID Connect says: signature by a key
// of the issuer, issuer, audience, expiry and nonce.
type authenticator struct {
	cfg      Config
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	ctx      context.Context // carries the HTTP client to the issuer

	mu      sync.Mutex
	pending map[string]pendingSignIn
}

// pendingSignIn is a sign-in sent to the identity platform, by its state:
// kept here, not in a cookie, so that the callback (a cross-site
// navigation, which carries no SameSite=Strict cookie) needs none.
type pendingSignIn struct {
	verifier, nonce, next string
	expires               time.Time
}

// pendingLimit bounds the sign-ins waiting for their callback.
const pendingLimit = 10000

// signInTimeout is how long a sign-in may take at the identity platform.
const signInTimeout = 10 * time.Minute

func newAuthenticator(ctx context.Context, cfg Config) (*authenticator, error) {
	if cfg.HTTPClient != nil {
		ctx = oidc.ClientContext(ctx, cfg.HTTPClient)
	}
	provider, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("console: the OpenID Connect discovery of %s: %w", cfg.Issuer, err)
	}
	ep := provider.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInParams
	a := &authenticator{cfg: cfg, ctx: context.WithoutCancel(ctx), pending: map[string]pendingSignIn{},
		oauth:    oauth2.Config{ClientID: cfg.ClientID, Endpoint: ep, RedirectURL: cfg.RedirectURL, Scopes: []string{oidc.ScopeOpenID, "profile"}},
		verifier: provider.Verifier(&oidc.Config{ClientID: cfg.ClientID, Now: cfg.Now})}
	return a, nil
}

// randomString is 32 random bytes, base64url.
func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// start records a sign-in and returns the URL of the identity platform's
// authorize endpoint for it.
func (a *authenticator) start(next string) (string, error) {
	st, nonce, verifier := randomString(), randomString(), oauth2.GenerateVerifier()
	now := a.cfg.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, p := range a.pending {
		if now.After(p.expires) {
			delete(a.pending, k)
		}
	}
	if len(a.pending) >= pendingLimit {
		return "", errors.New("too many sign-ins are waiting for their callback; try again in a few minutes")
	}
	a.pending[st] = pendingSignIn{verifier: verifier, nonce: nonce, next: next, expires: now.Add(signInTimeout)}
	return a.oauth.AuthCodeURL(st, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("response_mode", "query")), nil
}

// identity is a signed-in user, from a checked ID token.
type identity struct {
	Subject, OID, Username, Name string
	Roles                        []string
}

// finish redeems the code of the callback with the state's verifier, and
// checks the ID token.
func (a *authenticator) finish(ctx context.Context, st, code string) (identity, string, error) {
	a.mu.Lock()
	p, ok := a.pending[st]
	delete(a.pending, st)
	a.mu.Unlock()
	if !ok || a.cfg.Now().After(p.expires) {
		return identity{}, "", errors.New("this sign-in is unknown or too old: sign in again")
	}
	opts := []oauth2.AuthCodeOption{oauth2.VerifierOption(p.verifier)}
	if a.cfg.ClientAuth != nil {
		form := map[string]string{}
		if err := a.cfg.ClientAuth(ctx, form); err != nil {
			return identity{}, "", fmt.Errorf("the app's credential: %w", err)
		}
		for k, v := range form {
			opts = append(opts, oauth2.SetAuthURLParam(k, v))
		}
	}
	if a.cfg.HTTPClient != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, a.cfg.HTTPClient)
	}
	tok, err := a.oauth.Exchange(ctx, code, opts...)
	if err != nil {
		return identity{}, "", fmt.Errorf("the code could not be redeemed: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return identity{}, "", errors.New("the identity platform sent no ID token")
	}
	idt, err := a.verifier.Verify(oidc.ClientContext(ctx, a.cfg.HTTPClient), raw)
	if err != nil {
		return identity{}, "", fmt.Errorf("the ID token is not valid: %w", err)
	}
	if idt.Nonce != p.nonce {
		return identity{}, "", errors.New("the ID token's nonce is not this sign-in's")
	}
	var claims struct {
		OID      string   `json:"oid"`
		Username string   `json:"preferred_username"`
		Name     string   `json:"name"`
		Roles    []string `json:"roles"`
	}
	if err := idt.Claims(&claims); err != nil {
		return identity{}, "", err
	}
	id := identity{Subject: idt.Subject, OID: claims.OID, Username: claims.Username, Name: claims.Name}
	for _, r := range claims.Roles {
		if r == RoleReader || r == RoleOperator {
			id.Roles = append(id.Roles, r)
		}
	}
	return id, p.next, nil
}

// login sends the browser to sign in.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	next := r.URL.Query().Get("next")
	if !strings.HasPrefix(next, "/console/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		next = "/console/"
	}
	u, err := c.auth.start(next)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	http.Redirect(w, r, u, http.StatusFound)
}

// callback ends a sign-in: it makes the session, then leaves the page by a
// navigation of its own, so that the session cookie (SameSite=Strict) is
// sent with the next request.
func (c *Console) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		c.logger.Warn("console sign-in refused by the identity platform", "error", e, "description", q.Get("error_description"))
		c.render(w, r, http.StatusUnauthorized, "signin-failed.html", view{Title: "Sign-in failed", Error: e + ": " + q.Get("error_description")})
		return
	}
	id, next, err := c.auth.finish(r.Context(), q.Get("state"), q.Get("code"))
	if err != nil {
		c.logger.Warn("console sign-in failed", "error", err)
		c.render(w, r, http.StatusUnauthorized, "signin-failed.html", view{Title: "Sign-in failed", Error: err.Error()})
		return
	}
	if len(id.Roles) == 0 {
		c.logger.Warn("console sign-in without a role", "user", id.Username)
		c.render(w, r, http.StatusForbidden, "signin-failed.html", view{Title: "No access",
			Error: fmt.Sprintf("%s has neither the %s nor the %s role of this app: an admin assigns it in Entra ID (Enterprise applications, Users and groups)", id.Username, RoleReader, RoleOperator)})
		return
	}
	s := c.sessions.create(id)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.sid, Path: "/console/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Expires: s.expires})
	c.logger.Info("console sign-in", "user", id.Username, "roles", strings.Join(id.Roles, ","))
	c.render(w, r, http.StatusOK, "signed-in.html", view{Title: "Signed in", Next: next})
}

// logout ends the session.
func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	c.sessions.end(s.sid)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/console/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	c.render(w, r, http.StatusOK, "signin-failed.html", view{Title: "Signed out", Error: "You are signed out."})
}

// signedIn serves h to a session holding role (an operator holds the
// reader's too); every POST must carry the session's CSRF token.
func (c *Console) signedIn(role string, h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := c.sessions.of(r)
		if s == nil {
			if r.Method != http.MethodGet {
				http.Error(w, "sign in first", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/console/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if !s.may(role) {
			http.Error(w, "your role does not allow this: it needs "+role, http.StatusForbidden)
			return
		}
		if r.Method == http.MethodPost && !s.csrfOK(r.PostFormValue(csrfField)) {
			c.logger.Warn("console: a POST without this session's CSRF token was refused", "user", s.id.Username, "path", r.URL.Path)
			http.Error(w, "this form is not one the console gave you (CSRF token): reload the page", http.StatusForbidden)
			return
		}
		h(w, r, s)
	}
}

// may reports whether the session's roles allow role.
func (s *session) may(role string) bool {
	return slices.Contains(s.id.Roles, role) || (role == RoleReader && slices.Contains(s.id.Roles, RoleOperator))
}
