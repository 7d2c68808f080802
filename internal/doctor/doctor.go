// Package doctor checks every prerequisite of writeback, in order, and says
// for each what is wrong and how to fix it: the configuration, Graph (token,
// permissions), the domain controller (reachable, TLS, bind), the OUs and
// the rights on them, and the schema.
package doctor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/config"
	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/directory/kerberos"
	"github.com/groupwriteback/groupwriteback/internal/graph"
	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/store"
)

// Status of one check.
type Status string

// Statuses. Only fail makes doctor exit non-zero.
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Check is the outcome of one check.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Report is every check, in order.
type Report struct {
	Checks []Check `json:"checks"`
	// Schema is what the schema probe found, when it ran.
	Schema *directory.Schema `json:"-"`
}

// OK reports whether no check failed.
func (r *Report) OK() bool {
	for _, c := range r.Checks {
		if c.Status == Fail {
			return false
		}
	}
	return true
}

func (r *Report) add(name string, s Status, detail, fix string) {
	r.Checks = append(r.Checks, Check{Name: name, Status: s, Detail: detail, Fix: fix})
}

// Options tune the checks.
type Options struct {
	// WithoutExchange: Microsoft 365 groups are to be written without mail
	// attributes, so a missing Exchange schema is a warning.
	WithoutExchange bool
	Logger          *slog.Logger
}

// Run checks everything the configuration at path needs. cfg is nil when
// the configuration did not load; err says why.
func Run(ctx context.Context, cfg *config.Config, cfgErr error, o Options) *Report {
	r := &Report{}
	if cfgErr != nil {
		r.add("config", Fail, cfgErr.Error(), "correct the keys named above (examples/config.yaml explains each)")
		return r
	}
	r.add("config", Pass, "the configuration is valid", "")
	var exposure, other []string
	for _, w := range cfg.Warnings() {
		if strings.HasPrefix(w, "server.") {
			exposure = append(exposure, w)
		} else {
			other = append(other, w)
		}
	}
	if len(exposure) > 0 {
		r.add("server: exposure", Warn, strings.Join(exposure, "; "), "keep server.listen on loopback, or give it TLS and a token or client certificates (examples/config.yaml, server)")
	}
	for _, w := range other {
		key, _, _ := strings.Cut(w, ":")
		r.add("config: "+key, Warn, w, "see "+key+" in examples/config.yaml")
	}
	checkGraph(ctx, r, cfg, o)
	checkDirectory(ctx, r, cfg, o)
	if cfg.State.Shared() {
		checkSharedState(ctx, r, cfg)
	}
	return r
}

// checkSharedState checks a PostgreSQL state (state.url) without writing
// to it: reachable and signed in to, its schema, and who holds the writer
// lease.
func checkSharedState(ctx context.Context, r *Report, cfg *config.Config) {
	p, err := store.ProbePostgres(ctx, cfg.State.URL.Reveal())
	if p == nil || p.ServerVersion == "" {
		r.add("state: PostgreSQL", Fail, err.Error(), "check state.url (host, port, database, sslmode), the password (PGPASSWORD or ~/.pgpass of the service account), "+
			"and that the server's pg_hba.conf lets this host in")
		return
	}
	r.add("state: PostgreSQL", Pass, fmt.Sprintf("connected to %s (PostgreSQL %s)", p.Where, p.ServerVersion), "")
	switch {
	case err != nil:
		r.add("state: schema", Fail, err.Error(), "")
	case p.Schema > p.Known:
		r.add("state: schema", Fail, fmt.Sprintf("version %d, newer than this groupwriteback knows (%d)", p.Schema, p.Known),
			"run the same groupwriteback version as the other instances sharing the state")
	case p.Schema == 0 && !p.MayCreate:
		r.add("state: schema", Fail, "the database is empty, and the role may not create tables in it",
			"make the role the database's owner (ALTER DATABASE … OWNER TO …), or grant it CREATE on the database and on schema public")
	case p.Schema == 0:
		r.add("state: schema", Pass, "the database is empty: the first instance that opens it makes the schema", "")
	case p.Schema < p.Known:
		r.add("state: schema", Pass, fmt.Sprintf("version %d; the first instance of this version that opens it migrates it to %d (the others must be upgraded too)", p.Schema, p.Known), "")
	default:
		r.add("state: schema", Pass, fmt.Sprintf("version %d, as this groupwriteback writes it", p.Schema), "")
	}
	switch l := p.Lease; {
	case l == nil:
	case l.Held():
		r.add("state: writer lease", Pass, fmt.Sprintf("held by %s since %s (token %d): an instance started here stands by until it runs out",
			state.HolderName(l.Holder), l.Acquired.UTC().Format(time.RFC3339), l.Token), "")
	default:
		r.add("state: writer lease", Pass, "free: the first instance to start takes it and writes", "")
	}
}

