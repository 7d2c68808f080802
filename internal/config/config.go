// Package config loads groupwriteback's YAML configuration: it decodes it
// strictly, fills defaults, resolves secrets from files and the environment,
// and validates it, naming the key of every problem it finds.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
	"gopkg.in/yaml.v3"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/graph"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/secret"
	"github.com/groupwriteback/groupwriteback/internal/state"
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
}

// PlacementRules are writeback.placement as policy takes it.
func (c *Config) PlacementRules() []policy.PlacementRule {
	var rules []policy.PlacementRule
	for _, r := range c.Writeback.Placement {
		rules = append(rules, policy.PlacementRule{OU: r.OU, Kind: r.Kind, DisplayName: r.DisplayName, MailDomain: r.MailDomain,
			Extension: r.Extension, ExtensionValue: r.ExtensionValue})
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
	// Interval between cycles (default 30m).
	Interval time.Duration `yaml:"interval"`
	// FullInterval between full reconciles (default 24h).
	FullInterval time.Duration `yaml:"full_interval"`
	// CycleTimeout is the most one cycle may take, a sync, plan or disable
	// from the command line as a cycle of the service (default 4h): past
	// it the cycle stops, and the next one completes its work.
	CycleTimeout time.Duration `yaml:"cycle_timeout"`
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

// Warnings are settings that are valid but unsafe; config check, doctor
// and the service say them.
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
	if c.Mode == "staging" && c.Schedule.Interval > c.Writeback.PlanMaxAge {
		w = append(w, fmt.Sprintf("schedule.interval: a staging service saves a plan every %s, but apply refuses plans older than writeback.plan_max_age (%s), "+
			"so most of the time the staged plan cannot be applied on the active server; lower schedule.interval or raise writeback.plan_max_age",
			c.Schedule.Interval, c.Writeback.PlanMaxAge))
	}
	return w
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

// Load reads, completes and validates the configuration file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if err := c.Complete(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes YAML. Unknown keys are errors that name the key and line.
func Parse(b []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, err
	}
	if len(root.Content) == 0 {
		return nil, errors.New("the file is empty")
	}
	if errs := unknownKeys(root.Content[0], reflect.TypeFor[Config](), ""); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	return &c, nil
}

// unknownKeys walks a mapping node against a struct's yaml tags.
func unknownKeys(n *yaml.Node, t reflect.Type, prefix string) []error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind != yaml.MappingNode || t.Kind() != reflect.Struct {
		return nil
	}
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			fields[name] = f.Type
		}
	}
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ft, ok := fields[k.Value]
		if !ok {
			errs = append(errs, fmt.Errorf("%s%s: unknown key (line %d)", prefix, k.Value, k.Line))
			continue
		}
		errs = append(errs, unknownKeys(v, ft, prefix+k.Value+".")...)
	}
	return errs
}

