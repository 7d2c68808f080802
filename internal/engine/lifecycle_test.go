package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// lifecycleEnv writes one Microsoft 365 group (without mail attributes, on
// the plain DC) and one security group, with the given fates.
func lifecycleEnv(t *testing.T, base int, fates engine.Fates, adjust func(*engine.Config)) (*env, string, string) {
	t.Helper()
	ad := openDir(t, directorytest.Options{})
	tf := baseTenant(t, ad, 3)
	m365, sec := groupID(base), groupID(base+1)
	tf.Groups = []map[string]any{
		{"id": m365, "displayName": "Team", "mailEnabled": true, "mailNickname": fmt.Sprintf("team%d", base), "securityEnabled": false,
			"groupTypes": []any{"Unified"}, "members": []any{userID(0), userID(1)}},
		{"id": sec, "displayName": "Access", "mailEnabled": false, "mailNickname": fmt.Sprintf("access%d", base), "securityEnabled": true,
			"writebackConfiguration": map[string]any{"isEnabled": true}, "members": []any{userID(2)}},
	}
	var qou string
	e := newEnvOn(t, ad, tf, func(c *engine.Config) {
		qou = ad.NewOU(t, "quarantine")
		c.QuarantineOU = qou
		c.Fates = fates
		c.Policy.Scope.ExcludeNames = []string{"Retired *"}
		if adjust != nil {
			adjust(c)
		}
	})
	if err := e.store.SetEnablement(context.Background(), state.Enablement{Enabled: true, WithoutExchange: true}); err != nil {
		t.Fatal(err)
	}
	if res, _ := e.sync(engine.RunOptions{}); res.Counts.Created != 2 {
		t.Fatalf("setup: %+v %+v", res.Counts, res.Failures)
	}
	return e, m365, sec
}

func TestDeletePaths(t *testing.T) {
	type event struct {
		name  string
		group func(m365, sec string) string
		do    func(*env, string) error
		fate  func(f *engine.Fates, v reconcile.Fate)
		def   reconcile.Fate
	}
	events := []event{
		{"soft delete", func(m, _ string) string { return m }, func(e *env, id string) error { return e.tenant.DeleteGroup(id) },
			func(f *engine.Fates, v reconcile.Fate) { f.SoftDelete = v }, reconcile.Keep},
		{"hard delete", func(m, _ string) string { return m }, func(e *env, id string) error {
			if err := e.tenant.DeleteGroup(id); err != nil {
				return err
			}
			return e.tenant.PurgeDeleted(id)
		}, func(f *engine.Fates, v reconcile.Fate) { f.HardDelete = v }, reconcile.DeleteIt},
		// Graph soft-deletes security groups too: the same policies hold.
		{"soft delete of a security group", func(_, s string) string { return s }, func(e *env, id string) error { return e.tenant.DeleteGroup(id) },
			func(f *engine.Fates, v reconcile.Fate) { f.SoftDelete = v }, reconcile.Keep},
		{"hard delete of a security group", func(_, s string) string { return s }, func(e *env, id string) error {
			if err := e.tenant.DeleteGroup(id); err != nil {
				return err
			}
			return e.tenant.PurgeDeleted(id)
		}, func(f *engine.Fates, v reconcile.Fate) { f.HardDelete = v }, reconcile.DeleteIt},
		{"writeback turned off", func(_, s string) string { return s }, func(e *env, id string) error {
			return e.tenant.UpdateGroup(id, map[string]any{"writebackConfiguration": map[string]any{"isEnabled": false}})
		}, func(f *engine.Fates, v reconcile.Fate) { f.WritebackOff = v }, reconcile.Keep},
		{"out of configured scope", func(_, s string) string { return s }, func(e *env, id string) error {
			return e.tenant.UpdateGroup(id, map[string]any{"displayName": "Retired access"})
		}, func(f *engine.Fates, v reconcile.Fate) { f.OutOfScope = v }, reconcile.Keep},
	}
	base := 400
	for _, ev := range events {
		for _, fate := range []reconcile.Fate{"", reconcile.Keep, reconcile.DeleteIt, reconcile.Quarantine} {
			name := string(fate)
			if fate == "" {
				name = "default (" + string(ev.def) + ")"
			}
			base += 2
			b := base
			t.Run(ev.name+"/"+name, func(t *testing.T) {
				var fates engine.Fates
				ev.fate(&fates, fate)
				e, m365, sec := lifecycleEnv(t, b, fates, nil)
				id := ev.group(m365, sec)
				dn0, guid0, _ := e.where(id)
				if err := ev.do(e, id); err != nil {
					t.Fatal(err)
				}
				res, _ := e.sync(engine.RunOptions{})
				want := fate
				if want == "" {
					want = ev.def
				}
				dn, guid, members := e.where(id)
				switch want {
				case reconcile.Keep:
					if dn != dn0 || members == 0 {
						t.Fatalf("kept group: %s (was %s), %d members", dn, dn0, members)
					}
				case reconcile.DeleteIt:
					if dn != "" || res.Counts.Deleted != 1 {
						t.Fatalf("deleted group still at %q; %+v", dn, res.Counts)
					}
				case reconcile.Quarantine:
					if !strings.HasSuffix(strings.ToLower(dn), strings.ToLower(e.cfgQuarantine())) || guid != guid0 || members != 0 || res.Counts.Quarantined != 1 {
						t.Fatalf("quarantined group at %q (guid kept %v), %d members, %+v", dn, guid == guid0, members, res.Counts)
					}
				}
				// The other group is untouched, and a second run is quiet.
				if _, w := e.sync(engine.RunOptions{}); w != 0 {
					t.Fatalf("second run made %d writes", w)
				}
			})
		}
	}
}