func checkGraph(ctx context.Context, r *Report, cfg *config.Config, o Options) {
	hc, err := cfg.Cloud.HTTPClient()
	if err != nil {
		r.add("graph: token", Fail, err.Error(), "fix cloud.ca_file")
		return
	}
	cred, err := cfg.Cloud.TokenCredential(hc)
	if err != nil {
		r.add("graph: token", Fail, err.Error(), "fix cloud.certificate_file or the credential keys")
		return
	}
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := cred.GetToken(tctx, policy.TokenRequestOptions{Scopes: []string{graph.Scope(cfg.Cloud.GraphURL)}}); err != nil {
		if c := graph.Explain(err); c.Kind == "tls" || c.Kind == "network" {
			r.add("graph: token", Fail, "cannot reach "+cfg.Cloud.AuthorityURL+": "+c.Detail, c.Fix)
			return
		}
		r.add("graph: token", Fail, tokenError(err),
			"check cloud.tenant_id, cloud.client_id and the secret or certificate of the app registration; AADSTS codes are explained at https://login.microsoftonline.com/error")
		return
	}
	r.add("graph: token", Pass, fmt.Sprintf("signed in to tenant %s as app %s at %s", cfg.Cloud.TenantID, cfg.Cloud.ClientID, cfg.Cloud.AuthorityURL), "")
	client, err := cfg.Cloud.Client(hc, cred, o.Logger, graph.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Second, MaxDelay: 5 * time.Second})
	if err != nil {
		r.add("graph: read", Fail, err.Error(), "fix cloud.graph_url")
		return
	}
	client.SelectGroupExtensions(cfg.GroupExtensions()) // the probes ask what sync asks
	one := url.Values{"$top": {"1"}, "$select": {"id"}}
	for _, p := range []struct {
		name, path, perm string
		q                url.Values
	}{
		{"graph: read groups", "/v1.0/groups", "Group.Read.All", one},
		{"graph: read users", "/v1.0/users", "User.Read.All", one},
		{"graph: read writebackConfiguration (beta)", "/beta/groups", "Group.Read.All", url.Values{"$top": {"1"}, "$select": {"id,writebackConfiguration"}}},
	} {
		if err := client.Probe(ctx, p.path, p.q); err != nil {
			detail, fix := firstLine(err.Error()), "check that "+cfg.Cloud.GraphURL+" is reachable from here"
			if c := graph.Explain(err); c.Kind == "tls" || c.Kind == "network" {
				detail, fix = "cannot reach "+cfg.Cloud.GraphURL+": "+c.Detail, c.Fix
			}
			if isStatus(err, 403) {
				fix = "grant the app the Microsoft Graph application permission " + p.perm + " and give admin consent"
			}
			r.add(p.name, Fail, detail, fix)
			continue
		}
		r.add(p.name, Pass, "allowed", "")
	}
	for _, p := range client.DeltaProbes() {
		name := "graph: " + p.Name + " delta, as sync reads it"
		switch err := client.ProbeDelta(ctx, p); {
		case err == nil:
			r.add(name, Pass, "Graph answers the sync's first request ("+strings.SplitN(p.URL, "?", 2)[0]+" with its $select)", "")
		case isStatus(err, 403):
			r.add(name, Fail, firstLine(err.Error()), "grant the app the Microsoft Graph application permissions Group.Read.All and User.Read.All and give admin consent")
		case isStatus(err, 400) && strings.Contains(err.Error(), "extension_"):
			r.add(name, Fail, "Graph refuses the request every sync starts with: "+firstLine(err.Error()),
				"a writeback.placement extension is no directory extension defined for groups in this tenant: check its name "+
					"(extension_<appId of the app that defines it, without hyphens>_<name>) and that its targetObjects include Group")
		case isStatus(err, 400):
			r.add(name, Fail, "Graph refuses the request every sync starts with: "+firstLine(err.Error()),
				"Graph changed under groupwriteback (a property of its $select, or the beta endpoint); upgrade groupwriteback, or report this message")
		default:
			detail, fix := firstLine(err.Error()), "check that "+cfg.Cloud.GraphURL+" is reachable from here"
			if c := graph.Explain(err); c.Kind == "tls" || c.Kind == "network" {
				detail, fix = "cannot reach "+cfg.Cloud.GraphURL+": "+c.Detail, c.Fix
			}
			r.add(name, Fail, detail, fix)
		}
	}
	unset := "Microsoft 365 groups whose writebackConfiguration.isEnabled is unset are written back, as Connect does"
	if d := cfg.Cloud.UnifiedWritebackDefault; d != nil && !*d {
		unset = "Microsoft 365 groups whose writebackConfiguration.isEnabled is unset are left out (cloud.unified_writeback_default: false)"
	}
	switch v, set, err := client.UnifiedWritebackDefault(ctx); {
	case err != nil && isStatus(err, 403):
		r.add("graph: tenant writeback default", Warn, "the app may not read the Group.Unified setting, so it cannot be shown (it decides nothing here); "+unset,
			"optional: grant GroupSettings.Read.All (Group.Read.All also reads it)")
	case err != nil:
		r.add("graph: tenant writeback default", Warn, firstLine(err.Error()), "")
	case !set:
		r.add("graph: tenant writeback default", Pass, "NewUnifiedGroupWritebackDefault is not set; "+unset, "")
	default:
		r.add("graph: tenant writeback default", Pass, fmt.Sprintf("NewUnifiedGroupWritebackDefault = %v: Entra stamps writebackConfiguration.isEnabled = %v "+
			"on Microsoft 365 groups created from when it was set, and groupwriteback follows each group's isEnabled; %s", v, v, unset), "")
	}
}

