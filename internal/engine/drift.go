package engine

import (
	"crypto/sha256"
	"encoding/json"
	"iter"
	"sort"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
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
		b, _ := json.Marshal(v) // the snapshot's plain structs: cannot fail
		out[id] = sha256.Sum256(b)
	}
	return out
}

func changed[T any](before map[string][32]byte, id string, v *T) bool {
	b, _ := json.Marshal(v) // as above
	old, ok := before[id]
	return !ok || old != sha256.Sum256(b)
}

// drift lists the groups a full reconcile writes to (ops: the plan's
// operations) although nothing changed for them in the cloud (the group,
// or one of its member users): their AD copies were edited by hand.
func drift(ops iter.Seq[reconcile.Op], before prints, snap *cloud.Snapshot, restored []string) []string {
	seen := map[string]bool{}
	for _, id := range restored {
		seen[id] = true // the tool's own quarantine undone, not a hand's edit
	}
	var out []string
	for op := range ops {
		if seen[op.CloudID] || op.Creates() || op.Action == reconcile.Delete || op.Action == reconcile.Move {
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
		for m := range g.Members.All() {
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

// restored lists the groups the plan brings back out of the quarantine OU:
// the tool put them there (a cloud delete, a scope change, disable), so
// their move back and the members they get again are the tool's own work
// undone, not drift.
func restored(ops iter.Seq[reconcile.Op], quarantineOU string) []string {
	if quarantineOU == "" {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for op := range ops {
		if op.Action == reconcile.Move && !seen[op.CloudID] && policy.Within(op.DN, quarantineOU) && !op.Quarantines(quarantineOU) {
			seen[op.CloudID] = true
			out = append(out, op.CloudID)
		}
	}
	sort.Strings(out)
	return out
}
