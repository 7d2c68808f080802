package console_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/groupwriteback/groupwriteback/internal/state"
)

var screenshots = flag.Bool("screenshots", false, "write the console's screenshots to docs/images (docs/operating.md shows them)")

// chromium is a headless Debian Chromium of its own (its own profile, so
// its own cookies), driven over the DevTools protocol.
func chromium(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and no chromium: scripts/setup installs Debian's chromium")
		}
		t.Skip("chromium not installed")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("ignore-certificate-errors", true), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTime(); cancelCtx(); cancelAlloc() })
	return ctx
}

// signInWith signs in at graphsim's form, as a person does.
func signInWith(t *testing.T, ctx context.Context, e *env, login, password string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(e.url+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("#passwd")),
		chromedp.SendKeys(chromedp.CSS("#login"), login),
		chromedp.SendKeys(chromedp.CSS("#passwd"), password),
	); err != nil {
		t.Fatalf("sign in as %s: %v", login, err)
	}
	// The form posts, Entra sends back to the callback, whose page moves
	// on to the inventory.
	follow(t, ctx, "#idSIButton9")
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#total"))); err != nil {
		t.Fatalf("sign in as %s: %v", login, err)
	}
}

// follow clicks sel and waits for the page it navigates to.
func follow(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
}

// text is the page's text.
func text(t *testing.T, ctx context.Context) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// injected counts the elements a hostile name could have put on the page:
// the console's pages have no script, image, frame or event handler.
const injected = `document.querySelectorAll('script,img,iframe,object,embed,svg,math,link,meta[http-equiv],[onerror],[onload],[onclick],[onmouseover],[onfocus],[style*="url("]').length + (window.__pwned ? 1000 : 0)`

func noInjection(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](injected))
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
		t.Errorf("%s: %d injected elements:\n%s", where, n, html)
	}
}

