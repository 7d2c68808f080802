package graphsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const (
	tid      = "7a1c3f9e-2b4d-4e8a-9c61-0d5e8f2a1b3c"
	adminID  = "22222222-2222-4222-8222-222222222222"
	readerID = "11111111-1111-4111-8111-111111111111"
	// usersOnlyID may read users and nothing else.
	usersOnlyID = "33333333-3333-4333-8333-333333333333"
	alice       = "a0000000-0000-4000-8000-000000000001"
	bob         = "a0000000-0000-4000-8000-000000000002"
	m365        = "b0000000-0000-4000-8000-000000000001"
	sec         = "b0000000-0000-4000-8000-000000000002"
)

func tenantFile() *TenantFile {
	return &TenantFile{
		TenantID: tid,
		Applications: []Application{
			{AppID: adminID, PasswordCredentials: []PasswordCredential{{SecretText: "admin-secret"}}},
			{AppID: readerID, PasswordCredentials: []PasswordCredential{{SecretText: "reader-secret"}}, GrantedApplicationPermissions: []string{"Group.Read.All", "User.Read.All"}},
			{AppID: usersOnlyID, PasswordCredentials: []PasswordCredential{{SecretText: "users-secret"}}, GrantedApplicationPermissions: []string{"User.Read.All"}},
		},
		Users: []map[string]any{
			{"id": alice, "displayName": "Alice", "userPrincipalName": "alice@contoso.com"},
			{"id": bob, "displayName": "Bob", "userPrincipalName": "bob@contoso.com", "onPremisesSyncEnabled": true, "onPremisesSecurityIdentifier": "S-1-5-21-1-2-3-1105"},
		},
		Groups: []map[string]any{
			{"id": m365, "displayName": "Marketing", "mailEnabled": true, "mailNickname": "marketing", "securityEnabled": false, "groupTypes": []any{"Unified"}, "members": []any{alice}},
			{"id": sec, "displayName": "VPN", "mailEnabled": false, "mailNickname": "vpn", "securityEnabled": true,
				"writebackConfiguration": map[string]any{"isEnabled": true}},
		},
	}
}

// env is a running emulator and a plain HTTP client for it, used the way a
// person uses curl.
type env struct {
	t    *testing.T
	inst *Instance
	hc   *http.Client
}

func start(t *testing.T, f Faults) *env {
	t.Helper()
	inst, err := Start(Options{Tenant: tenantFile(), CertDir: t.TempDir(), Faults: f})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs = inst.CA.Pool()
	return &env{t: t, inst: inst, hc: &http.Client{Transport: tr}}
}

// control posts body, JSON, to the emulator's path (its control API) and
// returns the status code.
func (e *env) control(path, body string) int {
	e.t.Helper()
	resp, err := e.hc.Post(e.inst.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// token gets a token with the client credentials grant, as curl would.
func (e *env) token(app, secret string) (int, map[string]any) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {app}, "client_secret": {secret},
		"scope": {e.inst.URL + "/.default"}}
	resp, err := e.hc.PostForm(e.inst.URL+"/"+tid+"/oauth2/v2.0/token", form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func (e *env) bearer(app, secret string) string {
	status, body := e.token(app, secret)
	if status != 200 {
		e.t.Fatalf("token: %d %v", status, body)
	}
	return body["access_token"].(string)
}

// call makes a Graph request and decodes its JSON answer.
func (e *env) call(tok, method, path string, body any, header ...string) (int, map[string]any, http.Header) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.inst.URL+path, rd)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, resp.Header
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestTokenEndpointErrorsHaveEntrasShape(t *testing.T) {
	e := start(t, Faults{})
	cases := []struct {
		name, app, secret string
		status            int
		err               string
		aadsts            string
	}{
		{"wrong secret", adminID, "nope", 401, "invalid_client", "AADSTS7000215"},
		{"unknown app", "99999999-9999-4999-8999-999999999999", "x", 400, "unauthorized_client", "AADSTS700016"},
		{"right secret", adminID, "admin-secret", 200, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.token(tc.app, tc.secret)
			if status != tc.status {
				t.Fatalf("status %d, want %d (%v)", status, tc.status, body)
			}
			if tc.err == "" {
				if body["token_type"] != "Bearer" || body["expires_in"] == nil || body["access_token"] == "" {
					t.Fatalf("token answer %v", body)
				}
				return
			}
			desc, _ := body["error_description"].(string)
			if body["error"] != tc.err || !strings.HasPrefix(desc, tc.aadsts+": ") || body["error_codes"] == nil || body["correlation_id"] == nil {
				t.Fatalf("error answer %v", body)
			}
		})
	}
}

