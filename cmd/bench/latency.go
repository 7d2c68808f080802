//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	gosync "sync"
	"syscall"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/graphsim"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

// The latency scenario (issue 27): the service runs, and the cloud
// changes; how long from each change in graphsim to the write that
// brings its group in step in AD, when the service polls every 10 s or
// every 60 s, and when Graph's notifications start its cycles (with none
// lost, and with a fifth of them lost: the 60-second schedule's cycles
// are then the safety net).

// latencyMode is one way the service learns of changes.
type latencyMode struct {
	Name     string
	Interval time.Duration
	// Notify turns notifications on; Loss is the share graphsim drops.
	Notify bool
	Loss   float64
}

var latencyModes = []latencyMode{
	{Name: "polling every 10s", Interval: 10 * time.Second},
	{Name: "polling every 60s", Interval: 60 * time.Second},
	{Name: "notifications", Interval: 60 * time.Second, Notify: true},
	{Name: "notifications, 20% lost", Interval: 60 * time.Second, Notify: true, Loss: 0.2},
}

// latencyResult is one mode's figures.
type latencyResult struct {
	Mode          latencyMode
	Changes       int
	Arrived       int
	P50, P95, Max time.Duration
	Lost          int // notifications graphsim dropped
	NotInAD       int // changes AD does not show at the end
	// QuietCycles and QuietRequests: polling every 10s, the quiet cycles
	// of an idle 35 seconds after the changes, and the Graph requests
	// they made.
	QuietCycles, QuietRequests int
}

