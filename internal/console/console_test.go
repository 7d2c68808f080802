package console_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/audit"
	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/console"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/graphsim"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/store"
)

const (
	tenantID  = "7a1c3f9e-2b4d-4e8a-9c61-0d5e8f2a1b3c"
	appID     = "5b0f8a8e-3b55-4c5e-9f5c-1f6f0f2d7e10"
	appSecret = "app-secret"
	readerID  = "0a000000-0000-4000-8000-00000000000a"
	opID      = "0b000000-0000-4000-8000-00000000000b"
	roleRead  = "a1a1a1a1-0000-4000-8000-000000000001"
	roleOp    = "a1a1a1a1-0000-4000-8000-000000000002"
	heldA     = "6a1e0c55-0001-4f0e-9d3b-2c1a0b000001"
	heldB     = "6a1e0c55-0002-4f0e-9d3b-2c1a0b000002"
	hostile   = "6a1e0c55-0003-4f0e-9d3b-2c1a0b000003"
)

// recordingOnDemand provisions nothing; it keeps who asked.
type recordingOnDemand struct {
	mu     sync.Mutex
	actors []string
	// applied are the approvals of the saved plans applied.
	applied []engine.Approval
}

// goodMAC is the MAC CheckSaved takes for one this state made; any other
// is refused as the engine refuses an altered plan.
const goodMAC = "c0ffee00c0ffee00c0ffee00c0ffee00"

func (o *recordingOnDemand) CheckSaved(_ context.Context, p *engine.Plan) error {
	if p.MAC != goodMAC {
		return fmt.Errorf("engine: %w", engine.ErrPlanAltered)
	}
	return nil
}

func (o *recordingOnDemand) ApplySaved(ctx context.Context, p *engine.Plan) (*engine.Result, error) {
	if err := o.CheckSaved(ctx, p); err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	a := engine.ApprovalOf(ctx)
	if a == nil {
		return nil, errors.New("applied with no approval")
	}
	o.applied = append(o.applied, *a)
	o.actors = append(o.actors, engine.ActorOf(ctx)+" apply "+p.ID())
	return &engine.Result{RunID: 7, Mode: "apply", Counts: engine.Counts{Updated: 1}, Writes: 1}, nil
}

func (o *recordingOnDemand) SyncGroup(ctx context.Context, group string) (*engine.Result, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.actors = append(o.actors, engine.ActorOf(ctx)+" "+group)
	return &engine.Result{Mode: "group", Trace: &engine.Trace{CloudID: group, Decision: "written back as a universal security group"}}, nil
}

func (o *recordingOnDemand) PlanGroup(ctx context.Context, group string) (*engine.Result, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.actors = append(o.actors, "plan "+group)
	return &engine.Result{Mode: "group", Trace: &engine.Trace{CloudID: group, Decision: "written back as a universal security group"},
		Plan: reconcile.Plan{Ops: []reconcile.Op{{Action: reconcile.Update, CloudID: group, DN: "CN=Team A,OU=Cloud,DC=contoso,DC=test",
			Changes: []reconcile.AttrChange{{Name: "description", Old: []string{"was"}, New: []string{"planned"}}}}}}}, nil
}

// Explain answers as the engine does for a group gone from the cloud whose
// AD copy stays.
func (o *recordingOnDemand) Explain(_ context.Context, group string) (*engine.Explanation, error) {
	return &engine.Explanation{CloudID: group, Decision: "not written back: the cloud group no longer exists",
		AD: &reconcile.ADGroup{DN: "CN=Team A,OU=Cloud,DC=contoso,DC=test", GUID: "6f1c0a51-2b52-4f57-9c77-0d8f55d1d3a1", Members: []string{"CN=Ann"}}}, nil
}

// env is a console behind TLS, signing in through graphsim, on a state
// file holding two held deletes and a group with a hostile name.
type env struct {
	t        *testing.T
	url      string
	st       *store.Store
	onDemand *recordingOnDemand
	roots    *x509.CertPool
}

