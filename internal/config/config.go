// Package config loads groupwriteback's YAML configuration: it decodes it
// strictly, fills defaults, resolves secrets from files and the environment,
// and validates it, naming the key of every problem it finds.
package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/graph"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/secret"
)

// Config is the whole configuration file. examples/config.yaml documents
// every key.
type Config struct {
	// Mode is normal (default) or staging: read, plan and record what
	// would be done, and write nothing to AD.
	Mode      string           `yaml:"mode"`
	Schedule  Schedule         `yaml:"schedule"`
	Server    Server           `yaml:"server"`
	Cloud     graph.Config     `yaml:"cloud"`
	Directory directory.Config `yaml:"directory"`
	Writeback Writeback        `yaml:"writeback"`
	State     State            `yaml:"state"`
	HA        HA               `yaml:"ha"`
	Log       Log              `yaml:"log"`
	Audit     Audit            `yaml:"audit"`
	Alerts    Alerts           `yaml:"alerts"`
	// Notifications turns on Graph's change notifications.
	Notifications Notifications `yaml:"notifications"`
}

// DefaultDeleteThresholdPercent holds back a run that would delete or
// quarantine more than half of the groups the tool has written. The causes
// of such runs are nearly always mistakes: a state file or configuration
// pointed at another tenant, a scope edited wrong, a Graph read that came
// back empty. A real clean-up of most groups at once is rare and passes
// with --allow-deletes. (Connect's export deletion threshold counts 500
// objects; Cloud Sync quarantines a job at 40% failures; a share of the
// groups written scales with the deployment where a count does not.)
const DefaultDeleteThresholdPercent = 50

// Naming schemes for the cn of a written-back group.
const (
	// NamingDisplayName is Left(Trim(displayName),51) + "_" + the last 12
	// hex digits of the object id: readable, and unique.
	NamingDisplayName = "display_name"
	// SAMKeep and SAMFollow are writeback.sam_on_rename's values.
	SAMKeep   = "keep"
	SAMFollow = "follow"
	// NamingObjectID is Group_<objectId>.
	NamingObjectID = "object_id"
)

// Writeback says where and how groups are written.
//
//	writeback:
//	  target_ou: OU=Cloud Groups,DC=contoso,DC=com
//	  naming: display_name
type Writeback struct {
	// TargetOU is the OU groups are created in; the tool touches nothing
	// outside it.
	TargetOU string `yaml:"target_ou"`
	// Naming is display_name (default) or object_id.
	Naming string `yaml:"naming"`
	// Placement puts groups in OUs by rule: a group goes to the OU of the
	// first rule it matches, and to TargetOU when it matches none. A group
	// whose rule changes is moved (the same object, SID and ACLs).
	Placement []PlacementRule `yaml:"placement,omitempty"`
	// Scope narrows which groups are written back.
	Scope Scope `yaml:"scope"`
	// MemberLimit skips (and reports) groups with more members; 0: no limit.
	MemberLimit int `yaml:"member_limit"`
	// DeleteThreshold is the most groups one run may delete or quarantine
	// (default 500); DeleteThresholdPercent, when above 0, lowers it to that
	// share of the groups written back, never below one group (default 50:
	// no run deletes most of what the tool wrote; 0 turns it off).
	DeleteThreshold        *int `yaml:"delete_threshold"`
	DeleteThresholdPercent *int `yaml:"delete_threshold_percent"`
	// QuarantineOU receives quarantined groups (members cleared, SID and
	// anchor kept). Required when any policy below is quarantine.
	QuarantineOU string `yaml:"quarantine_ou"`
	// What becomes of a written-back group when, in the cloud, the group is
	// soft-deleted (default keep), hard-deleted (default delete), has
	// writeback turned off (default keep), or leaves the configured scope
	// (default keep); and, for all of them, when writeback is disabled
	// (default delete, as Connect v1 does). Each is keep, delete or quarantine.
	OnSoftDelete        string `yaml:"on_soft_delete"`
	OnHardDelete        string `yaml:"on_hard_delete"`
	OnWritebackDisabled string `yaml:"on_writeback_disabled"`
	OnOutOfScope        string `yaml:"on_out_of_scope"`
	OnDisable           string `yaml:"on_disable"`
	// MoveBack moves a written-back group an admin moved out of the target
	// OU back into it; by default such a group is reported and left alone.
	MoveBack bool `yaml:"move_back"`
	// GroupScope is the scope of the security groups written to target_ou,
	// and of a placement rule's that names none: universal (default, as
	// Cloud Sync writes), global or domain_local. AD's rules of scope
	// hold: a global group holds accounts and global groups of its own
	// domain only; a domain-local group is a member of domain-local groups
	// only; a scope changes only as AD allows (docs/operating.md).
	GroupScope string `yaml:"group_scope"`
	// RestoreDeleted restores a group AD holds deleted (its anchor in
	// CN=Deleted Objects) instead of creating it anew, so that it keeps
	// its objectSid (default true; it needs the rights docs/permissions.md
	// gives for it, else the group is created anew).
	RestoreDeleted *bool `yaml:"restore_deleted"`
	// MatchUnsynced matches members that are not synced from AD (cloud-only
	// users, often with an AD account made by HR provisioning or a script)
	// to AD user accounts, by the rules given; off unless rules are set.
	MatchUnsynced MatchUnsynced `yaml:"match_unsynced"`
	// SAMOnRename is what a cloud rename does to the sAMAccountName of a
	// group already written: keep (default: it keeps the one it was
	// created with, as Cloud Sync does; sssd, scripts and applications key
	// on it) or follow (it follows the new name).
	SAMOnRename string `yaml:"sam_on_rename"`
	// MemberBatchSize is the most member values one LDAP write carries
	// (default 1000, 100 to 5000). A large group is written as one add
	// and then modifies of this many values: fewer, larger modifies cost
	// a DC less (Samba's cost per modify grows with the group), while a
	// request must stay under the DC's MaxReceiveBuffer (10 MB on Windows).
	MemberBatchSize int `yaml:"member_batch_size"`
	// SourceOfAuthority says what becomes of a group whose source of
	// authority an admin moved from AD to the cloud: report (default: it is
	// named, and nothing is written) or in_place (its members, displayName
	// and description are written into its original AD group, found by SID
	// wherever it lives; that group is never created, moved or deleted).
	SourceOfAuthority string `yaml:"source_of_authority"`
	// PlanMaxAge is the oldest a saved plan (plan --out) may be when
	// applied (default 1h): AD and the tenant move on.
	PlanMaxAge time.Duration `yaml:"plan_max_age"`
	// PlanKeyFile names a file holding the key that signs saved plans
	// (at least 32 characters), for a staging server with a state of its
	// own whose plans the active server applies: both name the same key.
	// Unset, plans are signed with a key of the state, so they verify
	// where the state is (the same server, or instances sharing it).
	PlanKeyFile string `yaml:"plan_key_file"`
	// PlanKey is the key read from PlanKeyFile.
	PlanKey secret.Value `yaml:"-"`
}

