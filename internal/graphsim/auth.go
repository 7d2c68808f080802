package graphsim

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// graphAppID is Microsoft Graph's well-known application id, the audience
// Graph's own tokens carry.
const graphAppID = "00000003-0000-0000-c000-000000000000"

// defaultPermissions are granted to an application whose tenant entry lists none.
var defaultPermissions = []string{"Directory.ReadWrite.All"}

// identityError writes an error in the shape the Microsoft identity platform
// uses on its token endpoint.
func (s *Server) identityError(w http.ResponseWriter, r *http.Request, status int, code string, aadsts int, desc string) {
	now := time.Now().UTC()
	writeJSON(w, status, map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, desc, newID(), newID(), now.Format("2006-01-02 15:04:05Z")),
		"error_codes":       []int{aadsts},
		"timestamp":         now.Format("2006-01-02 15:04:05Z"),
		"trace_id":          newID(),
		"correlation_id":    newID(),
		"error_uri":         fmt.Sprintf("%s/error?code=%d", s.base(r), aadsts),
	})
}

func (s *Server) knownTenant(name string) bool {
	return strings.EqualFold(name, s.tenant.id) || strings.EqualFold(name, s.tenant.domain)
}

// handleOpenIDConfiguration serves the tenant discovery document MSAL reads
// before it asks for a token.
func (s *Server) handleOpenIDConfiguration(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	if !s.knownTenant(tenant) {
		s.identityError(w, r, 400, "invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found.", tenant))
		return
	}
	base := s.base(r)
	id := s.tenant.id
	writeJSON(w, 200, map[string]any{
		"token_endpoint":                        base + "/" + id + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              base + "/" + id + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                base + "/" + id + "/v2.0",
		"authorization_endpoint":                base + "/" + id + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/" + id + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  base + "/" + id + "/oauth2/v2.0/logout",
		"tenant_region_scope":                   "EU",
		"cloud_instance_name":                   "microsoftonline.com",
	})
}

// handleInstanceDiscovery serves /common/discovery/instance, which MSAL asks
// of hosts it does not know unless instance discovery is disabled.
func (s *Server) handleInstanceDiscovery(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	tenant := "common"
	if ae := r.URL.Query().Get("authorization_endpoint"); ae != "" {
		parts := strings.Split(strings.TrimPrefix(strings.TrimPrefix(ae, "https://"), host+"/"), "/")
		tenant = parts[0]
	}
	writeJSON(w, 200, map[string]any{
		"tenant_discovery_endpoint": s.base(r) + "/" + tenant + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata":                  []any{map[string]any{"preferred_network": host, "preferred_cache": host, "aliases": []string{host}}},
	})
}

// handleToken is the client credentials grant of /{tenant}/oauth2/v2.0/token.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	if !s.knownTenant(tenant) {
		s.identityError(w, r, 400, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
		return
	}
	if err := r.ParseForm(); err != nil {
		s.identityError(w, r, 400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" && gt != "authorization_code" {
		s.identityError(w, r, 400, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", gt))
		return
	}
	clientID := r.PostForm.Get("client_id")
	if clientID == "" {
		if u, _, ok := r.BasicAuth(); ok {
			clientID = u
		}
	}
	app := s.tenant.apps[clientID]
	if app == nil {
		s.identityError(w, r, 400, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, s.tenant.id))
		return
	}
	if r.PostForm.Get("grant_type") == "authorization_code" {
		if !s.clientAuthenticated(w, r, app) {
			return
		}
		s.redeemCode(w, r, app)
		return
	}
	// MSAL adds the OpenID Connect scopes to every request; Entra ignores
	// them for client credentials.
	scope := r.PostForm.Get("scope")
	var resources []string
	for _, sc := range strings.Fields(scope) {
		switch sc {
		case "openid", "profile", "offline_access":
		default:
			resources = append(resources, sc)
		}
	}
	resource, ok := "", false
	if len(resources) == 1 {
		resource, ok = strings.CutSuffix(resources[0], "/.default")
	}
	if !ok {
		s.identityError(w, r, 400, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope))
		return
	}
	// Each cloud's Graph is its own resource: a national cloud's authority
	// knows no https://graph.microsoft.com, and the emulator is its own
	// cloud, whose Graph is its base URL.
	if resource != s.base(r) && resource != graphAppID {
		s.identityError(w, r, 400, "invalid_resource", 500011, fmt.Sprintf("The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", resource, s.tenant.id))
		return
	}
	if !s.clientAuthenticated(w, r, app) {
		return
	}
	signed, secs, err := s.issueToken(app, s.base(r))
	if err != nil {
		s.identityError(w, r, 500, "server_error", 50000, "signing failed")
		return
	}
	writeJSON(w, 200, map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": signed})
}

