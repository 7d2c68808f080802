package engine

import (
	"context"
	"fmt"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// placeOriginals finds, for each group written in place (its source of
// authority moved to the cloud), its original AD group by SID, wherever it
// lives, and reads it. A group that is not found, is no group, is a
// critical system object, or is not universal gets a problem naming what
// to do, and is not written.
func (e *Engine) placeOriginals(ctx context.Context, work []policy.Decision) (map[string]*reconcile.ADGroup, error) {
	var sids []string
	for _, d := range work {
		if d.Desired != nil && d.Desired.InPlaceSID != "" {
			sids = append(sids, d.Desired.InPlaceSID)
		}
	}
	out := map[string]*reconcile.ADGroup{}
	if len(sids) == 0 {
		return out, nil
	}
	found, err := e.reader.Lookup(ctx, reconcile.BySID, e.cfg.BaseDN, sids)
	if err != nil {
		return nil, fmt.Errorf("engine: look up original groups by SID: %w", err)
	}
	for i := range work {
		d := &work[i]
		if d.Desired == nil || d.Desired.InPlaceSID == "" {
			continue
		}
		sid := d.Desired.InPlaceSID
		problem := func(format string, args ...any) {
			d.Problem = &policy.Problem{CloudID: d.CloudID, Name: d.Name, Field: "onPremisesSecurityIdentifier", Message: fmt.Sprintf(format, args...)}
			d.Desired = nil
		}
		obj, ok := found[sid]
		switch {
		case !ok:
			problem("no AD object has the SID %s: the original group is gone; written in place, it is not created again", sid)
			continue
		case !obj.IsGroup():
			problem("the AD object with SID %s, %s, is not a group", sid, obj.DN)
			continue
		case obj.Critical:
			problem("the original group %s is a critical system object: never written", obj.DN)
			continue
		case obj.GroupType&0x8 == 0:
			scope := "global"
			if obj.GroupType&0x4 != 0 {
				scope = "domain-local"
			}
			problem("the original group %s is a %s group; a cloud group is written back as a universal one, which may hold members from the whole forest. "+
				"Convert it (Set-ADGroup -Identity '%s' -GroupScope Universal; a global group must not be a member of another global group, "+
				"a domain-local one must not hold another domain-local group), then the next cycle writes it", obj.DN, scope, obj.DN)
			continue
		}
		g, err := e.reader.ReadGroup(ctx, obj.DN, []string{"displayName", "description"})
		if err != nil {
			return nil, fmt.Errorf("engine: read the original group %s: %w", obj.DN, err)
		}
		if g == nil {
			problem("the original group %s could not be read", obj.DN)
			continue
		}
		d.Desired.DN = g.DN
		out[d.CloudID] = g
		e.logger.Debug("written in place", "cloud_id", d.CloudID, "dn", g.DN, "sid", sid)
	}
	return out, nil
}

// readSyncBehavior reads onPremisesSyncBehavior for the groups that were
// synced from AD and no longer are, when Graph changed them in this round
// or it was never read: it tells a source of authority moved to the cloud
// (isCloudManaged) from a group merely taken out of sync.
// It returns the groups it read, to be saved with the snapshot.
func (e *Engine) readSyncBehavior(ctx context.Context, snap *cloud.Snapshot, gr *cloud.GroupRound) ([]string, error) {
	var read []string
	changed := map[string]bool{}
	for _, d := range gr.Changes {
		changed[d.ID] = true
	}
	for id, g := range snap.Groups {
		if policy.KindOf(g) != policy.KindFromADCloudManaged || (g.CloudManaged != nil && !changed[id] && !gr.Full) {
			continue
		}
		v, err := e.cloud.CloudManaged(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("engine: read onPremisesSyncBehavior of group %s: %w", id, err)
		}
		g.CloudManaged = &v
		read = append(read, id)
	}
	return read, nil
}