// MatchUnsynced is writeback.match_unsynced: the rules that match a member
// user not synced from AD to an AD user account, tried in order, and where
// the accounts are looked for. A member is written only when a rule finds
// exactly one enabled user account there, never a critical or protected
// one; a B2B guest is never matched (docs/operating.md says why each rule
// is a trust decision).
type MatchUnsynced struct {
	// Rules are cloud user properties, each matched to its AD attribute:
	// userPrincipalName, mail, employeeId (AD employeeID),
	// onPremisesSamAccountName (AD sAMAccountName).
	Rules []string `yaml:"rules"`
	// SearchBases are the OUs (and what lies below) the accounts are
	// looked for in: required with rules.
	SearchBases []string `yaml:"search_bases"`
}

// PlacementRule is one writeback.placement rule: an OU, and the
// conditions a group must all meet to go there.
type PlacementRule struct {
	OU string `yaml:"ou"`
	// Kind is microsoft365 or security.
	Kind string `yaml:"kind"`
	// DisplayName is a pattern (* ? [a-z]), without regard to case.
	DisplayName string `yaml:"display_name"`
	// MailDomain is the domain of the group's mail, e.g. fabrikam.com.
	MailDomain string `yaml:"mail_domain"`
	// Extension is an extension property of the group: extensionAttribute1
	// to extensionAttribute15, or a directory extension
	// extension_<appId without hyphens>_<name>. ExtensionValue is a
	// pattern one of its values must match; without it, any value does.
	Extension      string `yaml:"extension"`
	ExtensionValue string `yaml:"extension_value"`
	// GroupScope is the scope of the groups the rule places: universal,
	// global or domain_local ("": writeback.group_scope). Security groups
	// only; a mail-enabled group stays universal.
	GroupScope string `yaml:"group_scope"`
}

// PlacementRules are writeback.placement as policy takes it.
func (c *Config) PlacementRules() []policy.PlacementRule {
	var rules []policy.PlacementRule
	for _, r := range c.Writeback.Placement {
		rules = append(rules, policy.PlacementRule{OU: r.OU, Kind: r.Kind, DisplayName: r.DisplayName, MailDomain: r.MailDomain,
			Extension: r.Extension, ExtensionValue: r.ExtensionValue, GroupScope: r.GroupScope})
	}
	return rules
}

