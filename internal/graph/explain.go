package graph

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
)

// Cause is what lies under a failure to reach Graph or to sign in, and the
// fix for it. azidentity reports a failure to reach the authority as
// "unable to resolve an endpoint: server response error:" and keeps the
// real cause (a certificate, a refused connection) only in its text.
type Cause struct {
	// Kind is tls, network, sign-in or "" (unknown).
	Kind string
	// Detail is the underlying error, one line.
	Detail string
	// Fix says what to do.
	Fix string
}

var (
	tlsText  = regexp.MustCompile(`(tls: [^.\n]*|x509: [^.\n]*)`)
	netText  = regexp.MustCompile(`((dial tcp|lookup) [^\n]*?(connection refused|no such host|i/o timeout|network is unreachable|connection reset by peer|server misbehaving))`)
	aadsText = regexp.MustCompile(`AADSTS\d+[^\n"]*`)
)

// Explain finds the cause of err, from its chain where the error keeps one
// and from its text where it does not (azidentity's).
func Explain(err error) Cause {
	if err == nil {
		return Cause{}
	}
	var verr *tls.CertificateVerificationError
	var uaerr x509.UnknownAuthorityError
	var herr x509.HostnameError
	var ierr x509.CertificateInvalidError
	var nerr *net.OpError
	var derr *net.DNSError
	msg := err.Error()
	switch {
	case errors.As(err, &verr) || errors.As(err, &uaerr) || errors.As(err, &herr) || errors.As(err, &ierr):
		return tlsCause(firstMatch(tlsText, msg))
	case errors.As(err, &derr) || errors.As(err, &nerr):
		return netCause(firstMatch(netText, msg))
	}
	if m := aadsText.FindString(msg); m != "" {
		return Cause{Kind: "sign-in", Detail: strings.TrimSpace(m),
			Fix: "check cloud.tenant_id, cloud.client_id and the secret or certificate of the app registration; AADSTS codes are explained at https://login.microsoftonline.com/error"}
	}
	if m := tlsText.FindString(msg); m != "" {
		return tlsCause(m)
	}
	if m := netText.FindString(msg); m != "" {
		return netCause(m)
	}
	return Cause{}
}

func firstMatch(re *regexp.Regexp, s string) string {
	if m := re.FindString(s); m != "" {
		return m
	}
	return s
}

func tlsCause(detail string) Cause {
	return Cause{Kind: "tls", Detail: strings.TrimSpace(detail),
		Fix: "the TLS certificate the Microsoft endpoint presented is not trusted here (the credentials are not at fault): " +
			"if a TLS-inspecting proxy sits in between, put its CA in cloud.ca_file; otherwise check the system's CA certificates and the clock"}
}

func netCause(detail string) Cause {
	return Cause{Kind: "network", Detail: strings.TrimSpace(detail),
		Fix: "this machine cannot reach the Microsoft endpoint (the credentials are not at fault): check cloud.authority_url and cloud.graph_url, " +
			"DNS, the proxy (HTTPS_PROXY) and the firewall (outbound TCP 443)"}
}

// ReachError is a request that never got an answer from Microsoft: the
// endpoint could not be reached, or its certificate is not trusted. Its
// text names the cause and the fix, not the credential's own wording.
type ReachError struct {
	// What was being done: "get token", "GET /v1.0/groups".
	What  string
	Cause Cause
	Err   error
}

func (e *ReachError) Error() string {
	return "graph: " + e.What + ": " + e.Cause.Detail + ". Fix: " + e.Cause.Fix
}

func (e *ReachError) Unwrap() error { return e.Err }

// reachError returns a ReachError when err is a TLS or network failure,
// else nil.
func reachError(what string, err error) error {
	if c := Explain(err); c.Kind == "tls" || c.Kind == "network" {
		return &ReachError{What: what, Cause: c, Err: err}
	}
	return nil
}

// Explain says the unreachable endpoint for an admin.
func (e *ReachError) Explain() (summary, fix string) {
	return "Microsoft Graph cannot be reached (" + e.What + "): " + e.Cause.Detail, e.Cause.Fix
}

// Explain says Graph's answer for an admin.
func (e *Error) Explain() (summary, fix string) {
	at := e.Method + " " + e.Path
	switch {
	case e.StatusCode == http.StatusUnauthorized:
		return "Microsoft Graph refused the app's token (" + at + ")",
			"check cloud.tenant_id, cloud.client_id and the app's secret or certificate (not expired), then run `groupwriteback doctor`"
	case e.StatusCode == http.StatusForbidden:
		return "the app lacks a Microsoft Graph permission for " + at,
			"grant the app registration Group.Read.All and User.Read.All (application permissions) with admin consent; `groupwriteback doctor` checks each read"
	case e.StatusCode == http.StatusTooManyRequests:
		return "Microsoft Graph is throttling this app (" + at + ")", "nothing to do: the next cycle goes on from where this one stopped; if it lasts, lengthen schedule.interval"
	case e.StatusCode >= 500:
		return fmt.Sprintf("Microsoft Graph failed to answer %s (%d)", at, e.StatusCode), "usually passing: the next cycle tries again; the detail holds the request-id for a Microsoft support case"
	}
	return fmt.Sprintf("Microsoft Graph refused %s (%d %s)", at, e.StatusCode, e.Code), "the detail holds Graph's message and request-id; `groupwriteback doctor` checks each read the tool makes"
}
