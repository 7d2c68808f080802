package gate

import (
	"fmt"
	"strconv"
	"strings"
)

// The built-in privileged groups and accounts, by SID: those AD protects
// with AdminSDHolder, and those that hold the same power in practice
// (Group Policy Creator Owners, Cert Publishers). A group that is one of
// them, or is nested in one at any depth, is protected: no member is ever
// added to it. Microsoft's list: "Appendix C: Protected Accounts and
// Groups in Active Directory" and "Well-known SIDs".
var builtinPrivileged = map[string]string{
	"S-1-5-32-544": "Administrators",
	"S-1-5-32-548": "Account Operators",
	"S-1-5-32-549": "Server Operators",
	"S-1-5-32-550": "Print Operators",
	"S-1-5-32-551": "Backup Operators",
	"S-1-5-32-552": "Replicator",
}

// domainPrivileged are the privileged relative ids of every domain (the
// SID is the domain's, then the RID): Enterprise and Schema Admins live in
// the forest root domain, and are found by their RID in it too.
var domainPrivileged = map[int]string{
	498: "Enterprise Read-only Domain Controllers",
	500: "Administrator",
	502: "krbtgt",
	512: "Domain Admins",
	516: "Domain Controllers",
	517: "Cert Publishers",
	518: "Schema Admins",
	519: "Enterprise Admins",
	520: "Group Policy Creator Owners",
	521: "Read-only Domain Controllers",
	526: "Key Admins",
	527: "Enterprise Key Admins",
}

// PrivilegedName is the name of a built-in privileged group or account by
// its SID, or "" when the SID is none of them.
func PrivilegedName(sid string) string {
	sid = strings.ToUpper(strings.TrimSpace(sid))
	if n := builtinPrivileged[sid]; n != "" {
		return n
	}
	if !strings.HasPrefix(sid, "S-1-5-21-") {
		return ""
	}
	parts := strings.Split(sid, "-")
	if len(parts) != 8 { // S-1-5-21-a-b-c-rid
		return ""
	}
	rid, err := strconv.Atoi(parts[7])
	if err != nil {
		return ""
	}
	return domainPrivileged[rid]
}

// PrivilegedSIDs are the SIDs of the built-in privileged groups and
// accounts of a domain (its SID given), for a search by objectSid.
func PrivilegedSIDs(domainSID string) []string {
	out := make([]string, 0, len(builtinPrivileged)+len(domainPrivileged))
	for sid := range builtinPrivileged {
		out = append(out, sid)
	}
	for rid := range domainPrivileged {
		out = append(out, domainSID+"-"+strconv.Itoa(rid))
	}
	return out
}

// Protection says why obj is a protected group ("" when it is not): it is
// a built-in privileged group, AD marks it adminCount=1, or a group that
// holds it, at any depth, is one of those.
func Protection(obj *Object) string {
	if obj == nil {
		return ""
	}
	if n := PrivilegedName(obj.SID); n != "" {
		return fmt.Sprintf("it is the built-in %s group", n)
	}
	for _, h := range obj.Holders {
		if n := PrivilegedName(h.SID); n != "" {
			return fmt.Sprintf("it is a member, directly or nested, of %s (%s)", h.DN, n)
		}
	}
	if obj.AdminCount {
		return "AD marks it adminCount=1 (it is, or was, a member of a protected group)"
	}
	for _, h := range obj.Holders {
		if h.AdminCount {
			return fmt.Sprintf("it is a member, directly or nested, of %s, which AD marks adminCount=1", h.DN)
		}
	}
	return ""
}
