package engine

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/store"
)

// prints are hashes of every group and user of a snapshot, to tell after a
// read which changed in the cloud (a full read reports all of them).
type prints struct {
	groups, users map[string][32]byte
}

func fingerprints(snap *cloud.Snapshot) prints {
	return prints{groups: hashAll(snap.Groups), users: hashAll(snap.Users)}
}

func hashAll[T any](m map[string]*T) map[string][32]byte {
	out := make(map[string][32]byte, len(m))
	for id, v := range m {
		b, _ := json.Marshal(v)
		out[id] = sha256.Sum256(b)
	}
	return out
}

func changed[T any](before map[string][32]byte, id string, v *T) bool {
	b, _ := json.Marshal(v)
	old, ok := before[id]
	return !ok || old != sha256.Sum256(b)
}

// drift lists the groups a full reconcile changes although nothing changed
// for them in the cloud (the group, or one of its member users): their AD
// copies were edited by hand.
func drift(plan reconcile.Plan, before prints, snap *cloud.Snapshot) []string {
	seen := map[string]bool{}
	var out []string
	for _, op := range plan.Ops {
		if seen[op.CloudID] || op.Action == reconcile.Create || op.Action == reconcile.Delete || op.Action == reconcile.Move {
			continue
		}
		seen[op.CloudID] = true
		g := snap.Groups[op.CloudID]
		if g == nil {
			continue
		}
		if changed(before.groups, op.CloudID, g) {
			continue // the cloud group changed
		}
		memberChanged := false
		for m := range g.Members {
			if u := snap.Users[m]; u != nil && changed(before.users, m, u) {
				memberChanged = true
			}
		}
		if !memberChanged {
			out = append(out, op.CloudID)
		}
	}
	sort.Strings(out)
	return out
}

// Disable plans (and unless o.DryRun, applies) what turning writeback off
// does to the groups written back: each meets the writeback.on_disable fate,
// behind the delete threshold. The caller records the disabled state first.
func (e *Engine) Disable(ctx context.Context, o RunOptions) (*Result, error) {
	res := &Result{Mode: "disable", Counts: Counts{MembersNotWritten: map[string]int{}}}
	fate := e.cfg.Fates.Disable
	if fate == "" {
		fate = reconcile.DeleteIt
	}
	e.cfg.Policy.Exchange = e.cfg.Schema.Exchange
	e.cfg.Policy.AnchorAttribute = e.cfg.Schema.AnchorAttribute
	managed := e.managed()
	actual, err := e.reader.OwnedGroups(ctx, e.cfg.BaseDN, managed)
	if err != nil {
		return nil, fmt.Errorf("engine: read groups from AD: %w", err)
	}
	undesired := map[string]reconcile.Disposition{}
	for _, a := range actual {
		if id := cloudID(a); id != "" {
			undesired[id] = reconcile.Disposition{Fate: fate, Reason: "writeback is disabled"}
		}
	}
	res.Plan = reconcile.Make(nil, actual, undesired, e.reconcileOptions(managed, o))
	if o.DryRun {
		return res, nil
	}
	runID, err := e.store.StartRun(ctx, "disable")
	if err != nil {
		return nil, err
	}
	failed := e.apply(ctx, res.Plan.Ops, res)
	var sts []store.GroupStatus
	for id := range undesired {
		st := store.GroupStatus{CloudID: id, State: store.StateOutOfScope, Message: "writeback is disabled (" + string(fate) + ")"}
		if err := failed[id]; err != nil {
			st.State, st.Message = store.StateFailed, err.Error()
		}
		sts = append(sts, st)
	}
	if err := e.store.SetStatus(context.WithoutCancel(ctx), sts); err != nil {
		return nil, err
	}
	for _, p := range res.Plan.Problems {
		res.Failures = append(res.Failures, Failure{CloudID: p.CloudID, DN: p.DN, State: store.StateFailed, Message: p.Message})
	}
	outcome := "ok"
	if len(failed) > 0 || len(res.Plan.Problems) > 0 {
		outcome = "partial"
	}
	return res, e.store.FinishRun(context.WithoutCancel(ctx), runID, outcome, res.Counts)
}
