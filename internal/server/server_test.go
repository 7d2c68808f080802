package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/scheduler"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// cycles is a scheduler's state as plain values, and a record of triggers.
type cycles struct {
	status   scheduler.Status
	triggers []bool
	err      error
}

func (c *cycles) Status() scheduler.Status { return c.status }
func (c *cycles) Trigger(_ context.Context, full bool) error {
	c.triggers = append(c.triggers, full)
	return c.err
}

// history is a state file's contents as plain values.
type history struct {
	disabled bool
	runs     []state.Run
	statuses []state.GroupStatus
	plan     json.RawMessage
}

func (h *history) Runs(context.Context, int) ([]state.Run, error) { return h.runs, nil }
func (h *history) Statuses(_ context.Context, states ...string) ([]state.GroupStatus, error) {
	var out []state.GroupStatus
	for _, s := range h.statuses {
		for _, want := range states {
			if s.State == want {
				out = append(out, s)
			}
		}
	}
	return out, nil
}
func (h *history) Enablement(context.Context) (state.Enablement, error) {
	return state.Enablement{Enabled: !h.disabled, Changed: now.Add(-time.Hour)}, nil
}

func (h *history) PendingPlan(context.Context) (json.RawMessage, time.Time, error) {
	return h.plan, time.Now(), nil
}

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func newTest(c *cycles, h *history, staging bool) (*httptest.Server, *Metrics) {
	m := NewMetrics()
	m.Watch(h, func() bool { return staging }, "v1.2.3")
	s := New(c, h, m, time.Hour, func() bool { return staging }, nil)
	s.now = func() time.Time { return now }
	s.Version = "v1.2.3"
	return httptest.NewServer(s.Handler()), m
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHealthAndReadiness(t *testing.T) {
	cases := []struct {
		name   string
		status scheduler.Status
		code   int
		says   string
	}{
		{"never succeeded", scheduler.Status{}, 503, "no cycle has succeeded yet"},
		{"recent success", scheduler.Status{LastSuccess: now.Add(-10 * time.Minute)}, 200, "ready"},
		{"stale", scheduler.Status{LastSuccess: now.Add(-3 * time.Hour)}, 503, "the last success was 3h0m0s ago"},
		{"last cycle failed", scheduler.Status{LastSuccess: now.Add(-10 * time.Minute), ConsecutiveFailures: 1, LastError: "bind failed"}, 503, "the last cycle failed: bind failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := newTest(&cycles{status: tc.status}, &history{}, false)
			defer srv.Close()
			if code, body := get(t, srv.URL+"/healthz"); code != 200 || body != "ok\n" {
				t.Fatalf("healthz: %d %q", code, body)
			}
			if code, body := get(t, srv.URL+"/readyz"); code != tc.code || !strings.Contains(body, tc.says) {
				t.Fatalf("readyz: %d %q, want %d %q", code, body, tc.code, tc.says)
			}
		})
	}
}

func TestSyncEndpoint(t *testing.T) {
	c := &cycles{}
	srv, _ := newTest(c, &history{}, false)
	defer srv.Close()
	for _, q := range []string{"", "?full=true"} {
		resp, err := post(srv.URL+"/sync"+q, map[string]string{SyncHeader: "sync"})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST /sync%s: %d", q, resp.StatusCode)
		}
	}
	if len(c.triggers) != 2 || c.triggers[0] || !c.triggers[1] {
		t.Fatalf("triggers = %v", c.triggers)
	}
	c.err = errors.New("DC unreachable")
	resp, _ := post(srv.URL+"/sync", map[string]string{SyncHeader: "sync"})
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || !strings.Contains(string(b), "DC unreachable") {
		t.Fatalf("failing sync: %d %s", resp.StatusCode, b)
	}
	if resp, _ := http.Get(srv.URL + "/sync"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET /sync: %d", resp.StatusCode)
	}
}

// POST /sync while writeback is disabled runs a cycle that writes nothing
// (the cycle says so: scheduler.NotRun(engine.ErrDisabled)): the answer
// says so (409, disabled), not "ok".
func TestSyncEndpointWhileDisabled(t *testing.T) {
	srv, _ := newTest(&cycles{err: scheduler.NotRun(engine.ErrDisabled)}, &history{disabled: true}, false)
	defer srv.Close()
	resp, err := post(srv.URL+"/sync", map[string]string{SyncHeader: "sync"})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		OK       bool   `json:"ok"`
		Disabled bool   `json:"disabled"`
		Error    string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusConflict || out.OK || !out.Disabled || !strings.Contains(out.Error, "groupwriteback enable") {
		t.Fatalf("disabled: %d %+v", resp.StatusCode, out)
	}
}