func checkDirectory(ctx context.Context, r *Report, cfg *config.Config, o Options) {
	d := cfg.Directory
	cands, err := d.Candidates(ctx)
	if err != nil {
		r.add("ldap: domain controllers", Fail, err.Error(), "check directory.domain (and site) and that this machine's DNS serves the domain's _ldap._tcp.dc._msdcs records")
		return
	}
	if len(cands) > 1 {
		r.add("ldap: domain controllers", Pass, strings.Join(cands, ", ")+" (tried in this order)", "")
	}
	// The checks below are of the first DC that answers, as a cycle finds
	// it: one that does not accept connections, or accepts them and never
	// answers (hung), is named, and the next is tried.
	timeout := probeTimeout
	if d.Timeout > 0 && d.Timeout < timeout {
		timeout = d.Timeout
	}
	var u *url.URL
	var host string
	var first string // the first DC that answers
	var tlsErr error
	for _, c := range cands {
		u, _ = url.Parse(c)
		host = hostPort(u)
		stage, err := probeDC(ctx, &d, u, host, timeout)
		var nerr net.Error
		switch {
		case err == nil:
			first = c
		case stage == "tls" && !(errors.As(err, &nerr) && nerr.Timeout()):
			// The DC answered, with a certificate this machine does not
			// trust: every DC of the domain is likely to.
			first, tlsErr = c, err
		case len(cands) > 1:
			r.add("ldap: reachable: "+c, Warn, dcProblem(stage, err, timeout), "a domain controller of the list does not answer: the others are used (as a cycle does, after directory.timeout)")
			continue
		default:
			r.add("ldap: reachable", Fail, dcProblem(stage, err, timeout), "check directory.url, DNS and the firewall between here and the DC (TCP "+host+"), and that the DC's LDAP service answers")
			return
		}
		break
	}
	if first == "" {
		r.add("ldap: reachable", Fail, "no domain controller of the list answers", "check directory.urls, DNS and the firewall between here and the DCs")
		return
	}
	r.add("ldap: reachable", Pass, host+" answers", "")
	if tlsErr != nil {
		r.add("ldap: TLS verified", Fail, tlsErr.Error(),
			"put the CA that signed the DC's certificate in directory.ca_file, and make sure the certificate names the host in directory.url")
		return
	}
	if u.Scheme == "ldaps" {
		r.add("ldap: TLS verified", Pass, "the DC's certificate is trusted and names "+u.Hostname(), "")
	}
	// The DCs that did not answer are not tried again for the bind: the
	// one that answered comes first.
	if len(d.URLs) > 1 {
		d.URLs = append([]string{first}, slices.DeleteFunc(slices.Clone(d.URLs), func(c string) bool { return c == first })...)
	}
	if d.UsesKerberos() && !checkKerberos(ctx, r, &d, cands) {
		return
	}
	c, err := d.Open(ctx, o.Logger)
	if err != nil {
		fix := "check directory.bind_dn and the password"
		switch {
		case d.UsesKerberos():
			fix = kerberos.Fix(err)
		case !directory.IsCode(err, 49):
			fix = "see the error; with ldap:// the DC must offer StartTLS"
		}
		r.add("ldap: bind", Fail, err.Error(), fix)
		return
	}
	defer c.Close()
	r.add("ldap: bind", Pass, "bound as "+d.Account()+"; the connection is protected by "+c.Protection(), "")
	checkPrivileges(ctx, r, c)
	if d.GlobalCatalog != "" {
		u, _ := c.GCURL()
		if sids, err := c.ForestDomainSIDs(ctx); err != nil {
			r.add("ldap: global catalog", Fail, err.Error(), "directory.global_catalog must name a global catalog server's GC port: ldaps://<gc>:3269, "+
				"or ldap://<gc>:3268 with start_tls or Kerberos (auto: the DC in use, which must then be a global catalog)")
		} else {
			r.add("ldap: global catalog", Pass, fmt.Sprintf("%s answers for %d domain(s) of the forest: members of any of them are found", u, len(sids)), "")
		}
	}
	s := c.Schema()
	r.Schema = &s
	for _, p := range cfg.Places() {
		ou := struct{ key, dn string }{p.Key, p.DN}
		name := "ldap: " + ou.key + " exists"
		ok, err := c.Exists(ctx, ou.dn)
		switch {
		case err != nil:
			r.add(name, Fail, err.Error(), "")
			continue
		case !ok:
			r.add(name, Fail, ou.dn+" does not exist", "create the OU, or correct "+ou.key)
			continue
		}
		r.add(name, Pass, ou.dn, "")
		if err := c.CheckContainer(ctx, ou.dn, true); err != nil {
			r.add("ldap: "+ou.key+" is a safe place for groups", Fail, err.Error(),
				"give written-back groups an OU of their own (e.g. OU=Cloud Groups,"+cfg.Directory.BaseDN+"), created for them: the tool deletes and "+
					"quarantines groups there, so it must hold nothing of the domain's own, and no critical system object")
			continue
		}
		rights := "ldap: may create, modify and delete groups in " + ou.key
		create, err := c.CanCreateGroups(ctx, ou.dn)
		if err != nil || !create {
			detail := "the account may not create groups in " + ou.dn
			if err != nil {
				detail = err.Error()
			}
			r.add(rights, Fail, detail, "delegate to "+d.Account()+" on "+ou.dn+": create and delete group objects, and write all properties of group objects (docs: least rights)")
			continue
		}
		if err := c.ProbeWrites(ctx, ou.dn); err != nil {
			r.add(rights, Fail, err.Error(), "delegate to "+d.Account()+" on "+ou.dn+": create and delete group objects, and write all properties of group objects")
			continue
		}
		r.add(rights, Pass, "created, modified and deleted a probe group; nothing left behind", "")
	}
	switch {
	case s.Exchange:
		detail := "the Exchange attributes groupwriteback writes are in the schema"
		if s.ExchangeVersion > 0 {
			detail += fmt.Sprintf(" (ms-Exch-Schema-Version-Pt %d)", s.ExchangeVersion)
		}
		r.add("schema: Exchange", Pass, detail, "")
	case o.WithoutExchange || onlySecurity(cfg):
		r.add("schema: Exchange", Warn, fmt.Sprintf("absent (missing %v): Microsoft 365 groups are written without mail attributes", s.Missing), "")
	default:
		r.add("schema: Exchange", Fail, fmt.Sprintf("absent (missing %v): Microsoft 365 groups need it for their mail attributes", s.Missing),
			"extend the schema with Exchange's (setup /PrepareSchema), or enable with --without-exchange to write them without mail attributes, or limit writeback.scope.kinds to security")
	}
	checkProtected(ctx, r, c)
	if s.AnchorAttribute {
		r.add("schema: msDS-ExternalDirectoryObjectId", Pass, "present (Windows Server 2016 schema or later): it holds the anchor with adminDescription", "")
	} else {
		r.add("schema: msDS-ExternalDirectoryObjectId", Warn, "absent (schema older than Windows Server 2016): adminDescription alone is the anchor",
			"optional: raise the schema to Windows Server 2016 or later")
	}
}

