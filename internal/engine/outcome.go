package engine

import (
	"cmp"
	"fmt"
	"sort"

	"github.com/groupwriteback/groupwriteback/internal/advice"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// cycleOutcome is what a cycle set out to do and what became of it: the
// input of decideStatuses.
type cycleOutcome struct {
	// Work are the decisions for the cloud groups the cycle looked at.
	Work []policy.Decision
	// Plan is the plan applied (its Ops), with its problems and the
	// operations the delete threshold held back.
	Plan reconcile.Plan
	// Failed are the groups whose operations failed, by cloud id.
	Failed map[string]error
	// Unfinished are the groups whose operations were never tried (the
	// cycle was interrupted first).
	Unfinished map[string]bool
	// QuarantineOU tells a quarantine from any other move.
	QuarantineOU string
	// NotWritten counts, for the groups planned from their member changes,
	// their members not written, by reason: for them, Plan.NotWritten
	// names only the members changed.
	NotWritten map[string]map[string]int
	// SAM are the sAMAccountNames of the AD groups the plan read, by
	// cloud id.
	SAM map[string]string
}

// Messages of the states decideStatuses gives.
const (
	msgInterrupted = "the cycle was interrupted before its operations were applied"
	msgCloudGone   = "the cloud group no longer exists"
)

// decideStatuses decides each group's state after a cycle. It is pure: it
// reads nothing and writes nothing. For a group the cycle worked on, the
// first that holds wins: interrupted (pending), an operation failed, a
// problem or the threshold held it (failed), in step, not writable,
// deleted or quarantined, out of scope. A group outside the work set (gone
// from the cloud) is reported by the name and DN of its AD object. Groups
// are in the work set's order, then the others by cloud id.
func decideStatuses(o cycleOutcome) []state.GroupStatus {
	f := fatesOf(o)
	seen := map[string]bool{}
	sts := make([]state.GroupStatus, 0, len(o.Work))
	for _, d := range o.Work {
		if d.CloudID == "" {
			continue // recorded as its slice was written (settle)
		}
		seen[d.CloudID] = true
		sts = append(sts, f.status(o, d))
	}
	return append(sts, f.outside(o, seen)...)
}

// fates are what the plan's operations did to each group: where it is
// now, whether it was deleted or quarantined, and why it was held.
type fates struct {
	finalDN              map[string]string
	deleted, quarantined map[string]bool
	blocked              map[string]string
	// held are the groups whose removal the threshold holds back.
	held, heldDN map[string]string
	// sam are the sAMAccountNames the operations wrote.
	sam map[string]string
}

func fatesOf(o cycleOutcome) fates {
	f := fates{finalDN: map[string]string{}, deleted: map[string]bool{}, quarantined: map[string]bool{}, blocked: map[string]string{}, held: map[string]string{}, heldDN: map[string]string{}, sam: map[string]string{}}
	for _, op := range o.Plan.Ops {
		if c, ok := op.Change("sAMAccountName"); ok && len(c.New) == 1 && o.Failed[op.CloudID] == nil && !o.Unfinished[op.CloudID] {
			f.sam[op.CloudID] = c.New[0]
		}
		switch op.Action {
		case reconcile.Delete:
			f.deleted[op.CloudID] = o.Failed[op.CloudID] == nil
		case reconcile.Rename:
			f.finalDN[op.CloudID] = op.FinalDN()
		case reconcile.Move:
			f.finalDN[op.CloudID] = op.FinalDN()
			f.quarantined[op.CloudID] = op.Quarantines(o.QuarantineOU) && o.Failed[op.CloudID] == nil
		default:
			if f.finalDN[op.CloudID] == "" {
				f.finalDN[op.CloudID] = op.DN
			}
		}
	}
	for _, p := range o.Plan.Problems {
		if p.CloudID != "" {
			f.blocked[p.CloudID] = p.Message
		}
	}
	// Deletes held back by the threshold stay due: the group is recorded as
	// held (nothing failed), so the next cycle takes it up again, and an
	// admin can release it.
	for _, op := range o.Plan.HeldBack {
		if f.blocked[op.CloudID] == "" && f.held[op.CloudID] == "" {
			f.held[op.CloudID] = fmt.Sprintf("%s held back by the delete threshold (%s); release it with `groupwriteback release %q --reason …`",
				op.Action, op.Reason, policy.RDNValue(op.DN))
			f.heldDN[op.CloudID] = op.DN
		}
	}
	return f
}

// status is the state of a group the cycle worked on.
func (f fates) status(o cycleOutcome, d policy.Decision) state.GroupStatus {
	st := state.GroupStatus{CloudID: d.CloudID, Name: d.Name, Kind: string(d.Kind)}
	switch {
	case o.Unfinished[d.CloudID]:
		st.State, st.Message = state.Pending, msgInterrupted
	case o.Failed[d.CloudID] != nil:
		st.State, st.Message = state.Failed, advice.Say(o.Failed[d.CloudID])
	case f.blocked[d.CloudID] != "":
		st.State, st.Message = state.Failed, f.blocked[d.CloudID]
	case f.held[d.CloudID] != "":
		st.State, st.Message, st.DN = state.Held, f.held[d.CloudID], f.heldDN[d.CloudID]
	case d.Desired != nil:
		st.State, st.DN = state.InStep, d.Desired.DN
		st.SAM = cmp.Or(f.sam[d.CloudID], o.SAM[d.CloudID])
		st.Message = notesMessage(d.Notes)
		if dn := f.finalDN[d.CloudID]; dn != "" {
			st.DN = dn
		}
		if counts, ok := o.NotWritten[d.CloudID]; ok {
			if len(counts) > 0 {
				st.MembersNotWritten = counts
			}
		} else if mps := o.Plan.NotWritten[d.CloudID]; len(mps) > 0 {
			st.MembersNotWritten = map[string]int{}
			for _, mp := range mps {
				st.MembersNotWritten[mp.Code]++
			}
		}
	case d.Problem != nil:
		st.State, st.Message = state.NotWritable, d.Problem.Error()
	default:
		st.State, st.Message = state.OutOfScope, d.Reason
		switch {
		case f.deleted[d.CloudID]:
			st.State = state.Deleted
		case f.quarantined[d.CloudID]:
			st.State, st.DN = state.Quarantined, f.finalDN[d.CloudID]
		}
	}
	return st
}

// outside are the states of the groups outside the work set (gone from
// the cloud), by cloud id. They have no cloud name: they are named by
// their AD object, so that a report never lists a group by id alone.
func (f fates) outside(o cycleOutcome, seen map[string]bool) []state.GroupStatus {
	gone := map[string]state.GroupStatus{}
	atOp := map[string]bool{} // its DN is its first operation's (all are named by it)
	add := func(id, st, dn, msg string, opDN bool) {
		if seen[id] {
			return
		}
		seen[id] = true
		gone[id] = state.GroupStatus{CloudID: id, DN: dn, State: st, Message: msg}
		atOp[id] = opDN
	}
	for id := range o.Unfinished {
		add(id, state.Pending, "", msgInterrupted, true)
	}
	for id, err := range o.Failed {
		add(id, state.Failed, "", advice.Say(err), true)
	}
	for id, msg := range f.blocked {
		add(id, state.Failed, "", msg, true)
	}
	for id, msg := range f.held {
		add(id, state.Held, "", msg, true)
	}
	for id, ok := range f.deleted {
		if ok {
			add(id, state.Deleted, "", msgCloudGone, false)
		}
	}
	for id, ok := range f.quarantined {
		if ok {
			add(id, state.Quarantined, f.finalDN[id], msgCloudGone, false)
		}
	}
	if len(gone) == 0 {
		return nil // the usual case: no walk over a first writeback's operations
	}
	adDN := map[string]string{}
	for _, ops := range [][]reconcile.Op{o.Plan.Ops, o.Plan.HeldBack} {
		for _, op := range ops {
			if _, ok := gone[op.CloudID]; ok && adDN[op.CloudID] == "" {
				adDN[op.CloudID] = op.DN
			}
		}
	}
	for id, st := range gone {
		st.Name = policy.RDNValue(adDN[id])
		if atOp[id] {
			st.DN = adDN[id]
		}
		gone[id] = st
	}
	ids := make([]string, 0, len(gone))
	for id := range gone {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]state.GroupStatus, 0, len(ids))
	for _, id := range ids {
		out = append(out, gone[id])
	}
	return out
}
