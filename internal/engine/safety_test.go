package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/graphsim"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

const otherTenant = "0b8d2f6a-9e1c-4d3b-8a7f-5c2e1d0f9a8b"

// securityGroups adds n cloud security groups, writeback on, ids from base.
func securityGroups(tf *graphsim.TenantFile, base, n int) {
	for i := range n {
		tf.Groups = append(tf.Groups, map[string]any{"id": groupID(base + i), "displayName": fmt.Sprintf("Team %d", i), "mailEnabled": false,
			"mailNickname": fmt.Sprintf("team%d", i), "securityEnabled": true, "writebackConfiguration": map[string]any{"isEnabled": true},
			"members": []any{userID(i % 3)}})
	}
}

// syncedTeams is an env whose tenant has n security
// groups (ids from base, members among 3 users), written back once.
func syncedTeams(t *testing.T, base, n int) *env {
	t.Helper()
	ad := openDir(t, directorytest.Options{})
	tf := baseTenant(t, ad, 3)
	securityGroups(tf, base, n)
	e := newEnvOn(t, ad, tf, nil)
	e.sync(engine.RunOptions{})
	return e
}

// TestStateFileOfAnotherTenant: a state file made for tenant A, used with
// a configuration for tenant B, is refused before anything is read; with
// a new state file, tenant B's first sync deletes none of A's groups: the
// percentage threshold holds back a run that would delete most of them.
func TestStateFileOfAnotherTenant(t *testing.T) {
	ad := openDir(t, directorytest.Options{})
	tf := baseTenant(t, ad, 3)
	securityGroups(tf, 1000, 6)
	e := newEnvOn(t, ad, tf, func(c *engine.Config) { c.DeleteThresholdPercent = 50 })
	if res, _ := e.sync(engine.RunOptions{}); res.Counts.Created != 6 {
		t.Fatalf("created %d", res.Counts.Created)
	}

	tfB := baseTenant(t, ad, 3)
	tfB.TenantID = otherTenant
	_, cloudB := startCloud(t, tfB)
	cfgB := e.cfg
	cfgB.TenantID = otherTenant
	before := e.writes()
	_, err := engine.New(cloudB, e.dir, e.dir, e.store, cfgB, nil).Run(context.Background(), engine.RunOptions{})
	var mismatch *engine.StateMismatchError
	if !errors.Is(err, engine.ErrStateMismatch) || !errors.As(err, &mismatch) ||
		!strings.Contains(err.Error(), tenantID) || !strings.Contains(err.Error(), otherTenant) || !strings.Contains(err.Error(), "cloud.tenant_id") {
		t.Fatalf("err = %v, want a state mismatch naming both tenants", err)
	}
	// Another target OU is refused the same way.
	cfgOU := e.cfg
	cfgOU.TargetOU = ad.NewOU(t, "elsewhere")
	if _, err := engine.New(e.cloud, e.dir, e.dir, e.store, cfgOU, nil).Run(context.Background(), engine.RunOptions{}); !errors.Is(err, engine.ErrStateMismatch) ||
		!strings.Contains(err.Error(), "writeback.target_ou") {
		t.Fatalf("other OU: err = %v", err)
	}

	// A new state file for tenant B: the first (full) sync would delete
	// all six of A's groups; it deletes none and says so.
	e.resetStore()
	res, err := engine.New(cloudB, e.dir, e.dir, e.store, cfgB, nil).Run(context.Background(), engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Counts.Deleted != 0 || len(res.Plan.HeldBack) != 6 || !slices.ContainsFunc(res.Plan.Problems, func(p reconcile.Problem) bool {
		return errors.Is(p.Err, reconcile.ErrThresholdExceeded) && strings.Contains(p.Message, "threshold of 3")
	}) {
		t.Fatalf("deleted %d, held back %d, problems %+v", res.Counts.Deleted, len(res.Plan.HeldBack), res.Plan.Problems)
	}
	for i := range 6 {
		if e.group(groupID(1000+i)) == nil {
			t.Fatalf("tenant A's group %d was deleted", i)
		}
	}
	// Each held-back group is reported by the name and DN of its AD copy
	// (its cloud group is gone, so it has no other name).
	held := 0
	for _, f := range res.Failures {
		if strings.Contains(f.Message, "held back by the delete threshold") {
			held++
			if f.Name == "" || f.DN == "" || !strings.HasPrefix(f.DN, "CN="+f.Name) {
				t.Errorf("held-back group reported as %+v", f)
			}
		}
	}
	if held != 6 {
		t.Errorf("%d held-back groups reported, want 6: %+v", held, res.Failures)
	}
	if w := e.writes() - before; w != 0 {
		t.Fatalf("%d writes", w)
	}
}

// TestDangerousTargetOU: the domain root, built-in containers, Domain
// Controllers and objects that are no OU are refused before any read, and
// a group there that carries another tool's anchor is left alone.
func TestDangerousTargetOU(t *testing.T) {
	ad := openDir(t, directorytest.Options{})
	tf := baseTenant(t, ad, 1)
	e := newEnvOn(t, ad, tf, nil)
	// Another tool's written-back group in CN=Users.
	foreign := "CN=Foreign writeback,CN=Users," + ad.BaseDN
	ad.Add(t, foreign, map[string][]string{"objectClass": {"top", "group"}, "sAMAccountName": {"foreign-wb"},
		"adminDescription": {"Group_" + groupID(777)}})
	group := e.ou
	for _, target := range []string{ad.BaseDN, "CN=Users," + ad.BaseDN, "CN=Computers," + ad.BaseDN,
		"CN=Builtin," + ad.BaseDN, "CN=System," + ad.BaseDN, "OU=Domain Controllers," + ad.BaseDN, "CN=Administrator,CN=Users," + ad.BaseDN} {
		t.Run(target, func(t *testing.T) {
			cfg := e.cfg
			cfg.TargetOU = target
			e.resetStore()
			_, err := engine.New(e.cloud, e.dir, e.dir, e.store, cfg, nil).Run(context.Background(), engine.RunOptions{Full: true})
			if !errors.Is(err, directory.ErrUnsafeContainer) || !strings.Contains(err.Error(), "writeback.target_ou") {
				t.Fatalf("err = %v, want an unsafe target refused", err)
			}
		})
	}
	if _, err := e.dir.Lookup(context.Background(), reconcile.ByDN, ad.BaseDN, []string{foreign}); err != nil {
		t.Fatal(err)
	}
	if ad.Read(t, foreign) == nil {
		t.Fatal("the foreign group was deleted")
	}
	// The OU itself is fine, and so is the deep check of it.
	if err := e.dir.CheckContainer(context.Background(), group, true); err != nil {
		t.Fatal(err)
	}
}

// panicAfter is a DirectoryWriter whose process "dies" (panics, recovered
// by the test) after n operations: nothing after that point runs, as with
// kill -9.
type panicAfter struct {
	gate.Target
	n int
}

type killed struct{}

// runKilledAfter runs a cycle on e that is killed after its nth write.
func runKilledAfter(t *testing.T, e *env, n int) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil && r != (killed{}) {
			panic(r)
		}
	}()
	engine.New(e.cloud, e.dir, &panicAfter{Target: e.dir, n: n}, e.store, e.cfg, nil).Run(context.Background(), engine.RunOptions{})
	t.Fatal("the run was not killed")
}

