package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/graphsim"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// faultAfter is a directory writer that does something to the DC after n
// operations, in the middle of a cycle.
type faultAfter struct {
	gate.Target
	n     int
	fault func()
}

func (f *faultAfter) Write(ctx context.Context, a *gate.Approved) error {
	if f.n == 0 {
		f.fault()
	}
	f.n--
	return f.Target.Write(ctx, a)
}

// TestDCLostMidCycle: a DC that restarts in the middle of a cycle costs
// nothing (directory.Client connects again and goes on:
// internal/directory's TestRestartMidWrites); a DC that stays gone stops
// the cycle with one error naming it, the work left stays pending, and
// the next cycle, the DC back, ends in the same state.
func TestDCLostMidCycle(t *testing.T) {
	ad := openDir(t, directorytest.Options{})
	tf := baseTenant(t, ad, 3)
	securityGroups(tf, 1060, 8)
	e := newEnvOn(t, ad, tf, nil)

	restart := &faultAfter{Target: e.dir, n: 3, fault: func() { ad.Faults.Stop(t); ad.Faults.Start(t) }}
	res, err := engine.New(e.cloud, e.dir, restart, e.store, e.cfg, nil).Run(context.Background(), engine.RunOptions{})
	if err != nil || res.Counts.Created != 8 || len(res.Failures) != 0 {
		t.Fatalf("cycle across a DC restart: %v, %+v, %+v", err, res.Counts, res.Failures)
	}

	for i := range 8 {
		if err := e.tenant.UpdateGroup(groupID(1060+i), map[string]any{"description": "changed"}); err != nil {
			t.Fatal(err)
		}
	}
	gone := &faultAfter{Target: e.dir, n: 2, fault: func() { ad.Faults.Stop(t) }}
	res, err = engine.New(e.cloud, e.dir, gone, e.store, e.cfg, nil).Run(context.Background(), engine.RunOptions{})
	var unavailable *directory.UnavailableError
	if !errors.As(err, &unavailable) || !strings.Contains(err.Error(), "stay pending for the next cycle") {
		t.Fatalf("err = %v, want the DC named as unreachable", err)
	}
	if res.Counts.Updated != 2 || res.Counts.Failed != 0 {
		t.Fatalf("counts %+v; not in step: %+v", res.Counts, res.Failures)
	}
	pending, _ := e.store.Statuses(context.Background(), state.Pending)
	if len(pending) != 6 {
		t.Fatalf("%d groups pending, want 6", len(pending))
	}
	runs, _ := e.store.Runs(context.Background(), 1)
	if runs[0].Outcome != state.OutcomeFailed {
		t.Fatalf("run recorded as %q", runs[0].Outcome)
	}

	ad.Faults.Start(t)
	res, err = e.eng.Run(context.Background(), engine.RunOptions{})
	if err != nil || res.Counts.Updated != 6 || len(res.Failures) != 0 {
		t.Fatalf("after the DC came back: %v, %+v, %+v", err, res.Counts, res.Failures)
	}
	for i := range 8 {
		if g := e.group(groupID(1060 + i)); g == nil || attr(g, "description") != "changed" {
			t.Fatalf("group %d not in step", i)
		}
	}
	if _, w := e.sync(engine.RunOptions{Full: true}); w != 0 {
		t.Fatalf("then %d writes", w)
	}
}

