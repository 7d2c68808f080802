package main

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/console"
	"github.com/groupwriteback/groupwriteback/internal/graphsim"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

var consoleShots = flag.Bool("screenshots", false, "write the console's group page screenshot to docs/images (docs/operating.md shows it)")

// TestConsoleEndToEnd: the service with its console, a Samba DC and
// graphsim, driven in Debian's Chromium. Two groups written back are
// deleted in the cloud; the delete threshold (1) holds both; an operator
// signs in with Entra ID (graphsim), releases one with a reason and keeps
// the other; the next cycle deletes the released one only, and the run's
// page shows the delete with its approver and reason, from the audit trail.
func TestConsoleEndToEnd(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and no chromium: scripts/setup installs Debian's chromium")
		}
		t.Skip("chromium not installed")
	}
	dc := testdc.Shared(t, testdc.Options{Exchange: true, Anchor: true})
	fx := dc.Fixtures(t)
	ou := dc.NewOU(t, "console")
	addr := freePort(t)
	public := "http://" + addr
	const (
		app    = "5b0f8a8e-3b55-4c5e-9f5c-1f6f0f2d7e10"
		opID   = "0b000000-0000-4000-8000-00000000000b"
		roleOp = "a1a1a1a1-0000-4000-8000-000000000002"
	)
	yes := true
	tf := &graphsim.TenantFile{TenantID: "7a1c3f9e-2b4d-4e8a-9c61-0d5e8f2a1b3c",
		Applications: []graphsim.Application{{AppID: app, PasswordCredentials: []graphsim.PasswordCredential{{SecretText: "s"}},
			Web: &graphsim.WebApplication{RedirectURIs: []string{public + "/console/callback"}}, AppRoles: []graphsim.AppRole{{ID: roleOp, Value: console.RoleOperator, IsEnabled: &yes}}}},
		Users: []map[string]any{
			{"id": "3f2b1c4d-0001-4a5b-8c6d-7e8f90a1b2c3", "displayName": "A", "userPrincipalName": "a@x", "onPremisesSyncEnabled": true, "onPremisesSecurityIdentifier": fx[0].SID},
			{"id": opID, "displayName": "Otto Operator", "userPrincipalName": "otto@contoso.test", "passwordProfile": map[string]any{"password": "otto-pw"}},
		},
		Groups: []map[string]any{
			{"id": gid(31, 1), "displayName": "Project one", "mailEnabled": false, "mailNickname": "p1", "securityEnabled": true,
				"writebackConfiguration": map[string]any{"isEnabled": true}, "members": []any{"3f2b1c4d-0001-4a5b-8c6d-7e8f90a1b2c3"}},
			{"id": gid(31, 2), "displayName": "Project two", "mailEnabled": false, "mailNickname": "p2", "securityEnabled": true,
				"writebackConfiguration": map[string]any{"isEnabled": true}, "members": []any{"3f2b1c4d-0001-4a5b-8c6d-7e8f90a1b2c3"}},
		},
		AppRoleAssignments: []graphsim.AppRoleAssignment{{PrincipalID: opID, AppID: app, AppRoleID: roleOp}},
	}
	dir := t.TempDir()
	sim, err := graphsim.Start(graphsim.Options{Tenant: tf, CertDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("cloud:\n  tenant_id: "+tf.TenantID+"\n  client_id: "+app+"\n  client_secret: s\n  graph_url: "+sim.URL+
		"\n  authority_url: "+sim.URL+"\n  ca_file: ca.pem\ndirectory:\n  url: "+dc.URL+"\n  bind_dn: "+testdc.DelegatedDN+
		"\n  password: "+testdc.DelegatedPassword+"\n  ca_file: "+dc.CAFile+"\n  base_dn: "+testdc.BaseDN+"\nwriteback:\n  target_ou: "+ou+
		"\n  delete_threshold: 1\n  delete_threshold_percent: 0\nserver:\n  listen: "+addr+"\n  console:\n    public_url: "+public+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runCLI(t, "--config", cfg, "enable"); code != exitOK {
		t.Fatalf("enable: %s", errOut)
	}
	if _, errOut, code := runCLI(t, "--config", cfg, "sync"); code != exitOK {
		t.Fatalf("sync: %s", errOut)
	}
	tenant := sim.Server.Tenant()
	for _, id := range []string{gid(31, 1), gid(31, 2)} {
		if err := tenant.DeleteGroup(id); err != nil {
			t.Fatal(err)
		}
		if err := tenant.PurgeDeleted(id); err != nil {
			t.Fatal(err)
		}
	}
	url, _, _ := startServiceAt(t, cfg, addr)
	postSync(t, url) // both held by the threshold

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("ignore-certificate-errors", true), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(actx)
	defer cancelCtx()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	click := func(sel string) {
		t.Helper()
		if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
			t.Fatalf("click %s: %v", sel, err)
		}
	}
	text := func() string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/console/held"), chromedp.WaitVisible(chromedp.CSS("#passwd")),
		chromedp.SendKeys(chromedp.CSS("#login"), "otto@contoso.test"), chromedp.SendKeys(chromedp.CSS("#passwd"), "otto-pw")); err != nil {
		t.Fatal(err)
	}
	click("#idSIButton9")
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#held"))); err != nil {
		t.Fatalf("the held page after sign-in: %v\n%s", err, text())
	}
	if s := text(); !strings.Contains(s, "Project one") || !strings.Contains(s, "Project two") {
		t.Fatalf("held:\n%s", s)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#pick-"+gid(31, 1))), chromedp.SendKeys(chromedp.CSS("#reason"), "project one ended (CHG-42)"),
		chromedp.SendKeys(chromedp.CSS("#confirm"), "release 1")); err != nil {
		t.Fatal(err)
	}
	click("#release")
	if s := text(); !strings.Contains(s, "1 released by otto@contoso.test") {
		t.Fatalf("release:\n%s", s)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#pick-"+gid(31, 2)))); err != nil {
		t.Fatal(err)
	}
	click("#keep")

	postSync(t, url) // carries the release out
	if got := dc.Search(t, ou, ldap.ScopeWholeSubtree, "(objectClass=group)", "cn"); len(got) != 1 || !strings.HasPrefix(got[0].GetAttributeValue("cn"), "Project two") {
		t.Fatalf("groups left in AD: %d", len(got))
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/console/runs"), chromedp.WaitVisible(chromedp.CSS("#runs"))); err != nil {
		t.Fatal(err)
	}
	click("#runs tr:nth-child(2) a") // the newest run
	// The decisions first (the release, the keep), then the delete that
	// went through with its release.
	if s := text(); !strings.Contains(s, "released by console:otto@contoso.test: project one ended (CHG-42)") || !strings.Contains(s, "delete") ||
		!strings.Contains(s, "kept") || !strings.Contains(s, "approved") || !strings.Contains(s, "asked by service") {
		t.Fatalf("the run's page does not show the approver and the decisions:\n%s", s)
	}
	// The group kept: its AD copy read from the DC now, and its plan (it
	// stays held: nothing to write).
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/console/groups/"+gid(31, 2)), chromedp.WaitVisible(chromedp.CSS("#side-by-side"))); err != nil {
		t.Fatal(err)
	}
	click("#plan")
	if s := text(); !strings.Contains(s, "gone from the cloud") || !strings.Contains(s, "CN=Project two") || !strings.Contains(s, "objectGUID") ||
		!strings.Contains(s, "Planned: nothing was written.") || !strings.Contains(s, "Kept held by console:otto@contoso.test") {
		t.Fatalf("the kept group's page:\n%s", s)
	}
	if *consoleShots {
		shot(t, ctx, "console-group.png")
	}

	// A saved plan (plan --out, as a staging server saves one) sent to the
	// console, checked and shown, applied with a reason and the typed
	// confirmation: the new group is written, and the run's page names
	// the approval.
	three, err := tenant.CreateGroup(map[string]any{"displayName": "Project three", "mailEnabled": false, "mailNickname": "p3", "securityEnabled": true,
		"writebackConfiguration": map[string]any{"isEnabled": true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tenant.AddMember(three, "3f2b1c4d-0001-4a5b-8c6d-7e8f90a1b2c3"); err != nil {
		t.Fatal(err)
	}
	planFile := filepath.Join(dir, "plan.json")
	if _, errOut, code := runCLI(t, "--config", cfg, "plan", "--out", planFile); code != exitOK {
		t.Fatalf("plan --out: %s", errOut)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/console/staged"), chromedp.WaitVisible(chromedp.CSS("#send-plan")),
		chromedp.SetUploadFiles(chromedp.CSS(`#send-plan input[type="file"]`), []string{planFile})); err != nil {
		t.Fatal(err)
	}
	click("#check-plan")
	if s := text(); !strings.Contains(s, "A saved plan waiting for approval") || !strings.Contains(s, "1 operations on 1 groups") || !strings.Contains(s, "Project three") {
		t.Fatalf("the checked plan:\n%s", s)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#approve-plan input[name="reason"]`), "CAB-77: project three"),
		chromedp.SendKeys(chromedp.CSS(`#approve-plan input[name="confirm"]`), "apply 1")); err != nil {
		t.Fatal(err)
	}
	if *consoleShots {
		shot(t, ctx, "console-staged.png")
	}
	click("#apply-plan")
	if s := text(); !strings.Contains(s, "Applied as run") || !strings.Contains(s, "1 created") {
		t.Fatalf("the plan applied:\n%s", s)
	}
	if got := dc.Search(t, ou, ldap.ScopeWholeSubtree, "(cn=Project three*)", "cn"); len(got) != 1 {
		t.Fatalf("Project three in AD: %d", len(got))
	}
	click("#applied a")
	if s := text(); !strings.Contains(s, "approved by console:otto@contoso.test: CAB-77: project three") || !strings.Contains(s, "asked by console:otto@contoso.test") {
		t.Fatalf("the apply's run page does not name the approval:\n%s", s)
	}
}

// shot saves the page as docs/images/name (-screenshots).
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("..", "..", "docs", "images", name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