func (p *panicAfter) Write(ctx context.Context, a *gate.Approved) error {
	if p.n == 0 {
		panic(killed{})
	}
	p.n--
	return p.Target.Write(ctx, a)
}

// TestKilledDuringDeletes: a run killed in the middle of its deletes leaves
// nothing pending for ever: the next run finishes the deletes, settles the
// groups gone from both sides, and marks the killed run as died.
func TestKilledDuringDeletes(t *testing.T) {
	e := syncedTeams(t, 1020, 4)
	for i := range 4 {
		if err := e.tenant.DeleteGroup(groupID(1020 + i)); err != nil {
			t.Fatal(err)
		}
		_ = e.tenant.PurgeDeleted(groupID(1020 + i)) // deleted for good (graphsim hard-deletes security groups already)
	}
	runKilledAfter(t, e, 2)
	left := 0
	for i := range 4 {
		if e.group(groupID(1020+i)) != nil {
			left++
		}
	}
	if left != 2 {
		t.Fatalf("%d groups left after the kill, want 2", left)
	}
	res, _ := e.sync(engine.RunOptions{})
	if res.Counts.Deleted != 2 || len(res.Failures) != 0 {
		t.Fatalf("after the kill: %+v, not in step %+v", res.Counts, res.Failures)
	}
	pending, _ := e.store.Statuses(context.Background(), state.Pending, state.Failed)
	if len(pending) != 0 {
		t.Fatalf("still pending: %+v", pending)
	}
	runs, _ := e.store.Runs(context.Background(), 3)
	if runs[1].Outcome != state.OutcomeDied || runs[0].Outcome != "ok" {
		t.Fatalf("runs: %+v", runs)
	}
	if res, _ := e.sync(engine.RunOptions{Full: true}); len(res.Failures) != 0 {
		t.Fatalf("a full sync after: %+v", res.Failures)
	}
}
