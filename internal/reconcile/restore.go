package reconcile

import (
	"fmt"
	"slices"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/policy"
)

// Deleted is a deleted AD group that carries a cloud group's anchor, as
// the directory finds it under CN=Deleted Objects: a group written back
// and then deleted in AD (by hand, or by the tool after a cloud delete
// later undone). Restored, it is the same object, with the same objectSid:
// every ACL and every nesting that named it holds again.
type Deleted struct {
	// DN is where AD keeps it now (CN=<name>\0ADEL:<guid>,CN=Deleted
	// Objects,…).
	DN     string `json:"dn"`
	Anchor string `json:"anchor"`
	GUID   string `json:"guid"`
	SID    string `json:"sid"`
	SAM    string `json:"sam,omitempty"`
	// LastKnownParent is the container it was deleted from.
	LastKnownParent string `json:"lastKnownParent"`
	// Recycled: AD marks it recycled with the Recycle Bin on, and no
	// longer restores it (MS-ADA1 isRecycled).
	Recycled bool `json:"recycled,omitempty"`
}

// RestoreReason says, on a restore, which object comes back.
func (d Deleted) RestoreReason() string {
	return fmt.Sprintf("restored from deleted objects: the group deleted from %s, objectSid %s", d.LastKnownParent, d.SID)
}

// unrestorable says why d is not restored ("" when it is).
func (d Deleted) unrestorable(o Options) string {
	in := func(ou string) bool { return ou != "" && policy.Within(d.LastKnownParent, ou) }
	switch {
	case d.Recycled:
		return "its deleted object in AD is recycled (the Recycle Bin is on), and AD no longer restores it"
	case !slices.ContainsFunc(o.ous(), in) && !in(o.QuarantineOU):
		return fmt.Sprintf("its deleted object in AD was deleted from %s, outside the configured OUs", d.LastKnownParent)
	}
	return ""
}

// RestoreDeleted turns the creates in ops of groups AD holds deleted (deleted,
// by lower-case anchor) into restores of those objects, with the same
// attributes: the members the create carried are added after it, in
// batches (each add is checked against the groups that hold the group
// restored, which AD's Recycle Bin brings back with it). A deleted object
// that cannot be restored (recycled; deleted from outside the configured
// OUs, where the tool never wrote) leaves the create as it is, its Reason
// saying why. ops keep their order; the restores' member adds follow.
func RestoreDeleted(ops []Op, deleted map[string]Deleted, o Options) []Op {
	if len(deleted) == 0 {
		return ops
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	var adds []Op
	for i, op := range ops {
		d, ok := deleted[strings.ToLower(op.Anchor)]
		if op.Action != Create || !ok {
			continue
		}
		if why := d.unrestorable(o); why != "" {
			ops[i].Reason = CreatedAnew + why
			continue
		}
		adds = append(adds, batches(AddMembers, op.CloudID, op.DN, op.Anchor, op.Members, o.BatchSize)...)
		ops[i].Action, ops[i].From, ops[i].Members, ops[i].Reason = Restore, d.DN, nil, d.RestoreReason()
	}
	return append(ops, adds...)
}

// CreatedAnew begins the Reason of a create made although AD holds the
// group deleted: the why follows.
const CreatedAnew = "created anew, not restored: "

// Unrestored is the create a failed restore falls back to: the same
// group, made anew (a new objectSid), saying why.
func (op Op) Unrestored(why string) Op {
	op.Action, op.From, op.Reason = Create, "", CreatedAnew+why
	return op
}
