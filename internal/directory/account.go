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
	// SamAccountName and SID are the account's, as samba-tool and
	// PowerShell name it.
	SamAccountName, SID string
	// Privileged names the privileged groups the account is in, directly
	// or through nesting (Domain Admins, Administrators, …).
	Privileged []string
	// Token are the SIDs of every group the account is in (tokenGroups).
	Token []string
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
	a.Name, a.SamAccountName, a.SID = c.netbiosName(ctx)+`\`+sam, sam, sid
	tg, err := c.search(ctx, a.DN, ldap.ScopeBaseObject, "(objectClass=*)", []string{"tokenGroups"})
	if err != nil {
		return a, err
	}
	domain := sid[:strings.LastIndex(sid, "-")]
	if len(tg) == 1 {
		for _, raw := range tg[0].GetRawAttributeValues("tokenGroups") {
			g := SIDString(raw)
			a.Token = append(a.Token, g)
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

// GroupClass is the schemaIDGUID of the group class: the object type of
// the two ACEs groupwriteback needs.
const GroupClass = "bf967a9c-0de6-11d0-a285-00aa003049e2"

// Delegation is how to give a the rights groupwriteback needs on ou, and
// nothing more (docs/permissions.md), in the three forms admins use: dsacls
// (Windows, RSAT), PowerShell (the ActiveDirectory module) and samba-tool
// (on a Samba DC). Each is two ACEs: create and delete groups in the OU
// (this object and below), read and write every property of the groups
// below it. An account that is not known (AD not reached, or the account
// not made yet) is written with placeholders the admin replaces.
type Delegation struct {
	Dsacls, PowerShell, SambaTool []string
}

// names are how the delegation commands name a: DOMAIN\name, its SID
// (a placeholder when not known), and a PowerShell expression of the SID.
func (a Account) names() (name, sid, psSID string) {
	name, sid = a.Name, a.SID
	if sid == "" {
		sid = "<the account's SID>"
	}
	psSID = fmt.Sprintf("[System.Security.Principal.SecurityIdentifier]'%s'", sid)
	if a.SID == "" {
		psSID = fmt.Sprintf("(Get-ADUser -Identity '%s').SID", a.SamAccountName)
	}
	return name, sid, psSID
}

// DelegationFor is the delegation of ou to a.
func DelegationFor(ou string, a Account) Delegation {
	name, sid, psSID := a.names()
	return Delegation{
		Dsacls: []string{
			fmt.Sprintf(`dsacls "%s" /I:T /G "%s:CCDC;group"`, ou, name),
			fmt.Sprintf(`dsacls "%s" /I:S /G "%s:RPWP;;group"`, ou, name),
		},
		PowerShell: []string{
			"$sid = " + psSID,
			"$group = [Guid]'" + GroupClass + "'",
			"$acl = Get-Acl -Path 'AD:\\" + strings.ReplaceAll(ou, "'", "''") + "'",
			"$acl.AddAccessRule((New-Object System.DirectoryServices.ActiveDirectoryAccessRule $sid, 'CreateChild,DeleteChild', 'Allow', $group, 'All'))",
			"$acl.AddAccessRule((New-Object System.DirectoryServices.ActiveDirectoryAccessRule $sid, 'ReadProperty,WriteProperty', 'Allow', 'Descendents', $group))",
			"Set-Acl -Path 'AD:\\" + strings.ReplaceAll(ou, "'", "''") + "' -AclObject $acl",
		},
		SambaTool: []string{
			fmt.Sprintf(`samba-tool dsacl set --objectdn="%s" --sddl="(OA;CI;CCDC;%s;;%s)"`, ou, GroupClass, sid),
			fmt.Sprintf(`samba-tool dsacl set --objectdn="%s" --sddl="(OA;CIIO;RPWP;;%s;%s)"`, ou, GroupClass, sid),
		},
	}
}

// ReanimateTombstones is the Reanimate Tombstones extended right (its
// rightsGuid): with List Contents and Read Property on CN=Deleted
// Objects, what restoring a deleted group needs besides the OU's rights.
const ReanimateTombstones = "45ec5156-db7e-47bb-b53f-dbeb2d03c40f"

// RestoreDelegation is how to give a the rights that restoring deleted
// groups needs (writeback.restore_deleted; docs/permissions.md), in the
// same three forms: list and read CN=Deleted Objects, whose owner must
// first be the admin (dsacls /takeownership: by default only SYSTEM may
// change it), and the Reanimate Tombstones right on the domain. Writing
// the restored group's attributes, and creating it in its OU, are the
// OU's delegation (inherited by the group before it was deleted: a group
// deleted before the delegation needs an admin to restore it).
// PowerShell's AD: drive does not show CN=Deleted Objects, nor can
// samba-tool dsacl (it finds no such object): dsacls and Samba's Python
// bindings, with the Show Deleted control, do that part.
func RestoreDelegation(baseDN string, a Account) Delegation {
	name, sid, psSID := a.names()
	deleted := "CN=Deleted Objects," + baseDN
	path := "'AD:\\" + strings.ReplaceAll(baseDN, "'", "''") + "'"
	return Delegation{
		Dsacls: []string{
			fmt.Sprintf(`dsacls "%s" /takeownership`, deleted),
			fmt.Sprintf(`dsacls "%s" /G "%s:LCRP"`, deleted, name),
			fmt.Sprintf(`dsacls "%s" /G "%s:CA;Reanimate Tombstones"`, baseDN, name),
		},
		PowerShell: []string{
			"# CN=Deleted Objects is not on the AD: drive: use the two dsacls lines above for it",
			"$sid = " + psSID,
			"$acl = Get-Acl -Path " + path,
			"$acl.AddAccessRule((New-Object System.DirectoryServices.ActiveDirectoryAccessRule $sid, 'ExtendedRight', 'Allow', [Guid]'" + ReanimateTombstones + "'))",
			"Set-Acl -Path " + path + " -AclObject $acl",
		},
		SambaTool: []string{
			fmt.Sprintf(`samba-tool dsacl set --objectdn="%s" --sddl="(OA;;CR;%s;;%s)"`, baseDN, ReanimateTombstones, sid),
			fmt.Sprintf(`python3 -c 'import samba.samdb as s, samba.param as p, samba.auth as a, samba.sd_utils as u; lp = p.LoadParm(); lp.load_default(); `+
				`u.SDUtils(s.SamDB(url=lp.samdb_url(), lp=lp, session_info=a.system_session())).dacl_add_ace("%s", "(A;;LCRP;;;%s)")'`, deleted, sid),
		},
	}
}

// PlaceholderAccount is the account named by bind as a guess, for the
// delegation printed before the account exists or when AD cannot be
// reached: DOMAIN\name from the DN's first value, or the user of a UPN.
func PlaceholderAccount(bind, baseDN string) Account {
	name := bind
	if dn, err := policy.ParseDN(bind); err == nil && len(dn.RDNs) > 0 && strings.Contains(bind, "=") {
		name = dn.RDNs[0].Attributes[0].Value
	}
	if i := strings.LastIndex(name, `\`); i >= 0 {
		name = name[i+1:]
	}
	name, _, _ = strings.Cut(name, "@")
	domain := "DOMAIN"
	if dn, err := policy.ParseDN(baseDN); err == nil && len(dn.RDNs) > 0 {
		domain = strings.ToUpper(dn.RDNs[0].Attributes[0].Value)
	}
	return Account{Name: domain + `\` + name, SamAccountName: name}
}
