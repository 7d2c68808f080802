package directory

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// ErrUnsafeContainer: a configured OU is no place for the tool to write:
// not an organizational unit, the domain root, a built-in container, or an
// OU holding critical system objects. Whatever the tool deletes or
// quarantines there could be someone else's.
var ErrUnsafeContainer = errors.New("not a safe place to write groups")

// UnsafeContainerError says which OU is refused and why.
type UnsafeContainerError struct {
	DN  string
	Why string
}

func (e *UnsafeContainerError) Error() string {
	return fmt.Sprintf("%s is %v: %s", e.DN, ErrUnsafeContainer, e.Why)
}

func (e *UnsafeContainerError) Unwrap() error { return ErrUnsafeContainer }

// builtinOUs are the organizational units every domain has, which hold
// domain controllers and must never be a target.
var builtinOUs = []string{"Domain Controllers"}

// CheckOUName checks, without asking AD, that dn can be a target OU in the
// domain base: an organizational unit (its first RDN is OU=), not the
// domain root, not a built-in container (CN=Users, CN=Computers,
// CN=Builtin, CN=System, …: their RDN is CN=), not Domain Controllers.
func CheckOUName(dn, base string) error {
	parsed, err := policy.ParseDN(dn)
	if err != nil {
		return fmt.Errorf("%q is not a DN: %w", dn, err)
	}
	if base != "" && policy.SameDN(dn, base) {
		return &UnsafeContainerError{DN: dn, Why: "it is the domain root: the tool would own every group in the domain that carries a Group_ anchor"}
	}
	first := parsed.RDNs[0].Attributes[0]
	if len(parsed.RDNs[0].Attributes) != 1 || !strings.EqualFold(first.Type, "OU") {
		return &UnsafeContainerError{DN: dn, Why: "only an organizational unit (OU=…) can hold written-back groups; " + first.Type + "= names a container " +
			"such as CN=Users or CN=Computers, which hold the domain's own accounts and groups"}
	}
	for _, b := range builtinOUs {
		if strings.EqualFold(first.Value, b) && len(parsed.RDNs) > 1 && isDomainRoot(parsed.RDNs[1:]) {
			return &UnsafeContainerError{DN: dn, Why: "it is the built-in " + b + " OU"}
		}
	}
	return nil
}

// isDomainRoot reports whether rdns are all DC= components.
func isDomainRoot(rdns []*ldap.RelativeDN) bool {
	for _, r := range rdns {
		if len(r.Attributes) != 1 || !strings.EqualFold(r.Attributes[0].Type, "DC") {
			return false
		}
	}
	return true
}

// CheckContainer asks AD whether dn is a safe OU to write groups in: it
// exists, is an organizationalUnit, is not itself a critical system object
// (AD marks Domain Controllers and the built-in containers so), and, when
// deep, holds none (no domain controller, krbtgt or built-in group lives
// anywhere under it). The deep check walks the OU, so cycles make it only
// when they read the whole OU anyway.
func (c *Client) CheckContainer(ctx context.Context, dn string, deep bool) error {
	if err := CheckOUName(dn, c.cfg.BaseDN); err != nil {
		return err
	}
	entries, err := c.search(ctx, dn, ldap.ScopeBaseObject, "(objectClass=*)", []string{"objectClass", "isCriticalSystemObject"})
	if err != nil {
		return err
	}
	if len(entries) != 1 {
		return &Error{Op: "read", DN: dn, Code: ldap.LDAPResultNoSuchObject, Message: "the OU does not exist", Err: ErrNoSuchOU}
	}
	o := reconcile.ADObject{Class: entries[0].GetAttributeValues("objectClass")}
	if !o.HasClass("organizationalUnit") {
		return &UnsafeContainerError{DN: dn, Why: "it is not an organizational unit (objectClass " + strings.Join(o.Class, ", ") + ")"}
	}
	if strings.EqualFold(entries[0].GetAttributeValue("isCriticalSystemObject"), "TRUE") {
		return &UnsafeContainerError{DN: dn, Why: "AD marks it a critical system object (isCriticalSystemObject), as it does Domain Controllers"}
	}
	if !deep {
		return nil
	}
	req := ldap.NewSearchRequest(dn, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 1, 0, false, "(isCriticalSystemObject=TRUE)", []string{"1.1"}, nil)
	c.searches.Add(1)
	var res *ldap.SearchResult
	err = c.do(ctx, "search", func(conn *ldap.Conn) (err error) { res, err = conn.Search(req); return err })
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return wrap("search", dn, err)
	}
	if res != nil && len(res.Entries) > 0 {
		return &UnsafeContainerError{DN: dn, Why: "it holds " + res.Entries[0].DN + ", a critical system object (a domain controller, krbtgt, a built-in account or group)"}
	}
	return nil
}

// ErrNoSuchOU: a configured OU does not exist.
var ErrNoSuchOU = errors.New("no such OU")

// Explain says the refused OU for an admin.
func (e *UnsafeContainerError) Explain() (summary, fix string) {
	return e.DN + " is no safe place to write groups (" + e.Why + ")",
		"give writeback.target_ou (and writeback.quarantine_ou) an OU of their own, made for the groups this tool writes"
}
