package config

import (
	"time"

	"github.com/groupwriteback/groupwriteback/internal/secret"
)

// The sections that say how the service reports what it does: the
// audit trail and the alert webhook.

// Alerts configures the webhook called when writeback needs people:
//
//	alerts:
//	  webhook_url_file: /etc/groupwriteback/webhook-url   # or webhook_url, or GROUPWRITEBACK_ALERTS_WEBHOOK_URL
//	  format: teams          # json (default), slack or teams
//	  repeat_after: 6h       # one alert of a kind per period
//	  staging_after: 168h    # a staging instance older than this is told
type Alerts struct {
	WebhookURL     secret.Value  `yaml:"webhook_url"`
	WebhookURLFile string        `yaml:"webhook_url_file"`
	Format         string        `yaml:"format"`
	RepeatAfter    time.Duration `yaml:"repeat_after"`
	StagingAfter   time.Duration `yaml:"staging_after"`
	// InStep sends an event each time a cycle brings a changed group in
	// step ("AD now matches": which group, what changed, when the change
	// was noticed and when AD was written), never held back by
	// repeat_after. Off by default: a busy tenant makes many.
	InStep bool `yaml:"in_step"`
}

// EnvAlertsWebhookURL holds alerts.webhook_url when the file does not.
const EnvAlertsWebhookURL = "GROUPWRITEBACK_ALERTS_WEBHOOK_URL"

// Audit configures the audit trail of every write to AD:
//
//	audit:
//	  file: audit.jsonl     # default: audit.jsonl beside state.path; "off" keeps none
//	  retention_days: 365   # entries older are dropped; 0 keeps them all
//	  event_log: true       # Windows: each entry in the Application event log too
type Audit struct {
	File          string `yaml:"file"`
	RetentionDays *int   `yaml:"retention_days"`
	EventLog      *bool  `yaml:"event_log"`
}

// Off reports whether the configuration keeps no audit trail.
func (a Audit) Off() bool { return a.File == "off" }

// DefaultAuditRetentionDays is a year: long enough for the usual audit
// cycle of a directory change.
const DefaultAuditRetentionDays = 365
