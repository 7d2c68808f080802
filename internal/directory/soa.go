package directory

import (
	"context"
	"regexp"
	"strings"

	"github.com/go-ldap/ldap/v3"
	"github.com/groupwriteback/groupwriteback/internal/gate"
)

// Microsoft's AD object enforcement (Cloud Sync, 2026, preview): objects
// marked msDS-ObjectSoa = Cloud may be modified, renamed, moved and
// restored only by the SIDs a domain policy lists; adds (and, in the
// preview, deletes) stay allowed, and an Audit mode only logs. Microsoft
// documents the policy as the object CN=Cloud,CN=SOA-Policies,CN=System
// of the domain, whose multi-valued msDS-Settings holds the mode's keyword
// (Enforced or Audit) and the allowed SIDs (at most 64; one invalid SID
// and the whole policy fails to load), in how-to-active-directory-object-
// enforcement.md (2026-08-11). The keyword's exact spelling inside the
// values is not documented: a value that reads as a SID is one, a value
// that says Enforced or Audit is the mode, and anything else is reported
// as is.

// SOAAttribute marks an object whose source of authority is the cloud.
const SOAAttribute = "msDS-ObjectSoa"

// SOAPolicy is the enforcement policy as the DC holds it.
type SOAPolicy struct {
	DN string
	// Mode is "Enforced", "Audit", or "" when no value says.
	Mode string
	// Allowed are the SIDs the policy lets change marked objects.
	Allowed []string
	// Other are the values that are neither a mode nor a SID.
	Other []string
}

var sidPattern = regexp.MustCompile(`^S-1-[0-9]+(-[0-9]+)+$`)

// Allows reports whether a token (an account's SID and its groups') holds
// a SID the policy allows.
func (p *SOAPolicy) Allows(token ...string) bool {
	for _, sid := range token {
		for _, a := range p.Allowed {
			if strings.EqualFold(sid, a) {
				return true
			}
		}
	}
	return false
}

// SOAPolicyDN is where the enforcement policy lives in a domain.
func SOAPolicyDN(domain string) string { return "CN=Cloud,CN=SOA-Policies,CN=System," + domain }

// readSOAPolicy reads the domain's enforcement policy; nil when there is none
// (the SOA-Policies container or its Cloud object is absent).
func (c *Client) readSOAPolicy(ctx context.Context) (*SOAPolicy, error) {
	dn := SOAPolicyDN(c.cfg.BaseDN)
	entries, err := c.search(ctx, dn, ldap.ScopeBaseObject, "(objectClass=*)", []string{"msDS-Settings"})
	if err != nil || len(entries) == 0 { // nothing there: no policy
		return nil, err
	}
	p := &SOAPolicy{DN: entries[0].DN}
	for _, v := range entries[0].GetAttributeValues("msDS-Settings") {
		for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == ',' || r == ' ' || r == '=' || r == ':' }) {
			switch {
			case strings.EqualFold(f, "Enforced"), strings.EqualFold(f, "Enforce"):
				p.Mode = "Enforced"
			case strings.EqualFold(f, "Audit"):
				if p.Mode == "" {
					p.Mode = "Audit"
				}
			case sidPattern.MatchString(strings.ToUpper(f)):
				p.Allowed = append(p.Allowed, strings.ToUpper(f))
			default:
				p.Other = append(p.Other, f)
			}
		}
	}
	return p, nil
}

// markedGroups are the groups under base marked msDS-ObjectSoa = Cloud
// (nil when the schema has no such attribute).
func (c *Client) markedGroups(ctx context.Context, base string) ([]string, error) {
	if !c.schema.ObjectSOA {
		return nil, nil
	}
	entries, err := c.search(ctx, base, ldap.ScopeWholeSubtree, "(&(objectClass=group)("+SOAAttribute+"=Cloud))", []string{"1.1"})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.DN)
	}
	return out, nil
}

// Enforcement reads what the domain's AD object enforcement means for the
// bind account's writes under bases (nil when the domain has no policy).
func (c *Client) Enforcement(ctx context.Context, bases []string) (*gate.Enforcement, error) {
	p, err := c.readSOAPolicy(ctx)
	if err != nil || p == nil {
		return nil, err
	}
	a, err := c.BindAccount(ctx)
	if err != nil {
		return nil, err
	}
	e := &gate.Enforcement{Policy: p.DN, Mode: p.Mode, Account: a.Name, SID: a.SID, Allowed: p.Allows(append([]string{a.SID}, a.Token...)...),
		Listed: len(p.Allowed), Unread: p.Other, Marked: map[string]string{}}
	for _, b := range bases {
		dns, err := c.markedGroups(ctx, b)
		if err != nil {
			return nil, err
		}
		for _, dn := range dns {
			e.Marked[strings.ToLower(dn)] = dn
		}
	}
	return e, nil
}