// issueToken signs an access token for Graph carrying the app's permissions.
func (s *Server) issueToken(app *Application, audience string) (string, int, error) {
	clientID := app.AppID
	lifetime := s.Faults().TokenLifetime
	if lifetime <= 0 {
		lifetime = time.Hour
	}
	now := time.Now()
	roles := app.GrantedApplicationPermissions
	if roles == nil {
		roles = defaultPermissions
	}
	claims := jwt.MapClaims{
		"aud": audience, "iss": "https://sts.windows.net/" + s.tenant.id + "/",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(lifetime).Unix(),
		"appid": clientID, "tid": s.tenant.id, "roles": roles, "idtyp": "app", "ver": "1.0",
		"oid": clientID, "sub": clientID, "uti": newID(), "xms_gsim_serial": s.nextSerial(),
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = s.keyID
	signed, err := tok.SignedString(s.key)
	if err != nil {
		return "", 0, err
	}
	s.mu.Lock()
	s.stats.TokensIssued++
	s.mu.Unlock()
	return signed, int(lifetime / time.Second), nil
}

// handleManagedIdentity is the App Service managed identity endpoint:
// GET /msi/token?api-version=2019-08-01&resource=…[&client_id=…] with the
// X-IDENTITY-HEADER secret.
func (s *Server) handleManagedIdentity(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	header := r.Header.Get("X-IDENTITY-HEADER")
	var mi *ManagedIdentity
	for i := range s.tenant.identities {
		id := &s.tenant.identities[i]
		if subtle.ConstantTimeCompare([]byte(id.IdentityHeader), []byte(header)) != 1 {
			continue
		}
		if c := q.Get("client_id"); (c == "" && id.SystemAssigned) || (c != "" && strings.EqualFold(c, id.ClientID)) {
			mi = id
		}
	}
	if mi == nil || q.Get("api-version") != "2019-08-01" {
		writeJSON(w, 400, map[string]any{"statusCode": 400, "message": "No managed identity matches the request (X-IDENTITY-HEADER, client_id, api-version).", "correlationId": newID()})
		return
	}
	if res := strings.TrimSuffix(q.Get("resource"), "/"); res != s.base(r) {
		writeJSON(w, 400, map[string]any{"statusCode": 400, "message": "Unknown resource " + res, "correlationId": newID()})
		return
	}
	app := s.tenant.apps[mi.ClientID]
	if app == nil {
		app = &Application{AppID: mi.ClientID}
	}
	signed, secs, err := s.issueToken(app, s.base(r))
	if err != nil {
		writeJSON(w, 500, map[string]any{"statusCode": 500, "message": "signing failed"})
		return
	}
	writeJSON(w, 200, map[string]any{"access_token": signed, "expires_on": fmt.Sprint(time.Now().Add(time.Duration(secs) * time.Second).Unix()),
		"resource": q.Get("resource"), "token_type": "Bearer", "client_id": mi.ClientID})
}

func secretMatches(app *Application, secret string) bool {
	ok := false
	for _, pc := range app.PasswordCredentials {
		if secret != "" && subtle.ConstantTimeCompare([]byte(pc.SecretText), []byte(secret)) == 1 {
			ok = true
		}
	}
	return ok
}

// verifyAssertion checks a certificate credential's client assertion: a JWT
// signed by the key of one of the app's certificates, naming the app as
// issuer and subject and the token endpoint as audience.
func (s *Server) verifyAssertion(r *http.Request, app *Application) error {
	if t := r.PostForm.Get("client_assertion_type"); t != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		return fmt.Errorf("unsupported client_assertion_type %q", t)
	}
	if len(app.FederatedIdentityCredentials) > 0 {
		unverified, _, err := jwt.NewParser().ParseUnverified(r.PostForm.Get("client_assertion"), jwt.MapClaims{})
		if err == nil {
			if iss, _ := unverified.Claims.GetIssuer(); iss != app.AppID {
				return verifyFederated(r.PostForm.Get("client_assertion"), app)
			}
		}
	}
	var certs []*x509.Certificate
	for _, kc := range app.KeyCredentials {
		der, err := base64.StdEncoding.DecodeString(kc.Key)
		if err != nil {
			continue
		}
		if c, err := x509.ParseCertificate(der); err == nil {
			certs = append(certs, c)
		}
	}
	if len(certs) == 0 {
		return errors.New("the application has no certificate credentials")
	}
	parsed, err := jwt.Parse(r.PostForm.Get("client_assertion"), func(tok *jwt.Token) (any, error) {
		x5t, _ := tok.Header["x5t"].(string)
		x5t256, _ := tok.Header["x5t#S256"].(string)
		for _, c := range certs {
			s1 := sha1.Sum(c.Raw)
			s256 := sha256.Sum256(c.Raw)
			if thumbMatches(x5t, s1[:]) || thumbMatches(x5t256, s256[:]) {
				if time.Now().After(c.NotAfter) {
					return nil, errors.New("the certificate has expired")
				}
				return c.PublicKey, nil
			}
		}
		return nil, errors.New("no certificate credential matches the assertion's thumbprint")
	}, jwt.WithValidMethods([]string{"RS256", "PS256"}), jwt.WithExpirationRequired(), jwt.WithLeeway(5*time.Minute))
	if err != nil {
		return err
	}
	claims := parsed.Claims.(jwt.MapClaims)
	if iss, _ := claims.GetIssuer(); iss != app.AppID {
		return fmt.Errorf("assertion issuer %q is not the client id", iss)
	}
	if sub, _ := claims.GetSubject(); sub != app.AppID {
		return fmt.Errorf("assertion subject %q is not the client id", sub)
	}
	aud, _ := claims.GetAudience()
	want := s.base(r) + "/" + r.PathValue("tenant") + "/oauth2/v2.0/token"
	if !slices.ContainsFunc(aud, func(a string) bool { return strings.EqualFold(a, want) }) {
		return fmt.Errorf("assertion audience %v is not the token endpoint %s", aud, want)
	}
	return nil
}