// GroupExtensions are the extension properties placement rules match
// on: what the groups rounds must read.
func (c *Config) GroupExtensions() []string {
	return policy.Placement{Rules: c.PlacementRules()}.Extensions()
}

// extensionName matches the names Graph gives extension properties.
var extensionName = regexp.MustCompile(`^(extensionAttribute([1-9]|1[0-5])|extension_[0-9a-fA-F]{32}_[A-Za-z0-9_]+)$`)

// Scope narrows writeback beyond the tenant's own settings.
type Scope struct {
	IncludeIDs   []string `yaml:"include_ids"`
	ExcludeIDs   []string `yaml:"exclude_ids"`
	IncludeNames []string `yaml:"include_names"`
	ExcludeNames []string `yaml:"exclude_names"`
	// Kinds lists the kinds written back: microsoft365, security.
	Kinds []string `yaml:"kinds"`
}

// Schedule is how often the service runs cycles.
type Schedule struct {
	// Interval between cycles (default 30m, at least MinInterval).
	Interval time.Duration `yaml:"interval"`
	// FullInterval between full reconciles (default 24h).
	FullInterval time.Duration `yaml:"full_interval"`
	// Jitter is the most added at random to each wait between cycles, so
	// that services started together do not ask Graph together (default:
	// a tenth of the interval, at most a minute; 0s: none).
	Jitter *time.Duration `yaml:"jitter"`
	// CycleTimeout is the most one cycle may take, a sync, plan or disable
	// from the command line as a cycle of the service (default 4h): past
	// it the cycle stops, and the next one completes its work.
	CycleTimeout time.Duration `yaml:"cycle_timeout"`
}

// Notifications are Graph's change notifications: Graph posts to
// PublicURL when a group or user changes, and the service starts a delta
// cycle within seconds instead of at the next interval. A notification is
// only a trigger: the schedule's delta cycles stay as the safety net.
//
//	notifications:
//	  public_url: https://wb.contoso.com/graph/notifications
type Notifications struct {
	// PublicURL is the HTTPS URL Graph reaches this service's
	// notification path at, typically through a reverse proxy that
	// publishes that path alone; the service serves its path (and the
	// path + /lifecycle) on server.listen without the bearer token.
	// Setting it turns notifications on.
	PublicURL string `yaml:"public_url"`
	// Resources are what is watched: groups (members included) and users
	// (a change to a member's account). Default both.
	Resources []string `yaml:"resources"`
	// CheckInterval is how often the subscriptions are checked, renewed
	// and made again if Graph dropped them (default 15m).
	CheckInterval time.Duration `yaml:"check_interval"`
	// Debounce is how long a notification waits for others before its
	// cycle starts (default 2s).
	Debounce time.Duration `yaml:"debounce"`
}

// On reports whether notifications are turned on.
func (n Notifications) On() bool { return n.PublicURL != "" }

// Path is the URL path the service serves notifications on.
func (n Notifications) Path() string {
	u, err := url.Parse(n.PublicURL)
	if err != nil {
		return ""
	}
	return u.Path
}

// JitterOrNone is Jitter, or none when it is unset.
func (s Schedule) JitterOrNone() time.Duration {
	if s.Jitter == nil {
		return 0
	}
	return *s.Jitter
}

// Server is the service's HTTP endpoint. On loopback (the default) it
// needs nothing more; listening beyond it, it should have TLS and a way to
// tell who asks, a bearer token or client certificates (mutual TLS):
//
//	server:
//	  listen: 0.0.0.0:8443
//	  tls_cert_file: /etc/groupwriteback/https.pem
//	  tls_key_file: /etc/groupwriteback/https-key.pem
//	  token_file: /etc/groupwriteback/status-token
//	  allowed_hosts: [wb01.contoso.com]
type Server struct {
	// Listen is the address for health, metrics, POST /sync and the status
	// page (default 127.0.0.1:8080; "off" turns it off).
	Listen string `yaml:"listen"`
	// TLSCertFile and TLSKeyFile serve HTTPS instead of HTTP.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// ClientCAFile asks every client for a certificate this CA signed.
	ClientCAFile string `yaml:"client_ca_file"`
	// TokenFile holds a bearer token every request but /healthz and
	// /readyz must carry.
	TokenFile string `yaml:"token_file"`
	// AllowedHosts are the host names the server answers to, besides IP
	// addresses, localhost and the machine's name (DNS rebinding defence).
	AllowedHosts []string `yaml:"allowed_hosts"`
	// Console is the admin console (/console/), signed in with Entra ID.
	Console Console `yaml:"console"`
}

