package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

func TestDisable(t *testing.T) {
	for i, fate := range []reconcile.Fate{reconcile.DeleteIt, reconcile.Keep, reconcile.Quarantine} {
		t.Run(string(fate), func(t *testing.T) {
			e, m365, sec := lifecycleEnv(t, 800+10*i, engine.Fates{Disable: fate}, nil)
			_, guid0, _ := e.where(sec)
			ctx := context.Background()
			plan, err := e.eng.PlanDisable(ctx, engine.RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if d, _, _ := e.where(sec); d == "" {
				t.Fatal("the plan changed something")
			}
			wantOps := map[reconcile.Fate]int{reconcile.DeleteIt: 2, reconcile.Keep: 0, reconcile.Quarantine: 4}[fate]
			if len(plan.Result.Plan.Ops) != wantOps {
				t.Fatalf("plan: %d ops, want %d: %+v", len(plan.Result.Plan.Ops), wantOps, plan.Result.Plan.Ops)
			}
			res, err := e.eng.Disable(ctx, plan)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{m365, sec} {
				dn, guid, members := e.where(id)
				switch fate {
				case reconcile.DeleteIt:
					if dn != "" || res.Counts.Deleted != 2 {
						t.Fatalf("%s still at %q", id, dn)
					}
				case reconcile.Keep:
					if dn == "" || members == 0 || res.Writes != 0 {
						t.Fatalf("%s not kept: %q, %d members, %d writes", id, dn, members, res.Writes)
					}
				case reconcile.Quarantine:
					if !strings.HasSuffix(dn, ","+e.cfg.QuarantineOU) || members != 0 || (id == sec && guid != guid0) {
						t.Fatalf("%s not quarantined: %q, %d members", id, dn, members)
					}
				}
			}
			// Disabled: a cycle writes nothing, and says so.
			if _, err := e.eng.Run(ctx, engine.RunOptions{}); !errors.Is(err, engine.ErrDisabled) {
				t.Fatalf("sync while disabled: %v", err)
			}
			if fate != reconcile.Quarantine {
				return
			}
			// Enabled again: the preview shows what the first cycle does
			// (the quarantined groups come back), and that cycle does
			// just that, calling it a restore, not drift (issue 24).
			preview, err := e.eng.PlanEnable(ctx, engine.EnableOptions{WithoutExchange: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.eng.Enable(ctx, engine.EnableOptions{WithoutExchange: true}); err != nil {
				t.Fatal(err)
			}
			res, _ = e.sync(engine.RunOptions{Full: true}) // as the daily full cycle would, which tells drift
			if len(preview.Plan.Ops) == 0 || len(preview.Plan.Ops) != len(kept(res)) || len(preview.Restored) != 2 {
				t.Fatalf("the preview planned %d operations (restores %v); the cycle did %d", len(preview.Plan.Ops), preview.Restored, len(kept(res)))
			}
			for i, op := range kept(res) {
				if p := preview.Plan.Ops[i]; p.Action != op.Action || p.DN != op.DN {
					t.Errorf("operation %d: previewed %s %s, done %s %s", i, p.Action, p.DN, op.Action, op.DN)
				}
			}
			if len(res.Drift) != 0 || len(res.Restored) != 2 || res.Counts.Restored != 2 {
				t.Fatalf("after enable: drift %v, restored %v", res.Drift, res.Restored)
			}
			dn, guid, members := e.where(sec)
			if !strings.HasSuffix(dn, ","+e.ou) || guid != guid0 || members != 1 {
				t.Fatalf("after re-enable: %q, same object %v, %d members", dn, guid == guid0, members)
			}
		})
	}
}

func TestDisableBehindThreshold(t *testing.T) {
	e, _, sec := lifecycleEnv(t, 850, engine.Fates{Disable: reconcile.DeleteIt}, func(c *engine.Config) { c.DeleteThreshold = 1 })
	res, err := disable(t, e.eng, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	said := false
	for _, f := range res.Failures {
		said = said || strings.Contains(f.Message, "run disable --allow-deletes 2")
	}
	if d, _, _ := e.where(sec); d == "" || res.Counts.Deleted != 0 || !said {
		t.Fatalf("disable over the threshold: %+v %+v", res.Counts, res.Failures)
	}
	if res, _ = disable(t, e.eng, engine.RunOptions{AllowDeletes: 2}); res.Counts.Deleted != 2 {
		t.Fatalf("allowed through: %+v", res.Counts)
	}
}

// disable is the CLI's disable with --yes: plan, then Disable.
func disable(t testing.TB, eng *engine.Engine, o engine.RunOptions) (*engine.Result, error) {
	t.Helper()
	p, err := eng.PlanDisable(context.Background(), o)
	if err != nil {
		return nil, err
	}
	return eng.Disable(context.Background(), p)
}
