//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/audit"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/server"
	"github.com/groupwriteback/groupwriteback/internal/testpg"
)

// The HA suite: two instances of the service (built with -tags
// crashpoints, to be killed or paused at an exact write) share one
// PostgreSQL state and one Samba DC. Skipped with -short; CI runs it.

// haLease and haRenew time the suite's lease: take-over within 4s.
const (
	haLease = 3 * time.Second
	haRenew = time.Second
)

// haInstance is one `groupwriteback run`.
type haInstance struct {
	t    *testing.T
	name string
	cfg  string
	addr string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

// haConfig writes an instance's configuration: the crash suite's tenant
// and OU, the shared state, the suite's lease, a server on its own port.
func haConfig(t *testing.T, e *crashEnv, name, url string) *haInstance {
	t.Helper()
	base, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(filepath.Dir(e.cfg), name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	in := &haInstance{t: t, name: name, cfg: filepath.Join(dir, "config.yaml"), addr: freePort(t)}
	cfg := strings.Replace(string(base), "ca_file: ca.pem", "ca_file: "+filepath.Join(filepath.Dir(e.cfg), "ca.pem"), 1) +
		fmt.Sprintf("state:\n  url: %s\nha:\n  instance: %s\n  lease: %s\n  renew_interval: %s\nserver:\n  listen: %s\nschedule:\n  interval: 1h\n",
			url, name, haLease, haRenew, in.addr)
	if err := os.WriteFile(in.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return in
}

// start runs the service with the environment given (crash points).
func (in *haInstance) start(bin string, env ...string) {
	in.t.Helper()
	in.out, in.done = &syncBuffer{}, make(chan struct{})
	in.cmd = exec.Command(bin, "--config", in.cfg, "run")
	in.cmd.Env = append(os.Environ(), env...)
	in.cmd.Stdout, in.cmd.Stderr = in.out, in.out
	if err := in.cmd.Start(); err != nil {
		in.t.Fatal(err)
	}
	done := in.done
	go func() { in.cmd.Wait(); close(done) }()
	in.t.Cleanup(func() {
		_ = in.cmd.Process.Signal(syscall.SIGCONT)
		_ = in.cmd.Process.Kill()
		<-done
		if in.t.Failed() {
			in.t.Logf("%s's log:\n%s", in.name, in.out)
		}
	})
}

func (in *haInstance) get(path string) (int, string) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + in.addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric reads one sample of the instance's metrics (-1 when absent).
func (in *haInstance) metric(sample string) float64 {
	_, body := in.get("/metrics")
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func (in *haInstance) active() bool { return in.metric("groupwriteback_ha_active") == 1 }

// stopped says whether the process is stopped (SIGSTOP): state T.
func (in *haInstance) stopped() bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", in.cmd.Process.Pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] == "T"
}

// waitWithin waits for ok, and says how long it took.
func waitWithin(t *testing.T, what string, within time.Duration, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// usn is the DC's highestCommittedUSN: it grows with every write.
func usn(t *testing.T, e *crashEnv) int64 {
	t.Helper()
	en := e.dc.Search(t, "", ldap.ScopeBaseObject, "(objectClass=*)", "highestCommittedUSN")
	v, err := strconv.ParseInt(en[0].GetAttributeValue("highestCommittedUSN"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestHAFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("the HA suite runs without -short (CI runs it)")
	}
	bin := crashBinary(t)
	srv := testpg.Shared(t)
	url := srv.NewDB(t)
	e, model := newCrashEnv(t, bin, 90)
	a, b := haConfig(t, e, "gwb-a", url), haConfig(t, e, "gwb-b", url)
	// The crash env enabled writeback in its own SQLite state; this is the
	// shared one's.
	if out, err := exec.Command(bin, "--config", a.cfg, "enable").CombinedOutput(); err != nil {
		t.Fatalf("enable on the shared state: %v\n%s", err, out)
	}
	inStep := func(want crashModel) func() bool {
		return func() bool { return e.ad().String() == want.String() }
	}

	// 1. kill -9 the active in the middle of its first cycle (after 3 of
	// its 9 writes): the standby takes over within lease + renew, and AD
	// ends exactly in step.
	a.start(bin, "GROUPWRITEBACK_CRASH_AFTER_WRITES=3")
	waitWithin(t, "gwb-a active", 20*time.Second, func() bool { return a.active() || isClosed(a.done) })
	b.start(bin)
	waitWithin(t, "gwb-b up as standby", 20*time.Second, func() bool { code, body := b.get("/readyz"); return code != 0 && strings.Contains(body, "standby") })
	waitWithin(t, "gwb-a killed at its third write", 30*time.Second, func() bool { return isClosed(a.done) })
	tookOver := waitWithin(t, "gwb-b taking over", haLease+haRenew+5*time.Second, b.active)
	t.Logf("kill -9 of the active: the standby took over %s after (lease %s, renew %s)", tookOver.Round(10*time.Millisecond), haLease, haRenew)
	if tookOver > haLease+haRenew+time.Second {
		t.Fatalf("take-over %s after the kill; configured: within %s", tookOver, haLease+haRenew)
	}
	waitWithin(t, "AD in step after the take-over", 30*time.Second, inStep(model))
	out, _ := exec.Command(bin, "--config", b.cfg, "status").CombinedOutput()
	// The take-over's cycle is a full one.
	if !strings.Contains(string(out), "active instance: gwb-b") || !strings.Contains(string(out), "last take-over: gwb-b from gwb-a") ||
		!strings.Contains(string(out), "full ok: 5 created") {
		t.Fatalf("status after the take-over:\n%s", out)
	}
	// Each instance's audit trail names it and the token it wrote under:
	// the old active's under its token (2: enable held the first), the new
	// one's under a greater one. The write the kill followed is named by
	// its intent, under the old token, with no outcome: the process died
	// before it knew how the write went (its next start settles it). The
	// new active found that group written, and created the last group
	// with its nested member at once: 5 writes.
	tokens := func(in *haInstance) (outcomes, intents map[int64]int) {
		entries, err := audit.Read(filepath.Join(filepath.Dir(in.cfg), "audit.jsonl"), audit.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		outcomes, intents = map[int64]int{}, map[int64]int{}
		for _, en := range entries {
			if en.Instance != in.name {
				t.Fatalf("%s's audit trail: %+v", in.name, en)
			}
			if en.Outcome == engine.OutcomeIntent {
				intents[en.Token]++
			} else {
				outcomes[en.Token]++
			}
		}
		return outcomes, intents
	}
	ta, ia := tokens(a)
	tb, ib := tokens(b)
	if len(ta) != 1 || len(tb) != 1 || ta[2] != 2 || tb[3] != 5 || len(ia) != 1 || ia[2] != 1 || len(ib) != 0 {
		t.Fatalf("audit entries by token: gwb-a %v (open intents %v), gwb-b %v (%v); want 2 under token 2 and the killed write's intent, then 5 under token 3", ta, ia, tb, ib)
	}

	// 2. Pause the active (SIGSTOP) after the second write of a cycle past
	// its lease: the standby takes over and finishes; continued, the old
	// one writes nothing (the DC's USN stands still), its fence counts the
	// refusal, and it stands by.
	b.cmd.Process.Signal(syscall.SIGTERM) // b releases the lease as it stops
	waitWithin(t, "gwb-b stopped", 30*time.Second, func() bool { return isClosed(b.done) })
	model = e.updateWave(model)
	a.start(bin, "GROUPWRITEBACK_STOP_AFTER_WRITES=2")
	waitWithin(t, "gwb-a active again", 20*time.Second, func() bool { return a.stopped() || a.active() })
	b.start(bin)
	waitWithin(t, "gwb-a paused at its second write", 30*time.Second, a.stopped)
	paused := time.Now()
	waitWithin(t, "gwb-b taking over from the paused one", haLease+haRenew+5*time.Second, b.active)
	t.Logf("SIGSTOP of the active: the standby took over %s after", time.Since(paused).Round(10*time.Millisecond))
	waitWithin(t, "AD in step after the second take-over", 30*time.Second, inStep(model))
	before := usn(t, e)
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitWithin(t, "gwb-a refusing its next write", 10*time.Second, func() bool {
		return a.metric(`groupwriteback_fenced_writes_total{target="ad"}`) >= 1
	})
	waitWithin(t, "gwb-a standing by", 10*time.Second, func() bool { return a.metric("groupwriteback_ha_active") == 0 })
	time.Sleep(2 * haRenew) // time to write, had it kept its lease
	if after := usn(t, e); after != before {
		t.Fatalf("the DC's USN moved from %d to %d after the paused instance was continued: it wrote", before, after)
	}
	if got := e.ad(); got.String() != model.String() {
		t.Fatalf("AD after the old active was continued:\n%s\nwant:\n%s", got, model)
	}
	if !strings.Contains(a.out.String(), "lost the writer lease") {
		t.Fatalf("the old active's log does not say it lost the lease:\n%s", a.out)
	}
	if b.active() != true || a.active() {
		t.Fatal("want gwb-b active and gwb-a standing by")
	}

	// 3. The database goes down: the active stops writing when its lease
	// runs out by its own clock, nobody writes while it is down (a cycle
	// asked for writes nothing), and when it is back one instance takes
	// the lease and catches up.
	srv.Stop()
	down := time.Now()
	stood := waitWithin(t, "gwb-b standing down with the database gone", haLease+time.Second, func() bool { return !b.active() })
	t.Logf("database down: the active stopped writing %s after (lease %s)", stood.Round(10*time.Millisecond), haLease)
	if err := e.tenant.UpdateGroup(e.id(4), map[string]any{"description": "while the database was down"}); err != nil {
		t.Fatal(err)
	}
	g4 := model[4]
	g4.Description = "while the database was down"
	model[4] = g4
	before = usn(t, e)
	for _, in := range []*haInstance{a, b} {
		if code, _ := in.post("/sync"); code == 200 {
			t.Errorf("%s: a cycle with the database down answered 200", in.name)
		}
		start := time.Now()
		code, body := in.get("/readyz")
		t.Logf("database stopped: %s /readyz answered %d in %s", in.name, code, time.Since(start).Round(time.Millisecond))
		if code != 503 || time.Since(start) > 2*time.Second {
			t.Errorf("%s /readyz with the database down: %d %s", in.name, code, body)
		}
	}
	if a.active() || b.active() || usn(t, e) != before {
		t.Fatal("an instance wrote, or says it may, with the database down")
	}
	if err := srv.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	back := waitWithin(t, "an instance active once the database is back", haLease+haRenew+5*time.Second, func() bool { return a.active() || b.active() })
	t.Logf("database back after %s down: an instance took the lease %s later", time.Since(down).Round(100*time.Millisecond), back.Round(10*time.Millisecond))
	if a.active() && b.active() {
		t.Fatal("both instances active")
	}
	waitWithin(t, "AD in step after the database came back", 30*time.Second, inStep(model))
	// Both are ready again, the standby too, though its last cycle (asked
	// while the database was down) failed: a standby is ready while
	// another instance is active.
	for _, in := range []*haInstance{a, b} {
		ready := waitWithin(t, in.name+" ready again", 10*time.Second, func() bool { code, _ := in.get("/readyz"); return code == 200 })
		t.Logf("database back: %s ready %s later", in.name, ready.Round(10*time.Millisecond))
	}
}

func (in *haInstance) post(path string) (int, string) {
	c := http.Client{Timeout: 30 * time.Second}
	req, err := http.NewRequest(http.MethodPost, "http://"+in.addr+path, nil)
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set(server.SyncHeader, "sync")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

var crashBuild struct {
	once sync.Once
	dir  string
	err  error
}

// crashBinary builds groupwriteback with -tags crashpoints once for the
// test binary.
func crashBinary(t *testing.T) string {
	t.Helper()
	crashBuild.once.Do(func() {
		crashBuild.dir, crashBuild.err = os.MkdirTemp("", "gwb-crash-")
		if crashBuild.err != nil {
			return
		}
		out, err := exec.Command("go", "build", "-tags", "crashpoints", "-o", filepath.Join(crashBuild.dir, "groupwriteback"), ".").CombinedOutput()
		if err != nil {
			crashBuild.err = fmt.Errorf("build with crashpoints: %v\n%s", err, out)
		}
	})
	if crashBuild.err != nil {
		t.Fatal(crashBuild.err)
	}
	return filepath.Join(crashBuild.dir, "groupwriteback")
}

// TestStateMigrate: a state moved to PostgreSQL with state migrate, and
// back to SQLite, is the same state: writeback stays enabled, the history
// is there, and the next cycle on it has nothing to do.
func TestStateMigrate(t *testing.T) {
	cfg := syncedSetup(t, 14)
	url := testpg.Shared(t).NewDB(t)
	out, errOut, code := runCLI(t, "--config", cfg, "state", "migrate", "--to", url)
	if code != exitOK || !strings.Contains(out, "moved the state (writeback enabled; 2 groups") || !strings.Contains(out, "from sqlite to postgres, and checked the copy") {
		t.Fatalf("migrate to PostgreSQL: exit %d\n%s%s", code, out, errOut)
	}
	b, _ := os.ReadFile(cfg)
	pgCfg := filepath.Join(filepath.Dir(cfg), "pg.yaml")
	if err := os.WriteFile(pgCfg, append(b, []byte("state:\n  url: "+url+"\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, _ = runCLI(t, "--config", pgCfg, "status")
	if !strings.Contains(out, "writeback is enabled") || !strings.Contains(out, "full ok: 2 created") || !strings.Contains(out, "active instance: none") {
		t.Fatalf("status on PostgreSQL:\n%s", out)
	}
	if out, _, code := runCLI(t, "--config", pgCfg, "sync"); code != exitOK || !strings.Contains(out, "0 LDAP writes") || !strings.Contains(out, "sync (delta)") {
		t.Fatalf("the first sync on PostgreSQL: exit %d\n%s", code, out)
	}
	back := filepath.Join(t.TempDir(), "back.db")
	out, errOut, code = runCLI(t, "--config", pgCfg, "state", "migrate", "--to", back)
	if code != exitOK || !strings.Contains(out, "from postgres to sqlite, and checked the copy") {
		t.Fatalf("migrate back to SQLite: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := runCLI(t, "--config", pgCfg, "state", "migrate", "--to", back); code != exitFatal || !strings.Contains(errOut, "not empty") {
		t.Fatalf("a migration into a state with data: exit %d: %s", code, errOut)
	}
}
