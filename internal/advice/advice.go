// Package advice says an error for an admin: one line of what went wrong,
// the fix, and the error chain kept as detail. The page, the alert webhook,
// the log and the command line lead with the summary and the fix, as
// doctor does; the chain is there for a bug report.
//
// An error says itself by implementing Explainer anywhere in its chain
// (the adapters' typed errors do: an LDAP result, a Graph answer, a lease
// lost); what none explains falls back on what the chain holds (an LDAP
// result code, a network error, a deadline), and last on its own text.
package advice

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// Explainer is an error that can say itself for an admin.
type Explainer interface {
	// Explain returns one line of what went wrong and what to do.
	Explain() (summary, fix string)
}

// Advice is an error said for an admin.
type Advice struct {
	// Summary is one line: what went wrong, in the admin's words.
	Summary string `json:"summary"`
	// Fix is what to do about it.
	Fix string `json:"fix,omitempty"`
	// Detail is the whole error chain.
	Detail string `json:"detail,omitempty"`
}

// Doctor is the fix when nothing more precise is known.
const Doctor = "run `groupwriteback doctor`: it checks each prerequisite and says how to fix the one that fails"

// For says err for an admin. A nil error gives the zero Advice.
func For(err error) Advice {
	a, _ := explain(err)
	return a
}

// explain is For, and whether anything in the chain was understood (or
// the fallback, the error's innermost part, was used).
func explain(err error) (Advice, bool) {
	if err == nil {
		return Advice{}, true
	}
	a, known := Advice{Detail: err.Error()}, true
	var ex Explainer
	var lerr *ldap.Error
	var nerr net.Error
	switch {
	case errors.As(err, &ex):
		a.Summary, a.Fix = ex.Explain()
	case errors.Is(err, context.DeadlineExceeded):
		a.Summary, a.Fix = "the cycle ran out of time before it ended", "raise schedule.cycle_timeout, or look at which step was slow in the log (a slow DC or Graph throttling); the next cycle goes on from where this one stopped"
	case errors.Is(err, context.Canceled):
		a.Summary, a.Fix = "the cycle was stopped (the service is shutting down)", "nothing to do: the next cycle goes on from where this one stopped"
	case errors.As(err, &lerr):
		a.Summary, a.Fix = LDAP(lerr.ResultCode, "", "")
	case errors.As(err, &nerr):
		a.Summary, a.Fix = "a server could not be reached: "+lastPart(err.Error()), "check that the server named in the detail is up and that this machine reaches it (DNS, firewall, proxy)"
	default:
		a.Summary, a.Fix, known = lastPart(err.Error()), Doctor, false
	}
	if a.Summary == "" {
		a.Summary = lastPart(err.Error())
	}
	if a.Detail == a.Summary {
		a.Detail = ""
	}
	return a, known
}

// Say is err as a group's status says it: the advice's Message when the
// chain holds something understood (an LDAP result, a Graph answer), and
// else the error's own text, which the engine wrote for an admin already.
func Say(err error) string {
	if a, known := explain(err); known {
		return a.Message()
	}
	return err.Error()
}

// Line is the advice on one line: the summary, then the fix.
func (a Advice) Line() string {
	if a.Fix == "" {
		return a.Summary
	}
	return a.Summary + ". Fix: " + a.Fix
}

// Message is the advice in one string, the detail last: for a group's
// status, whose page and command show one message.
func (a Advice) Message() string {
	if a.Detail == "" {
		return a.Line()
	}
	return a.Line() + " (detail: " + a.Detail + ")"
}

// Explained is For(err) when the chain holds something advice
// understands (an Explainer, an LDAP result, a network error, a deadline),
// and false for an error of a kind it knows nothing of (a usage error, a
// refused argument), which is best shown as it is.
func Explained(err error) (Advice, bool) {
	a, known := explain(err)
	return a, known && err != nil
}

// String is the advice as the command line prints it: the summary, the
// fix and the detail on lines of their own.
func (a Advice) String() string {
	var b strings.Builder
	b.WriteString(a.Summary)
	if a.Fix != "" {
		b.WriteString("\n  fix: " + a.Fix)
	}
	if a.Detail != "" {
		b.WriteString("\n  detail: " + a.Detail)
	}
	return b.String()
}

