package doctor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/config"
	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/directory/kerberos"
)

// probeTimeout is the longest doctor waits for a DC's answer at each
// stage (connection, TLS handshake, the root DSE).
const probeTimeout = 10 * time.Second

// checkPlaces checks each configured OU: it exists, is a safe place for
// groups, and the bind account may create, modify and delete groups
// there (a probe group, removed at once).
func checkPlaces(ctx context.Context, r *Report, cfg *config.Config, c *directory.Client, account string) {
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
			r.add(rights, Fail, detail, "delegate to "+account+" on "+ou.dn+": create and delete group objects, and write all properties of group objects (docs: least rights)")
			continue
		}
		if err := c.ProbeWrites(ctx, ou.dn); err != nil {
			r.add(rights, Fail, err.Error(), "delegate to "+account+" on "+ou.dn+": create and delete group objects, and write all properties of group objects")
			continue
		}
		r.add(rights, Pass, "created, modified and deleted a probe group; nothing left behind", "")
	}
}

// checkExchange says whether the Exchange schema the mail-enabled types
// need is there, and what its absence means with this configuration.
func checkExchange(r *Report, cfg *config.Config, s directory.Schema, o Options) {
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
}

// reachDC walks the DCs as a cycle finds one: a DC that does not accept
// connections, or accepts them and never answers (hung), is named, and
// the next is tried. It returns the first that answers, and checks its
// TLS; ok is false when no DC can be used.
func reachDC(ctx context.Context, r *Report, d *directory.Config, cands []string) (first string, ok bool) {
	timeout := probeTimeout
	if d.Timeout > 0 && d.Timeout < timeout {
		timeout = d.Timeout
	}
	var u *url.URL
	var host string
	var tlsErr error
	for _, c := range cands {
		u, _ = url.Parse(c)
		host = hostPort(u)
		stage, err := probeDC(ctx, d, u, host, timeout)
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
			return "", false
		}
		break
	}
	if first == "" {
		r.add("ldap: reachable", Fail, "no domain controller of the list answers", "check directory.urls, DNS and the firewall between here and the DCs")
		return "", false
	}
	r.add("ldap: reachable", Pass, host+" answers", "")
	if tlsErr != nil {
		r.add("ldap: TLS verified", Fail, tlsErr.Error(),
			"put the CA that signed the DC's certificate in directory.ca_file, and make sure the certificate names the host in directory.url")
		return "", false
	}
	if u.Scheme == "ldaps" {
		r.add("ldap: TLS verified", Pass, "the DC's certificate is trusted and names "+u.Hostname(), "")
	}
	return first, true
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
	first, ok := reachDC(ctx, r, &d, cands)
	if !ok {
		return
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
	checkPlaces(ctx, r, cfg, c, d.Account())
	checkExchange(r, cfg, s, o)
	checkProtected(ctx, r, c)
	checkEnforcement(ctx, r, cfg, c)
	checkRestore(ctx, r, cfg, c, s, d.Account())
	checkMatchBases(ctx, r, cfg, c)
	if s.AnchorAttribute {
		r.add("schema: msDS-ExternalDirectoryObjectId", Pass, "present (Windows Server 2016 schema or later): it holds the anchor with adminDescription", "")
	} else {
		r.add("schema: msDS-ExternalDirectoryObjectId", Warn, "absent (schema older than Windows Server 2016): adminDescription alone is the anchor",
			"optional: raise the schema to Windows Server 2016 or later")
	}
}

// checkRestore says whether a group deleted in AD comes back with its
// objectSid (writeback.restore_deleted): the bind account deletes a probe
// group in the target OU and restores it, as a cycle would.
func checkRestore(ctx context.Context, r *Report, cfg *config.Config, c *directory.Client, s directory.Schema, account string) {
	const name = "ldap: may restore deleted groups (writeback.restore_deleted)"
	rights := "delegate to " + account + ": List Contents and Read Property on CN=Deleted Objects," + cfg.Directory.BaseDN +
		" (after dsacls … /takeownership), and the Reanimate Tombstones right on the domain: `groupwriteback doctor --print-delegation` prints the commands " +
		"(docs/permissions.md); or set writeback.restore_deleted: false to create such groups anew on purpose"
	switch {
	case !*cfg.Writeback.RestoreDeleted:
		r.add(name, Skip, "writeback.restore_deleted is false: a group deleted in AD is created anew, with a new objectSid", "")
		return
	case !s.AnchorAttribute:
		r.add(name, Warn, "the schema lacks msDS-ExternalDirectoryObjectId (older than Windows Server 2016): a tombstone keeps no anchor "+
			"(adminDescription is not kept), so a group deleted in AD is created anew, with a new objectSid", "raise the schema to Windows Server 2016 or later")
		return
	}
	err := c.ProbeRestore(ctx, cfg.Writeback.TargetOU)
	switch {
	case err == nil:
		r.add(name, Pass, "deleted a probe group in writeback.target_ou and restored it from CN=Deleted Objects: a written-back group deleted in AD "+
			"comes back with its objectSid", "")
	case errors.Is(err, directory.ErrCannotListDeleted):
		r.add(name, Warn, "the account finds nothing in CN=Deleted Objects: a written-back group deleted in AD is created anew, with a new objectSid "+
			"(ACLs and nestings that named the old one are broken)", rights)
	case directory.IsCode(err, 50) || directory.IsCode(err, 1):
		r.add(name, Warn, "the account finds deleted groups, and AD refuses to restore them ("+err.Error()+"): each is created anew, with a new objectSid", rights)
	default:
		r.add(name, Warn, err.Error(), rights)
	}
}