func (e *env) cfgQuarantine() string { return e.cfg.QuarantineOU }

func TestRestoreResumesOnTheSameObject(t *testing.T) {
	for i, c := range []struct {
		fate     reconcile.Fate
		security bool
	}{{reconcile.Keep, false}, {reconcile.Quarantine, false}, {reconcile.Keep, true}, {reconcile.Quarantine, true}} {
		t.Run(fmt.Sprintf("%s, security group %v", c.fate, c.security), func(t *testing.T) {
			fate, b := c.fate, 500+10*i
			e, m365, sec := lifecycleEnv(t, b, engine.Fates{SoftDelete: fate}, nil)
			if c.security {
				m365 = sec // the group deleted and restored
			}
			_, guid0, members0 := e.where(m365)
			if err := e.tenant.DeleteGroup(m365); err != nil {
				t.Fatal(err)
			}
			e.sync(engine.RunOptions{})
			if err := e.tenant.Restore(m365); err != nil {
				t.Fatal(err)
			}
			if err := e.tenant.UpdateGroup(m365, map[string]any{"description": "back"}); err != nil {
				t.Fatal(err)
			}
			res, _ := e.sync(engine.RunOptions{})
			dn, guid, members := e.where(m365)
			if guid != guid0 || members != members0 || !strings.HasSuffix(strings.ToLower(dn), strings.ToLower(e.ou)) || attr(e.group(m365), "description") != "back" {
				t.Fatalf("after restore: %s, same object %v, %d members; %+v %+v", dn, guid == guid0, members, res.Counts, kept(res))
			}
		})
	}
}

func TestThreshold(t *testing.T) {
	e, m365, sec := lifecycleEnv(t, 600, engine.Fates{}, func(c *engine.Config) { c.DeleteThreshold = 1 })
	extra := groupID(602)
	if _, err := e.tenant.CreateGroup(map[string]any{"id": extra, "displayName": "Extra", "mailEnabled": false, "mailNickname": "extra600",
		"securityEnabled": true, "writebackConfiguration": map[string]any{"isEnabled": true}}); err != nil {
		t.Fatal(err)
	}
	e.sync(engine.RunOptions{})
	for _, id := range []string{m365, sec} {
		if err := e.tenant.DeleteGroup(id); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{m365, sec} { // security groups are soft-deleted too: purge both
		if err := e.tenant.PurgeDeleted(id); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.tenant.UpdateGroup(extra, map[string]any{"description": "still applied"}); err != nil {
		t.Fatal(err)
	}
	res, _ := e.sync(engine.RunOptions{})
	if d, _, _ := e.where(m365); d == "" || res.Counts.Deleted != 0 {
		t.Fatal("a run over the threshold deleted something")
	}
	var msg string
	for _, p := range res.Plan.Problems {
		if errors.Is(p.Err, reconcile.ErrThresholdExceeded) {
			msg = p.Message
		}
	}
	if !strings.Contains(msg, "would delete or quarantine 2 groups") || !strings.Contains(msg, "sync --allow-deletes 2") {
		t.Fatalf("threshold message %q", msg)
	}
	if attr(e.group(extra), "description") != "still applied" {
		t.Fatal("the rest of the run was not finished")
	}
	if len(res.Failures) == 0 {
		t.Fatal("the held-back deletes are not reported as not in step")
	}
	res, _ = e.sync(engine.RunOptions{AllowDeletes: 2})
	if res.Counts.Deleted != 2 {
		t.Fatalf("allowed through: %+v %+v", res.Counts, res.Plan.Problems)
	}
}