func newEnv(t *testing.T) *env {
	t.Helper()
	var handler http.Handler
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	yes := true
	tf := &graphsim.TenantFile{TenantID: tenantID,
		Applications: []graphsim.Application{{AppID: appID, DisplayName: "groupwriteback", PasswordCredentials: []graphsim.PasswordCredential{{SecretText: appSecret}},
			Web:      &graphsim.WebApplication{RedirectURIs: []string{srv.URL + "/console/callback"}},
			AppRoles: []graphsim.AppRole{{ID: roleRead, Value: console.RoleReader, IsEnabled: &yes}, {ID: roleOp, Value: console.RoleOperator, IsEnabled: &yes}}}},
		Users: []map[string]any{
			{"id": readerID, "displayName": "Rita Reader", "userPrincipalName": "rita@contoso.test", "passwordProfile": map[string]any{"password": "rita-pw"}},
			{"id": opID, "displayName": "Otto Operator", "userPrincipalName": "otto@contoso.test", "passwordProfile": map[string]any{"password": "otto-pw"}},
			{"displayName": "Nina Norole", "userPrincipalName": "nina@contoso.test", "passwordProfile": map[string]any{"password": "nina-pw"}},
		},
		AppRoleAssignments: []graphsim.AppRoleAssignment{{PrincipalID: readerID, AppID: appID, AppRoleID: roleRead}, {PrincipalID: opID, AppID: appID, AppRoleID: roleOp}},
	}
	sim, err := graphsim.Start(graphsim.Options{Tenant: tf, CertDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	pem, err := os.ReadFile(sim.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots.AppendCertsFromPEM(pem)
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.SetStatus(context.Background(), []state.GroupStatus{
		{CloudID: heldA, Name: "Team A", DN: "CN=Team A,OU=Cloud,DC=contoso,DC=test", State: state.Held, Kind: "security", Message: "delete held back by the delete threshold (the cloud group no longer exists)"},
		{CloudID: heldB, Name: "Team B", DN: "CN=Team B,OU=Cloud,DC=contoso,DC=test", State: state.Held, Message: "delete held back by the delete threshold (the cloud group no longer exists)"},
		{CloudID: hostile, Name: `<script>alert(1)</script><img src=x onerror=alert(2)>`, DN: `CN=\<b\>x,OU=Cloud,DC=contoso,DC=test`, State: state.InStep,
			MembersNotWritten: map[string]int{"cloud_only_user": 2}},
	}); err != nil {
		t.Fatal(err)
	}
	// A run with its operations and its audit entries.
	ctx := context.Background()
	runID, _, err := st.StartRun(ctx, "delta")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RecordOperations(ctx, []state.Operation{{RunID: runID, CloudID: heldA, Action: "update", DN: "CN=Team A,OU=Cloud,DC=contoso,DC=test", Outcome: "applied", At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if err := st.FinishRun(ctx, runID, "delta", state.OutcomePartial, engine.RunSummary{Counts: engine.Counts{Updated: 1, Failed: 1}, Actor: "console:otto@contoso.test"}); err != nil {
		t.Fatal(err)
	}
	auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
	trail, err := audit.Open(auditFile, audit.Options{Key: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range []audit.Entry{
		{Time: time.Now(), RunID: runID, CloudID: heldA, Name: "Team A", Action: "update", DN: "CN=Team A,OU=Cloud,DC=contoso,DC=test", Outcome: "applied", Actor: "cli:alice",
			Changes: []reconcile.AttrChange{{Name: "description", Old: []string{"old words"}, New: []string{"new words"}}}, MembersAdded: []string{"CN=Ann,OU=Users,DC=contoso,DC=test"}},
		{Time: time.Now(), RunID: runID + 1, CloudID: heldB, Name: "Team B", Action: "update", DN: "CN=Team B", Outcome: "applied", Actor: "service"},
		{Time: time.Now(), RunID: runID, CloudID: "6a1e0c55-0003-4f0e-9d3b-2c1a0b000003", Name: "Team C", Action: "restore", DN: "CN=Team C,OU=Cloud,DC=contoso,DC=test",
			RestoredFrom: `CN=Team C\0ADEL:8b3df295-b3cc-4245-a355-c713bcc2acb9,CN=Deleted Objects,DC=contoso,DC=test`, Outcome: "applied", Actor: "service"},
	} {
		if err := trail.Audit(ctx, en); err != nil {
			t.Fatal(err)
		}
	}
	trail.Close()
	od := &recordingOnDemand{}
	c, err := console.New(context.Background(), console.Config{Issuer: sim.URL + "/" + tenantID + "/v2.0", ClientID: appID, RedirectURL: srv.URL + "/console/callback",
		ClientAuth: func(_ context.Context, form map[string]string) error { form["client_secret"] = appSecret; return nil },
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}, AuditFile: auditFile}, st, od)
	if err != nil {
		t.Fatal(err)
	}
	handler = c.Handler()
	return &env{t: t, url: srv.URL, st: st, onDemand: od, roots: roots}
}

// browser is a client with its own cookies, as one browser is.
type browser struct {
	t  *testing.T
	hc *http.Client
	e  *env
	// callback is the last callback answer's Set-Cookie header.
	setCookie string
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{t: e.t, e: e}
	b.hc = &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.roots}},
		CheckRedirect: func(req *http.Request, via []*http.Request) error { return nil }}
	return b
}

var hidden = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

func unescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

// signIn opens the console and signs in at graphsim's form as login.
func (b *browser) signIn(login, password string) (int, string) {
	b.t.Helper()
	resp, err := b.hc.Get(b.e.url + "/console/")
	if err != nil {
		b.t.Fatal(err)
	}
	page := read(b.t, resp)
	if !strings.Contains(page, `id="passwd"`) {
		b.t.Fatalf("not the sign-in form: %s", page)
	}
	form := url.Values{"login": {login}, "passwd": {password}}
	for _, m := range hidden.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], unescape(m[2]))
	}
	b.hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if strings.HasSuffix(req.URL.Path, "/console/") && len(via) > 0 && strings.HasSuffix(via[len(via)-1].URL.Path, "/callback") {
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp, err = b.hc.PostForm(resp.Request.URL.String(), form)
	if err != nil {
		b.t.Fatal(err)
	}
	b.setCookie = resp.Header.Get("Set-Cookie")
	page = read(b.t, resp)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, page
	}
	// The callback's page moves on by a navigation of its own.
	m := regexp.MustCompile(`url=([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("the callback page does not move on: %s", page)
	}
	return b.get(unescape(m[1]))
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.hc.Get(b.e.url + path)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp.StatusCode, read(b.t, resp)
}

func (b *browser) post(path string, form url.Values) (int, string) {
	b.t.Helper()
	resp, err := b.hc.PostForm(b.e.url+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp.StatusCode, read(b.t, resp)
}

func read(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the page: %s", page)
	}
	return unescape(m[1])
}

func TestSignInRolesAndHeldDeletes(t *testing.T) {
	e := newEnv(t)

	// A reader signs in through Entra's (graphsim's) authorization code
	// flow with PKCE, sees every group, the hostile name escaped, and no
	// button.
	rita := e.browser()
	code, page := rita.signIn("rita@contoso.test", "rita-pw")
	if code != http.StatusOK || !strings.Contains(page, "rita@contoso.test (reader)") || !strings.Contains(page, "3 groups") || !strings.Contains(page, `id="csv"`) {
		t.Fatalf("reader's inventory: %d\n%s", code, page)
	}
	for _, attr := range []string{"Secure", "HttpOnly", "SameSite=Strict", "Path=/console/"} {
		if !strings.Contains(rita.setCookie, attr) {
			t.Errorf("session cookie %q lacks %s", rita.setCookie, attr)
		}
	}
	if strings.Contains(page, "<script>alert") || strings.Contains(page, "<img src=x") || !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("a hostile group name is not escaped:\n%s", page)
	}
	if _, page = rita.get("/console/held"); strings.Contains(page, `id="release"`) || strings.Contains(page, `type="checkbox"`) || !strings.Contains(page, "Team A") {
		t.Errorf("the reader's held page offers actions, or lacks the held groups:\n%s", page)
	}
	if _, page = rita.get("/console/groups/" + heldA); strings.Contains(page, `id="provision"`) {
		t.Error("the reader is offered provision now")
	}
	csrf := csrfOf(t, page)
	if code, _ := rita.post("/console/held", url.Values{"csrf": {csrf}, "group": {heldA}, "decision": {"release"}, "reason": {"x"}, "confirm": {"release 1"}}); code != http.StatusForbidden {
		t.Errorf("a reader's release: %d, want 403", code)
	}
	if code, _ := rita.post("/console/groups/"+heldA+"/provision", url.Values{"csrf": {csrf}}); code != http.StatusForbidden {
		t.Errorf("a reader's provision: %d, want 403", code)
	}

	// The runs, and one run with who wrote what, old and new.
	if _, page = rita.get("/console/runs"); !strings.Contains(page, `href="/console/runs/1"`) || !strings.Contains(page, "1 failed, 1 updated") || !strings.Contains(page, "partial") ||
		!strings.Contains(page, "<td>console:otto@contoso.test</td>") {
		t.Errorf("runs:\n%s", page)
	}
	_, page = rita.get("/console/runs/1")
	for _, want := range []string{"cli:alice", "description: old words → new words", "+ <code>CN=Ann,OU=Users,DC=contoso,DC=test</code>", `id="operations"`,
		`restore<br>restored from deleted objects: <code>CN=Team C\0ADEL:8b3df295-b3cc-4245-a355-c713bcc2acb9,CN=Deleted Objects,DC=contoso,DC=test</code>`} {
		if !strings.Contains(page, want) {
			t.Errorf("run 1 lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "Team B") {
		t.Errorf("run 1 shows another run's entry:\n%s", page)
	}
	if code, _ := rita.get("/console/runs/99"); code != http.StatusNotFound {
		t.Errorf("an unknown run: %d", code)
	}

	// A group: cloud and AD side by side; a reader may plan it (nothing
	// is written).
	_, page = rita.get("/console/groups/" + heldA)
	for _, want := range []string{"not written back: the cloud group no longer exists", "gone from the cloud", "objectGUID 6f1c0a51-2b52-4f57-9c77-0d8f55d1d3a1", `id="plan"`,
		"description: old words → new words"} { // its history, from the audit trail
		if !strings.Contains(page, want) {
			t.Errorf("the group page lacks %q:\n%s", want, page)
		}
	}
	if code, page := rita.post("/console/groups/"+heldA+"/plan", url.Values{"csrf": {csrfOf(t, page)}}); code != http.StatusOK ||
		!strings.Contains(page, "Planned: nothing was written.") || !strings.Contains(page, "description: was → planned") || !strings.Contains(page, "What a cycle would do") {
		t.Errorf("plan this group: %d\n%s", code, page)
	}

	// Health: writeback off, the last run, the members not written by
	// reason, each linked to its groups.
	_, page = rita.get("/console/health")
	for _, want := range []string{"Writeback is disabled", `href="/console/runs/1"`, "partial", "2 groups are not in step", `href="/console/?reason=cloud_only_user"`, "1 groups"} {
		if !strings.Contains(page, want) {
			t.Errorf("health lacks %q:\n%s", want, page)
		}
	}
	if _, page = rita.get("/console/?ou=OU%3DCloud%2CDC%3Dcontoso%2CDC%3Dtest&q=team"); !strings.Contains(page, "2 groups") {
		t.Errorf("the groups of an OU:\n%s", page)
	}
	if _, page = rita.get("/console/?kind=security"); !strings.Contains(page, "1 groups") || !strings.Contains(page, "Team A") {
		t.Errorf("the security groups:\n%s", page)
	}
	if _, page = rita.get("/console/?reason=cloud_only_user"); !strings.Contains(page, "1 groups") || !strings.Contains(page, "&lt;script&gt;alert(1)") {
		t.Errorf("the groups behind a reason:\n%s", page)
	}

	// The staged plan: none, then one a staging cycle left.
	if _, page = rita.get("/console/staged"); !strings.Contains(page, `id="staged-none"`) {
		t.Errorf("no staged plan:\n%s", page)
	}
	if err := e.st.SetPendingPlan(context.Background(), []reconcile.Op{{Action: reconcile.Update, CloudID: heldA, DN: "CN=Team A,OU=Cloud,DC=contoso,DC=test",
		Changes: []reconcile.AttrChange{{Name: "displayName", Old: []string{"Team A"}, New: []string{"Team Alpha"}}}}}); err != nil {
		t.Fatal(err)
	}
	if _, page = rita.get("/console/staged"); !strings.Contains(page, "1 operations on 1 groups") || !strings.Contains(page, "displayName: Team A → Team Alpha") {
		t.Errorf("the staged plan:\n%s", page)
	}

	// The search as CSV: every row, a formula neutralised.
	if err := e.st.SetStatus(context.Background(), []state.GroupStatus{{CloudID: "6a1e0c55-0004-4f0e-9d3b-2c1a0b000004", Name: `=HYPERLINK("http://x","Team C")`, State: state.InStep}}); err != nil {
		t.Fatal(err)
	}
	if code, csv := rita.get("/console/groups.csv?q=team"); code != http.StatusOK || strings.Count(csv, "\n") != 4 ||
		!strings.HasPrefix(csv, "cloudId,name,kind,state,dn,message,updated\n") || !strings.Contains(csv, `"'=HYPERLINK(""http://x"",""Team C"")"`) {
		t.Errorf("groups.csv: %d\n%s", code, csv)
	}

	// An operator approves one of two held deletes and keeps the other.
	otto := e.browser()
	if code, page = otto.signIn("otto@contoso.test", "otto-pw"); code != http.StatusOK || !strings.Contains(page, "(operator)") {
		t.Fatalf("operator: %d\n%s", code, page)
	}
	_, page = otto.get("/console/held")
	csrf = csrfOf(t, page)
	// A forged POST (no CSRF token, or another session's) is refused.
	if code, _ := otto.post("/console/held", url.Values{"group": {heldA}, "decision": {"release"}, "reason": {"x"}, "confirm": {"release 1"}}); code != http.StatusForbidden {
		t.Errorf("a POST without the CSRF token: %d", code)
	}
	if code, _ := otto.post("/console/held", url.Values{"csrf": {csrfOf(t, func() string { _, p := rita.get("/console/held"); return p }())}, "group": {heldA},
		"decision": {"release"}, "reason": {"x"}, "confirm": {"release 1"}}); code != http.StatusForbidden {
		t.Errorf("a POST with another session's CSRF token: %d", code)
	}
	// The typed confirmation is required.
	if code, page := otto.post("/console/held", url.Values{"csrf": {csrf}, "group": {heldA}, "decision": {"release"}, "reason": {"project ended"}, "confirm": {"yes"}}); code != http.StatusBadRequest ||
		!strings.Contains(page, `type &#34;release 1&#34; to confirm`) {
		t.Errorf("release without the typed confirmation: %d\n%s", code, page)
	}
	if rs, _ := e.st.Releases(context.Background()); len(rs) != 0 {
		t.Fatalf("released without confirmation: %+v", rs)
	}
	code, page = otto.post("/console/held", url.Values{"csrf": {csrf}, "group": {heldA}, "decision": {"release"}, "reason": {"project ended (CHG-1)"}, "confirm": {"release 1"}})
	if code != http.StatusOK || !strings.Contains(page, "1 released by otto@contoso.test") {
		t.Fatalf("release: %d\n%s", code, page)
	}
	if code, _ = otto.post("/console/held", url.Values{"csrf": {csrf}, "group": {heldB}, "decision": {"keep"}}); code != http.StatusOK {
		t.Fatalf("keep: %d", code)
	}
	rs, err := e.st.Releases(context.Background())
	if err != nil || len(rs) != 2 || rs[0].CloudID != heldA || rs[0].By != "console:otto@contoso.test" || rs[0].Reason != "project ended (CHG-1)" ||
		rs[0].DN != "CN=Team A,OU=Cloud,DC=contoso,DC=test" || rs[0].Action != "delete" || rs[0].Expires.Before(time.Now().Add(23*time.Hour)) ||
		rs[1].CloudID != heldB || rs[1].Action != state.ActionKeep || rs[1].By != "console:otto@contoso.test" {
		t.Fatalf("decisions: %+v, %v (a release of A, a keep of B)", rs, err)
	}
	// Provision now runs the on-demand cycle as the signed-in user.
	code, page = otto.post("/console/groups/"+hostile+"/provision", url.Values{"csrf": {csrf}})
	if code != http.StatusOK || !strings.Contains(page, "Provisioned now.") || !strings.Contains(page, "written back as a universal security group") {
		t.Fatalf("provision: %d\n%s", code, page)
	}
	if a := e.onDemand.actors; len(a) != 2 || a[0] != "plan "+heldA || a[1] != "console:otto@contoso.test "+hostile {
		t.Errorf("on demand asked by %v", a)
	}
}

func TestSignInRefusals(t *testing.T) {
	e := newEnv(t)
	// A user with neither role gets no session.
	nina := e.browser()
	if code, page := nina.signIn("nina@contoso.test", "nina-pw"); code != http.StatusForbidden || !strings.Contains(page, console.RoleReader) || nina.setCookie != "" {
		t.Errorf("no role: %d, cookie %q\n%s", code, nina.setCookie, page)
	}
	// A callback the console did not start is refused.
	b := e.browser()
	if code, page := b.get("/console/callback?state=forged&code=whatever"); code != http.StatusUnauthorized || !strings.Contains(page, "unknown") {
		t.Errorf("forged callback: %d\n%s", code, page)
	}
	// Without a session every page sends to sign-in, and a POST is refused.
	b.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := b.hc.Get(e.url + "/console/held")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/login?next=") {
		t.Errorf("no session: %d %s", resp.StatusCode, loc)
	}
	if code, _ := b.post("/console/held", url.Values{"group": {heldA}}); code != http.StatusUnauthorized {
		t.Errorf("a POST with no session: %d", code)
	}
	// A wrong password is Entra's error, on its own form.
	c := e.browser()
	resp, err = c.hc.Get(e.url + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	page := read(t, resp)
	form := url.Values{"login": {"otto@contoso.test"}, "passwd": {"wrong"}}
	for _, m := range hidden.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], unescape(m[2]))
	}
	resp, err = c.hc.PostForm(resp.Request.URL.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	if page := read(t, resp); !strings.Contains(page, "AADSTS50126") {
		t.Errorf("wrong password: %s", page)
	}
}

