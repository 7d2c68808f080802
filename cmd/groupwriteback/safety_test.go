package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/graphsim"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

// TestStagingAndReEnable: with mode: staging no command writes to AD; and
// after disable quarantined every group, enable and one delta sync bring
// them back with their members, with no drift left for a full sync.
func TestStagingAndReEnable(t *testing.T) {
	opts := testdc.Options{Exchange: true, Anchor: true}
	cfg, ou, _ := dcSetup(t, opts, 4)
	dc := testdc.Shared(t, opts)
	quarantine := dc.NewOU(t, "quarantine")
	base, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	normal := string(base) + "  quarantine_ou: " + quarantine + "\n  on_disable: quarantine\n"
	write := func(s string) {
		if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(normal)
	if out, errOut, code := runCLI(t, "--config", cfg, "enable"); code != exitOK {
		t.Fatalf("enable: exit %d\n%s%s", code, out, errOut)
	}
	if out, _, code := runCLI(t, "--config", cfg, "sync"); code != exitOK || !strings.Contains(out, "2 created") {
		t.Fatalf("sync: exit %d\n%s", code, out)
	}
	if out, _, code := runCLI(t, "--config", cfg, "status"); code != exitOK || !strings.Contains(out, "tenant NewUnifiedGroupWritebackDefault: true") {
		t.Fatalf("status: exit %d\n%s", code, out)
	}

	write("mode: staging\n" + normal)
	for _, cmd := range [][]string{{"sync"}, {"sync", "--full"}, {"disable", "--yes"}} {
		_, errOut, code := runCLI(t, append([]string{"--config", cfg}, cmd...)...)
		if code != exitFatal || !strings.Contains(errOut, "mode is staging: this instance never writes to AD") {
			t.Fatalf("%v in staging: exit %d: %s", cmd, code, errOut)
		}
	}
	if out, _, code := runCLI(t, "--config", cfg, "plan"); code != exitOK || !strings.Contains(out, "plan (delta)") {
		t.Fatalf("plan in staging: exit %d\n%s", code, out)
	}

	write(normal)
	if out, errOut, code := runCLI(t, "--config", cfg, "disable", "--yes"); code != exitOK || !strings.Contains(out, "2 quarantined") {
		t.Fatalf("disable: exit %d\n%s%s", code, out, errOut)
	}
	if n := len(groupsIn(t, dc, quarantine)); n != 2 {
		t.Fatalf("%d groups in quarantine", n)
	}
	if out, errOut, code := runCLI(t, "--config", cfg, "enable"); code != exitOK {
		t.Fatalf("enable again: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code := runCLI(t, "--config", cfg, "sync")
	if code != exitOK || !strings.Contains(out, "sync (full)") {
		t.Fatalf("first sync after enable: exit %d\n%s", code, out)
	}
	back := groupsIn(t, dc, ou)
	if len(back) != 2 || len(groupsIn(t, dc, quarantine)) != 0 {
		t.Fatalf("after enable and sync: %d groups in the target OU", len(back))
	}
	for _, g := range back {
		if len(g.GetAttributeValues("member")) == 0 {
			t.Fatalf("%s came back without members", g.DN)
		}
	}
	out, _, code = runCLI(t, "--config", cfg, "sync", "--full")
	if code != exitOK || !strings.Contains(out, "0 LDAP writes") || strings.Contains(out, "drift") {
		t.Fatalf("full sync after: exit %d\n%s", code, out)
	}
}

// groupsIn lists the anchored groups directly in ou, with their members.
func groupsIn(t *testing.T, dc *testdc.DC, ou string) []*ldap.Entry {
	t.Helper()
	return dc.Search(t, ou, ldap.ScopeSingleLevel, "(adminDescription=Group_*)", "member")
}

// TestCycleDeadline: a Graph that throttles every request with a long
// Retry-After cannot hold a sync past schedule.cycle_timeout; it ends with
// exit 1 and says what happened and what becomes of the work.
func TestCycleDeadline(t *testing.T) {
	cfg, _, _ := dcSetup(t, testdc.Options{Exchange: true, Anchor: true}, 5)
	if out, errOut, code := runCLI(t, "--config", cfg, "enable"); code != exitOK {
		t.Fatalf("enable: exit %d\n%s%s", code, out, errOut)
	}
	base, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, []byte("schedule:\n  cycle_timeout: 2s\n"+string(base)), 0o600); err != nil {
		t.Fatal(err)
	}
	sims[cfg].Server.SetFaults(graphsim.Faults{ThrottleEvery: 1, RetryAfterSeconds: 90})
	start := time.Now()
	_, errOut, code := runCLI(t, "--config", cfg, "sync")
	if code != exitFatal || !strings.Contains(errOut, "did not finish within schedule.cycle_timeout (2s)") || !strings.Contains(errOut, "next cycle completes it") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("the sync took %v", d)
	}
}

// TestShowAgreesWithSync: show decides a group with exactly the options
// sync uses: a group the configured scope excludes is "not written back"
// in both (show used to build its own options, without the scope).
func TestShowAgreesWithSync(t *testing.T) {
	cfg, _, _ := dcSetup(t, testdc.Options{Exchange: true, Anchor: true}, 6)
	base, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, []byte(string(base)+"  scope:\n    exclude_names: [\"VPN*\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runCLI(t, "--config", cfg, "enable"); code != exitOK {
		t.Fatalf("enable: exit %d\n%s%s", code, out, errOut)
	}
	if out, _, code := runCLI(t, "--config", cfg, "sync"); code != exitOK || !strings.Contains(out, "1 created") {
		t.Fatalf("sync: exit %d\n%s", code, out)
	}
	out, errOut, code := runCLI(t, "--config", cfg, "show", "VPN users")
	if code != exitOK || !strings.Contains(out, "not written back: excluded by writeback.scope.exclude_names") {
		t.Fatalf("show: exit %d\n%s%s", code, out, errOut)
	}
}

// TestPlanOutAndApply: plan --out saves a plan, apply writes exactly it;
// applied again, its group has changed since and it is refused as stale;
// past writeback.plan_max_age it is refused whole.
func TestPlanOutAndApply(t *testing.T) {
	cfg, _, tenant := dcSetup(t, testdc.Options{Exchange: true, Anchor: true}, 7)
	if out, errOut, code := runCLI(t, "--config", cfg, "enable"); code != exitOK {
		t.Fatalf("enable: exit %d\n%s%s", code, out, errOut)
	}
	if out, _, code := runCLI(t, "--config", cfg, "sync"); code != exitOK {
		t.Fatalf("sync: exit %d\n%s", code, out)
	}
	if err := tenant.UpdateGroup(gid(7, 4), map[string]any{"description": "from the plan"}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "plan.json")
	if out, errOut, code := runCLI(t, "--config", cfg, "plan", "--out", file); code != exitOK || !strings.Contains(out, "1 to change") {
		t.Fatalf("plan --out: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := runCLI(t, "--config", cfg, "apply", file); code != exitOK || !strings.Contains(out, "1 updated") {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code := runCLI(t, "--config", cfg, "apply", file)
	if code != exitPartial || !strings.Contains(out, "stale: the engine plans nothing for this group now, not update of") {
		t.Fatalf("apply again: exit %d\n%s", code, out)
	}
	base, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(base), "writeback:\n", "writeback:\n  plan_max_age: 1ms\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if _, errOut, code := runCLI(t, "--config", cfg, "apply", file); code != exitFatal || !strings.Contains(errOut, "plan refused") ||
		!strings.Contains(errOut, "writeback.plan_max_age") {
		t.Fatalf("an old plan: exit %d: %s", code, errOut)
	}
}

// An enable whose first sync's plan fails leaves writeback as it found
// it: enabled stays enabled (enable used to record "disabled" first, to
// pass an option into the plan, and failed leaving it so).
func TestFailedEnableLeavesWritebackAsItWas(t *testing.T) {
	cfg, _, _ := dcSetup(t, testdc.Options{Exchange: true, Anchor: true}, 12)
	if out, errOut, code := runCLI(t, "--config", cfg, "enable"); code != exitOK {
		t.Fatalf("enable: exit %d\n%s%s", code, out, errOut)
	}
	base, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, []byte("schedule:\n  cycle_timeout: 2s\n"+string(base)), 0o600); err != nil {
		t.Fatal(err)
	}
	sims[cfg].Server.SetFaults(graphsim.Faults{EndlessPages: true})
	out, errOut, code := runCLI(t, "--config", cfg, "enable")
	if code != exitFatal || !strings.Contains(errOut, "Graph sent the same page") {
		t.Fatalf("enable with a plan that cannot finish: exit %d\n%s%s", code, out, errOut)
	}
	sims[cfg].Server.SetFaults(graphsim.Faults{})
	if out, _, code := runCLI(t, "--config", cfg, "status"); code != exitOK || !strings.Contains(out, "writeback is enabled") {
		t.Fatalf("status after the failed enable: exit %d\n%s", code, out)
	}
}

// A sync that fails before its cycle starts (here the DC cannot be
// reached) alerts as any failed cycle does: cron users hear of it. It
// used to return its error and send nothing.
func TestSyncThatCannotStartAlerts(t *testing.T) {
	cfg, _, _ := dcSetup(t, testdc.Options{Exchange: true, Anchor: true}, 13)
	if out, errOut, code := runCLI(t, "--config", cfg, "enable"); code != exitOK {
		t.Fatalf("enable: exit %d\n%s%s", code, out, errOut)
	}
	var mu sync.Mutex
	var kinds []string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		kinds = append(kinds, fmt.Sprint(m["alert"]))
		mu.Unlock()
	}))
	defer rcv.Close()
	base, _ := os.ReadFile(cfg)
	dc := testdc.Shared(t, testdc.Options{Exchange: true, Anchor: true})
	broken := strings.Replace(string(base), "url: "+dc.URL, "url: ldaps://127.0.0.1:1", 1) + "alerts:\n  webhook_url: " + rcv.URL + "/hook/secret-part\n"
	if err := os.WriteFile(cfg, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCLI(t, "--config", cfg, "sync")
	mu.Lock()
	defer mu.Unlock()
	if code != exitFatal || len(kinds) != 1 || kinds[0] != "cycle_failed" {
		t.Fatalf("a sync that cannot reach the DC: exit %d, alerts %v\n%s", code, kinds, errOut)
	}
	if strings.Contains(errOut, "secret-part") {
		t.Fatalf("the webhook's URL is shown: %s", errOut)
	}
}