func TestDiscoveryDocuments(t *testing.T) {
	e := start(t, Faults{})
	resp, err := e.hc.Get(e.inst.URL + "/" + tid + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if doc["token_endpoint"] != e.inst.URL+"/"+tid+"/oauth2/v2.0/token" || doc["issuer"] != e.inst.URL+"/"+tid+"/v2.0" || doc["authorization_endpoint"] == nil {
		t.Fatalf("openid configuration = %v", doc)
	}
}

func TestGraphErrorsAndPermissions(t *testing.T) {
	e := start(t, Faults{})
	reader := e.bearer(readerID, "reader-secret")
	usersOnly := e.bearer(usersOnlyID, "users-secret")
	cases := []struct {
		name, tok, method, path string
		body                    any
		status                  int
		code                    string
	}{
		{"no token", "", "GET", "/v1.0/groups", nil, 401, "InvalidAuthenticationToken"},
		{"forged token", "eyJhbGciOiJub25lIn0.e30.", "GET", "/v1.0/groups", nil, 401, "InvalidAuthenticationToken"},
		{"reader may not write", reader, "PATCH", "/v1.0/groups/" + sec, map[string]any{"displayName": "x"}, 403, "Authorization_RequestDenied"},
		{"Group.Read.All may read settings", reader, "GET", "/v1.0/groupSettings", nil, 200, ""},
		{"User.Read.All alone may not read settings", usersOnly, "GET", "/v1.0/groupSettings", nil, 403, "Authorization_RequestDenied"},
		{"writebackConfiguration is beta only", reader, "GET", "/v1.0/groups?$select=writebackConfiguration", nil, 400, "Request_BadRequest"},
		{"unknown property", reader, "GET", "/beta/groups/delta?$select=nonsense", nil, 400, "Request_BadRequest"},
		{"a property only some docs mention", reader, "GET", "/v1.0/users/delta?$select=displayName,onPremisesObjectIdentifier", nil, 400, "Request_BadRequest"},
		{"unknown group", reader, "GET", "/v1.0/groups/b0000000-0000-4000-8000-00000000dead", nil, 404, "Request_ResourceNotFound"},
		{"bad version", reader, "GET", "/v2.0/groups", nil, 400, "BadRequest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, h := e.call(tc.tok, tc.method, tc.path, tc.body)
			if status != tc.status || errCode(body) != tc.code {
				t.Fatalf("%d %s, want %d %s (%v)", status, errCode(body), tc.status, tc.code, body)
			}
			if tc.code == "" {
				return
			}
			inner, _ := body["error"].(map[string]any)["innerError"].(map[string]any)
			if inner["request-id"] == nil || inner["date"] == nil || h.Get("request-id") == "" {
				t.Fatalf("error lacks innerError request-id/date: %v", body)
			}
		})
	}
}