// thumbMatches compares a JWT thumbprint header, which MSAL writes in
// standard base64 and RFC 7515 in base64url, with a digest.
func thumbMatches(h string, sum []byte) bool {
	if h == "" {
		return false
	}
	return h == base64.StdEncoding.EncodeToString(sum) || h == base64.RawURLEncoding.EncodeToString(sum)
}

// caller is who a Graph request is made by, from its bearer token.
type caller struct {
	appID string
	roles []string
}

func (c caller) has(perms ...string) bool {
	for _, p := range perms {
		if slices.Contains(c.roles, p) {
			return true
		}
	}
	return false
}

// authenticate checks a Graph request's bearer token.
func (s *Server) authenticate(r *http.Request) (caller, *apiError) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		return caller{}, &apiError{status: 401, code: "InvalidAuthenticationToken", msg: "Access token is empty."}
	}
	parsed, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return &s.key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired(), jwt.WithAudience(s.base(r)))
	if errors.Is(err, jwt.ErrTokenExpired) {
		return caller{}, &apiError{status: 401, code: "InvalidAuthenticationToken", msg: "Lifetime validation failed, the token is expired."}
	}
	if err != nil {
		return caller{}, &apiError{status: 401, code: "InvalidAuthenticationToken", msg: "Access token validation failure. Invalid audience or signature."}
	}
	claims := parsed.Claims.(jwt.MapClaims)
	if tid, _ := claims["tid"].(string); tid != s.tenant.id {
		return caller{}, &apiError{status: 401, code: "InvalidAuthenticationToken", msg: "Access token validation failure. Invalid tenant."}
	}
	serial, _ := claims["xms_gsim_serial"].(float64)
	s.mu.Lock()
	revoked := uint64(serial) < s.revokedBelow
	s.mu.Unlock()
	if revoked {
		return caller{}, &apiError{status: 401, code: "InvalidAuthenticationToken", msg: "Lifetime validation failed, the token is expired."}
	}
	c := caller{}
	c.appID, _ = claims["appid"].(string)
	if roles, ok := claims["roles"].([]any); ok {
		for _, x := range roles {
			if s, ok := x.(string); ok {
				c.roles = append(c.roles, s)
			}
		}
	}
	return c, nil
}

// ExpireTokens makes every access token issued so far fail as expired, as a
// token does whose lifetime ran out early (clock skew, revocation).
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revokedBelow = s.serial
}

func (s *Server) nextSerial() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.serial++
	return s.serial - 1
}

// verifyFederated checks a workload identity assertion: a token of an
// external issuer that one of the app's federated credentials trusts.
func verifyFederated(assertion string, app *Application) error {
	var errs []error
	for _, fc := range app.FederatedIdentityCredentials {
		key, err := jwt.ParseRSAPublicKeyFromPEM([]byte(fc.PublicKeyPEM))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		tok, err := jwt.Parse(assertion, func(*jwt.Token) (any, error) { return key, nil },
			jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired(), jwt.WithIssuer(fc.Issuer))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sub, _ := tok.Claims.GetSubject()
		aud, _ := tok.Claims.GetAudience()
		if sub != fc.Subject {
			errs = append(errs, fmt.Errorf("subject %q is not trusted", sub))
			continue
		}
		if !slices.ContainsFunc(aud, func(a string) bool { return slices.Contains(fc.Audiences, a) }) {
			errs = append(errs, fmt.Errorf("audience %v is not trusted", aud))
			continue
		}
		return nil
	}
	return fmt.Errorf("no federated identity credential matches the assertion: %w", errors.Join(errs...))
}

// clientAuthenticated checks the app's credential on a token request (a
// client assertion, or a secret in the form or basic auth), and answers
// the refusal itself.
func (s *Server) clientAuthenticated(w http.ResponseWriter, r *http.Request, app *Application) bool {
	if r.PostForm.Get("client_assertion") != "" {
		if err := s.verifyAssertion(r, app); err != nil {
			s.identityError(w, r, 401, "invalid_client", 700027, "Client assertion failed signature validation. "+err.Error())
			return false
		}
		return true
	}
	secret := r.PostForm.Get("client_secret")
	if secret == "" {
		if _, p, ok := r.BasicAuth(); ok {
			secret = p
		}
	}
	if !secretMatches(app, secret) {
		s.identityError(w, r, 401, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", app.AppID))
		return false
	}
	return true
}
