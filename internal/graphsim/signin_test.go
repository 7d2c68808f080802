package graphsim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// signInEnv is an emulator whose web app has a redirect URI and two app
// roles, one assigned to alice, who signs in with a password.
func signInEnv(t *testing.T) (*env, string) {
	t.Helper()
	tf := tenantFile()
	const redirect = "https://app.example/console/callback"
	yes, no := true, false
	tf.Applications[0].Web = &WebApplication{RedirectURIs: []string{redirect}}
	tf.Applications[0].AppRoles = []AppRole{{ID: "r1", Value: "GroupWriteback.Operator", IsEnabled: &yes}, {ID: "r2", Value: "Disabled.Role", IsEnabled: &no}}
	tf.Users[0]["passwordProfile"] = map[string]any{"password": "alice-pw"}
	tf.AppRoleAssignments = []AppRoleAssignment{{PrincipalID: alice, AppID: adminID, AppRoleID: "r1"}, {PrincipalID: alice, AppID: adminID, AppRoleID: "r2"}}
	inst, err := Start(Options{Tenant: tf, CertDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs = inst.CA.Pool()
	return &env{t: t, inst: inst, hc: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, redirect
}

// authorize signs alice in and returns the code the browser is sent back with.
func (e *env) authorize(redirect, password, challenge string) (int, url.Values) {
	e.t.Helper()
	form := url.Values{"client_id": {adminID}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid profile"}, "state": {"st"},
		"nonce": {"n1"}, "login": {"alice@contoso.com"}, "passwd": {password}}
	if challenge != "" {
		form.Set("code_challenge", challenge)
		form.Set("code_challenge_method", "S256")
	}
	resp, err := e.hc.PostForm(e.inst.URL+"/"+tid+"/oauth2/v2.0/authorize", form)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return resp.StatusCode, nil
	}
	u, _ := url.Parse(resp.Header.Get("Location"))
	return resp.StatusCode, u.Query()
}

func (e *env) redeem(code, redirect, verifier string) (int, map[string]any) {
	e.t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "client_id": {adminID}, "client_secret": {"admin-secret"}, "code": {code}, "redirect_uri": {redirect}}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	resp, err := e.hc.PostForm(e.inst.URL+"/"+tid+"/oauth2/v2.0/token", form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func TestUserSignIn(t *testing.T) {
	e, redirect := signInEnv(t)
	verifier := "a-verifier-of-at-least-forty-three-characters-long-0123"
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])

	// The form, then the code; the code redeemed with the verifier gives
	// an ID token with the enabled role assigned, the nonce, and the
	// tenant's issuer, signed by a key the JWKS serves.
	resp, err := e.hc.Get(e.inst.URL + "/" + tid + "/oauth2/v2.0/authorize?" + url.Values{"client_id": {adminID}, "response_type": {"code"},
		"redirect_uri": {redirect}, "scope": {"openid profile"}, "state": {"st"}, "nonce": {"n1"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `name="passwd"`) || !strings.Contains(string(page), `name="state" value="st"`) {
		t.Fatalf("authorize: %d %s", resp.StatusCode, page)
	}
	if code, _ := e.authorize(redirect, "wrong", challenge); code != http.StatusOK {
		t.Fatalf("a wrong password: %d, want the form again", code)
	}
	_, q := e.authorize(redirect, "alice-pw", challenge)
	if q.Get("state") != "st" || q.Get("code") == "" {
		t.Fatalf("callback query: %v", q)
	}
	if code, out := e.redeem(q.Get("code"), redirect, "not-the-verifier-not-the-verifier-not-the-verifier"); code != 400 || !strings.Contains(out["error_description"].(string), "AADSTS501481") {
		t.Fatalf("a wrong verifier: %d %v", code, out)
	}
	// The code was spent by the failed attempt, as Entra does.
	_, q = e.authorize(redirect, "alice-pw", challenge)
	code, out := e.redeem(q.Get("code"), redirect, verifier)
	if code != 200 || out["id_token"] == nil || out["access_token"] == nil {
		t.Fatalf("redeem: %d %v", code, out)
	}
	if code, out := e.redeem(q.Get("code"), redirect, verifier); code != 400 || !strings.Contains(out["error_description"].(string), "AADSTS54005") {
		t.Fatalf("a code redeemed twice: %d %v", code, out)
	}
	resp, err = e.hc.Get(e.inst.URL + "/" + tid + "/discovery/v2.0/keys")
	if err != nil {
		t.Fatal(err)
	}
	var jwks struct {
		Keys []map[string]string `json:"keys"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&jwks)
	resp.Body.Close()
	if len(jwks.Keys) != 1 || jwks.Keys[0]["kid"] != e.inst.Server.keyID {
		t.Fatalf("jwks: %+v", jwks)
	}
	tok, err := jwt.Parse(out["id_token"].(string), func(*jwt.Token) (any, error) { return &e.inst.Server.key.PublicKey, nil }, jwt.WithValidMethods([]string{"RS256"}))
	if err != nil {
		t.Fatal(err)
	}
	c := tok.Claims.(jwt.MapClaims)
	if c["aud"] != adminID || c["iss"] != e.inst.URL+"/"+tid+"/v2.0" || c["nonce"] != "n1" || c["oid"] != alice || c["preferred_username"] != "alice@contoso.com" {
		t.Errorf("claims: %v", c)
	}
	if roles, _ := c["roles"].([]any); len(roles) != 1 || roles[0] != "GroupWriteback.Operator" {
		t.Errorf("roles: %v (the disabled role must not be there)", c["roles"])
	}
	// Without PKCE the code takes no verifier; a redirect URI the app does
	// not have is refused on Entra's page, not sent back.
	_, q = e.authorize(redirect, "alice-pw", "")
	if code, _ := e.redeem(q.Get("code"), redirect, ""); code != 200 {
		t.Errorf("no PKCE: %d", code)
	}
	if code, _ := e.authorize("https://evil.example/cb", "alice-pw", ""); code != http.StatusBadRequest {
		t.Errorf("an unregistered redirect URI: %d", code)
	}
	_, q = e.authorize(redirect, "alice-pw", "")
	if code, out := e.redeem(q.Get("code"), "https://app.example/other", ""); code != 400 || !strings.Contains(out["error_description"].(string), "AADSTS50148") {
		t.Errorf("another redirect URI at redeem: %d %v", code, out)
	}
}