func TestMetrics(t *testing.T) {
	srv, m := newTest(&cycles{}, &history{statuses: []state.GroupStatus{{CloudID: "g2", State: state.Failed}}}, false)
	defer srv.Close()
	m.Observe(CycleReport{Mode: "delta", Outcome: "partial", Duration: 3 * time.Second, End: now, GraphReqs: 12, Throttled: 2,
		Result: &engine.Result{Counts: engine.Counts{InScope: 7, MembersNotWritten: map[string]int{"cloud_only_user": 3}},
			Failures: []engine.Failure{{CloudID: "g2"}},
			Plan: reconcile.Plan{Ops: []reconcile.Op{{Action: reconcile.Create, CloudID: "g1"}, {Action: reconcile.Update, CloudID: "g2"}},
				HeldBack: []reconcile.Op{{Action: reconcile.Delete, CloudID: "g3"}}}}})
	m.ObserveLDAP("search", 2*time.Millisecond, nil)
	m.ObserveLDAP("search", 3*time.Millisecond, nil)
	m.ObserveLDAP("modify", 40*time.Millisecond, errors.New("LDAP 50"))
	_, body := get(t, srv.URL+"/metrics")
	for _, want := range []string{
		`groupwriteback_cycles_total{mode="delta",outcome="partial"} 1`,
		`groupwriteback_operations_total{action="create",outcome="applied"} 1`,
		`groupwriteback_operations_total{action="update",outcome="failed"} 1`,
		`groupwriteback_operations_total{action="delete",outcome="held_back"} 1`,
		`groupwriteback_groups_in_scope 7`,
		`groupwriteback_groups_not_in_step 1`,
		`groupwriteback_members_not_written{reason="cloud_only_user"} 3`,
		`groupwriteback_graph_requests_total 12`,
		`groupwriteback_graph_throttled_total 2`,
		`groupwriteback_ldap_operation_duration_seconds_count{op="modify",outcome="error"} 1`,
		`groupwriteback_ldap_operation_duration_seconds_count{op="search",outcome="ok"} 2`,
		`groupwriteback_cycle_duration_seconds_count 1`,
		// A partial cycle ran to its end: a success, with its groups not
		// in step told apart (groups_not_in_step above).
		"groupwriteback_last_success_timestamp_seconds " + strconv.FormatFloat(float64(now.Unix()), 'g', -1, 64),
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestStatusPage(t *testing.T) {
	h := &history{
		runs: []state.Run{{ID: 3, Started: now, Finished: now, Mode: "delta", Outcome: "partial", Summary: json.RawMessage(`{"created":1,"failed":1}`)}},
		statuses: []state.GroupStatus{
			{CloudID: "6a1e0c55-0003", Name: "Finance <approvers>", State: state.Failed, Message: "LDAP result 50 (Insufficient Access Rights)"},
			{CloudID: "6a1e0c55-0007", Name: "Team 7_6a1e0c550007", DN: "CN=Team 7_6a1e0c550007,OU=X", State: state.Failed,
				Message: "delete held back by the delete threshold (the cloud group no longer exists)"},
			{CloudID: "6a1e0c55-0001", Name: "Marketing", State: state.InStep, DN: "CN=Marketing,OU=X", MembersNotWritten: map[string]int{"cloud_only_user": 2}},
		},
		plan: json.RawMessage(`[{"action":"create","dn":"CN=New,OU=X","cloudId":"6a1e0c55-0009"}]`),
	}
	srv, _ := newTest(&cycles{status: scheduler.Status{LastError: "the domain controller cannot be reached", LastErrorFix: "check directory.url",
		LastErrorDetail: `engine: writeback.target_ou: LDAP Result Code 200 "Network Error"`, ConsecutiveFailures: 2, BackingOff: true}}, h, true)
	defer srv.Close()
	code, body := get(t, srv.URL+"/")
	for _, want := range []string{
		"Finance &lt;approvers&gt;", "LDAP result 50 (Insufficient Access Rights)", // escaped, and shown
		"2 × cloud-only user: not synced from on-premises AD <code>cloud_only_user</code>", "Staging mode",
		"Team 7_6a1e0c550007<br><code>CN=Team 7_6a1e0c550007,OU=X</code>", // a group gone from the cloud, named by its AD copy
		"CN=New,OU=X", "backing off): the domain controller cannot be reached</span>",
		"<strong>Fix:</strong> check directory.url", // the fix under the summary, the chain folded away
		`<details id="last-error-detail"><summary>Detail</summary><code>engine: writeback.target_ou: LDAP Result Code 200 &#34;Network Error&#34;</code></details>`,
		`<td class="warn">partial</td>`, // ran to its end, with groups not in step: amber, not red
		`2 groups are not in step`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if code != 200 || strings.Contains(body, "<script") {
		t.Fatalf("page: %d, or has scripts", code)
	}
	if code, _ := get(t, srv.URL+"/nothing"); code != 404 {
		t.Fatalf("unknown path: %d", code)
	}
}

type onDemand struct {
	asked []string
	res   *engine.Result
	err   error
}

func (o *onDemand) SyncGroup(_ context.Context, group string) (*engine.Result, error) {
	o.asked = append(o.asked, group)
	return o.res, o.err
}

func TestSyncOneGroupEndpoint(t *testing.T) {
	c := &cycles{}
	srv, _ := newTest(c, &history{}, false)
	defer srv.Close()
	ask := func(q string) (int, map[string]any) {
		t.Helper()
		resp, err := post(srv.URL+"/sync?"+q, map[string]string{SyncHeader: "sync"})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	if code, body := ask("group=Access"); code != http.StatusNotImplemented || body["ok"] != false {
		t.Fatalf("without on-demand: %d %v", code, body)
	}
	od := &onDemand{res: &engine.Result{Mode: "group", Writes: 1, Trace: &engine.Trace{CloudID: "g1", Decision: "written back as universalSecurityGroup"}}}
	h := srvWith(t, c, od)
	defer h.Close()
	srv = h
	code, body := ask("group=Access")
	trace, _ := body["trace"].(map[string]any)
	if code != 200 || body["ok"] != true || trace["cloudId"] != "g1" || body["ldapWrites"] != 1.0 || len(od.asked) != 1 || od.asked[0] != "Access" {
		t.Fatalf("one group: %d %v", code, body)
	}
	if len(c.triggers) != 0 {
		t.Fatal("a one-group sync triggered a whole cycle")
	}
	od.res, od.err = nil, &engine.NoSuchGroupError{Name: "nope"}
	if code, body := ask("group=nope"); code != 404 || !strings.Contains(body["error"].(string), `"nope"`) {
		t.Fatalf("unknown group: %d %v", code, body)
	}
	if code, _ := ask("group=Access&full=true"); code != 400 {
		t.Fatalf("group and full: %d", code)
	}
	od.res, od.err = &engine.Result{Mode: "group", Failures: []engine.Failure{{CloudID: "g1", Message: "LDAP 68"}}}, nil
	if code, body := ask("group=Access"); code != 200 || body["ok"] != false {
		t.Fatalf("a group not in step: %d %v", code, body)
	}
}

func srvWith(t *testing.T, c Cycles, od OnDemand) *httptest.Server {
	t.Helper()
	s := New(c, &history{}, NewMetrics(), time.Hour, notStaging, nil)
	s.now = func() time.Time { return now }
	s.OnDemand = od
	return httptest.NewServer(s.Handler())
}

// Readiness and the page tell the truth: a disabled instance is not ready
// and says why; a staging one is ready as a staging server, and says so;
// the page shows the version and zoned times; the metrics count the groups
// not in step as the page lists them.
func TestHealthTellsTheTruth(t *testing.T) {
	ok := scheduler.Status{LastSuccess: now.Add(-10 * time.Minute), NextRun: now.Add(20 * time.Minute)}
	for _, tc := range []struct {
		name     string
		disabled bool
		staging  bool
		code     int
		ready    string
		page     string
		enabled  string
	}{
		{"enabled", false, false, 200, "ready\n", "Writeback is enabled", "groupwriteback_writeback_enabled 1"},
		{"disabled", true, false, 503, "writeback is disabled: nothing is written to AD", "Writeback is disabled", "groupwriteback_writeback_enabled 0"},
		{"staging", true, true, 200, "ready (staging: cycles plan and write nothing to AD)", "Staging mode:", "groupwriteback_staging 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &history{disabled: tc.disabled, statuses: []state.GroupStatus{
				{CloudID: "g1", Name: "A", State: state.Failed}, {CloudID: "g2", Name: "B", State: state.Pending},
				{CloudID: "g3", Name: "C", State: state.InStep}}}
			srv, _ := newTest(&cycles{status: ok}, h, tc.staging)
			defer srv.Close()
			if code, body := get(t, srv.URL+"/readyz"); code != tc.code || !strings.Contains(body, tc.ready) {
				t.Errorf("readyz: %d %q, want %d %q", code, body, tc.code, tc.ready)
			}
			_, page := get(t, srv.URL+"/")
			for _, want := range []string{"Version v1.2.3", tc.page, "Next cycle: " + now.Add(20*time.Minute).Local().Format("2006-01-02 15:04:05 MST")} {
				if !strings.Contains(page, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			_, metrics := get(t, srv.URL+"/metrics")
			for _, want := range []string{"groupwriteback_groups_not_in_step 2", tc.enabled, `groupwriteback_build_info{goversion="`, `version="v1.2.3"} 1`} {
				if !strings.Contains(metrics, want) {
					t.Errorf("metrics lack %q", want)
				}
			}
		})
	}
}

// notStaging is an instance's mode outside staging.
func notStaging() bool { return false }
