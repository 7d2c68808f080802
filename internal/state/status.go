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
)

// GroupStatus is the last known state of one cloud group.
type GroupStatus struct {
	CloudID string `json:"cloudId"`
	Name    string `json:"name"`
	State   string `json:"state"`
	Message string `json:"message,omitempty"`
	DN      string `json:"dn,omitempty"`
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
	Outcome  string          `json:"outcome"`
	Summary  json.RawMessage `json:"summary"`
}

// OutcomeDied marks a run that never recorded its end: its process was
// killed (or the machine lost power) in the middle of it.
const OutcomeDied = "died"

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
