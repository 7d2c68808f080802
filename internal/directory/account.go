package directory

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/policy"
)

// Account is the account the client binds as, as AD knows it.
type Account struct {
	DN string
	// Name is DOMAIN\sAMAccountName, as dsacls and Windows name it.
	Name string
	// Privileged names the privileged groups the account is in, directly
	// or through nesting (Domain Admins, Administrators, …).
	Privileged []string
}

// privilegedRIDs are the domain groups that hold the whole domain, by
// their relative id under the domain SID.
var privilegedRIDs = map[string]string{"512": "Domain Admins", "518": "Schema Admins", "519": "Enterprise Admins"}

// privilegedBuiltin are the builtin groups that do, by SID.
var privilegedBuiltin = map[string]string{"S-1-5-32-544": "Administrators", "S-1-5-32-548": "Account Operators",
	"S-1-5-32-549": "Server Operators", "S-1-5-32-551": "Backup Operators"}

// BindAccount reads the account the client is bound as: its DN, its
// DOMAIN\name, and the privileged groups its token holds (tokenGroups:
// every group, nested ones included).
func (c *Client) BindAccount(ctx context.Context) (Account, error) {
	var a Account
	bind := c.cfg.Account()
	filter, base, scope := "(objectClass=*)", bind, ldap.ScopeBaseObject
	if _, err := policy.ParseDN(bind); err != nil || !strings.Contains(bind, "=") {
		// A user principal name or DOMAIN\name: find the account.
		name := bind
		if i := strings.LastIndex(name, `\`); i >= 0 {
			name = name[i+1:]
		}
		name, _, _ = strings.Cut(name, "@") // a Kerberos principal's user
		filter = "(&(objectCategory=person)(|(userPrincipalName=" + ldap.EscapeFilter(bind) + ")(sAMAccountName=" + ldap.EscapeFilter(name) + ")))"
		base, scope = c.cfg.BaseDN, ldap.ScopeWholeSubtree
	}
	entries, err := c.search(ctx, base, scope, filter, []string{"sAMAccountName", "objectSid"})
	if err != nil {
		return a, err
	}
	if len(entries) != 1 {
		return a, fmt.Errorf("directory: the bind account %q: %d objects found", bind, len(entries))
	}
	a.DN = entries[0].DN
	sam := entries[0].GetAttributeValue("sAMAccountName")
	sid := SIDString(entries[0].GetRawAttributeValue("objectSid"))
	a.Name = c.netbiosName(ctx) + `\` + sam
	tg, err := c.search(ctx, a.DN, ldap.ScopeBaseObject, "(objectClass=*)", []string{"tokenGroups"})
	if err != nil {
		return a, err
	}
	domain := sid[:strings.LastIndex(sid, "-")]
	if len(tg) == 1 {
		for _, raw := range tg[0].GetRawAttributeValues("tokenGroups") {
			g := SIDString(raw)
			if name, ok := privilegedBuiltin[g]; ok {
				a.Privileged = append(a.Privileged, name)
			}
			if rid, ok := strings.CutPrefix(g, domain+"-"); ok && privilegedRIDs[rid] != "" {
				a.Privileged = append(a.Privileged, privilegedRIDs[rid])
			}
		}
	}
	return a, nil
}

// netbiosName is the domain's NetBIOS name (its crossRef's nETBIOSName),
// or DOMAIN when it cannot be read.
func (c *Client) netbiosName(ctx context.Context) string {
	root, err := c.search(ctx, "", ldap.ScopeBaseObject, "(objectClass=*)", []string{"configurationNamingContext", "defaultNamingContext"})
	if err != nil || len(root) != 1 {
		return "DOMAIN"
	}
	conf, def := root[0].GetAttributeValue("configurationNamingContext"), root[0].GetAttributeValue("defaultNamingContext")
	refs, err := c.search(ctx, "CN=Partitions,"+conf, ldap.ScopeSingleLevel, "(&(objectClass=crossRef)(nCName="+ldap.EscapeFilter(def)+"))", []string{"nETBIOSName"})
	if err != nil || len(refs) != 1 || refs[0].GetAttributeValue("nETBIOSName") == "" {
		return "DOMAIN"
	}
	return refs[0].GetAttributeValue("nETBIOSName")
}

// Delegation is the dsacls commands that give account the rights
// groupwriteback needs on ou, and nothing more (docs/permissions.md).
func Delegation(ou, account string) []string {
	return []string{
		fmt.Sprintf(`dsacls "%s" /I:T /G "%s:CCDC;group"`, ou, account),
		fmt.Sprintf(`dsacls "%s" /I:S /G "%s:RPWP;;group"`, ou, account),
	}
}
