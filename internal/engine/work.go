package engine

import (
	"context"
	"fmt"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// The cloud side of a cycle: which groups a delta cycle works on, and
// whether a group Graph no longer lists is gone for good.

// checkGone asks Graph about each owned AD group whose cloud group the
// snapshot does not know. A group in deleted items was soft-deleted (an
// initial delta round leaves those out) and is kept; only a group Graph no
// longer has at all is left for reconcile to delete.
func (e *Engine) checkGone(ctx context.Context, snap *cloud.Snapshot, actual []reconcile.ADGroup, undesired map[string]reconcile.Disposition) error {
	for _, a := range actual {
		id := policy.CloudIDFromAnchor(a.Anchor)
		if id == "" || snap.Groups[id] != nil || !e.ownsPlace(a.DN) {
			continue
		}
		if _, known := undesired[id]; known {
			continue
		}
		soft, err := e.cloud.IsSoftDeleted(ctx, id)
		if err != nil {
			return fmt.Errorf("engine: ask Graph whether group %s was deleted: %w", id, err)
		}
		if soft {
			undesired[id] = reconcile.Disposition{Fate: orKeep(e.cfg.Fates.SoftDelete), Reason: "soft-deleted in the cloud"}
		} else {
			hard := e.cfg.Fates.HardDelete
			if hard == "" {
				hard = reconcile.DeleteIt
			}
			undesired[id] = reconcile.Disposition{Fate: hard, Reason: "deleted in the cloud"}
		}
	}
	return nil
}

// confirmRemovedUsers asks deleted items about each user Graph reported
// removed without saying how: a soft-deleted user keeps its memberships,
// one deleted for good leaves them.
func (e *Engine) confirmRemovedUsers(ctx context.Context, snap *cloud.Snapshot, changes []cloud.UserDelta) error {
	for _, d := range changes {
		if d.Removed != cloud.RemovedUnknown || snap.Users[d.ID] == nil {
			continue
		}
		soft, err := e.cloud.IsSoftDeleted(ctx, d.ID)
		if err != nil {
			return fmt.Errorf("engine: ask Graph whether user %s was deleted: %w", d.ID, err)
		}
		if soft {
			snap.Users[d.ID].Removed = cloud.SoftDeleted
		} else {
			delete(snap.Users, d.ID)
		}
	}
	return nil
}

// dirtyGroups lists the groups a delta cycle works on: those Graph reports
// changed, those with a changed member, and those left pending or failed
// (left);
// otherwise are those dirty for a reason besides their own change.
func dirtyGroups(snap *cloud.Snapshot, gr *cloud.GroupRound, ur *cloud.UserRound, left []state.GroupStatus) (dirty, otherwise map[string]bool) {
	dirty, otherwise = map[string]bool{}, map[string]bool{}
	changed := map[string]bool{}
	for _, d := range gr.Changes {
		dirty[d.ID] = true
		changed[d.ID] = true
	}
	for _, d := range ur.Changes {
		changed[d.ID] = true
	}
	if len(changed) > 0 {
		for id, g := range snap.Groups {
			for m := range g.Members.All() {
				if changed[m] {
					dirty[id], otherwise[id] = true, true
					break
				}
			}
		}
	}
	for _, st := range left {
		dirty[st.CloudID], otherwise[st.CloudID] = true, true
	}
	return dirty, otherwise
}

func nameOf(snap *cloud.Snapshot, id string) string {
	if g := snap.Groups[id]; g != nil {
		return g.DisplayName
	}
	return ""
}

func groupIDs(ds []cloud.GroupDelta) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func userIDs(ds []cloud.UserDelta) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}