// checkProtected names the groups the tool wrote that sit in a
// privileged group (an admin nested them there, or AD marks them
// adminCount=1): the write gate adds no member to them, so the cloud
// group's members stop reaching them.
func checkProtected(ctx context.Context, r *Report, c *directory.Client) {
	const name = "ldap: written-back groups in privileged groups"
	groups, err := c.PrivilegedGroups(ctx)
	if err != nil {
		r.add(name, Warn, "cannot walk the privileged groups: "+err.Error(), "")
		return
	}
	var ours []string
	for _, g := range groups {
		if g.Anchor != "" && strings.HasPrefix(g.Anchor, "Group_") {
			ours = append(ours, fmt.Sprintf("%s (%s): %s", g.DN, g.Anchor, g.Why))
		}
	}
	if len(ours) == 0 {
		r.add(name, Pass, fmt.Sprintf("none: of the %d groups in or under the built-in privileged groups (and those marked adminCount=1), none is written back", len(groups)), "")
		return
	}
	r.add(name, Warn, fmt.Sprintf("%d written-back group(s) are protected, and no member is added to them: %s", len(ours), strings.Join(ours, "; ")),
		"take them out of the privileged groups (whoever controls a cloud group's members must not control a privileged AD group), or stop writing those cloud groups back")
}

