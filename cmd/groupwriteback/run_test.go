package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
	"github.com/groupwriteback/groupwriteback/internal/server"
	"github.com/groupwriteback/groupwriteback/internal/store"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// startService runs `groupwriteback run` in the background and returns its
// base URL, its stderr, and a stop that cancels it and says how long it took.
func startService(t *testing.T, cfg string, args ...string) (string, *syncBuffer, func() time.Duration) {
	t.Helper()
	addr := freePort(t)
	b, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, append(b, []byte("server:\n  listen: "+addr+"\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	return startServiceAt(t, cfg, addr, args...)
}

// startServiceAt runs the service of a configuration whose server.listen
// is addr already.
func startServiceAt(t *testing.T, cfg, addr string, args ...string) (string, *syncBuffer, func() time.Duration) {
	t.Helper()
	return startServiceOn(t, cfg, "http://"+addr, http.DefaultClient, args...)
}

// startServiceOn runs the service of a configuration that serves url, and
// waits until client finds it healthy.
func startServiceOn(t *testing.T, cfg, url string, client *http.Client, args ...string) (string, *syncBuffer, func() time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errb := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"--config", cfg, "run"}, args...), strings.NewReader(""), io.Discard, errb)
	}()
	waitFor(t, "the service", func() bool {
		resp, err := client.Get(url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	stopped := false
	stop := func() time.Duration {
		if stopped {
			return 0
		}
		stopped = true
		start := time.Now()
		cancel()
		select {
		case <-done:
		case <-time.After(90 * time.Second):
			t.Fatal("run did not stop")
		}
		return time.Since(start)
	}
	t.Cleanup(func() { stop() })
	return url, errb, stop
}

// postSync asks the service for a cycle and waits for it to end.
func postSync(t *testing.T, url string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/sync", nil)
	req.Header.Set(server.SyncHeader, "sync")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /sync: %v %v", err, resp)
	}
	resp.Body.Close()
}

// syncBuffer is a buffer the service writes logs to while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.buf.String() }

func TestServiceStagingWritesNothing(t *testing.T) {
	cfg, _, _ := dcSetup(t, testdc.Options{Exchange: true, Anchor: true}, 2)
	// The staging server and the active one have states of their own:
	// they share the key that signs plans.
	dir := filepath.Dir(cfg)
	if err := os.WriteFile(filepath.Join(dir, "plan.key"), []byte(strings.Repeat("5f", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unkeyed, _ := os.ReadFile(cfg)
	keyed := strings.Replace(string(unkeyed), "writeback:\n", "writeback:\n  plan_key_file: plan.key\n", 1)
	if err := os.WriteFile(cfg, []byte(keyed), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, code := runCLI(t, "--config", cfg, "enable"); code != exitOK {
		t.Fatal("enable failed")
	}
	dc := testdc.Shared(t, testdc.Options{Exchange: true, Anchor: true})
	before, _ := dc.Dump()
	url, _, stop := startService(t, cfg, "--staging")
	waitFor(t, "a staged cycle", func() bool { _, body := httpGet(t, url+"/"); return strings.Contains(body, "Planned at") })
	_, page := httpGet(t, url+"/")
	if !strings.Contains(page, "Staging mode") || !strings.Contains(page, "VPN users_2c1a0b020004") {
		t.Fatalf("staging page:\n%s", page)
	}
	stop()
	out, _, _ := runCLI(t, "--config", cfg, "plan")
	if !strings.Contains(out, "the staging service's pending plan, recorded") || !strings.Contains(out, "and as of now:") {
		t.Fatalf("plan after a staging cycle:\n%s", out)
	}
	after, _ := dc.Dump()
	if diff := directorytest.Changed(before, after, func(string, directorytest.DumpEntry) bool { return false }); len(diff) > 0 {
		t.Fatalf("staging wrote to AD:\n%s", strings.Join(diff, "\n"))
	}

	// The staging server's plan, reviewed, is applied on the active one
	// (its own state file), and writes exactly what staging planned.
	staged := filepath.Join(dir, "staged-plan.json")
	if _, err := os.Stat(staged); err != nil {
		t.Fatalf("the staging service saved no plan: %v", err)
	}
	base, _ := os.ReadFile(cfg)
	active := filepath.Join(dir, "active.yaml")
	if err := os.WriteFile(active, append(base, []byte("state:\n  path: active.db\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := runCLI(t, "--config", active, "enable"); code != exitOK {
		t.Fatalf("enable on the active server: exit %d\n%s%s", code, out, errOut)
	}
	// Without the shared key, the plan is another state's: refused whole.
	stranger := filepath.Join(dir, "stranger.yaml")
	if err := os.WriteFile(stranger, append(unkeyed, []byte("state:\n  path: stranger.db\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runCLI(t, "--config", stranger, "apply", staged); code != exitFatal || !strings.Contains(errOut, "not as groupwriteback saved it") {
		t.Fatalf("a plan signed with another key: exit %d: %s", code, errOut)
	}
	out, errOut, code := runCLI(t, "--config", active, "apply", staged)
	if code != exitOK || !strings.Contains(out, "2 created") {
		t.Fatalf("apply the staged plan on the active server: exit %d\n%s%s", code, out, errOut)
	}
	after, _ = dc.Dump()
	written := directorytest.Changed(before, after, func(string, directorytest.DumpEntry) bool { return false })
	if len(written) == 0 || !strings.Contains(strings.ToLower(strings.Join(written, "\n")), "cn=vpn users_2c1a0b020004") {
		t.Fatalf("the staged plan wrote:\n%s", strings.Join(written, "\n"))
	}
}

func TestServiceEndpointsLockAndShutdown(t *testing.T) {
	cfg, _, _ := dcSetup(t, testdc.Options{Exchange: true, Anchor: true}, 3)
	if _, _, code := runCLI(t, "--config", cfg, "enable"); code != exitOK {
		t.Fatal("enable failed")
	}
	url, logs, stop := startService(t, cfg)
	waitFor(t, "readiness", func() bool { code, _ := httpGet(t, url+"/readyz"); return code == 200 })
	_, metrics := httpGet(t, url+"/metrics")
	if !strings.Contains(metrics, `groupwriteback_cycles_total{mode="full",outcome="ok"} 1`) || !strings.Contains(metrics, "groupwriteback_graph_requests_total") {
		t.Fatalf("metrics:\n%s", metrics)
	}
	// A form POST from another site is refused; the header makes it a sync.
	if resp, err := http.Post(url+"/sync", "application/x-www-form-urlencoded", nil); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST /sync without the header: %v %v", err, resp)
	}
	postSync(t, url)
	_, metrics = httpGet(t, url+"/metrics")
	if !strings.Contains(metrics, `groupwriteback_cycles_total{mode="delta",outcome="ok"} 1`) {
		t.Fatalf("the on-demand cycle is not counted:\n%s", metrics)
	}
	// A second service on the same state file is refused, naming the first.
	_, errOut, code := runCLI(t, "--config", cfg, "run")
	if code != exitFatal || !strings.Contains(errOut, "another service runs on this state file") || !strings.Contains(errOut, "`groupwriteback run`") {
		t.Fatalf("second run: exit %d: %s", code, errOut)
	}
	// A sync from the command line waits for no one but refuses while a
	// cycle holds the lock.
	statePath := strings.TrimSuffix(cfg, "config.yaml") + "groupwriteback.db"
	l, err := store.TryLock(statePath+store.CycleLock, "run")
	if err != nil {
		t.Fatal(err)
	}
	_, errOut, code = runCLI(t, "--config", cfg, "sync")
	l.Unlock()
	if code != exitFatal || !strings.Contains(errOut, "a cycle is running on this state file") {
		t.Fatalf("sync during a cycle: exit %d: %s", code, errOut)
	}
	if _, _, code = runCLI(t, "--config", cfg, "sync"); code != exitOK {
		t.Fatalf("sync between cycles: exit %d", code)
	}
	if took := stop(); took > 10*time.Second {
		t.Fatalf("shutdown took %s", took)
	}
	if !strings.Contains(logs.String(), "service stopped") {
		t.Fatalf("logs:\n%s", logs.String())
	}
	out, _, _ := runCLI(t, "--config", cfg, "status")
	if !strings.Contains(out, "writeback is enabled") || !strings.Contains(out, "every group in scope is in step") {
		t.Fatalf("status:\n%s", out)
	}
}

// The service calls the alert webhook (a local receiver here): writeback
// disabled, then a failed cycle.
func TestServiceAlerts(t *testing.T) {
	cfg, _, _ := dcSetup(t, testdc.Options{}, 9)
	var mu sync.Mutex
	var got []map[string]any
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}))
	defer rcv.Close()
	alerts := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, m := range got {
			out = append(out, fmt.Sprint(m["alert"]))
		}
		return out
	}
	b, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, append(b, []byte("alerts:\n  webhook_url: "+rcv.URL+"\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	url, _, _ := startService(t, cfg)
	waitFor(t, "the writeback_disabled alert", func() bool { return slices.Contains(alerts(), "writeback_disabled") })
	if _, errOut, code := runCLI(t, "--config", cfg, "enable", "--without-exchange"); code != exitOK {
		t.Fatalf("enable: %s", errOut)
	}
	sims[cfg].Close() // Graph gone: the next cycle fails
	req, _ := http.NewRequest(http.MethodPost, url+"/sync", nil)
	req.Header.Set(server.SyncHeader, "sync")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	waitFor(t, "the cycle_failed alert", func() bool { return slices.Contains(alerts(), "cycle_failed") })
	mu.Lock()
	defer mu.Unlock()
	last := got[len(got)-1]
	if last["kind"] != "alert" || last["severity"] != "error" || !strings.Contains(fmt.Sprint(last["summary"]), "the cycle failed") {
		t.Fatalf("alert: %v", last)
	}
}

// SIGHUP switches the mode whole, at the next cycle: normal to staging
// plans and writes nothing (it used to make every cycle fail: the engine
// refused to write, while the service still ran it as a writing cycle);
// staging back to normal writes again (it used to stay staging until a
// restart). /readyz and the metrics say the mode in use.
func TestSIGHUPSwitchesTheModeWhole(t *testing.T) {
	opts := testdc.Options{Exchange: true, Anchor: true}
	cfg, _, tenant := dcSetup(t, opts, 11)
	if _, _, code := runCLI(t, "--config", cfg, "enable"); code != exitOK {
		t.Fatal("enable failed")
	}
	dc := testdc.Shared(t, opts)
	url, _, _ := startService(t, cfg)
	waitFor(t, "a first cycle", func() bool { code, _ := httpGet(t, url+"/readyz"); return code == 200 })
	base, _ := os.ReadFile(cfg)
	description := func() string {
		es := dc.Search(t, testdc.BaseDN, ldap.ScopeWholeSubtree, "(adminDescription=Group_"+gid(11, 4)+")", "description")
		if len(es) != 1 {
			t.Fatalf("%d groups for VPN users", len(es))
		}
		return es[0].GetAttributeValue("description")
	}
	hup := func(config string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	hup("mode: staging\n" + string(base))
	waitFor(t, "staging after SIGHUP", func() bool {
		postSync(t, url)
		code, body := httpGet(t, url+"/readyz")
		return code == 200 && strings.Contains(body, "staging")
	})
	if err := tenant.UpdateGroup(gid(11, 4), map[string]any{"description": "written in staging?"}); err != nil {
		t.Fatal(err)
	}
	postSync(t, url)
	if code, body := httpGet(t, url+"/readyz"); code != 200 || !strings.Contains(body, "staging") {
		t.Fatalf("a staging cycle: /readyz %d %s", code, body)
	}
	if _, m := httpGet(t, url+"/metrics"); !strings.Contains(m, "groupwriteback_staging 1") {
		t.Fatal("the metrics do not say staging")
	}
	if d := description(); d == "written in staging?" {
		t.Fatal("a staging cycle wrote to AD")
	}
	hup(string(base))
	waitFor(t, "normal after SIGHUP", func() bool {
		postSync(t, url)
		code, body := httpGet(t, url+"/readyz")
		return code == 200 && !strings.Contains(body, "staging") && description() == "written in staging?"
	})
}
