package state

import (
	"strings"
	"time"
)

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

// ReleaseOf is an admin's decision on the held group h: to release its
// removal (the action its status names: delete or move), or, with keep,
// to keep it held. It stands from at for valid.
func ReleaseOf(h GroupStatus, keep bool, by, reason string, at time.Time, valid time.Duration) Release {
	// A held group's message begins with the removal held back
	// (engine/outcome.go writes "<action> held back by …").
	action, _, _ := strings.Cut(h.Message, " ")
	if keep {
		action = ActionKeep
	}
	return Release{CloudID: h.CloudID, Name: h.Name, DN: h.DN, Action: action, By: by, Reason: strings.TrimSpace(reason), At: at, Expires: at.Add(valid)}
}