func TestWritesThroughGraphCalls(t *testing.T) {
	e := start(t, Faults{})
	admin := e.bearer(adminID, "admin-secret")
	status, g, _ := e.call(admin, "POST", "/beta/groups", map[string]any{
		"displayName": "Sales", "mailEnabled": true, "mailNickname": "sales", "securityEnabled": false, "groupTypes": []any{"Unified"},
		"writebackConfiguration": map[string]any{"isEnabled": true, "onPremisesGroupType": "universalSecurityGroup"},
		"members@odata.bind":     []any{"https://graph.microsoft.com/v1.0/directoryObjects/" + alice},
	})
	if status != 201 || g["mail"] != "sales@contoso.onmicrosoft.com" {
		t.Fatalf("create: %d %v", status, g)
	}
	id := g["id"].(string)
	steps := []struct {
		name, method, path string
		body               any
		status             int
	}{
		{"rename", "PATCH", "/v1.0/groups/" + id, map[string]any{"displayName": "Sales EMEA"}, 204},
		{"add member", "POST", "/v1.0/groups/" + id + "/members/$ref", map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + bob}, 204},
		{"add member twice", "POST", "/v1.0/groups/" + id + "/members/$ref", map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + bob}, 400},
		{"remove member", "DELETE", "/v1.0/groups/" + id + "/members/" + alice + "/$ref", nil, 204},
		{"remove absent member", "DELETE", "/v1.0/groups/" + id + "/members/" + alice + "/$ref", nil, 404},
		{"writeback type not a string", "PATCH", "/beta/groups/" + id, map[string]any{"writebackConfiguration": map[string]any{"onPremisesGroupType": 5}}, 400},
		{"writeback off (merge)", "PATCH", "/beta/groups/" + id, map[string]any{"writebackConfiguration": map[string]any{"isEnabled": false}}, 204},
		{"create user with on-premises identifiers", "POST", "/v1.0/users", map[string]any{"displayName": "Carol", "userPrincipalName": "carol@contoso.com",
			"onPremisesSyncEnabled": true, "onPremisesSecurityIdentifier": "S-1-5-21-1-2-3-1200", "onPremisesImmutableId": "q83vEjRWeJA="}, 201},
		{"duplicate UPN", "POST", "/v1.0/users", map[string]any{"displayName": "Carol", "userPrincipalName": "CAROL@contoso.com"}, 400},
	}
	for _, s := range steps {
		status, body, _ := e.call(admin, s.method, s.path, s.body)
		if status != s.status {
			t.Fatalf("%s: %d, want %d (%v)", s.name, status, s.status, body)
		}
	}
	status, got, _ := e.call(admin, "GET", "/beta/groups/"+id+"?$select=displayName,writebackConfiguration", nil)
	wb, _ := got["writebackConfiguration"].(map[string]any)
	if status != 200 || got["displayName"] != "Sales EMEA" || wb["isEnabled"] != false || wb["onPremisesGroupType"] != "universalSecurityGroup" {
		t.Fatalf("after writes: %v", got)
	}
	gs := e.inst.Server.Tenant().State().Groups[id]
	if len(gs.Members) != 1 || gs.Members[0] != bob {
		t.Fatalf("members %v, want only bob", gs.Members)
	}
}

