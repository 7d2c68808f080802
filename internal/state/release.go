package state

import "time"

// Release is an admin's approval of the delete or quarantine of one group
// that the delete threshold holds back: who let it through, why, and until
// when the approval stands. The cycle that carries the removal out records
// it in the audit trail and consumes it; one not used by then expires, and
// the group stays held.
type Release struct {
	CloudID string `json:"cloudId"`
	Name    string `json:"name,omitempty"`
	// DN and Action are the removal approved: the approval covers that
	// removal of that object only.
	DN     string `json:"dn"`
	Action string `json:"action"`
	// By is who approved it: "cli:alice" (the OS user who ran release),
	// or the console's signed-in identity.
	By      string    `json:"by"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
	Expires time.Time `json:"expires"`
	// Audited: a cycle has written the decision to the audit trail.
	Audited bool `json:"-"`
}

// ActionKeep is the action of a decision to keep a held group: it lets
// nothing through, and withdraws a release of the group.
const ActionKeep = "keep"

// ReleaseFor is how long a release stands by default.
const ReleaseFor = 24 * time.Hour