// savedPlan is a saved plan's file as plan --out writes it, with mac.
func savedPlan(t *testing.T, mac string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"version": engine.PlanVersion, "created": time.Now().UTC(), "mode": "delta", "mac": mac,
		"options": map[string]any{"allowDeletes": 2},
		"result": map[string]any{"mode": "delta", "plan": map[string]any{"operations": []map[string]any{
			{"action": "update", "cloudId": heldA, "dn": "CN=Team A,OU=Cloud,DC=contoso,DC=test",
				"changes": []map[string]any{{"name": "description", "old": []string{"was"}, "new": []string{"<b>approved</b>"}}}},
			{"action": "delete", "cloudId": heldB, "dn": "CN=Team B,OU=Cloud,DC=contoso,DC=test"},
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sendPlan posts a plan file to the staged page's form, as a browser
// sends a file input.
func (b *browser) sendPlan(csrf string, plan []byte) (int, string) {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if csrf != "" {
		mw.WriteField("csrf", csrf)
	}
	fw, err := mw.CreateFormFile("plan", "staged-plan.json")
	if err != nil {
		b.t.Fatal(err)
	}
	fw.Write(plan)
	mw.Close()
	resp, err := b.hc.Post(b.e.url+"/console/staged/check", mw.FormDataContentType(), &body)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp.StatusCode, read(b.t, resp)
}

// TestApplySavedPlanAsAnApproval: an operator sends a saved plan, sees it
// checked and shown, and applies it only with a reason and the typed
// confirmation; the approval (who, why, which plan) goes with the apply.
// A reader gets no form and is refused; an altered plan is refused
// before anything is shown; a forged POST is refused.
func TestApplySavedPlanAsAnApproval(t *testing.T) {
	e := newEnv(t)
	rita := e.browser()
	rita.signIn("rita@contoso.test", "rita-pw")
	_, page := rita.get("/console/staged")
	if strings.Contains(page, `id="send-plan"`) {
		t.Errorf("a reader is offered the plan form:\n%s", page)
	}
	if code, _ := rita.sendPlan(csrfOf(t, page), savedPlan(t, goodMAC)); code != http.StatusForbidden {
		t.Errorf("a reader sends a plan: %d", code)
	}

	otto := e.browser()
	otto.signIn("otto@contoso.test", "otto-pw")
	_, page = otto.get("/console/staged")
	if !strings.Contains(page, `id="send-plan"`) {
		t.Fatalf("no plan form for an operator:\n%s", page)
	}
	csrf := csrfOf(t, page)
	if code, _ := otto.sendPlan("", savedPlan(t, goodMAC)); code != http.StatusForbidden {
		t.Errorf("a plan sent without the CSRF token: %d", code)
	}
	code, page := otto.sendPlan(csrf, savedPlan(t, "0000"))
	if code != http.StatusUnprocessableEntity || !strings.Contains(page, "this plan is refused") || strings.Contains(page, `id="approve-plan"`) {
		t.Errorf("an altered plan: %d\n%s", code, page)
	}
	if code, page = otto.sendPlan(csrf, []byte(`{"version": 99}`)); code != http.StatusUnprocessableEntity || !strings.Contains(page, "this plan is refused") {
		t.Errorf("a plan of another version: %d\n%s", code, page)
	}
	code, page = otto.sendPlan(csrf, savedPlan(t, goodMAC))
	for _, want := range []string{`id="approve-plan"`, "2 operations on 2 groups", "--allow-deletes 2", "description: was → &lt;b&gt;approved&lt;/b&gt;", "apply 2", "c0ffee00c0ffee00"} {
		if code != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("the checked plan lacks %q: %d\n%s", want, code, page)
		}
	}
	if strings.Contains(page, "<b>approved</b>") {
		t.Errorf("a plan's value is rendered as markup")
	}
	approve := url.Values{"csrf": {csrf}, "plan": {"c0ffee00c0ffee00"}, "reason": {"CAB-1234 approved"}, "confirm": {"apply 3"}}
	if code, page = otto.post("/console/staged/apply", approve); code != http.StatusBadRequest || !strings.Contains(page, `type &#34;apply 2&#34; to confirm`) {
		t.Errorf("a wrong confirmation: %d\n%s", code, page)
	}
	approve.Set("confirm", "apply 2")
	approve.Set("reason", " ")
	if code, _ = otto.post("/console/staged/apply", approve); code != http.StatusBadRequest {
		t.Errorf("no reason: %d", code)
	}
	approve.Set("reason", "CAB-1234 approved")
	if code, _ = rita.post("/console/staged/apply", url.Values{"csrf": {csrfOf(t, page)}, "plan": {"c0ffee00c0ffee00"}}); code != http.StatusForbidden {
		t.Errorf("a reader applies: %d", code)
	}
	if len(e.onDemand.applied) != 0 {
		t.Fatalf("applied before the approval: %v", e.onDemand.applied)
	}
	code, page = otto.post("/console/staged/apply", approve)
	if code != http.StatusOK || !strings.Contains(page, "Applied as run 7.") || !strings.Contains(page, `href="/console/runs/7"`) {
		t.Errorf("apply: %d\n%s", code, page)
	}
	if len(e.onDemand.applied) != 1 {
		t.Fatalf("applied %d times", len(e.onDemand.applied))
	}
	if a := e.onDemand.applied[0]; a.By != "console:otto@contoso.test" || a.Reason != "CAB-1234 approved" || a.Plan != "c0ffee00c0ffee00" || a.Made.IsZero() {
		t.Errorf("the approval = %+v", a)
	}
	// The approval was for one apply.
	if code, _ = otto.post("/console/staged/apply", approve); code != http.StatusConflict || len(e.onDemand.applied) != 1 {
		t.Errorf("the same approval again: %d, %d applies", code, len(e.onDemand.applied))
	}
}

// TestSearchByMemberAndSAM: the inventory finds the groups a user is a
// member of by the user's UPN, and a group by its sAMAccountName.
func TestSearchByMemberAndSAM(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const ann = "0a000000-0000-4000-8000-0000000000a1"
	snap := cloud.NewSnapshot()
	snap.Users[ann] = &cloud.User{ID: ann, UserPrincipalName: "ann@contoso.test"}
	snap.Groups[heldB] = &cloud.Group{ID: heldB, DisplayName: "Team B", Members: cloud.RefsFrom(map[string]cloud.ObjectType{ann: cloud.TypeUser})}
	if err := e.st.SaveCloud(ctx, state.CloudUpdate{Snapshot: snap, FullGroups: true, FullUsers: true}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetStatus(ctx, []state.GroupStatus{{CloudID: heldA, Name: "Team A", DN: "CN=Team A,OU=Cloud,DC=contoso,DC=test", State: state.Held, SAM: "TeamA-legacy"}}); err != nil {
		t.Fatal(err)
	}
	rita := e.browser()
	rita.signIn("rita@contoso.test", "rita-pw")
	if _, page := rita.get("/console/?q=Ann%40contoso.test"); !strings.Contains(page, "1 groups") || !strings.Contains(page, "Team B") || strings.Contains(page, ">Team A<") {
		t.Errorf("ann's groups:\n%s", page)
	}
	if _, page := rita.get("/console/?q=teama-leg"); !strings.Contains(page, "1 groups") || !strings.Contains(page, "Team A") {
		t.Errorf("by sAMAccountName:\n%s", page)
	}
	if _, page := rita.get("/console/groups/" + heldA); !strings.Contains(page, "sAMAccountName <code>TeamA-legacy</code>") {
		t.Errorf("the group's page lacks its sAMAccountName:\n%s", page)
	}
}