// Console is the admin console's sign-in.
type Console struct {
	// PublicURL is the URL browsers reach this server at (https, or
	// http on loopback); setting it turns the console on. The app
	// registration's web redirect URI is PublicURL + /console/callback.
	PublicURL string `yaml:"public_url"`
	// SessionLifetime bounds a sign-in (default 8h).
	SessionLifetime time.Duration `yaml:"session_lifetime"`
}

// On reports whether the console is turned on.
func (c Console) On() bool { return c.PublicURL != "" }

// RedirectURL is the console's sign-in callback.
func (c Console) RedirectURL() string {
	return strings.TrimSuffix(c.PublicURL, "/") + "/console/callback"
}

// Loopback reports whether the server listens on loopback only.
func (s Server) Loopback() bool {
	host, _, err := net.SplitHostPort(s.Listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Warnings are settings that are valid but unsafe, and secret files every
// account of the machine can read; config check, doctor and the service
// say them.
func (c *Config) Warnings() []string {
	var w []string
	s := c.Server
	if s.Listen != "off" && !s.Loopback() {
		if s.TLSCertFile == "" {
			w = append(w, fmt.Sprintf("server.listen: %s is reachable from other machines over plain HTTP: set server.tls_cert_file and server.tls_key_file", s.Listen))
		}
		if s.TokenFile == "" && s.ClientCAFile == "" {
			w = append(w, fmt.Sprintf("server.listen: %s is reachable from other machines with no authentication: anyone there reads the status page and "+
				"metrics (group names, DNs, errors) and can start cycles; set server.token_file or server.client_ca_file", s.Listen))
		}
	}
	if c.Notifications.On() && s.ClientCAFile != "" {
		w = append(w, "notifications.public_url: server.client_ca_file asks every client for a certificate, and Graph presents none: "+
			"its notifications reach the service only through a reverse proxy that presents one")
	}
	if c.Mode == "staging" && c.Schedule.Interval > c.Writeback.PlanMaxAge {
		w = append(w, fmt.Sprintf("schedule.interval: a staging service saves a plan every %s, but apply refuses plans older than writeback.plan_max_age (%s), "+
			"so most of the time the staged plan cannot be applied on the active server; lower schedule.interval or raise writeback.plan_max_age",
			c.Schedule.Interval, c.Writeback.PlanMaxAge))
	}
	return append(w, c.exposedSecrets()...)
}

// State says where groupwriteback keeps its state.
type State struct {
	// Path of the SQLite state file; default groupwriteback.db beside the
	// configuration file. With url set, its directory still holds the
	// instance's own files: the audit trail, locks, a staged plan.
	Path string `yaml:"path"`
	// URL, when set, is a PostgreSQL database (postgres://user@host/db)
	// that several instances share, one writing at a time (ha); a password
	// belongs in PGPASSWORD or ~/.pgpass, or the whole URL in url_file or
	// GROUPWRITEBACK_STATE_URL.
	URL     secret.Value `yaml:"url"`
	URLFile string       `yaml:"url_file"`
	// HistoryDays is how long the run history and the operation log are
	// kept: each full cycle drops what is older (the last 100 runs stay
	// whatever their age); 0 keeps everything. Default 365, as the audit
	// trail's retention.
	HistoryDays *int `yaml:"history_days"`
}

// EnvStateURL holds state.url when the configuration does not.
const EnvStateURL = "GROUPWRITEBACK_STATE_URL"

// Shared says whether the state is a database instances share.
func (s State) Shared() bool { return s.URL.IsSet() }

// Name is the instance's name: ha.instance, else the host's name.
func (h HA) Name() string {
	if h.Instance != "" {
		return h.Instance
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		return "groupwriteback"
	}
	return strings.ReplaceAll(host, "/", "-")
}

// HA times the election of the one instance that writes, among those
// sharing a state (state.url).
type HA struct {
	// Instance names this instance in status, logs and metrics (default
	// the host name).
	Instance string `yaml:"instance"`
	// Lease is how long the active instance's lease lasts unrenewed
	// (default 30s).
	Lease time.Duration `yaml:"lease"`
	// RenewInterval is how often the active renews it and a standby tries
	// to take it (default lease/3). A standby takes over from a dead
	// active within lease + renew_interval (40s by default).
	RenewInterval time.Duration `yaml:"renew_interval"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
	// Format is text (default) or json.
	Format string `yaml:"format"`
	// File, when set, receives the logs (appended) instead of stderr (or,
	// for the Windows service, the event log).
	File string `yaml:"file"`
}

// MinInterval is the shortest schedule.interval.
const MinInterval = 10 * time.Second
