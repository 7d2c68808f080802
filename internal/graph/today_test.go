package graph

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/graphsim"
)

// Graph as it behaves today: capped waits, rounds that do not end, pages
// as Graph really lays them out, the source-of-authority switch.

// TestRetryAfterIsCapped: a Graph that asks for 600 s on every answer makes
// the client wait at most MaxRetryAfter each time and give up once the
// waits reach MaxTotalWait, saying what it waited for.
func TestRetryAfterIsCapped(t *testing.T) {
	s := startSim(t, testTenant(), graphsim.Faults{ThrottleEvery: 1, RetryAfterSeconds: 600})
	s.client.retry = DefaultRetryPolicy
	_, err := s.client.GroupsDelta(context.Background(), "")
	if err == nil || !strings.Contains(err.Error(), "giving up after waiting 10m0s") || !strings.Contains(err.Error(), "throttling") {
		t.Fatalf("err = %v", err)
	}
	waits := s.sleeps()
	var total time.Duration
	for _, w := range waits {
		if w > DefaultRetryPolicy.MaxRetryAfter {
			t.Fatalf("waited %v, more than the cap", w)
		}
		total += w
	}
	if total > DefaultRetryPolicy.MaxTotalWait || len(waits) != 5 {
		t.Fatalf("waits %v (total %v)", waits, total)
	}
	// The error the cycle fails with says how long Graph asked to wait:
	// the service's scheduler waits at least that before its next cycle.
	var ask interface{ WaitBeforeRetry() time.Duration }
	if !errors.As(err, &ask) || ask.WaitBeforeRetry() != 600*time.Second {
		t.Errorf("the error does not carry Graph's Retry-After (600 s): %v", err)
	}
}

// TestEndlessRoundsEnd: a round whose next links never end (the same page
// again with a fresh link), or which passes the page bound, ends in an
// error that says so instead of hanging the cycle.
func TestEndlessRoundsEnd(t *testing.T) {
	s := startSim(t, bigTenant(30), graphsim.Faults{PageSize: 7, EndlessPages: true})
	_, err := s.client.GroupsDelta(context.Background(), "")
	if err == nil || !strings.Contains(err.Error(), "the same page") {
		t.Fatalf("err = %v, want the loop named", err)
	}
	s.inst.Server.SetFaults(graphsim.Faults{PageSize: 1, MembersPerItem: 1})
	s.client.maxPages = 5
	if _, err := s.client.GroupsDelta(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "more than 5 pages") {
		t.Fatalf("err = %v, want the page bound named", err)
	}
}

// TestPagingAsGraphDoes: Graph's rounds are messier than one item per
// object in order: an initial round may carry @removed items and removed
// members, one group's member chunks may sit on pages far apart between
// other groups' items, and recent changes may come a round late. The
// client ends at exactly the tenant's state every time.
func TestPagingAsGraphDoes(t *testing.T) {
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		faults graphsim.Faults
	}{
		{"removals in the initial round", graphsim.Faults{PageSize: 3, InitialRemovals: true}},
		{"member chunks interleaved across pages", graphsim.Faults{PageSize: 2, MembersPerItem: 3, InterleaveItems: true}},
		{"replication lag of 2 changes", graphsim.Faults{PageSize: 3, LagEvents: 2}},
		{"all three", graphsim.Faults{PageSize: 2, MembersPerItem: 3, InitialRemovals: true, InterleaveItems: true, LagEvents: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startSim(t, bigTenant(20), graphsim.Faults{})
			tn := s.inst.Server.Tenant()
			// History before the first read: a member removed, a group deleted.
			must(t, tn.RemoveMember("b0000000-0000-4000-8000-0000000000ff", "c0000000-0000-4000-8000-000000000003"))
			must(t, tn.DeleteGroup(groupOff))
			s.inst.Server.SetFaults(tc.faults)
			r := newReader()
			r.sync(t, s.client)
			assertMatches(t, r.snap, tn.State())
			must(t, tn.UpdateGroup(groupSec, map[string]any{"displayName": "VPN"}))
			must(t, tn.AddMember(groupSec, "c0000000-0000-4000-8000-000000000005"))
			must(t, tn.RemoveMember("b0000000-0000-4000-8000-0000000000ff", "c0000000-0000-4000-8000-000000000007"))
			r.sync(t, s.client)
			if tc.faults.LagEvents == 0 {
				assertMatches(t, r.snap, tn.State())
			} else if !r.snap.Groups["b0000000-0000-4000-8000-0000000000ff"].Members.Has("c0000000-0000-4000-8000-000000000007") {
				t.Fatal("the lag fault let the latest change through at once")
			}
			r.sync(t, s.client) // a lagging change arrives one round late
			r.sync(t, s.client)
			assertMatches(t, r.snap, tn.State())
		})
	}
}

func TestCloudManaged(t *testing.T) {
	s := startSim(t, testTenant(), graphsim.Faults{})
	if v, err := s.client.CloudManaged(context.Background(), groupSec); err != nil || v {
		t.Fatalf("before: %v %v", v, err)
	}
	if err := s.inst.Server.Tenant().SetCloudManaged(groupSec, true); err != nil {
		t.Fatal(err)
	}
	if v, err := s.client.CloudManaged(context.Background(), groupSec); err != nil || !v {
		t.Fatalf("after the switch: %v %v", v, err)
	}
}