// LDAP says an LDAP result code for an admin; what names the operation
// ("add", "modify") and dn its object, either may be empty.
func LDAP(code uint16, what, dn string) (summary, fix string) {
	on := ""
	if dn != "" {
		on = " " + dn
	}
	switch code {
	case ldap.ErrorNetwork, ldap.LDAPResultUnavailable, ldap.LDAPResultBusy, ldap.LDAPResultServerDown, ldap.LDAPResultConnectError, ldap.LDAPResultTimeout:
		return "the domain controller cannot be reached", "check that the DC in directory.url is up and that this machine reaches its LDAP port (389, or 636 for ldaps), then run `groupwriteback doctor`"
	case ldap.LDAPResultInvalidCredentials:
		return "AD refused the service account's sign-in (invalid credentials)", "check directory.bind_dn and the password file (directory.password_file), and that the account is enabled and its password not expired"
	case ldap.LDAPResultInsufficientAccessRights:
		return "the service account lacks the right to " + orDo(what) + on, "grant the delegation `groupwriteback doctor --print-delegation` prints, then run `groupwriteback doctor` to check it"
	case ldap.LDAPResultNoSuchObject:
		if strings.HasSuffix(what, "members to") || strings.HasSuffix(what, "members from") {
			// The group, or an object a member value names: AD's code
			// does not say which, its text (the detail) does.
			return "AD has no object" + orSome(on) + ", or none a member value of it names",
				"the detail says which: a member deleted, moved or renamed in AD after the cycle looked it up (the next cycle looks it up again), " +
					"or the group deleted by hand (the next cycle creates it again)"
		}
		return "AD has no object" + orSome(on), "check that the OU exists and is spelt as in writeback.target_ou (and writeback.quarantine_ou); `groupwriteback doctor` checks both"
	case ldap.LDAPResultEntryAlreadyExists:
		return "AD already holds an object of that name or sAMAccountName (" + strings.TrimSpace(what+on) + ")",
			"another object has the group's name in its OU or its sAMAccountName in the domain (the detail says which): rename that object, or the cloud group"
	case ldap.LDAPResultConstraintViolation, ldap.LDAPResultAttributeOrValueExists:
		return "AD refused a value of" + orSome(on) + " (constraint violation)", "the detail names the value: often a sAMAccountName or mail already used by another object"
	case ldap.LDAPResultObjectClassViolation, ldap.LDAPResultUndefinedAttributeType:
		return "AD's schema does not allow an attribute written to" + orSome(on), "the Exchange schema may be missing: run `groupwriteback doctor`, which checks the schema"
	case ldap.LDAPResultUnwillingToPerform:
		return "AD is unwilling to " + orDo(what) + on, "the detail holds AD's reason; `groupwriteback doctor` checks the usual causes (rights, a protected object, an unencrypted connection)"
	case ldap.LDAPResultStrongAuthRequired, ldap.LDAPResultConfidentialityRequired:
		return "AD requires a signed or encrypted connection", "use ldaps:// or StartTLS (directory.start_tls), or Kerberos with signing"
	case ldap.LDAPResultSizeLimitExceeded, ldap.LDAPResultTimeLimitExceeded, ldap.LDAPResultAdminLimitExceeded:
		return "AD stopped a search at one of its limits", "raise the DC's MaxPageSize or MaxQueryDuration, or narrow the search bases"
	}
	return fmt.Sprintf("AD refused to %s%s: LDAP result %d (%s)", orDo(what), on, code, ldap.LDAPResultCodeMap[code]), Doctor
}

func orDo(what string) string {
	if what == "" {
		return "do this"
	}
	return what
}

func orSome(on string) string {
	if on == "" {
		return " it needs"
	}
	return on
}

// lastPart is the innermost part of a chain built with ": ", which names
// the cause without the context the wrappers added.
func lastPart(msg string) string {
	msg = strings.TrimSpace(strings.SplitN(msg, "\n", 2)[0])
	if i := strings.LastIndex(msg, ": "); i >= 0 && i+2 < len(msg) {
		return msg[i+2:]
	}
	return msg
}