// probeTimeout is the longest doctor waits for a DC's answer at each
// stage (connection, TLS handshake, the root DSE).
const probeTimeout = 10 * time.Second

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "636"
	if u.Scheme == "ldap" {
		port = "389"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// probeDC connects to a DC as a cycle would, and reads its root DSE: it
// returns the stage that failed (connect, tls, ldap) and why.
func probeDC(ctx context.Context, d *directory.Config, u *url.URL, host string, timeout time.Duration) (stage string, err error) {
	dialer := net.Dialer{Timeout: timeout}
	conn, err := dialer.DialContext(ctx, "tcp", host)
	if err != nil {
		return "connect", err
	}
	defer conn.Close()
	if u.Scheme == "ldaps" {
		tlsCfg, err := d.TLSConfigFor(u.String())
		if err != nil {
			return "tls", err
		}
		tc := tls.Client(conn, tlsCfg)
		if err := tc.SetDeadline(time.Now().Add(timeout)); err != nil {
			return "tls", err
		}
		if err := tc.HandshakeContext(ctx); err != nil {
			return "tls", err
		}
		conn = tc
	}
	lc := ldap.NewConn(conn, u.Scheme == "ldaps")
	lc.Start()
	lc.SetTimeout(timeout)
	defer lc.Close()
	if _, err := lc.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, int(timeout/time.Second), false,
		"(objectClass=*)", []string{"supportedLDAPVersion"}, nil)); err != nil {
		return "ldap", err
	}
	return "", nil
}