// checkMatchBases says whether writeback.match_unsynced's search bases
// exist (nothing to check without rules): a base that does not exist
// matches no member.
func checkMatchBases(ctx context.Context, r *Report, cfg *config.Config, c *directory.Client) {
	m := cfg.Writeback.MatchUnsynced
	if len(m.Rules) == 0 {
		return
	}
	const name = "ldap: writeback.match_unsynced.search_bases exist"
	var missing []string
	for _, b := range m.SearchBases {
		ok, err := c.Exists(ctx, b)
		switch {
		case err != nil:
			r.add(name, Fail, err.Error(), "")
			return
		case !ok:
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		r.add(name, Fail, fmt.Sprintf("%s not found: members not synced from AD are matched by %v only in the bases that exist", strings.Join(missing, "; "), m.Rules),
			"correct writeback.match_unsynced.search_bases")
		return
	}
	r.add(name, Pass, fmt.Sprintf("members not synced from AD are matched by %v to enabled user accounts under %s", m.Rules, strings.Join(m.SearchBases, "; ")), "")
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

// checkEnforcement finds Microsoft's AD object enforcement policy (Cloud
// Sync, 2026): whether the domain has one, its mode, whether it lets the
// bind account change the objects it marks, and which groups where the
// tool writes carry the mark (msDS-ObjectSoa = Cloud). An enforced policy
// that does not list the account refuses every modify, rename and move of
// a marked group with an access error that names neither.
func checkEnforcement(ctx context.Context, r *Report, cfg *config.Config, c *directory.Client) {
	const name = "ldap: AD object enforcement (msDS-ObjectSoa)"
	var bases []string
	for _, pl := range cfg.Places() {
		bases = append(bases, pl.DN)
	}
	enf, err := c.Enforcement(ctx, bases)
	switch {
	case err != nil:
		r.add(name, Warn, "cannot read the enforcement policy, the bind account's groups or the groups marked msDS-ObjectSoa=Cloud: "+err.Error(), "")
		return
	case enf == nil:
		r.add(name, Pass, "no enforcement policy in this domain ("+directory.SOAPolicyDN(cfg.Directory.BaseDN)+" does not exist): only the delegated rights govern the writes", "")
		return
	}
	mode := enf.Mode
	if mode == "" {
		mode = "no mode named"
	}
	detail := fmt.Sprintf("%s, %s; it allows %d SID(s)", enf.Policy, mode, enf.Listed)
	if len(enf.Unread) > 0 {
		detail += fmt.Sprintf("; values not understood: %s (Microsoft: one invalid SID and the whole policy fails to load, leaving no one allowed)", strings.Join(enf.Unread, ", "))
	}
	fix := fmt.Sprintf("add the bind account's SID %s (%s) to msDS-Settings of %s (ADSI Edit, as Microsoft's break-glass accounts are added), "+
		"or keep Cloud Sync from marking the groups this tool writes", enf.SID, enf.Account, enf.Policy)
	marked := slices.Sorted(maps.Values(enf.Marked))
	examples := strings.Join(marked[:min(3, len(marked))], "; ")
	if len(marked) > 3 {
		examples += "; …"
	}
	switch {
	case enf.Allowed:
		r.add(name, Pass, detail+": the bind account "+enf.Account+" (or a group it is in) is allowed to change marked objects", "")
	case len(marked) == 0:
		r.add(name, Pass, detail+fmt.Sprintf(": the bind account %s is not allowed, and no group where it writes is marked msDS-ObjectSoa=Cloud, so none of its writes is blocked now; "+
			"a group marked later (Cloud Sync's attribute mapping) would be", enf.Account), "")
	case enf.Mode == "Audit":
		r.add(name, Warn, detail+fmt.Sprintf(": %d group(s) where the tool writes are marked msDS-ObjectSoa=Cloud (%s), and the bind account %s is not allowed: "+
			"each of its changes to them is logged as unauthorized in the Directory Service log, and will be refused once the policy is Enforced", len(marked), examples, enf.Account), fix)
	default:
		r.add(name, Fail, detail+fmt.Sprintf(": %d group(s) where the tool writes are marked msDS-ObjectSoa=Cloud (%s), and the bind account %s is not allowed: "+
			"every modify, rename or move of them is refused with an access error", len(marked), examples, enf.Account), fix)
	}
}

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

func onlySecurity(cfg *config.Config) bool {
	k := cfg.Writeback.Scope.Kinds
	return len(k) == 1 && k[0] == "security"
}
