package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/ha"
	"github.com/groupwriteback/groupwriteback/internal/scheduler"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// election is an election's view as plain values.
type election struct {
	v   ha.View
	err error
}

func (e *election) View(context.Context) (ha.View, error) { return e.v, e.err }
func (e *election) Role() ha.Role                         { return e.v.Role }

// TestHARoles: /readyz, the page and the metrics say which instance is
// active, since when, and the last take-over; a standby is ready while
// another instance is active, and no instance is when none is.
func TestHARoles(t *testing.T) {
	since := now.Add(-10 * time.Minute)
	tk := &state.Takeover{Token: 7, Holder: "gwb2", Previous: "gwb1", At: since}
	instances := []state.Instance{{ID: "gwb1/1", Name: "gwb1", Host: "h1", PID: 10, Role: "standby", Detail: "standing by; last plan …: 3 operations"},
		{ID: "gwb2/2", Name: "gwb2", Host: "h2", PID: 20, Role: "active"}}
	for _, tc := range []struct {
		name       string
		view       ha.View
		err        error
		code       int
		readyz     []string
		page       []string
		activeGate string
	}{
		{"active", ha.View{Instance: "gwb2", Role: ha.Active, Active: "gwb2", ActiveSince: since, Token: 7, LastTakeover: tk, Instances: instances}, nil,
			200, []string{"ready (instance gwb2, active since 2026-11-27T11:50:00Z)"},
			[]string{"This instance, <strong>gwb2</strong>, is <strong class=\"ok\">active</strong>", "Active: <strong>gwb2</strong>", "fencing token 7",
				"Last take-over: <strong>gwb2</strong> from gwb1", "<td>gwb1</td><td>h1</td><td>10</td><td>standby</td>", "3 operations"},
			"groupwriteback_ha_active 1"},
		{"standby", ha.View{Instance: "gwb1", Role: ha.Standby, Active: "gwb2", ActiveSince: since, Token: 7, LastTakeover: tk, Instances: instances}, nil,
			200, []string{"ready (instance gwb1, standby: gwb2 is active since 2026-11-27T11:50:00Z)"},
			[]string{"is <strong class=\"bad\">standby</strong>: it reads and plans, and writes nothing", "Active: <strong>gwb2</strong>"},
			"groupwriteback_ha_active 0"},
		{"none active", ha.View{Instance: "gwb1", Role: ha.Standby, Instances: instances}, nil,
			503, []string{"no instance is active"}, []string{"No instance is active: nothing is written to AD"}, "groupwriteback_ha_active 0"},
		{"database down", ha.View{Instance: "gwb1", Role: ha.Standby}, errors.New("connection refused"),
			503, []string{"the state cannot be read: connection refused"}, []string{"connection refused"}, "groupwriteback_ha_active 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &cycles{status: scheduler.Status{LastSuccess: now.Add(-time.Minute), LastFull: now.Add(-time.Minute)}}
			h := &history{}
			m := NewMetrics()
			el := &election{v: tc.view, err: tc.err}
			m.WatchHA(el)
			s := New(c, h, m, time.Hour, notStaging, nil)
			s.now = func() time.Time { return now }
			s.HA = el
			srv := httptest.NewServer(s.Handler())
			defer srv.Close()
			code, body := get(t, srv.URL+"/readyz")
			if code != tc.code {
				t.Errorf("/readyz = %d %q, want %d", code, body, tc.code)
			}
			for _, want := range tc.readyz {
				if !strings.Contains(body, want) {
					t.Errorf("/readyz %q lacks %q", body, want)
				}
			}
			_, page := get(t, srv.URL+"/")
			for _, want := range tc.page {
				if !strings.Contains(page, want) {
					t.Errorf("the page lacks %q", want)
				}
			}
			_, metrics := get(t, srv.URL+"/metrics")
			if !strings.Contains(metrics, tc.activeGate+"\n") {
				t.Errorf("metrics lack %q", tc.activeGate)
			}
			if tc.err == nil && tc.view.LastTakeover != nil && !strings.Contains(metrics, "groupwriteback_ha_lease_token 7\n") {
				t.Errorf("metrics lack the token:\n%s", metrics)
			}
		})
	}
}

// hungHistory is a state whose database accepts and never answers: every
// read waits until its context ends.
type hungHistory struct{}

func (h *hungHistory) Runs(ctx context.Context, n int) ([]state.Run, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (h *hungHistory) Statuses(ctx context.Context, _ ...string) ([]state.GroupStatus, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (h *hungHistory) Enablement(ctx context.Context) (state.Enablement, error) {
	<-ctx.Done()
	return state.Enablement{}, ctx.Err()
}
func (h *hungHistory) PendingPlan(ctx context.Context) (json.RawMessage, time.Time, error) {
	<-ctx.Done()
	return nil, time.Time{}, ctx.Err()
}

// hungElection is the shared state's election, on the same hung database.
type hungElection struct{ role ha.Role }

func (e *hungElection) View(ctx context.Context) (ha.View, error) {
	<-ctx.Done()
	return ha.View{}, ctx.Err()
}
func (e *hungElection) Role() ha.Role { return e.role }

// A database that accepts and never answers: /readyz says so within two
// seconds (503), and the page and the metrics answer too, in every role.
func TestHungDatabaseAnswersInTime(t *testing.T) {
	for _, role := range []ha.Role{ha.Active, ha.Standby} {
		c := &cycles{status: scheduler.Status{LastSuccess: now.Add(-time.Minute)}}
		h := &hungHistory{}
		m := NewMetrics()
		m.Watch(h, notStaging, "v1")
		el := &hungElection{role: role}
		m.WatchHA(el)
		s := New(c, h, m, time.Hour, notStaging, nil)
		s.HA = el
		srv := httptest.NewServer(s.Handler())
		for _, path := range []string{"/readyz", "/", "/metrics"} {
			start := time.Now()
			code, body := get(t, srv.URL+path)
			took := time.Since(start)
			t.Logf("%s as %s with the database hung: %d in %s", path, role, code, took.Round(time.Millisecond))
			if took > 2*time.Second+500*time.Millisecond {
				t.Errorf("%s as %s took %s", path, role, took)
			}
			if path == "/readyz" && (code != 503 || !strings.Contains(body, "the state cannot be read")) {
				t.Errorf("/readyz as %s: %d %s", role, code, body)
			}
		}
		srv.Close()
	}
}

// A standby whose last cycle failed (it failed while the database was
// down) is ready once the database answers and another instance is
// active: it only plans.
func TestStandbyReadyAfterAFailedCycle(t *testing.T) {
	c := &cycles{status: scheduler.Status{LastSuccess: now.Add(-3 * time.Hour), ConsecutiveFailures: 2, LastError: "the state cannot be read"}}
	h := &history{}
	el := &election{v: ha.View{Instance: "gwb1", Role: ha.Standby, Active: "gwb2", ActiveSince: now.Add(-time.Minute)}}
	s := New(c, h, NewMetrics(), time.Hour, notStaging, nil)
	s.HA = el
	s.now = func() time.Time { return now }
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	if code, body := get(t, srv.URL+"/readyz"); code != 200 || !strings.Contains(body, "standby: gwb2 is active") {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	el.v = ha.View{Instance: "gwb1", Role: ha.Active, Active: "gwb1", ActiveSince: now}
	if code, _ := get(t, srv.URL+"/readyz"); code != 503 {
		t.Fatalf("the same failures as the active instance: %d, want 503", code)
	}
}