// latency measures each mode on one DC and a small tenant: changes
// changes, spread over spread, one group each.
func latency(ctx context.Context, bin string, modes []latencyMode, changes int, spread time.Duration, log io.Writer) ([]latencyResult, error) {
	say := func(format string, args ...any) { fmt.Fprintf(log, "bench: "+format+"\n", args...) }
	sc := scenario{Groups: changes, Members: 5, Users: testdc.FixtureUserCount}
	dc, err := testdc.Start(ctx, testdc.Options{Users: sc.Users})
	if err != nil {
		return nil, err
	}
	defer dc.Close()
	fx, err := dc.FixtureUsers()
	if err != nil {
		return nil, err
	}
	var out []latencyResult
	for i, m := range modes {
		ou := fmt.Sprintf("OU=Latency%d,%s", i, testdc.DelegatedOU)
		if err := addOU(dc, ou); err != nil {
			return nil, err
		}
		say("%s: %d changes over %s", m.Name, changes, spread)
		r, err := latencyRun(ctx, bin, dc, fx, sc, ou, m, spread, log)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		out = append(out, r)
		// The next mode writes the same groups again: their
		// sAMAccountNames are the domain's to hold once.
		if err := clearGroups(dc, ou); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// inStepEvent is what the bench reads of the service's in-step events.
type inStepEvent struct {
	Kind    string `json:"kind"`
	Details struct {
		CloudID string    `json:"cloudId"`
		Written time.Time `json:"written"`
	} `json:"details"`
}

func latencyRun(ctx context.Context, bin string, dc *testdc.DC, fx []testdc.User, sc scenario, ou string, m latencyMode, spread time.Duration,
	log io.Writer) (latencyResult, error) {
	res := latencyResult{Mode: m, Changes: sc.Groups}
	work, err := os.MkdirTemp("", "groupwriteback-latency-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(work)
	tf, err := tenant(sc, fx)
	if err != nil {
		return res, err
	}
	sim, err := graphsim.Start(graphsim.Options{Tenant: tf, CertDir: work})
	if err != nil {
		return res, err
	}
	defer sim.Close()
	// The in-step events come to the bench: each says which group AD now
	// matches, and when the write was made.
	var mu gosync.Mutex
	written := map[string][]time.Time{}
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev inStepEvent
		if json.NewDecoder(r.Body).Decode(&ev) == nil && ev.Kind == "event" {
			mu.Lock()
			written[ev.Details.CloudID] = append(written[ev.Details.CloudID], ev.Details.Written)
			mu.Unlock()
		}
	}))
	defer rcv.Close()
	addr, err := freeAddr()
	if err != nil {
		return res, err
	}
	server := "server:\n  listen: " + addr + "\n"
	notify := ""
	if m.Notify {
		cert, err := sim.CA.Server("127.0.0.1")
		if err != nil {
			return res, err
		}
		for name, b := range map[string][]byte{"https.pem": cert.CertPEM, "https-key.pem": cert.KeyPEM} {
			if err := os.WriteFile(filepath.Join(work, name), b, 0o600); err != nil {
				return res, err
			}
		}
		server += "  tls_cert_file: " + filepath.Join(work, "https.pem") + "\n  tls_key_file: " + filepath.Join(work, "https-key.pem") + "\n"
		notify = "notifications:\n  public_url: https://" + addr + "/graph/notifications\n"
		sim.Server.SetNotifyFaults(graphsim.NotifyFaults{Loss: m.Loss})
	}
	cfg := filepath.Join(work, "config.yaml")
	if err := os.WriteFile(cfg, []byte(sim.CloudConfig(tenantID, appID, appPass)+dc.DirectoryConfig()+fmt.Sprintf(`writeback:
  target_ou: %s
  scope:
    kinds: [security]
state:
  path: %s
schedule:
  interval: %s
alerts:
  webhook_url: %s
  in_step: true
%s%s`, ou, filepath.Join(work, "state.db"), m.Interval, rcv.URL, server, notify)), 0o600); err != nil {
		return res, err
	}
	if out, err := exec.CommandContext(ctx, bin, "--config", cfg, "enable").CombinedOutput(); err != nil {
		return res, fmt.Errorf("enable: %v: %s", err, out)
	}
	logFile, err := os.Create(filepath.Join(work, "service.log"))
	if err != nil {
		return res, err
	}
	defer logFile.Close()
	svc := exec.CommandContext(ctx, bin, "--config", cfg, "--log-level", "info", "run")
	svc.Stdout, svc.Stderr = logFile, logFile
	if err := svc.Start(); err != nil {
		return res, err
	}
	defer func() {
		_ = svc.Process.Signal(syscall.SIGTERM)
		_ = svc.Wait()
	}()
	// The first writeback: every group written, before any change.
	if err := waitUntil(5*time.Minute, func() bool { return countGroups(dc, ou) == sc.Groups }); err != nil {
		return res, fmt.Errorf("the first writeback: %w", err)
	}
	if m.Notify {
		if err := waitUntil(time.Minute, func() bool { return len(sim.Server.Subscriptions()) == 2 }); err != nil {
			return res, fmt.Errorf("the subscriptions: %w", err)
		}
	}
	time.Sleep(2 * time.Second) // the first writeback's cycle is over
	before := sim.Server.NotifyStats()
	changed := make([]time.Time, sc.Groups)
	step := spread / time.Duration(sc.Groups)
	for g := range sc.Groups {
		changed[g] = time.Now()
		if err := sim.Server.Tenant().UpdateGroup(groupID(g), map[string]any{"description": fmt.Sprintf("change %d", g)}); err != nil {
			return res, err
		}
		time.Sleep(step)
	}
	// Every change arrives, or the wait ends a cycle and a half after the
	// last (the safety net's cycle included).
	deadline := m.Interval + m.Interval/2 + 30*time.Second
	_ = waitUntil(deadline, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(written) >= sc.Groups
	})
	var took []time.Duration
	mu.Lock()
	for g := range sc.Groups {
		for _, w := range written[groupID(g)] {
			if !w.Before(changed[g]) {
				took = append(took, w.Sub(changed[g]))
				break
			}
		}
	}
	mu.Unlock()
	res.Arrived = len(took)
	if len(took) > 0 {
		slices.Sort(took)
		res.P50, res.P95, res.Max = took[len(took)/2], took[(len(took)*95+99)/100-1], took[len(took)-1]
	}
	res.Lost = sim.Server.NotifyStats().Lost - before.Lost
	res.NotInAD = sc.Groups - countDescribed(dc, ou)
	if m.Interval <= 10*time.Second && !m.Notify {
		// What a quiet cycle costs: an idle half-minute.
		time.Sleep(m.Interval)
		q0, err := quietCycles(ctx, bin, cfg)
		if err != nil {
			return res, err
		}
		r0 := sim.Server.Stats().Requests
		time.Sleep(35 * time.Second)
		q1, err := quietCycles(ctx, bin, cfg)
		if err != nil {
			return res, err
		}
		res.QuietCycles, res.QuietRequests = q1-q0, sim.Server.Stats().Requests-r0
	}
	fmt.Fprintf(log, "bench: %s: %d of %d arrived; p50 %s, p95 %s, max %s; %d notifications lost\n", m.Name, res.Arrived, res.Changes,
		res.P50.Round(time.Millisecond), res.P95.Round(time.Millisecond), res.Max.Round(time.Millisecond), res.Lost)
	return res, nil
}