func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if !*screenshots {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("..", "..", "docs", "images", name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// hostileNames are the displayName inputs of the engine's hostile corpus.
func hostileNames(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../engine/testdata/hostile.json")
	if err != nil {
		t.Fatal(err)
	}
	var corpus struct {
		Cases []struct {
			Field string `json:"field"`
			Value string `json:"value"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &corpus); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range corpus.Cases {
		if c.Field == "displayName" {
			out = append(out, c.Value)
		}
	}
	return out
}

// TestConsoleInChromium drives the console in Debian's Chromium: a reader
// and an operator sign in through graphsim; the operator searches, opens a
// group, provisions it now, releases one of two held deletes and keeps the
// other; the reader gets no button, and a forged form is refused; the
// hostile-name corpus renders through every page with nothing injected.
func TestConsoleInChromium(t *testing.T) {
	e := newEnv(t)
	names := hostileNames(t)
	var sts []state.GroupStatus
	for i, n := range names {
		sts = append(sts, state.GroupStatus{CloudID: fmt.Sprintf("6a1e0c55-0%03d-4f0e-9d3b-2c1a0b00f%03d", i, i), Name: n,
			DN: "CN=" + strings.ReplaceAll(n, ",", `\,`) + ",OU=Cloud,DC=contoso,DC=test", State: state.Failed, Message: "message: " + n})
	}
	if err := e.st.SetStatus(context.Background(), sts); err != nil {
		t.Fatal(err)
	}

	op := chromium(t)
	signInWith(t, op, e, "otto@contoso.test", "otto-pw")
	if s := text(t, op); !strings.Contains(s, "otto@contoso.test (operator)") || !strings.Contains(s, fmt.Sprintf("%d groups", len(names)+3)) {
		t.Fatalf("the operator's inventory:\n%s", s)
	}
	// Search.
	if err := chromedp.Do(op, chromedp.SendKeys(chromedp.CSS("#q"), "Team")); err != nil {
		t.Fatal(err)
	}
	follow(t, op, "#search")
	shoot(t, op, "console-groups.png")
	if s := text(t, op); !strings.Contains(s, "2 groups") || !strings.Contains(s, "Team A") || !strings.Contains(s, "Team B") {
		t.Fatalf("search Team:\n%s", s)
	}
	// Open a group and provision it now.
	follow(t, op, `a[href="/console/groups/`+heldA+`"]`)
	follow(t, op, "#provision")
	if s := text(t, op); !strings.Contains(s, "Provisioned now.") || !strings.Contains(s, "written back as a universal security group") {
		t.Fatalf("provision now:\n%s", s)
	}
	if len(e.onDemand.actors) != 1 || e.onDemand.actors[0] != "console:otto@contoso.test "+heldA {
		t.Errorf("on demand asked by %v", e.onDemand.actors)
	}
	// Release one of two held deletes, keep the other.
	if err := chromedp.Do(op, chromedp.Navigate(e.url+"/console/held"), chromedp.WaitVisible(chromedp.CSS("#held")),
		chromedp.Click(chromedp.CSS("#pick-"+heldA)), chromedp.SendKeys(chromedp.CSS("#reason"), "project ended (CHG-7)"),
		chromedp.SendKeys(chromedp.CSS("#confirm"), "release 1")); err != nil {
		t.Fatal(err)
	}
	shoot(t, op, "console-held.png")
	follow(t, op, "#release")
	if s := text(t, op); !strings.Contains(s, "1 released by otto@contoso.test") || !strings.Contains(s, "released by console:otto@contoso.test") {
		t.Fatalf("release:\n%s", s)
	}
	if err := chromedp.Do(op, chromedp.Click(chromedp.CSS("#pick-"+heldB))); err != nil {
		t.Fatal(err)
	}
	follow(t, op, "#keep")
	rs, err := e.st.Releases(context.Background())
	if err != nil || len(rs) != 2 || rs[0].CloudID != heldA || rs[0].By != "console:otto@contoso.test" || rs[0].Reason != "project ended (CHG-7)" ||
		rs[1].CloudID != heldB || rs[1].Action != state.ActionKeep {
		t.Fatalf("decisions: %+v, %v", rs, err)
	}

	// The reader: every page, no button; a forged form is refused.
	rd := chromium(t)
	signInWith(t, rd, e, "rita@contoso.test", "rita-pw")
	for _, page := range []string{"/console/", "/console/held", "/console/groups/" + heldA, "/console/groups/" + sts[0].CloudID} {
		if err := chromedp.Do(rd, chromedp.Navigate(e.url+page), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
			t.Fatal(err)
		}
		buttons, err := chromedp.Run(rd, chromedp.Evaluate[int](`document.querySelectorAll('#provision,#release,#keep,input[type=checkbox]').length`))
		if err != nil {
			t.Fatal(err)
		}
		if buttons != 0 {
			t.Errorf("%s offers the reader %d controls", page, buttons)
		}
	}
	if err := chromedp.Do(rd, chromedp.Navigate(e.url+"/console/held"), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(rd, chromedp.Evaluate[string](`(() => { const f = document.createElement('form'); f.method = 'post'; f.action = '/console/held';
			for (const [k, v] of [['group', '`+heldB+`'], ['decision', 'release'], ['reason', 'x'], ['confirm', 'release 1']]) {
				const i = document.createElement('input'); i.name = k; i.value = v; f.appendChild(i) }
			document.body.appendChild(f); f.submit(); return 'sent' })()`)); err != nil {
		t.Fatal(err)
	}
	refused := func(s string) bool {
		return strings.Contains(s, "CSRF token") || strings.Contains(s, "your role does not allow this")
	}
	s := ""
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !refused(s); time.Sleep(100 * time.Millisecond) {
		if v, err := chromedp.Run(rd, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`)); err == nil {
			s = v
		}
	}
	if !refused(s) {
		t.Errorf("a forged form was not refused:\n%s", s)
	}
	if rs, _ := e.st.Releases(context.Background()); len(rs) != 2 || rs[1].Action != state.ActionKeep {
		t.Errorf("a forged form released: %+v", rs)
	}

	// The hostile corpus through every page: the inventory (every page of
	// it), each group's page, the held page.
	for p := 1; p <= (len(names)+3+99)/100; p++ {
		if err := chromedp.Do(op, chromedp.Navigate(fmt.Sprintf("%s/console/?page=%d", e.url, p)), chromedp.WaitVisible(chromedp.CSS("#total"))); err != nil {
			t.Fatal(err)
		}
		noInjection(t, op, fmt.Sprintf("inventory page %d", p))
	}
	for _, st := range sts {
		if err := chromedp.Do(op, chromedp.Navigate(e.url+"/console/groups/"+st.CloudID), chromedp.WaitVisible(chromedp.CSS("#status"))); err != nil {
			t.Fatal(err)
		}
		noInjection(t, op, "group "+st.CloudID)
	}
	if err := chromedp.Do(op, chromedp.Navigate(e.url+"/console/?q=%3Cscript"), chromedp.WaitVisible(chromedp.CSS("#total"))); err != nil {
		t.Fatal(err)
	}
	noInjection(t, op, "a search for <script")
	for _, page := range []string{"/console/held", "/console/health", "/console/runs", "/console/runs/1"} {
		if err := chromedp.Do(op, chromedp.Navigate(e.url+page), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
			t.Fatal(err)
		}
		noInjection(t, op, page)
	}
	shoot(t, op, "console-run.png")
}
