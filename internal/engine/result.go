package engine

import (
	"encoding/json"
	"iter"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// RunOptions choose how a cycle runs.
type RunOptions struct {
	// Full reads everything from Graph and AD and reconciles every group;
	// otherwise only what Graph reports changed (and what failed before).
	Full bool
	// DryRun plans and stops: no write to AD, nothing saved.
	DryRun bool
	// AllowDeletes lets this many deletes through the threshold.
	AllowDeletes int
	// Group, when set, works on that one group only (its cloud id, display
	// name, DN, sAMAccountName or Group_<id>) and traces it, as Cloud
	// Sync's provision on demand does. The delta links stay where they
	// were, so the next cycle still sees every other change.
	Group string
	// WithoutExchange, when set, plans as if the enablement said so:
	// enable shows the first sync's plan before it records anything.
	WithoutExchange *bool
	// ShowOnly plans to show or save the plan, never to apply it in this
	// process (plan, plan --out): the operations of each slice are written
	// to a temporary file as they are planned (Result.EachOp reads them;
	// Result.Close removes it), and each group's member list read from
	// Graph is let go once planned. Apply refuses such a plan but saved:
	// a saved plan is applied from its file.
	ShowOnly bool
	// Noticed are the objects the service's change notifications named
	// before the cycle began, and when: a group the cycle brings in step
	// was noticed then (Matched), not when the cycle began.
	Noticed map[string]time.Time
}

// Counts summarise a cycle.
type Counts struct {
	InScope     int `json:"inScope"`
	Created     int `json:"created"`
	Updated     int `json:"updated"`
	Deleted     int `json:"deleted"`
	Unchanged   int `json:"unchanged"`
	Failed      int `json:"failed"`
	NotWritable int `json:"notWritable"`
	Quarantined int `json:"quarantined"`
	Drifted     int `json:"drifted"`
	// Restored counts the groups brought back out of the quarantine OU.
	Restored int `json:"restored,omitempty"`
	// FromDeleted counts, of the groups Created, those restored from
	// AD's deleted objects: the same object, with its old objectSid.
	FromDeleted int `json:"restoredFromDeleted,omitempty"`
	// MembersNotWritten counts members not written, by reason.
	MembersNotWritten map[string]int `json:"membersNotWritten,omitempty"`
}

// planned counts, group by group, what ops would do: a plan's counts say
// what it plans (Apply counts again what it did).
func (c *Counts) planned(ops []reconcile.Op, quarantineOU string) {
	kind := map[string]string{}
	c.FromDeleted = 0
	for _, op := range ops {
		if op.Action == reconcile.Restore {
			c.FromDeleted++
		}
		switch {
		case op.Creates():
			kind[op.CloudID] = "created"
		case op.Action == reconcile.Delete:
			kind[op.CloudID] = "deleted"
		case op.Quarantines(quarantineOU):
			kind[op.CloudID] = "quarantined"
		case kind[op.CloudID] == "":
			kind[op.CloudID] = "updated"
		}
	}
	c.Created, c.Updated, c.Deleted, c.Quarantined = 0, 0, 0, 0
	for _, k := range kind {
		switch k {
		case "created":
			c.Created++
		case "deleted":
			c.Deleted++
		case "quarantined":
			c.Quarantined++
		default:
			c.Updated++
		}
	}
}

// Failure is a group not in step, and why.
type Failure struct {
	CloudID string `json:"cloudId"`
	Name    string `json:"name"`
	DN      string `json:"dn,omitempty"`
	State   string `json:"state"`
	Message string `json:"message"`
}

// Result is what a cycle did (or, in a dry run, would do).
type Result struct {
	// RunID is the run that applied the result (0 for a plan).
	RunID int64  `json:"runId,omitempty"`
	Mode  string `json:"mode"`
	// Matched are the groups the cycle's writes brought in step, with
	// what was written and when.
	Matched []Matched `json:"matched,omitempty"`
	// Quiet: a delta cycle Graph said nothing changed for, with nothing
	// left from the last one, that wrote nothing. The run history keeps a
	// stretch of them in one row, and the service logs them at Debug.
	Quiet bool `json:"quiet,omitempty"`
	// Plan is what was planned. Its Ops do not hold every operation of a
	// sync (those written as they were planned are in its log) nor whole
	// those of a plan made to be shown (spooled): read them through Kept
	// or EachOp.
	Plan   reconcile.Plan `json:"plan"`
	Counts Counts         `json:"counts"`
	Writes int            `json:"ldapWrites"`
	// Drift lists groups a full reconcile found changed in AD but not in
	// the cloud: hand edits, overwritten.
	Drift []string `json:"drift,omitempty"`
	// Restored are the groups a full cycle brings back out of the
	// quarantine OU, where the tool had put them: not drift.
	Restored []string `json:"restored,omitempty"`
	// Adopted are the groups the plan changes that this state never wrote:
	// found in AD by their anchors (Connect's group writeback, or an
	// earlier install), taken over by the operations shown.
	Adopted []string `json:"adopted,omitempty"`
	// MembersMatched are, by cloud group, the members not synced from AD
	// that a writeback.match_unsynced rule matched to an AD account, with
	// the rule.
	MembersMatched map[string][]reconcile.MemberMatch `json:"membersMatched,omitempty"`
	// GroupNames are the display names of the groups Plan.NotWritten
	// names by cloud id.
	GroupNames map[string]string `json:"groupNames,omitempty"`
	// Failures are every group not in step: failed now or before, or not
	// writable.
	Failures []Failure `json:"failures,omitempty"`
	// Skipped lists groups out of scope in this cycle, with reasons.
	Skipped []policy.Decision `json:"-"`
	// Notes are fields written cleaned, or left out, of groups that were
	// otherwise written (an invalid address, control characters), each
	// naming its group and field.
	Notes []policy.Problem `json:"notes,omitempty"`
	// Trace is the one group's trace, in a cycle on one group.
	Trace *Trace `json:"trace,omitempty"`

	// spool, in the result of a plan made to be shown (ShowOnly), holds
	// the operations of its slices whole; Plan.Ops holds them thinned,
	// then the operations planned over the whole plan (the held member
	// values, the removals) whole.
	spool *opSpool
	// log, in the result of a cycle that wrote its slices as it planned
	// them (Run), holds what it kept of the operations it wrote, in order
	// (opLog); Plan.Ops begins with the logged of them whose groups were
	// recorded at the cycle's end, then holds the rest.
	log    *opLog
	logged int
}

// Kept yields the plan's operations as the result keeps them, in order:
// those a sync wrote as it planned them and those of a plan made to be
// shown thinned (thin: without their values), the others whole. EachOp
// yields each one whole where the result can.
func (r *Result) Kept() iter.Seq[reconcile.Op] {
	return func(yield func(reconcile.Op) bool) {
		for op := range r.log.all() {
			if !yield(op) {
				return
			}
		}
		for _, op := range r.Plan.Ops[r.logged:] {
			if !yield(op) {
				return
			}
		}
	}
}

// EachOp calls fn with each of the plan's operations, in order, whole:
// read back from the file they were written to as they were planned, for
// a plan made to be shown. It stops at the first error fn returns.
func (r *Result) EachOp(fn func(reconcile.Op) error) error {
	if r.spool != nil {
		if err := r.spool.each(fn); err != nil {
			return err
		}
	}
	for op := range r.log.all() {
		if err := fn(op); err != nil {
			return err
		}
	}
	for _, op := range r.unspooled() {
		if err := fn(op); err != nil {
			return err
		}
	}
	return nil
}

// eachOpJSON is EachOp with each operation as json.Marshal writes it: a
// spooled one is copied as it was spooled, not read and written again.
func (r *Result) eachOpJSON(fn func([]byte) error) error {
	if r.spool != nil {
		if err := r.spool.eachJSON(fn); err != nil {
			return err
		}
	}
	for op := range r.log.all() {
		b, err := json.Marshal(&op)
		if err != nil {
			return err
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	ops := r.unspooled()
	for i := range ops {
		b, err := json.Marshal(&ops[i])
		if err != nil {
			return err
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

// unspooled are the operations of Plan.Ops not also in the spool or the
// log (which hold those at its front): the rest, or all of them.
func (r *Result) unspooled() []reconcile.Op {
	if r.spool == nil {
		return r.Plan.Ops[r.logged:]
	}
	return r.Plan.Ops[r.spool.n:]
}

// Close lets go of what the result holds outside memory (the file of a
// plan made to be shown). The result's operations are not read after.
func (r *Result) Close() error {
	if r == nil || r.spool == nil {
		return nil
	}
	return r.spool.close()
}