// quietCycles is how many quiet cycles the run history's last rows stand
// for.
func quietCycles(ctx context.Context, bin, cfg string) (int, error) {
	out, err := exec.CommandContext(ctx, bin, "--config", cfg, "status", "-o", "json").Output()
	if err != nil && len(out) == 0 {
		return 0, fmt.Errorf("status: %w", err)
	}
	var st struct {
		Runs []struct {
			Quiet int `json:"quiet"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return 0, fmt.Errorf("status: %w", err)
	}
	n := 0
	for _, r := range st.Runs {
		n += r.Quiet
	}
	return n, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitUntil(d time.Duration, ok func() bool) error {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if ok() {
			return nil
		}
	}
	return fmt.Errorf("not within %s", d)
}

// clearGroups deletes the groups under ou.
func clearGroups(dc *testdc.DC, ou string) error {
	conn, err := dc.Admin()
	if err != nil {
		return err
	}
	defer conn.Close()
	sr, err := conn.SearchWithPaging(ldap.NewSearchRequest(ou, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=group)", []string{"1.1"}, nil), 1000)
	if err != nil {
		return err
	}
	for _, e := range sr.Entries {
		if err := conn.Del(ldap.NewDelRequest(e.DN, nil)); err != nil {
			return fmt.Errorf("delete %s: %w", e.DN, err)
		}
	}
	return nil
}

// countGroups counts the groups under ou; countDescribed those whose
// description says the change made to them.
func countGroups(dc *testdc.DC, ou string) int { return countUnder(dc, ou, "(objectClass=group)") }

func countDescribed(dc *testdc.DC, ou string) int {
	return countUnder(dc, ou, "(&(objectClass=group)(description=change *))")
}

func countUnder(dc *testdc.DC, ou, filter string) int {
	conn, err := dc.Admin()
	if err != nil {
		return -1
	}
	defer conn.Close()
	sr, err := conn.SearchWithPaging(ldap.NewSearchRequest(ou, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, filter, []string{"cn"}, nil), 1000)
	if err != nil {
		return -1
	}
	return len(sr.Entries)
}

// printLatency writes the figures beside their targets.
func printLatency(w io.Writer, rs []latencyResult) {
	fmt.Fprintf(w, "%-26s %8s %10s %10s %10s %8s %s\n", "from a change to AD", "arrived", "p50", "p95", "max", "lost", "target")
	for _, r := range rs {
		target := fmt.Sprintf("p95 < %s", r.Mode.Interval+3*time.Second)
		if r.Mode.Notify {
			target = "p95 < 5s"
			if r.Mode.Loss > 0 {
				target = "every change arrives"
			}
		}
		fmt.Fprintf(w, "%-26s %4d/%-3d %10s %10s %10s %8d %s\n", r.Mode.Name, r.Arrived, r.Changes, r.P50.Round(time.Millisecond), r.P95.Round(time.Millisecond),
			r.Max.Round(time.Millisecond), r.Lost, target)
		if r.QuietCycles > 0 {
			fmt.Fprintf(w, "%-26s %d quiet cycles in 35s: %.1f Graph requests each (target ≤ 3)\n", "", r.QuietCycles, float64(r.QuietRequests)/float64(r.QuietCycles))
		}
		if r.NotInAD > 0 {
			fmt.Fprintf(w, "%-26s %d changes not in AD at the end\n", "", r.NotInAD)
		}
	}
}