// TestGraphFaultProfiles: under each fault profile Graph is known to show
// (alone and all at once), a first sync and a delta sync after changes in
// the cloud end with AD exactly in step: a full sync without faults then
// has nothing to do.
func TestGraphFaultProfiles(t *testing.T) {
	profiles := []struct {
		name   string
		faults graphsim.Faults
	}{
		{"tiny pages", graphsim.Faults{PageSize: 1, MembersPerItem: 1}},
		{"429 every 3rd request", graphsim.Faults{PageSize: 4, ThrottleEvery: 3, RetryAfterSeconds: 1}},
		{"503 every 4th request", graphsim.Faults{PageSize: 4, UnavailableEvery: 4, RetryAfterSeconds: 1}},
		{"504 every 5th request", graphsim.Faults{PageSize: 4, GatewayTimeoutEvery: 5}},
		{"dropped connections", graphsim.Faults{PageSize: 4, DropEvery: 4}},
		{"410 on every delta link", graphsim.Faults{PageSize: 4, ResyncEvery: 1}},
		{"replayed changes", graphsim.Faults{PageSize: 4, ReplayEvents: 5}},
		{"3-second tokens", graphsim.Faults{PageSize: 4, TokenLifetime: 3 * time.Second}},
		{"initial removals, interleaved member chunks", graphsim.Faults{PageSize: 2, MembersPerItem: 1, InitialRemovals: true, InterleaveItems: true}},
		{"refused links, reasonless removals", graphsim.Faults{PageSize: 4, RefuseLinkEvery: 1, ExpiredLinkCode: "Directory_ExpiredPageToken", RemovedWithoutReason: true}},
		{"all at once", graphsim.Faults{PageSize: 2, MembersPerItem: 2, ThrottleEvery: 7, RetryAfterSeconds: 1, UnavailableEvery: 11,
			GatewayTimeoutEvery: 13, DropEvery: 9, ResyncEvery: 2, ReplayEvents: 3, TokenLifetime: 3 * time.Second,
			InitialRemovals: true, InterleaveItems: true, RemovedWithoutReason: true}},
	}
	var converged atomic.Int32
	// The profiles run side by side, each on a directory of its own (the
	// writes are counted by directory): most of their time is Graph's
	// Retry-After and token lifetimes.
	t.Run("profiles", func(t *testing.T) {
		for i, p := range profiles {
			t.Run(p.name, func(t *testing.T) {
				t.Parallel()
				ad := openDir(t, directorytest.Options{})
				tf := baseTenant(t, ad, 6)
				securityGroups(tf, 1100+20*i, 5)
				e := newEnvOn(t, ad, tf, nil)
				e.sim.Server.SetFaults(p.faults)
				if res, _ := e.sync(engine.RunOptions{}); res.Counts.Created != 5 || len(res.Failures) != 0 {
					t.Fatalf("first sync: %+v %+v", res.Counts, res.Failures)
				}
				if err := e.tenant.UpdateGroup(groupID(1100+20*i), map[string]any{"displayName": "Renamed under faults"}); err != nil {
					t.Fatal(err)
				}
				if err := e.tenant.AddMember(groupID(1101+20*i), userID(5)); err != nil {
					t.Fatal(err)
				}
				if err := e.tenant.DeleteGroup(groupID(1104 + 20*i)); err != nil {
					t.Fatal(err)
				}
				_ = e.tenant.PurgeDeleted(groupID(1104 + 20*i))
				e.sim.Server.ExpireTokens()
				if res, _ := e.sync(engine.RunOptions{}); len(res.Failures) != 0 || res.Counts.Deleted != 1 {
					t.Fatalf("delta sync: %+v %+v", res.Counts, res.Failures)
				}
				e.sim.Server.SetFaults(graphsim.Faults{})
				if res, w := e.sync(engine.RunOptions{Full: true}); w != 0 || len(res.Drift) != 0 {
					t.Fatalf("after the faults, a full sync made %d writes (drift %v): AD was not in step", w, res.Drift)
				}
				if g := e.group(groupID(1100 + 20*i)); g == nil || attr(g, "displayName") != "Renamed under faults" {
					t.Fatal("the rename did not arrive")
				}
				converged.Add(1)
			})
		}
	})
	t.Logf("Graph fault profiles: %d of %d converged", converged.Load(), len(profiles))
}

// TestDCHangsMidCycle: a DC that stops answering for a moment in the
// middle of a cycle costs a wait, and the cycle ends in step (a DC frozen
// past directory.Client's timeout costs a reconnect: internal/directory's
// TestFrozenPastTheTimeout).
func TestDCHangsMidCycle(t *testing.T) {
	ad := openDir(t, directorytest.Options{})
	tf := baseTenant(t, ad, 3)
	securityGroups(tf, 1300, 6)
	e := newEnvOn(t, ad, tf, nil)
	hang := &faultAfter{Target: e.dir, n: 2, fault: func() {
		ad.Faults.Freeze()
		time.AfterFunc(time.Second, ad.Faults.Thaw)
	}}
	start := time.Now()
	res, err := engine.New(e.cloud, e.dir, hang, e.store, e.cfg, nil).Run(context.Background(), engine.RunOptions{})
	if err != nil || res.Counts.Created != 6 || len(res.Failures) != 0 {
		t.Fatalf("hung 1 s: %v %+v %+v", err, res.Counts, res.Failures)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("the cycle took %v: it did not wait for the hung DC", waited)
	}
	if _, w := e.sync(engine.RunOptions{Full: true}); w != 0 {
		t.Fatalf("then %d writes", w)
	}
}