// dcProblem says what a DC did that a cycle cannot use: no connection, or
// a connection and then silence (hung).
func dcProblem(stage string, err error, timeout time.Duration) string {
	var nerr net.Error
	hung := (errors.As(err, &nerr) && nerr.Timeout()) || ldap.IsErrorWithCode(err, ldap.ErrorNetwork) &&
		(strings.Contains(err.Error(), "timed out") || strings.Contains(err.Error(), "timeout"))
	switch {
	case stage == "connect":
		return "does not accept connections: " + err.Error()
	case hung && stage == "tls":
		return fmt.Sprintf("hung: it accepts connections but does not answer (no TLS handshake within %s)", timeout)
	case hung:
		return fmt.Sprintf("hung: it accepts connections but does not answer (no LDAP answer within %s)", timeout)
	}
	return "does not answer as a DC: " + err.Error()
}

func onlySecurity(cfg *config.Config) bool {
	k := cfg.Writeback.Scope.Kinds
	return len(k) == 1 && k[0] == "security"
}

func isStatus(err error, code int) bool {
	var gerr *graph.Error
	return errors.As(err, &gerr) && gerr.StatusCode == code
}

// tokenError keeps the part of an azidentity error that says what is wrong:
// the AADSTS code and its sentence, else the first line.
func tokenError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "AADSTS"); i >= 0 {
		end := strings.IndexAny(msg[i:], "\n\"")
		if end < 0 {
			end = len(msg) - i
		}
		return strings.TrimSpace(msg[i : i+end])
	}
	return firstLine(msg)
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}