func TestDeletedItems(t *testing.T) {
	e := start(t, Faults{})
	admin := e.bearer(adminID, "admin-secret")
	if s, b, _ := e.call(admin, "DELETE", "/v1.0/groups/"+m365, nil); s != 204 {
		t.Fatalf("delete M365: %d %v", s, b)
	}
	if s, b, _ := e.call(admin, "DELETE", "/v1.0/groups/"+sec, nil); s != 204 {
		t.Fatalf("delete security group: %d %v", s, b)
	}
	status, dl, _ := e.call(admin, "POST", "/v1.0/groups", map[string]any{"displayName": "All staff", "mailEnabled": true, "mailNickname": "allstaff",
		"securityEnabled": false})
	if status != 201 {
		t.Fatalf("create a distribution list: %d %v", status, dl)
	}
	if s, b, _ := e.call(admin, "DELETE", "/v1.0/groups/"+dl["id"].(string), nil); s != 204 {
		t.Fatalf("delete a distribution list: %d %v", s, b)
	}
	_, list, _ := e.call(admin, "GET", "/v1.0/directory/deletedItems/microsoft.graph.group", nil)
	items, _ := list["value"].([]any)
	ids := map[any]bool{}
	for _, it := range items {
		ids[it.(map[string]any)["id"]] = it.(map[string]any)["deletedDateTime"] != nil
	}
	if len(items) != 2 || !ids[m365] || !ids[sec] {
		t.Fatalf("deleted groups = %v; want the Microsoft 365 and the security group, not the distribution list (deleted for good)", list)
	}
	if s, b, _ := e.call(admin, "POST", "/v1.0/directory/deletedItems/"+m365+"/restore", nil); s != 200 || b["id"] != m365 {
		t.Fatalf("restore: %d %v", s, b)
	}
	if s, _, _ := e.call(admin, "GET", "/v1.0/groups/"+m365, nil); s != 200 {
		t.Fatalf("restored group not readable: %d", s)
	}
	// Soft-deleted groups are purged after 30 days of emulator time.
	e.call(admin, "DELETE", "/v1.0/groups/"+m365, nil)
	e.inst.Server.Tenant().Advance(29 * 24 * time.Hour)
	if s, _, _ := e.call(admin, "GET", "/v1.0/directory/deletedItems/"+m365, nil); s != 200 {
		t.Fatalf("deleted group gone after 29 days: %d", s)
	}
	e.inst.Server.Tenant().Advance(25 * time.Hour)
	if s, _, _ := e.call(admin, "GET", "/v1.0/directory/deletedItems/"+m365, nil); s != 404 {
		t.Fatalf("deleted group still restorable after 30 days: %d", s)
	}
}

// deltaItems reads a whole delta round over HTTP and returns its items.
func (e *env) deltaItems(tok, link string, header ...string) ([]map[string]any, string) {
	e.t.Helper()
	var items []map[string]any
	for {
		status, page, _ := e.call(tok, "GET", strings.TrimPrefix(link, e.inst.URL), nil, header...)
		if status != 200 {
			e.t.Fatalf("delta %s: %d %v", link, status, page)
		}
		for _, v := range page["value"].([]any) {
			items = append(items, v.(map[string]any))
		}
		if next, ok := page["@odata.nextLink"].(string); ok {
			link = next
			continue
		}
		return items, page["@odata.deltaLink"].(string)
	}
}

func TestDeltaSemantics(t *testing.T) {
	e := start(t, Faults{PageSize: 1})
	tok := e.bearer(readerID, "reader-secret")
	tn := e.inst.Server.Tenant()
	items, link := e.deltaItems(tok, "/beta/groups/delta?$select=displayName,description,writebackConfiguration,members")
	if len(items) != 2 {
		t.Fatalf("initial round: %d items", len(items))
	}
	if _, ok := items[0]["description"]; ok {
		t.Error("a property never set must not appear")
	}

	if err := tn.UpdateGroup(sec, map[string]any{"description": "VPN access"}); err != nil {
		t.Fatal(err)
	}
	if err := tn.UpdateGroup(m365, map[string]any{"visibility": "Private"}); err != nil { // not selected
		t.Fatal(err)
	}
	// Default: every selected property; Prefer: return=minimal: only changed ones.
	full, _ := e.deltaItems(tok, link)
	minimal, next := e.deltaItems(tok, link, "Prefer", "return=minimal")
	if len(full) != 1 || full[0]["displayName"] != "VPN" || full[0]["description"] != "VPN access" {
		t.Fatalf("default round = %v", full)
	}
	if len(minimal) != 1 || minimal[0]["displayName"] != nil || minimal[0]["description"] != "VPN access" {
		t.Fatalf("minimal round = %v", minimal)
	}

	// $deltatoken=latest skips to now.
	status, page, _ := e.call(tok, "GET", "/beta/groups/delta?$deltatoken=latest", nil)
	if status != 200 || len(page["value"].([]any)) != 0 || page["@odata.deltaLink"] == nil {
		t.Fatalf("latest = %d %v", status, page)
	}

	// A filter by id tracks just those groups.
	items, _ = e.deltaItems(tok, "/beta/groups/delta?$filter=id+eq+'"+sec+"'")
	if len(items) != 1 || items[0]["id"] != sec {
		t.Fatalf("filtered round = %v", items)
	}

	// A resync answers 410 with a Location to start from.
	tn.InvalidateDeltaTokens()
	status, body, h := e.call(tok, "GET", strings.TrimPrefix(next, e.inst.URL), nil)
	if status != 410 || errCode(body) != "resyncRequired" || !strings.Contains(h.Get("Location"), "/beta/groups/delta?$deltatoken=") {
		t.Fatalf("after invalidation: %d %v Location=%q", status, body, h.Get("Location"))
	}
}