// Complete fills defaults and resolves secrets. dir is the directory of the
// configuration file, which relative paths in it are taken from.
func (c *Config) Complete(dir string) error {
	if c.Writeback.Naming == "" {
		c.Writeback.Naming = NamingDisplayName
	}
	if c.Writeback.SourceOfAuthority == "" {
		c.Writeback.SourceOfAuthority = "report"
	}
	if c.Writeback.PlanMaxAge == 0 {
		c.Writeback.PlanMaxAge = time.Hour
	}
	for _, p := range []struct {
		v   *string
		def string
	}{{&c.Writeback.OnSoftDelete, "keep"}, {&c.Writeback.OnHardDelete, "delete"}, {&c.Writeback.OnWritebackDisabled, "keep"},
		{&c.Writeback.OnOutOfScope, "keep"}, {&c.Writeback.OnDisable, "delete"}} {
		if *p.v == "" {
			*p.v = p.def
		}
	}
	if c.Writeback.DeleteThreshold == nil {
		v := 500
		c.Writeback.DeleteThreshold = &v
	}
	if c.Writeback.DeleteThresholdPercent == nil {
		v := DefaultDeleteThresholdPercent
		c.Writeback.DeleteThresholdPercent = &v
	}
	if c.State.Path == "" {
		c.State.Path = "groupwriteback.db"
	}
	if c.Mode == "" {
		c.Mode = "normal"
	}
	if c.Schedule.Interval == 0 {
		c.Schedule.Interval = 30 * time.Minute
	}
	if c.Schedule.FullInterval == 0 {
		c.Schedule.FullInterval = 24 * time.Hour
	}
	if c.Schedule.CycleTimeout == 0 {
		c.Schedule.CycleTimeout = 4 * time.Hour
	}
	if c.Server.Listen == "" {
		c.Server.Listen = "127.0.0.1:8080"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Alerts.Format == "" {
		c.Alerts.Format = "json"
	}
	if c.Alerts.RepeatAfter == 0 {
		c.Alerts.RepeatAfter = 6 * time.Hour
	}
	if c.Alerts.StagingAfter == 0 {
		c.Alerts.StagingAfter = 7 * 24 * time.Hour
	}
	if c.Audit.RetentionDays == nil {
		v := DefaultAuditRetentionDays
		c.Audit.RetentionDays = &v
	}
	if c.Audit.EventLog == nil {
		v := true
		c.Audit.EventLog = &v
	}
	if c.HA.Lease == 0 {
		c.HA.Lease = 30 * time.Second
	}
	if c.HA.RenewInterval == 0 {
		c.HA.RenewInterval = c.HA.Lease / 3
	}
	if c.Audit.File == "" {
		c.Audit.File = filepath.Join(filepath.Dir(c.State.Path), "audit.jsonl")
	}
	for _, p := range []*string{&c.State.Path, &c.Log.File, &c.Cloud.ClientSecretFile, &c.Cloud.CertificateFile, &c.Cloud.CAFile,
		&c.Directory.PasswordFile, &c.Directory.CAFile, &c.Server.TLSCertFile, &c.Server.TLSKeyFile, &c.Server.ClientCAFile, &c.Server.TokenFile, &c.Audit.File, &c.Alerts.WebhookURLFile, &c.State.URLFile} {
		if *p != "" && *p != "off" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	var err, uerr, kerr error
	c.Alerts.WebhookURL, err = secret.Resolve(c.Alerts.WebhookURL, "alerts.webhook_url", c.Alerts.WebhookURLFile, "alerts.webhook_url_file", EnvAlertsWebhookURL)
	c.State.URL, uerr = secret.Resolve(c.State.URL, "state.url", c.State.URLFile, "state.url_file", EnvStateURL)
	if f := c.Writeback.PlanKeyFile; f != "" {
		if !filepath.IsAbs(f) {
			c.Writeback.PlanKeyFile = filepath.Join(dir, f)
		}
		c.Writeback.PlanKey, kerr = secret.Resolve(secret.Value{}, "", c.Writeback.PlanKeyFile, "writeback.plan_key_file", "")
		if kerr == nil && len(c.Writeback.PlanKey.Reveal()) < 32 {
			kerr = fmt.Errorf("writeback.plan_key_file: %s holds fewer than 32 characters: make one with `openssl rand -hex 32`", c.Writeback.PlanKeyFile)
		}
	}
	return errors.Join(c.Cloud.Complete("cloud."), c.Directory.Complete("directory."), err, uerr, kerr)
}

func validDN(s string) bool {
	_, err := ldap.ParseDN(s)
	return err == nil
}

// Place is an OU the tool writes groups to, and the key that names it.
type Place struct{ Key, DN string }

// Places are the OUs groups are written to or moved to: the target OU,
// each placement rule's OU (once), and the quarantine OU.
func (c *Config) Places() []Place {
	places := []Place{{"writeback.target_ou", c.Writeback.TargetOU}}
	for i, r := range c.Writeback.Placement {
		if !slices.ContainsFunc(places, func(p Place) bool { return policy.SameDN(p.DN, r.OU) }) {
			places = append(places, Place{fmt.Sprintf("writeback.placement[%d].ou", i), r.OU})
		}
	}
	if q := c.Writeback.QuarantineOU; q != "" {
		places = append(places, Place{"writeback.quarantine_ou", q})
	}
	return places
}

func (c *Config) validatePlacement(checkOU func(key, dn string), bad func(key, format string, args ...any)) {
	for i, r := range c.Writeback.Placement {
		key := fmt.Sprintf("writeback.placement[%d]", i)
		if r.OU == "" {
			bad(key+".ou", "required: the OU the rule's groups are written to")
		} else {
			checkOU(key+".ou", r.OU)
		}
		if r.Kind != "" && r.Kind != "microsoft365" && r.Kind != "security" {
			bad(key+".kind", "%q is not microsoft365 or security", r.Kind)
		}
		if _, err := path.Match(r.DisplayName, ""); err != nil {
			bad(key+".display_name", "pattern %q: %v", r.DisplayName, err)
		}
		if d := strings.TrimPrefix(r.MailDomain, "@"); r.MailDomain != "" && (!strings.Contains(d, ".") || strings.ContainsAny(d, "@ /")) {
			bad(key+".mail_domain", "%q is not a mail domain such as contoso.com", r.MailDomain)
		}
		switch {
		case r.Extension != "" && !extensionName.MatchString(r.Extension):
			bad(key+".extension", "%q is neither extensionAttribute1…15 nor a directory extension extension_<appId without hyphens>_<name>", r.Extension)
		case r.Extension == "" && r.ExtensionValue != "":
			bad(key+".extension_value", "needs extension: the property whose value it matches")
		}
		if _, err := path.Match(r.ExtensionValue, ""); err != nil {
			bad(key+".extension_value", "pattern %q: %v", r.ExtensionValue, err)
		}
	}
}

// Validate reports every problem in the configuration at once.
func (c *Config) Validate() error {
	errs := []error{c.Cloud.Validate("cloud."), c.Directory.Validate("directory.")}
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	// checkOU checks an OU groups are written to or moved to.
	checkOU := func(key, dn string) {
		switch {
		case !validDN(dn):
			bad(key, "%q is not a DN", dn)
		case c.Directory.BaseDN != "" && !policy.Within(dn, c.Directory.BaseDN):
			bad(key, "%q is not under directory.base_dn %q", dn, c.Directory.BaseDN)
		default:
			if err := directory.CheckOUName(dn, c.Directory.BaseDN); err != nil {
				bad(key, "%v", err)
			}
		}
	}
	if u := c.State.URL.Reveal(); u != "" && !state.IsPostgres(u) {
		bad("state.url", "not a PostgreSQL URL (postgres://user@host/database); for a SQLite file, set state.path")
	}
	if c.State.Shared() && c.Mode == "staging" {
		bad("mode", "staging with a shared state (state.url): the instances sharing a state elect one writer, and the others already stand by as staging servers; "+
			"a staging server of its own needs a state of its own (state.path)")
	}
	if c.HA.Lease < 3*time.Second {
		bad("ha.lease", "%s is less than 3s: a lease that short runs out between renewals on a busy database", c.HA.Lease)
	}
	if c.HA.RenewInterval <= 0 || c.HA.RenewInterval > c.HA.Lease/2 {
		bad("ha.renew_interval", "%s must be positive and at most half of ha.lease (%s), so that a renewal that fails is tried again before the lease runs out",
			c.HA.RenewInterval, c.HA.Lease)
	}
	if strings.Contains(c.HA.Instance, "/") {
		bad("ha.instance", "%q: a name without /", c.HA.Instance)
	}
	if c.Writeback.TargetOU == "" {
		bad("writeback.target_ou", "required: the OU groups are written to, e.g. OU=Cloud Groups,DC=contoso,DC=com")
	} else {
		checkOU("writeback.target_ou", c.Writeback.TargetOU)
	}
	c.validatePlacement(checkOU, bad)
	if s := c.Writeback.SourceOfAuthority; s != "report" && s != "in_place" {
		bad("writeback.source_of_authority", "%q is not report or in_place", s)
	}
	if n := c.Writeback.Naming; n != NamingDisplayName && n != NamingObjectID {
		bad("writeback.naming", "%q is not %s or %s", n, NamingDisplayName, NamingObjectID)
	}
	quarantine := false
	for key, v := range map[string]string{"on_soft_delete": c.Writeback.OnSoftDelete, "on_hard_delete": c.Writeback.OnHardDelete,
		"on_writeback_disabled": c.Writeback.OnWritebackDisabled, "on_out_of_scope": c.Writeback.OnOutOfScope, "on_disable": c.Writeback.OnDisable} {
		switch v {
		case "keep", "delete":
		case "quarantine":
			quarantine = true
		default:
			bad("writeback."+key, "%q is not keep, delete or quarantine", v)
		}
	}
	switch q := c.Writeback.QuarantineOU; {
	case q == "" && quarantine:
		bad("writeback.quarantine_ou", "required when a writeback.on_* policy is quarantine")
	case q == "":
	default:
		checkOU("writeback.quarantine_ou", q)
		for _, p := range c.Places() {
			if p.Key != "writeback.quarantine_ou" && p.DN != "" && (policy.Within(q, p.DN) || policy.Within(p.DN, q)) {
				bad("writeback.quarantine_ou", "must be apart from %s, neither inside the other", p.Key)
			}
		}
	}
	if p := c.Writeback.DeleteThresholdPercent; p != nil && (*p < 0 || *p > 100) {
		bad("writeback.delete_threshold_percent", "must be 0 (off) to 100")
	}
	if c.Writeback.MemberLimit < 0 {
		bad("writeback.member_limit", "must be 0 (no limit) or more")
	}
	if c.Writeback.DeleteThreshold != nil && *c.Writeback.DeleteThreshold < 0 {
		bad("writeback.delete_threshold", "must be 0 or more")
	}
	for _, k := range c.Writeback.Scope.Kinds {
		if k != "microsoft365" && k != "security" {
			bad("writeback.scope.kinds", "%q is not microsoft365 or security", k)
		}
	}
	for _, p := range append(append([]string{}, c.Writeback.Scope.IncludeNames...), c.Writeback.Scope.ExcludeNames...) {
		if _, err := path.Match(p, ""); err != nil {
			bad("writeback.scope", "name pattern %q: %v", p, err)
		}
	}
	if f := c.Alerts.Format; f != "json" && f != "slack" && f != "teams" {
		bad("alerts.format", "%q is not json, slack or teams", f)
	}
	if u := c.Alerts.WebhookURL.Reveal(); u != "" {
		if parsed, err := url.Parse(u); err != nil || (parsed.Scheme != "https" && parsed.Scheme != "http") || parsed.Host == "" {
			bad("alerts.webhook_url", "not an http(s) URL")
		}
	}
	if c.Alerts.RepeatAfter < 0 || c.Alerts.StagingAfter < 0 {
		bad("alerts", "repeat_after and staging_after must be positive durations")
	}
	if d := c.Audit.RetentionDays; d != nil && *d < 0 {
		bad("audit.retention_days", "must be 0 (keep every entry) or more")
	}
	if c.Mode != "normal" && c.Mode != "staging" {
		bad("mode", "%q is not normal or staging", c.Mode)
	}
	if c.Schedule.Interval < time.Minute {
		bad("schedule.interval", "%s is shorter than a minute", c.Schedule.Interval)
	}
	if c.Schedule.FullInterval < c.Schedule.Interval {
		bad("schedule.full_interval", "%s is shorter than schedule.interval", c.Schedule.FullInterval)
	}
	if c.Schedule.CycleTimeout < time.Second {
		bad("schedule.cycle_timeout", "%s is shorter than a second", c.Schedule.CycleTimeout)
	}
	if l := c.Server.Listen; l != "off" {
		if _, _, err := net.SplitHostPort(l); err != nil {
			bad("server.listen", "%q is not host:port (or off): %v", l, err)
		}
	}
	if (c.Server.TLSCertFile == "") != (c.Server.TLSKeyFile == "") {
		bad("server.tls_cert_file", "server.tls_cert_file and server.tls_key_file go together")
	}
	if c.Server.ClientCAFile != "" && c.Server.TLSCertFile == "" {
		bad("server.client_ca_file", "client certificates need TLS: set server.tls_cert_file and server.tls_key_file")
	}
	if f := c.Server.TokenFile; f != "" {
		if tok, err := os.ReadFile(f); err != nil {
			bad("server.token_file", "%v", err)
		} else if len(strings.TrimSpace(string(tok))) < 16 {
			bad("server.token_file", "the token in %s is shorter than 16 characters", f)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		bad("log.format", "%q is not text or json", c.Log.Format)
	}
	return errors.Join(errs...)
}
