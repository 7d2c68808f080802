package state

import (
	"encoding/json"
	"time"
)

// Group states.
const (
	// Pending: the group has work not yet known to be done.
	Pending = "pending"
	// InStep: the group's AD copy matches the cloud.
	InStep = "in-step"
	// Failed: an LDAP operation on the group failed; retried next cycle.
	Failed = "failed"
	// NotWritable: in scope, but the cloud data cannot be written
	// (e.g. a mail-enabled type without the Exchange schema).
	NotWritable = "not-writable"
	// OutOfScope: not written back, and why.
	OutOfScope = "out-of-scope"
	// Deleted: its AD copy was deleted.
	Deleted = "deleted"
	// Quarantined: its AD copy was moved to the quarantine OU.
	Quarantined = "quarantined"
	// Held: its delete or quarantine is held back by the delete threshold
	// until an admin releases it (`groupwriteback release`); nothing
	// failed.
	Held = "held"
)

// NotInStep are the states of a group whose AD copy is not as the cloud
// wants it: what status, the page and the metrics count.
var NotInStep = []string{Failed, Held, NotWritable, Pending}

// Unsettled are the states a delta cycle takes up again although the
// cloud did not change them: work left over, failed or held back.
var Unsettled = []string{Pending, Failed, Held}

// GroupStatus is the last known state of one cloud group.
type GroupStatus struct {
	CloudID string `json:"cloudId"`
	Name    string `json:"name"`
	State   string `json:"state"`
	Message string `json:"message,omitempty"`
	DN      string `json:"dn,omitempty"`
	// Kind is the cloud group's kind (microsoft365, security,
	// syncedFromAD, …): what the console filters by.
	Kind string `json:"kind,omitempty"`
	// SAM is the AD group's sAMAccountName as the tool last wrote it
	// ("" when unknown: a status with none keeps the one recorded).
	SAM string `json:"sam,omitempty"`
	// MembersNotWritten counts members not written, by reason.
	MembersNotWritten map[string]int `json:"membersNotWritten,omitempty"`
	Updated           time.Time      `json:"updated"`
}

// Run is one cycle in the run history.
type Run struct {
	ID       int64           `json:"id"`
	Started  time.Time       `json:"started"`
	Finished time.Time       `json:"finished,omitzero"`
	Mode     string          `json:"mode"`
	Outcome  Outcome         `json:"outcome"`
	Summary  json.RawMessage `json:"summary"`
	// Quiet is how many quiet cycles the row stands for (0: a cycle that
	// had something to do): from Started to Finished, each found nothing
	// to do and wrote nothing.
	Quiet int64 `json:"quiet,omitempty"`
}

// Outcome is how a cycle ended: the one word the run history, the
// metrics, the alerts, the status page and /readyz use.
type Outcome string

// The outcomes of a cycle.
const (
	// OutcomeRunning: the run has not ended yet.
	OutcomeRunning Outcome = "running"
	// OutcomeOK: every group of the work is in step.
	OutcomeOK Outcome = "ok"
	// OutcomePartial: it ran, and some groups are not in step (their
	// statuses say why).
	OutcomePartial Outcome = "partial"
	// OutcomeFailed: it could not run, or stopped (the DC gone, Graph or
	// the state unreadable).
	OutcomeFailed Outcome = "failed"
	// OutcomeInterrupted: stopped from outside (SIGTERM); the next cycle
	// completes its work.
	OutcomeInterrupted Outcome = "interrupted"
	// OutcomeDied marks a run that never recorded its end: its process
	// was killed (or the machine lost power) in the middle of it.
	OutcomeDied Outcome = "died"
	// OutcomeStaged: planned and recorded, nothing written (mode:
	// staging).
	OutcomeStaged Outcome = "staged"
	// OutcomeStandby: planned by a standby, nothing written: another
	// instance holds the writer lease.
	OutcomeStandby Outcome = "standby"
	// OutcomeFenced: this instance lost the writer lease during the cycle
	// and stopped writing; the active one does the rest.
	OutcomeFenced Outcome = "fenced"
	// OutcomeDisabled: writeback is disabled, so nothing was written.
	OutcomeDisabled Outcome = "disabled"
)

// Succeeded reports whether a cycle of this outcome ran to its end: ok,
// partial (it ran; some groups are not in step, each with its reason),
// staged, standby. It is the one meaning of success: the scheduler's last
// success, /readyz, the last-success gauge and the status page all count
// these. Groups not in step are told apart, not hidden in it: the outcome
// partial, the groups_not_in_step gauge, status's exit 2.
func (o Outcome) Succeeded() bool {
	return o == OutcomeOK || o == OutcomePartial || o == OutcomeStaged || o == OutcomeStandby
}

// Known reports whether o is one of the outcomes above: a state file
// naming another was not written by this tool.
func (o Outcome) Known() bool {
	switch o {
	case OutcomeRunning, OutcomeOK, OutcomePartial, OutcomeFailed, OutcomeInterrupted, OutcomeDied,
		OutcomeStaged, OutcomeStandby, OutcomeFenced, OutcomeDisabled:
		return true
	}
	return false
}

// Binding is what a state file was made for: the tenant and the part of
// the directory it writes. A state file used with another tenant would
// take that tenant's groups for deleted ones.
type Binding struct {
	TenantID     string `json:"tenantId"`
	Domain       string `json:"domain"`
	TargetOU     string `json:"targetOu"`
	QuarantineOU string `json:"quarantineOu,omitempty"`
}

// Enablement is whether writeback is on, as enable and disable leave it.
type Enablement struct {
	Enabled bool `json:"enabled"`
	// WithoutExchange: enabled to write mail-enabled types without mail
	// attributes, the Exchange schema being absent.
	WithoutExchange bool      `json:"withoutExchange"`
	Changed         time.Time `json:"changed,omitzero"`
}

// Operation is one LDAP operation a cycle applied (or tried to).
type Operation struct {
	RunID   int64     `json:"runId"`
	CloudID string    `json:"cloudId"`
	Action  string    `json:"action"`
	DN      string    `json:"dn"`
	Outcome string    `json:"outcome"`
	Error   string    `json:"error,omitempty"`
	At      time.Time `json:"at"`
}

// InventoryQuery chooses a page of groups: those whose name or DN holds
// Text (case-insensitive), or whose cloud id is Text; of State when set;
// ordered by name, then cloud id.
type InventoryQuery struct {
	// Text matches a name, DN or sAMAccountName in part, a cloud id
	// whole, or a member's UPN whole (the groups it is a member of).
	Text, State string
	// Reason keeps the groups with members not written for that reason
	// code; OU those whose DN lies under that DN; Kind those of that kind.
	Reason, OU, Kind string
	Offset, Limit    int
}