func TestControlEndpoints(t *testing.T) {
	e := start(t, Faults{})
	post := e.control
	if code := post("/_graphsim/faults", `{"throttleEvery":1,"retryAfterSeconds":9}`); code != 200 {
		t.Fatalf("faults: %d", code)
	}
	tok := e.bearer(adminID, "admin-secret")
	status, _, h := e.call(tok, "GET", "/v1.0/groups", nil)
	if status != 429 || h.Get("Retry-After") != "9" {
		t.Fatalf("after setting the fault: %d, Retry-After %q", status, h.Get("Retry-After"))
	}
	post("/_graphsim/faults", `{}`)
	if code := post("/_graphsim/expire-tokens", ""); code != 204 {
		t.Fatalf("expire-tokens: %d", code)
	}
	if status, body, _ := e.call(tok, "GET", "/v1.0/groups", nil); status != 401 || errCode(body) != "InvalidAuthenticationToken" {
		t.Fatalf("old token after expire-tokens: %d %v", status, body)
	}
	tok = e.bearer(adminID, "admin-secret")
	_, link := e.deltaItems(tok, "/beta/groups/delta")
	if code := post("/_graphsim/resync", ""); code != 204 {
		t.Fatalf("resync: %d", code)
	}
	if status, _, _ := e.call(tok, "GET", strings.TrimPrefix(link, e.inst.URL), nil); status != 410 {
		t.Fatalf("delta link after resync: %d", status)
	}
	before := e.inst.Server.Tenant().Now()
	if code := post("/_graphsim/clock", `{"advance":"720h"}`); code != 200 {
		t.Fatalf("clock: %d", code)
	}
	if d := e.inst.Server.Tenant().Now().Sub(before); d < 720*time.Hour {
		t.Fatalf("clock moved %v", d)
	}
	if code := post("/_graphsim/clock", `{"advance":"soon"}`); code != 400 {
		t.Fatalf("bad clock request: %d", code)
	}
}

// TestGroupTypeIsAFreeString: Graph keeps onPremisesGroupType as written
// (Terraform's azuread provider writes "UniversalSecurityGroup").
func TestGroupTypeIsAFreeString(t *testing.T) {
	e := start(t, Faults{})
	admin := e.bearer(adminID, "admin-secret")
	status, g, _ := e.call(admin, "POST", "/beta/groups", map[string]any{
		"displayName": "Terraformed", "mailEnabled": false, "mailNickname": "tf", "securityEnabled": true,
		"writebackConfiguration": map[string]any{"isEnabled": true, "onPremisesGroupType": "UniversalSecurityGroup"}})
	if status != 201 {
		t.Fatalf("create: %d %v", status, g)
	}
	_, got, _ := e.call(admin, "GET", "/beta/groups/"+g["id"].(string)+"?$select=writebackConfiguration", nil)
	if wb, _ := got["writebackConfiguration"].(map[string]any); wb["onPremisesGroupType"] != "UniversalSecurityGroup" {
		t.Fatalf("stored %v", got)
	}
}

