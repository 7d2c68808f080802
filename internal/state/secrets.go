package state

// The state's secrets: keys made once, when the state is made (or first
// opened by a version that knows them), never exported, never imported.
const (
	// SecretPrefix begins the meta keys of the secrets.
	SecretPrefix = "secret."
	// PlanKey signs saved plans, so that a plan made on a standby verifies
	// on the active instance, and an altered one is refused.
	PlanKey = "plan"
	// AuditKey keys the audit trail's hash chain.
	AuditKey = "audit"
	// NotifyKey is the clientState of Graph's change notification
	// subscriptions: every instance sharing the state knows it, so a
	// notification that reaches any of them is checked.
	NotifyKey = "notify"
)
