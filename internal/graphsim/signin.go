package graphsim

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"html/template"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The sign-in of users to an app, as the Microsoft identity platform does
// it for a web app: the authorization code flow with PKCE (OpenID Connect)
// at /{tenant}/oauth2/v2.0/authorize, the code redeemed at the token
// endpoint for an ID token (v2.0) whose roles claim holds the app roles
// assigned to the user, signed with a key served at
// /{tenant}/discovery/v2.0/keys. Users sign in with their
// passwordProfile's password. Errors are the AADSTS ones Entra gives.

// authCode is an authorization code not yet redeemed.
type authCode struct {
	clientID, redirectURI, userID, nonce, scope string
	challenge, method                           string
	expires                                     time.Time
}

// codes are the authorization codes handed out, by code.
type codes struct {
	mu sync.Mutex
	m  map[string]*authCode
}

func (c *codes) put(code string, a *authCode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*authCode{}
	}
	c.m[code] = a
}

// take redeems code: a code is good once.
func (c *codes) take(code string) *authCode {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.m[code]
	delete(c.m, code)
	return a
}

// codeLifetime is how long an authorization code may be redeemed (Entra:
// about ten minutes).
const codeLifetime = 10 * time.Minute

var signInPage = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in to your account</title></head>
<body><h1>Sign in</h1><p>to {{.App}}</p>
{{if .Error}}<p id="error" role="alert">{{.Error}}</p>{{end}}
<form method="post">
{{range $k, $v := .Params}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
<label>Email, phone, or Skype <input id="login" name="login" type="email" value="{{.Login}}" autocomplete="username"></label>
<label>Password <input id="passwd" name="passwd" type="password" autocomplete="current-password"></label>
<button id="idSIButton9" type="submit">Sign in</button>
</form></body></html>
`))

// authorizeParams are the parameters the authorize endpoint keeps across
// its sign-in form.
var authorizeParams = []string{"client_id", "response_type", "redirect_uri", "scope", "state", "nonce", "code_challenge", "code_challenge_method", "response_mode", "prompt", "login_hint"}

// handleAuthorize serves the sign-in form (GET) and signs the user in
// (POST), then sends the browser back to the app with a code.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if !s.knownTenant(r.PathValue("tenant")) {
		s.signInError(w, http.StatusBadRequest, 90002, "Tenant '"+r.PathValue("tenant")+"' not found.")
		return
	}
	if err := r.ParseForm(); err != nil {
		s.signInError(w, http.StatusBadRequest, 900144, "The request is not valid.")
		return
	}
	q := r.Form
	app := s.tenant.apps[q.Get("client_id")]
	switch {
	case app == nil:
		s.signInError(w, http.StatusBadRequest, 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", q.Get("client_id"), s.tenant.id))
		return
	case app.Web == nil || !slices.Contains(app.Web.RedirectURIs, q.Get("redirect_uri")):
		s.signInError(w, http.StatusBadRequest, 50011, fmt.Sprintf("The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'.", q.Get("redirect_uri"), app.AppID))
		return
	}
	back := func(params url.Values) {
		u, _ := url.Parse(q.Get("redirect_uri"))
		v := u.Query()
		for k, vs := range params {
			v[k] = vs
		}
		if st := q.Get("state"); st != "" {
			v.Set("state", st)
		}
		u.RawQuery = v.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	}
	switch {
	case q.Get("response_type") != "code":
		back(url.Values{"error": {"unsupported_response_type"}, "error_description": {"AADSTS700054: response_type '" + q.Get("response_type") + "' is not enabled for the application."}})
		return
	case !slices.Contains(strings.Fields(q.Get("scope")), "openid"):
		back(url.Values{"error": {"invalid_request"}, "error_description": {"AADSTS900144: The request body must contain the following parameter: 'scope' with openid."}})
		return
	case q.Get("code_challenge") != "" && q.Get("code_challenge_method") != "S256" && q.Get("code_challenge_method") != "plain" && q.Get("code_challenge_method") != "":
		back(url.Values{"error": {"invalid_request"}, "error_description": {"AADSTS501491: Invalid code_challenge_method."}})
		return
	}
	params := map[string]string{}
	for _, k := range authorizeParams {
		if v := q.Get(k); v != "" {
			params[k] = v
		}
	}
	page := struct {
		App, Error, Login string
		Params            map[string]string
	}{App: app.DisplayName, Params: params, Login: q.Get("login_hint")}
	if page.App == "" {
		page.App = app.AppID
	}
	if r.Method == http.MethodGet {
		_ = signInPage.Execute(w, page)
		return
	}
	userID, ok := s.tenant.signIn(r.PostForm.Get("login"), r.PostForm.Get("passwd"))
	if !ok {
		page.Error, page.Login = "AADSTS50126: Error validating credentials due to invalid username or password.", r.PostForm.Get("login")
		w.WriteHeader(http.StatusOK)
		_ = signInPage.Execute(w, page)
		return
	}
	code := base64.RawURLEncoding.EncodeToString([]byte(newID() + newID()))
	s.codes.put(code, &authCode{clientID: app.AppID, redirectURI: q.Get("redirect_uri"), userID: userID, nonce: q.Get("nonce"), scope: q.Get("scope"),
		challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method"), expires: s.tenant.Now().Add(codeLifetime)})
	back(url.Values{"code": {code}, "session_state": {newID()}})
}

// signInError is the error page the identity platform shows when it
// cannot send the browser back to the app.
func (s *Server) signInError(w http.ResponseWriter, status, aadsts int, desc string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><title>Sign in</title><p id=\"error\">AADSTS%d: %s</p>", aadsts, template.HTMLEscapeString(desc))
}

// redeemCode is the authorization code grant of the token endpoint, the
// app already authenticated.
func (s *Server) redeemCode(w http.ResponseWriter, r *http.Request, app *Application) {
	a := s.codes.take(r.PostForm.Get("code"))
	bad := func(aadsts int, desc string) {
		s.identityError(w, r, http.StatusBadRequest, "invalid_grant", aadsts, desc)
	}
	switch {
	case a == nil:
		bad(54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
		return
	case a.clientID != app.AppID:
		bad(70000, "The provided authorization code was issued to another client.")
		return
	case s.tenant.Now().After(a.expires):
		bad(70008, "The provided authorization code or refresh token has expired due to inactivity.")
		return
	case a.redirectURI != r.PostForm.Get("redirect_uri"):
		bad(50148, "The redirect_uri does not match the one the authorization code was issued for.")
		return
	case !pkceHolds(a, r.PostForm.Get("code_verifier")):
		bad(501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
		return
	}
	idToken, secs, err := s.issueIDToken(r, app, a)
	if err != nil {
		s.identityError(w, r, 500, "server_error", 50000, "signing failed")
		return
	}
	// Entra answers openid and profile with a Graph token for the user
	// too (User.Read), as a delegated access token.
	access, err := s.issueUserToken(r, app, a)
	if err != nil {
		s.identityError(w, r, 500, "server_error", 50000, "signing failed")
		return
	}
	writeJSON(w, 200, map[string]any{"token_type": "Bearer", "scope": "openid profile User.Read", "expires_in": secs, "ext_expires_in": secs,
		"access_token": access, "id_token": idToken})
}

// issueUserToken signs a delegated Graph access token for the user.
func (s *Server) issueUserToken(r *http.Request, app *Application, a *authCode) (string, error) {
	now := s.tenant.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"aud": s.base(r), "iss": "https://sts.windows.net/" + s.tenant.id + "/", "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"appid": app.AppID, "tid": s.tenant.id, "oid": a.userID, "sub": a.userID, "scp": "openid profile User.Read", "idtyp": "user", "ver": "1.0", "uti": newID(),
	})
	tok.Header["kid"] = s.keyID
	return tok.SignedString(s.key)
}

// pkceHolds checks the code verifier against the code's challenge (RFC
// 7636): S256 or plain; a code asked for without a challenge takes none.
func pkceHolds(a *authCode, verifier string) bool {
	if a.challenge == "" {
		return verifier == ""
	}
	want := verifier
	if a.method != "plain" {
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return verifier != "" && subtle.ConstantTimeCompare([]byte(want), []byte(a.challenge)) == 1
}

// issueIDToken signs a v2.0 ID token for the signed-in user, with the app
// roles assigned to the user.
func (s *Server) issueIDToken(r *http.Request, app *Application, a *authCode) (string, int, error) {
	props := s.tenant.userProps(a.userID)
	now := s.tenant.Now()
	lifetime := time.Hour
	sub := sha256.Sum256([]byte(a.userID + app.AppID))
	claims := jwt.MapClaims{
		"aud": app.AppID, "iss": s.base(r) + "/" + s.tenant.id + "/v2.0",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(lifetime).Unix(),
		"oid": a.userID, "tid": s.tenant.id, "sub": base64.RawURLEncoding.EncodeToString(sub[:]), "ver": "2.0", "uti": newID(),
		"name": props["displayName"], "preferred_username": props["userPrincipalName"],
	}
	if a.nonce != "" {
		claims["nonce"] = a.nonce
	}
	if roles := s.tenant.rolesOf(app, a.userID); len(roles) > 0 {
		claims["roles"] = roles
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = s.keyID
	signed, err := tok.SignedString(s.key)
	return signed, int(lifetime / time.Second), err
}

// handleKeys serves the tenant's signing keys (JWKS).
func (s *Server) handleKeys(w http.ResponseWriter, r *http.Request) {
	if !s.knownTenant(r.PathValue("tenant")) {
		s.identityError(w, r, 400, "invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found.", r.PathValue("tenant")))
		return
	}
	pub := s.key.PublicKey
	writeJSON(w, 200, map[string]any{"keys": []any{map[string]any{
		"kty": "RSA", "use": "sig", "kid": s.keyID, "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()), "e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		"issuer": s.base(r) + "/" + s.tenant.id + "/v2.0",
	}}})
}

// signIn checks a user's password (its passwordProfile's); it returns the
// user's id.
func (t *Tenant) signIn(login, password string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	id := t.upns[strings.ToLower(login)]
	o := t.live[id]
	if o == nil || password == "" {
		return "", false
	}
	if enabled, ok := o.props["accountEnabled"].(bool); ok && !enabled {
		return "", false
	}
	pp, _ := o.props["passwordProfile"].(map[string]any)
	want, _ := pp["password"].(string)
	if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(password)) != 1 {
		return "", false
	}
	return id, true
}

// userProps are a copy of a live user's properties.
func (t *Tenant) userProps(id string) map[string]any {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]any{}
	if o := t.live[id]; o != nil {
		for k, v := range o.props {
			out[k] = v
		}
	}
	return out
}

// rolesOf are the values of app's enabled roles assigned to the user.
func (t *Tenant) rolesOf(app *Application, userID string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, as := range t.assignments {
		if as.AppID != app.AppID || !strings.EqualFold(as.PrincipalID, userID) {
			continue
		}
		for _, role := range app.AppRoles {
			if role.ID == as.AppRoleID && (role.IsEnabled == nil || *role.IsEnabled) && !slices.Contains(out, role.Value) {
				out = append(out, role.Value)
			}
		}
	}
	return out
}