// TestRemovedWithoutReason: Graph's @removed "might" carry a reason; with
// none, a soft-deleted group is kept (on_soft_delete: keep) because deleted
// items say it is restorable, and a group deleted for good is deleted.
func TestRemovedWithoutReason(t *testing.T) {
	opts := directorytest.Options{Exchange: true, Anchor: true}
	ad := openDir(t, opts)
	tf := baseTenant(t, ad, 2)
	m365 := groupID(1420)
	tf.Groups = []map[string]any{{"id": m365, "displayName": "Soft", "mailEnabled": true, "mailNickname": "soft1420",
		"securityEnabled": false, "groupTypes": []any{"Unified"}, "members": []any{userID(0)}}}
	securityGroups(tf, 1421, 1)
	sec := groupID(1421)
	e := newEnvOn(t, ad, tf, nil)
	e.sync(engine.RunOptions{})
	e.sim.Server.SetFaults(graphsim.Faults{PageSize: 50, RemovedWithoutReason: true})
	for _, id := range []string{m365, sec} {
		if err := e.tenant.DeleteGroup(id); err != nil {
			t.Fatal(err)
		}
	}
	_ = e.tenant.PurgeDeleted(sec) // the security group is gone for good
	res, _ := e.sync(engine.RunOptions{})
	if e.group(m365) == nil {
		t.Fatalf("a soft-deleted group, reported without a reason, was deleted: %+v", kept(res))
	}
	if e.group(sec) != nil || res.Counts.Deleted != 1 {
		t.Fatalf("a group deleted for good stays: %+v", res.Counts)
	}
	if err := e.tenant.PurgeDeleted(m365); err != nil {
		t.Fatal(err)
	}
	if res, _ := e.sync(engine.RunOptions{}); e.group(m365) != nil || res.Counts.Deleted != 1 {
		t.Fatalf("after the purge: %+v", res.Counts)
	}
}

// TestSoftDeletedUsersStayMembers: a soft-deleted user keeps its group
// memberships in Graph, and no group delta item says anything of it: its
// AD account stays a member. Deleted for good, it leaves the group, though
// Graph sends no group delta item for that either. With @removed carrying
// no reason, deleted items decide which it is.
func TestSoftDeletedUsersStayMembers(t *testing.T) {
	for _, noReason := range []bool{false, true} {
		t.Run(fmt.Sprintf("reasons omitted %v", noReason), func(t *testing.T) {
			ad := openDir(t, directorytest.Options{})
			tf := baseTenant(t, ad, 3)
			base := 1440
			if noReason {
				base = 1450
			}
			securityGroups(tf, base, 1)
			gid := groupID(base)
			e := newEnvOn(t, ad, tf, nil)
			e.sim.Server.SetFaults(graphsim.Faults{PageSize: 50, RemovedWithoutReason: noReason})
			e.sync(engine.RunOptions{})
			if err := e.tenant.AddMember(gid, userID(1)); err != nil {
				t.Fatal(err)
			}
			e.sync(engine.RunOptions{})
			if n := len(members(e.group(gid))); n != 2 {
				t.Fatalf("%d members before", n)
			}
			if err := e.tenant.DeleteUser(userID(1)); err != nil {
				t.Fatal(err)
			}
			e.sync(engine.RunOptions{})
			if n := len(members(e.group(gid))); n != 2 {
				t.Fatalf("a soft-deleted user was dropped: %d members", n)
			}
			if err := e.tenant.PurgeDeleted(userID(1)); err != nil {
				t.Fatal(err)
			}
			res, _ := e.sync(engine.RunOptions{})
			if n := len(members(e.group(gid))); n != 1 || len(res.Failures) != 0 {
				t.Fatalf("a user deleted for good stays a member: %d members, %+v", n, res.Failures)
			}
		})
	}
}
