package config

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/graph"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

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
		if r.GroupScope != "" && !slices.Contains(policy.Scopes, r.GroupScope) {
			bad(key+".group_scope", "%q is not one of %v", r.GroupScope, policy.Scopes)
		}
	}
	c.validateScopes(bad)
}

// validateScopes checks writeback.group_scope, and that the rules that
// share an OU (or use the target OU) give it one scope: the write gate
// allows in each OU groups of its scope, and universal ones.
func (c *Config) validateScopes(bad func(key, format string, args ...any)) {
	w := c.Writeback
	if w.GroupScope != "" && !slices.Contains(policy.Scopes, w.GroupScope) {
		bad("writeback.group_scope", "%q is not one of %v", w.GroupScope, policy.Scopes)
		return
	}
	scopeOf := func(s string) string { return cmp.Or(s, w.GroupScope, policy.ScopeUniversal) }
	byOU := map[string]string{strings.ToLower(w.TargetOU): "writeback.group_scope"}
	scope := map[string]string{strings.ToLower(w.TargetOU): scopeOf("")}
	for i, r := range w.Placement {
		key := fmt.Sprintf("writeback.placement[%d].group_scope", i)
		ou := strings.ToLower(r.OU)
		if other, ok := byOU[ou]; ok && scope[ou] != scopeOf(r.GroupScope) {
			bad(key, "%s, but %s gives the same OU %s: an OU's groups have one scope", scopeOf(r.GroupScope), other, scope[ou])
			continue
		}
		byOU[ou], scope[ou] = key, scopeOf(r.GroupScope)
	}
}

// Validate reports every problem in the configuration at once.
func (c *Config) Validate() error {
	errs := []error{c.Cloud.Validate("cloud."), c.Directory.Validate("directory.")}
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	c.validateState(bad)
	c.validateWriteback(bad)
	c.validateOperations(bad)
	return errors.Join(errs...)
}

// badFunc names a key and says what is wrong with it.
type badFunc func(key, format string, args ...any)

// validateState checks the state and the election (state, mode, ha).
func (c *Config) validateState(bad badFunc) {
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
}

// validateMatch checks writeback.match_unsynced: known rules, each once,
// and search bases under directory.base_dn when there are rules.
func (c *Config) validateMatch(bad badFunc) {
	m := c.Writeback.MatchUnsynced
	seen := map[string]bool{}
	for i, r := range m.Rules {
		key := fmt.Sprintf("writeback.match_unsynced.rules[%d]", i)
		switch {
		case !slices.Contains(policy.MatchRules, policy.MatchRule(r)):
			bad(key, "%q is not one of %v", r, policy.MatchRules)
		case seen[r]:
			bad(key, "%q is listed twice", r)
		}
		seen[r] = true
	}
	if len(m.Rules) > 0 && len(m.SearchBases) == 0 {
		bad("writeback.match_unsynced.search_bases", "required with rules: the OUs holding the user accounts members may be matched to, e.g. OU=Staff,DC=contoso,DC=com")
	}
	for i, b := range m.SearchBases {
		key := fmt.Sprintf("writeback.match_unsynced.search_bases[%d]", i)
		switch {
		case !validDN(b):
			bad(key, "%q is not a DN", b)
		case c.Directory.BaseDN != "" && !policy.Within(b, c.Directory.BaseDN):
			bad(key, "%q is not under directory.base_dn %q", b, c.Directory.BaseDN)
		}
	}
}