// TestWritebackDefaultStampsNewGroups: NewUnifiedGroupWritebackDefault is
// applied by Entra to Microsoft 365 groups created after it is set, and to
// no group that existed before; a request's own isEnabled wins.
func TestWritebackDefaultStampsNewGroups(t *testing.T) {
	e := start(t, Faults{})
	admin := e.bearer(adminID, "admin-secret")
	create := func(name string, wb map[string]any) string {
		body := map[string]any{"displayName": name, "mailEnabled": true, "mailNickname": name, "securityEnabled": false, "groupTypes": []any{"Unified"}}
		if wb != nil {
			body["writebackConfiguration"] = wb
		}
		status, g, _ := e.call(admin, "POST", "/beta/groups", body)
		if status != 201 {
			t.Fatalf("create %s: %d %v", name, status, g)
		}
		return g["id"].(string)
	}
	isEnabled := func(id string) any {
		_, g, _ := e.call(admin, "GET", "/beta/groups/"+id+"?$select=writebackConfiguration", nil)
		wb, _ := g["writebackConfiguration"].(map[string]any)
		return wb["isEnabled"]
	}
	before := create("before", nil)
	e.inst.Server.Tenant().SetUnifiedWritebackDefault(false)
	after, explicit := create("after", nil), create("explicit", map[string]any{"isEnabled": true})
	for id, want := range map[string]any{before: nil, after: false, explicit: true} {
		if got := isEnabled(id); got != want {
			t.Errorf("isEnabled of %s = %v, want %v", id, got, want)
		}
	}
}

// TestTokenAudienceIsTheCloudsGraph: graphsim is a cloud of its own whose
// Graph is its base URL; asking it for https://graph.microsoft.com fails as
// a national cloud's authority fails for the public cloud's Graph.
func TestTokenAudienceIsTheCloudsGraph(t *testing.T) {
	e := start(t, Faults{})
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {adminID}, "client_secret": {"admin-secret"},
		"scope": {"https://graph.microsoft.com/.default"}}
	resp, err := e.hc.PostForm(e.inst.URL+"/"+tid+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 400 || body["error"] != "invalid_resource" || !strings.Contains(body["error_description"].(string), "AADSTS500011") {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
	if status, _ := e.token(adminID, "admin-secret"); status != 200 {
		t.Fatalf("its own Graph: %d", status)
	}
}

// TestSourceOfAuthority: PATCH onPremisesSyncBehavior {"isCloudManaged":
// true} converts a group synced from AD to cloud management: it keeps its
// on-premises SID and onPremisesSyncEnabled becomes false.
func TestSourceOfAuthority(t *testing.T) {
	e := start(t, Faults{})
	admin := e.bearer(adminID, "admin-secret")
	status, g, _ := e.call(admin, "POST", "/beta/groups", map[string]any{"displayName": "From AD", "mailEnabled": false, "mailNickname": "fromad",
		"securityEnabled": true, "onPremisesSyncEnabled": true, "onPremisesSecurityIdentifier": "S-1-5-21-1-2-3-3000"})
	if status != 201 {
		t.Fatalf("create: %d %v", status, g)
	}
	id := g["id"].(string)
	if s, b, _ := e.call(admin, "PATCH", "/beta/groups/"+id+"/onPremisesSyncBehavior", map[string]any{"isCloudManaged": true}); s != 204 {
		t.Fatalf("patch: %d %v", s, b)
	}
	_, got, _ := e.call(admin, "GET", "/beta/groups/"+id+"/onPremisesSyncBehavior", nil)
	if got["isCloudManaged"] != true {
		t.Fatalf("onPremisesSyncBehavior = %v", got)
	}
	_, got, _ = e.call(admin, "GET", "/beta/groups/"+id+"?$select=onPremisesSyncEnabled,onPremisesSecurityIdentifier", nil)
	if got["onPremisesSyncEnabled"] != false || got["onPremisesSecurityIdentifier"] != "S-1-5-21-1-2-3-3000" {
		t.Fatalf("group = %v", got)
	}
}