// checkPrivileges warns when the bind account holds the domain: it needs
// only the delegated rights on its OUs, and a server running with a Domain
// Admin's password is a domain's worth of risk.
// checkKerberos checks, in the order a Kerberos bind needs them, the
// keytab, the clocks, the ticket-granting ticket and each DC's service
// principal. It reports whether the bind is worth trying.
func checkKerberos(ctx context.Context, r *Report, d *directory.Config, cands []string) bool {
	k := d.Kerberos
	if k.Keytab != "" {
		entries, err := kerberos.ReadKeytab(k.Keytab)
		user, realm := d.KerberosUser()
		want := strings.ToLower(user + "@" + realm)
		var mine []string
		aes := false
		for _, e := range entries {
			if strings.ToLower(e.Principal) == want {
				mine = append(mine, fmt.Sprintf("kvno %d %s", e.KVNO, etypeName(e.EType)))
				aes = aes || e.EType == 17 || e.EType == 18
			}
		}
		fix := "export it again: samba-tool domain exportkeytab FILE --principal=" + user + ", or on Windows ktpass /princ " + user + "@" + realm +
			" /mapuser " + user + " /crypto AES256-SHA1 /ptype KRB5_NT_PRINCIPAL /pass * /out FILE; readable by the service's user only"
		switch {
		case err != nil:
			r.add("kerberos: keytab", Fail, err.Error(), fix)
			return false
		case len(mine) == 0:
			r.add("kerberos: keytab", Fail, fmt.Sprintf("%s holds no key for %s (%d keys for others)", k.Keytab, user+"@"+realm, len(entries)), fix)
			return false
		case !aes:
			r.add("kerberos: keytab", Warn, "no AES key for "+user+"@"+realm+": "+strings.Join(mine, ", "), fix)
		default:
			r.add("kerberos: keytab", Pass, fmt.Sprintf("%s: %s", user+"@"+realm, strings.Join(mine, ", ")), "")
		}
	}
	checkClock(ctx, r, d, cands[0])
	id, err := d.OpenIdentity()
	if err != nil {
		r.add("kerberos: ticket-granting ticket", Fail, err.Error(), kerberos.Fix(err))
		return false
	}
	defer id.Close()
	r.add("kerberos: ticket-granting ticket", Pass, "the KDC gave "+id.Name()+" a ticket-granting ticket", "")
	ok := true
	for _, u := range cands {
		spn := d.SPN(u)
		et, err := kerberos.ServiceTicket(id, spn)
		switch {
		case err != nil && k.CurrentIdentity:
			r.add("kerberos: service principal "+spn, Skip, err.Error(), "")
		case err != nil:
			r.add("kerberos: service principal "+spn, Fail, err.Error(), kerberos.Fix(err))
			ok = false
		default:
			r.add("kerberos: service principal "+spn, Pass, "a service ticket for "+u+", session key "+etypeName(et), "")
		}
	}
	return ok
}

// checkClock compares this machine's clock with the DC's: Kerberos
// refuses tickets when they are more than five minutes apart.
func checkClock(ctx context.Context, r *Report, d *directory.Config, u string) {
	const name = "kerberos: clock"
	fix := "synchronise this machine's clock with the domain (chrony or systemd-timesyncd pointed at the DCs; on Windows, w32time does it)"
	dc, err := d.DCTime(ctx, u)
	if err != nil {
		r.add(name, Skip, "cannot read the DC's clock: "+err.Error(), "")
		return
	}
	skew := time.Since(dc).Round(time.Second)
	if skew < 0 {
		skew = -skew
	}
	switch {
	case skew > 5*time.Minute:
		r.add(name, Fail, fmt.Sprintf("this machine's clock is %s from %s's: Kerberos allows 5m", skew, u), fix)
	case skew > time.Minute:
		r.add(name, Warn, fmt.Sprintf("this machine's clock is %s from %s's (Kerberos allows 5m)", skew, u), fix)
	default:
		r.add(name, Pass, fmt.Sprintf("within %s of %s's", max(skew, time.Second), u), "")
	}
}

// etypeName names a Kerberos encryption type.
func etypeName(et int32) string {
	switch et {
	case 17:
		return "aes128-cts-hmac-sha1-96"
	case 18:
		return "aes256-cts-hmac-sha1-96"
	case 23:
		return "rc4-hmac (no signing or sealing with it: allow AES)"
	}
	return fmt.Sprintf("encryption type %d", et)
}

func checkPrivileges(ctx context.Context, r *Report, c *directory.Client) {
	const name = "ldap: bind account holds no privileged group"
	a, err := c.BindAccount(ctx)
	switch {
	case err != nil:
		r.add(name, Skip, "cannot read the bind account's groups: "+err.Error(), "")
	case len(a.Privileged) > 0:
		r.add(name, Warn, fmt.Sprintf("%s is a member of %s: it can do anything in the domain, and groupwriteback needs none of it",
			a.Name, strings.Join(a.Privileged, ", ")),
			"bind as a plain account with only the delegated rights on the OUs: `groupwriteback doctor --print-delegation` prints the dsacls commands")
	default:
		r.add(name, Pass, a.Name+" is a member of no privileged group (Domain, Enterprise or Schema Admins, Administrators, Account, Server or Backup Operators)", "")
	}
}
