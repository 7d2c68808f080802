//go:build linux

package main

import (
	"fmt"
	"net"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/audit"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/testpg"
)

// describeAll changes every group's description in the cloud, and the
// model with it: a wave of 8 updates, each read by the gate first.
func (e *crashEnv) describeAll(m crashModel, wave int) crashModel {
	e.t.Helper()
	m = m.clone()
	for k := range m {
		d := fmt.Sprintf("wave %d of group %d", wave, k)
		if err := e.tenant.UpdateGroup(e.id(k), map[string]any{"description": d}); err != nil {
			e.t.Fatal(err)
		}
		g := m[k]
		g.Description = d
		m[k] = g
	}
	return m
}

// timed is how long a request to an instance took, and its status.
func timed(in *haInstance, path string) (time.Duration, int) {
	start := time.Now()
	code, _ := in.get(path)
	return time.Since(start), code
}

// TestHAPausesAndHangs: the fence holds at the moment of the write, and
// nothing hangs on a silent database or DC. Instance gwb-a reaches the DC
// and the database through relays; the suite pauses it (SIGSTOP) at
// several points of an operation (with its read's answer held; between
// the gate's read and the write; while its write is lost on the way and
// retried), lets gwb-b take over and write, then lets gwb-a go on: it
// writes nothing more (the DC's USN stands still). Then the database,
// and the DC, accept and never answer: /readyz, /metrics and the page
// still answer within two seconds. Every audit entry names its token.
func TestHAPausesAndHangs(t *testing.T) {
	if testing.Short() {
		t.Skip("the HA suite runs without -short (CI runs it)")
	}
	bin := crashBinary(t)
	srv := testpg.Shared(t)
	dbURL := srv.NewDB(t)
	e, model := newCrashEnv(t, bin, 91)
	dcRelay := newRelay(t, e.dc.Addr, net.JoinHostPort(e.dc.Addr, "636"))
	pu, err := neturl.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	dbRelay := newRelay(t, "127.0.0.1", pu.Host)
	viaRelay := *pu
	viaRelay.Host = dbRelay.Addr()
	a := haConfig(t, e, "gwb-a", viaRelay.String())
	b := haConfig(t, e, "gwb-b", dbURL)
	cfgA, _ := os.ReadFile(a.cfg)
	if err := os.WriteFile(a.cfg, []byte(strings.Replace(string(cfgA), "url: "+e.dc.URL, "url: ldaps://"+dcRelay.Addr(), 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "--config", b.cfg, "enable").CombinedOutput(); err != nil {
		t.Fatalf("enable on the shared state: %v\n%s", err, out)
	}
	inStep := func(want crashModel) func() bool {
		return func() bool { return e.ad().String() == want.String() }
	}
	stop := func(in *haInstance) {
		t.Helper()
		_ = in.cmd.Process.Signal(syscall.SIGCONT)
		_ = in.cmd.Process.Signal(syscall.SIGTERM)
		waitWithin(t, in.name+" stopped", 30*time.Second, func() bool { return isClosed(in.done) })
	}
	a.start(bin)
	waitWithin(t, "gwb-a writes the first sync", 30*time.Second, inStep(model))
	stop(a)

	stale, points, late := 0, 0, 0
	for i, sc := range []struct {
		name string
		env  string
		// before runs while gwb-a is stopped at its point, before it is let
		// go once (to reach the request the scenario is about); after runs
		// once gwb-b took over, before gwb-a goes on for good.
		before, after func()
	}{
		{"paused before the gate's read, with the read's answer held", "GROUPWRITEBACK_STOP_AFTER_WRITES=2",
			func() { dcRelay.Hold() }, func() { dcRelay.Release() }},
		{"paused between the gate's read and the write", "GROUPWRITEBACK_STOP_BEFORE_WRITE=2", nil, nil},
		{"paused while its write is lost on the way, then retried", "GROUPWRITEBACK_STOP_BEFORE_WRITE=3",
			func() { dcRelay.Blackhole() }, func() { dcRelay.Cut(); dcRelay.Pass() }},
	} {
		t.Run(sc.name, func(t *testing.T) {
			model = e.describeAll(model, i+1)
			a.start(bin, sc.env)
			waitWithin(t, "gwb-a at its point", 30*time.Second, a.stopped)
			if sc.before != nil {
				sc.before()
				// Let it go on to the request (the read, or the write), and
				// stop it again there: paused with the request in flight.
				if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
					t.Fatal(err)
				}
				time.Sleep(300 * time.Millisecond)
				if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
					t.Fatal(err)
				}
				waitWithin(t, "gwb-a stopped again", 5*time.Second, a.stopped)
			}
			b.start(bin)
			waitWithin(t, "gwb-b taking over", haLease+haRenew+10*time.Second, b.active)
			waitWithin(t, "AD in step after the take-over", 30*time.Second, inStep(model))
			// gwb-b writes newer values: a write gwb-a would still send
			// now would put an older one back (and move the USN).
			model = e.describeAll(model, 100+i)
			if code, body := b.post("/sync"); code != 200 {
				t.Fatalf("POST /sync to gwb-b: %d %s", code, body)
			}
			waitWithin(t, "AD in step with the newer values", 30*time.Second, inStep(model))
			if sc.after != nil {
				sc.after()
			}
			fenced := a.metricWhenUp(`groupwriteback_fenced_writes_total{target="ad"}`)
			resumed := time.Now()
			if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			waitWithin(t, "gwb-a refusing its write", 20*time.Second, func() bool {
				return a.metric(`groupwriteback_fenced_writes_total{target="ad"}`) > fenced
			})
			time.Sleep(2 * haRenew) // time to write, had it kept its lease
			points++
			// A write gwb-a sent after it went on would have put back an
			// older description (gwb-b wrote newer ones), and its trail
			// would hold its intent, written before each request is sent.
			// An outcome after the resume of an intent from before the
			// pause is an answer that came late (the write was sent, and
			// made, while the lease held): it must name that lease's token.
			// (The DC's USN is no witness here: Samba counts a bind.)
			sent := 0
			trail, err := audit.Read(filepath.Join(filepath.Dir(a.cfg), "audit.jsonl"), audit.Filter{Intents: true})
			if err != nil {
				t.Fatal(err)
			}
			intentToken := map[string]int64{}
			for _, en := range trail {
				switch {
				case en.Outcome == engine.OutcomeIntent:
					intentToken[en.OpID] = en.Token
					if en.Time.After(resumed) {
						sent++
						t.Errorf("gwb-a tried a write after it lost the lease: %+v", en)
					}
				case en.Time.After(resumed) && !en.Settled:
					late++
					if en.Token == 0 || en.Token != intentToken[en.OpID] {
						t.Errorf("a late answer's outcome names token %d, its write was sent under %d", en.Token, intentToken[en.OpID])
					}
				}
			}
			if got := e.ad(); got.String() != model.String() {
				sent++
				t.Errorf("AD after gwb-a went on:\n%s\nwant:\n%s", got, model)
				// What gwb-a's trail says of its last writes, for the
				// reader of the failure.
				var b strings.Builder
				for _, en := range trail[max(0, len(trail)-8):] {
					fmt.Fprintf(&b, "  %s %s %s %s %s token %d settled %v resumed+%v\n", en.OpID, en.Action, en.Outcome, en.DN, en.Error,
						en.Token, en.Settled, en.Time.Sub(resumed).Round(time.Millisecond))
				}
				t.Logf("gwb-a's last trail entries:\n%s", b.String())
			}
			if sent > 0 {
				stale++
			}
			stop(a)
			stop(b)
		})
	}
	t.Logf("stale writes after the lease was lost: %d of %d pauses (answers that came after the pause, of writes sent before it: %d, each under its token)", stale, points, late)

	// Every audit entry of either instance names the token it was written
	// under (intents and outcomes alike, the settled ones too).
	withToken, entries := 0, 0
	for _, in := range []*haInstance{a, b} {
		all, err := audit.Read(filepath.Join(filepath.Dir(in.cfg), "audit.jsonl"), audit.Filter{Intents: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, en := range all {
			entries++
			if en.Token > 0 && en.Instance == in.name {
				withToken++
			}
		}
	}
	t.Logf("audit entries with their fencing token: %d of %d", withToken, entries)
	if withToken != entries || entries == 0 {
		t.Fatalf("audit entries with their fencing token: %d of %d", withToken, entries)
	}

	// Hung: the database gwb-a reaches accepts and never answers; then the
	// DC does. /readyz answers 503 (the database) within two seconds; the
	// page and the metrics answer within two seconds too.
	a.start(bin)
	b.start(bin)
	// gwb-a serving, not only one of them active: cut while it still opens
	// its store, gwb-a would exit (as a service does when its database is
	// gone at start) and leave nothing to ask.
	serving := func(in *haInstance) bool { code, _ := in.get("/readyz"); return code != 0 }
	waitWithin(t, "gwb-a serving and an instance active", 20*time.Second, func() bool { return serving(a) && (a.active() || b.active()) })
	for _, mode := range []struct {
		name string
		on   func()
		off  func()
	}{
		{"database hung", func() { dbRelay.Blackhole(); dbRelay.Cut() }, func() { dbRelay.Pass() }},
		{"DC hung", func() { dcRelay.Blackhole(); dcRelay.Cut() }, func() { dcRelay.Pass() }},
	} {
		mode.on()
		time.Sleep(haLease) // long enough for gwb-a's lease to run out
		worst := time.Duration(0)
		for _, path := range []string{"/readyz", "/metrics", "/"} {
			took, code := timed(a, path)
			t.Logf("%s: gwb-a %s answered %d in %s", mode.name, path, code, took.Round(time.Millisecond))
			if code == 0 || took > 2*time.Second {
				t.Errorf("%s: gwb-a %s: %d after %s", mode.name, path, code, took)
			}
			worst = max(worst, took)
			if path == "/readyz" && mode.name == "database hung" && code != 503 {
				t.Errorf("%s: /readyz %d, want 503", mode.name, code)
			}
		}
		t.Logf("%s: worst answer %s", mode.name, worst.Round(time.Millisecond))
		mode.off()
	}
}

// metricWhenUp is metric, 0 while the instance is stopped (it cannot
// answer) or has not counted yet.
func (in *haInstance) metricWhenUp(sample string) float64 {
	if in.stopped() {
		return 0
	}
	return max(in.metric(sample), 0)
}