// validateWriteback checks where groups go and what becomes of them
// (writeback).
func (c *Config) validateWriteback(bad badFunc) {
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
	if c.Writeback.TargetOU == "" {
		bad("writeback.target_ou", "required: the OU groups are written to, e.g. OU=Cloud Groups,DC=contoso,DC=com")
	} else {
		checkOU("writeback.target_ou", c.Writeback.TargetOU)
	}
	c.validatePlacement(checkOU, bad)
	c.validateMatch(bad)
	if s := c.Writeback.SourceOfAuthority; s != "report" && s != "in_place" {
		bad("writeback.source_of_authority", "%q is not report or in_place", s)
	}
	if n := c.Writeback.MemberBatchSize; n < 100 || n > 5000 {
		bad("writeback.member_batch_size", "%d is not between 100 and 5000", n)
	}
	if s := c.Writeback.SAMOnRename; s != SAMKeep && s != SAMFollow {
		bad("writeback.sam_on_rename", "%q is not %s or %s", s, SAMKeep, SAMFollow)
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
}

// validateOperations checks how the service runs and tells (alerts,
// audit, mode, schedule, server, log).
func (c *Config) validateOperations(bad badFunc) {
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
	if d := c.State.HistoryDays; d != nil && *d < 0 {
		bad("state.history_days", "%d is negative (0 keeps the history forever)", *d)
	}
	if d := c.Audit.RetentionDays; d != nil && *d < 0 {
		bad("audit.retention_days", "must be 0 (keep every entry) or more")
	}
	if c.Mode != "normal" && c.Mode != "staging" {
		bad("mode", "%q is not normal or staging", c.Mode)
	}
	// A quiet delta cycle costs 3 Graph requests and about 0.1 s at
	// 100,000 groups: 10 seconds is a cost Graph's limits carry (a
	// tenth of a request a second), and the run history folds the quiet
	// ones into one row.
	if c.Schedule.Interval < MinInterval {
		bad("schedule.interval", "%s is shorter than %s", c.Schedule.Interval, MinInterval)
	}
	if j := c.Schedule.Jitter; j != nil && (*j < 0 || *j > c.Schedule.Interval/2) {
		bad("schedule.jitter", "%s must be between 0s and half of schedule.interval (%s)", *j, c.Schedule.Interval/2)
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
	if con := c.Server.Console; con.On() {
		u, err := url.Parse(con.PublicURL)
		loopback := err == nil && u.Scheme == "http" && (u.Hostname() == "localhost" || net.ParseIP(u.Hostname()) != nil && net.ParseIP(u.Hostname()).IsLoopback())
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && !loopback) || (u.Path != "" && u.Path != "/"):
			bad("server.console.public_url", "%q is not the https URL browsers reach this server at (scheme and host only; http only on loopback): "+
				"the console's session cookie is Secure", con.PublicURL)
		case c.Server.Listen == "off":
			bad("server.console.public_url", "the console needs the HTTP server: server.listen is off")
		case c.Cloud.Credential == graph.CredentialManagedIdentity:
			bad("server.console.public_url", "a managed identity cannot sign users in: the console needs cloud.credential client_secret, certificate or workload_identity")
		}
		if con.SessionLifetime < 0 || con.SessionLifetime > 7*24*time.Hour {
			bad("server.console.session_lifetime", "%s is not between 0 (8h) and a week", con.SessionLifetime)
		}
	}
	if n := c.Notifications; n.On() {
		u, err := url.Parse(n.PublicURL)
		switch {
		case err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
			bad("notifications.public_url", "%q is not an https URL without a query: Graph posts only to HTTPS", n.PublicURL)
		case u.Path == "" || u.Path == "/" || reservedPath(u.Path):
			bad("notifications.public_url", "the path of %q must be one of its own, such as /graph/notifications: not /, /console, /sync, /metrics, /healthz or /readyz", n.PublicURL)
		case c.Server.Listen == "off":
			bad("notifications.public_url", "notifications need the HTTP server: server.listen is off")
		}
		for _, r := range n.Resources {
			if r != "groups" && r != "users" {
				bad("notifications.resources", "%q is not groups or users", r)
			}
		}
		if !slices.Contains(n.Resources, "groups") {
			bad("notifications.resources", "groups must be watched: a group's changes, members included, come only with it")
		}
		if n.CheckInterval < time.Minute || n.CheckInterval > 24*time.Hour {
			bad("notifications.check_interval", "%s is not between 1m and 24h", n.CheckInterval)
		}
		if n.Debounce < 0 || n.Debounce > time.Minute {
			bad("notifications.debounce", "%s is not between 0s and 1m", n.Debounce)
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
}

// reservedPath reports whether p is, or lies under, a path the service
// serves behind its token or the console's sign-in.
func reservedPath(p string) bool {
	for _, r := range []string{"/console", "/sync", "/metrics", "/healthz", "/readyz"} {
		if p == r || strings.HasPrefix(p, r+"/") {
			return true
		}
	}
	return false
}
