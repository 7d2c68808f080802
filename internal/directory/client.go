package directory

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/advice"
	"github.com/groupwriteback/groupwriteback/internal/directory/kerberos"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// Error is a failed LDAP operation. It keeps the LDAP result code and the
// server's diagnostic message; errors.As reaches the *ldap.Error beneath.
type Error struct {
	Op      string
	DN      string
	Code    uint16
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("directory: %s %s: LDAP result %d (%s): %s", e.Op, e.DN, e.Code, ldap.LDAPResultCodeMap[e.Code], e.Message)
	}
	return fmt.Sprintf("directory: %s %s: %v", e.Op, e.DN, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// wrap turns an LDAP error into an *Error.
func wrap(op, dn string, err error) error {
	if err == nil {
		return nil
	}
	var uerr *UnavailableError
	if errors.As(err, &uerr) {
		return fmt.Errorf("directory: %s %s: %w", op, dn, uerr) // the DC is gone, not this operation
	}
	e := &Error{Op: op, DN: dn, Err: err}
	var lerr *ldap.Error
	if errors.As(err, &lerr) {
		e.Code = lerr.ResultCode
		if lerr.Err != nil {
			e.Message = lerr.Err.Error()
		}
	}
	return e
}

// IsCode reports whether err is an LDAP error with one of the result codes.
func IsCode(err error, codes ...uint16) bool {
	var e *Error
	if !errors.As(err, &e) {
		return ldap.IsErrorAnyOf(err, codes...)
	}
	for _, c := range codes {
		if e.Code == c {
			return true
		}
	}
	return false
}

// Counters count LDAP operations, for metrics and for tests that check a
// run in step makes no writes.
type Counters struct {
	Searches, Adds, Modifies, Renames, Deletes int64
	// Reconnects counts connections made again after one was lost, and
	// Failovers those made to another domain controller.
	Reconnects, Failovers int64
	// MemberValues counts the member values read, and LookedUp the values
	// looked up (Lookup): what reading AD costs beyond the searches.
	MemberValues, LookedUp int64
}

// Writes is the number of operations that changed the directory.
func (c Counters) Writes() int64 { return c.Adds + c.Modifies + c.Renames + c.Deletes }

// Client is a bound connection to a domain controller.
type Client struct {
	conn   *ldap.Conn
	cfg    Config
	logger *slog.Logger
	schema Schema
	// url is the DC the client works with, among candidates: it stays
	// with one DC (no replication lag between its own reads and writes)
	// and moves to the next only when that one is lost.
	url        string
	candidates []string
	onFailover func(from, to string)
	// id is the Kerberos identity the client binds as (nil: a simple bind).
	id kerberos.Identity
	// gc is the connection to the global catalog, made when first needed.
	gc         *ldap.Conn
	protection string

	searches, adds, modifies, renames, deletes, reconnects, failovers atomic.Int64
	memberValues, lookedUp                                            atomic.Int64
	// reconnectWait is the first pause between attempts to reconnect.
	reconnectWait time.Duration
	// observe, when set, hears of every LDAP operation and how long it took.
	observe func(op string, d time.Duration, err error)
}

// OnOperation asks to be told of every LDAP operation: its kind (search,
// add, modify, modrdn, delete), how long it took, and its error.
func (c *Client) OnOperation(f func(op string, d time.Duration, err error)) { c.observe = f }

// OnFailover asks to be told when the client moves to another DC.
func (c *Client) OnFailover(f func(from, to string)) { c.onFailover = f }

// URL is the domain controller the client works with now.
func (c *Client) URL() string { return c.url }

// do runs one LDAP operation on the connection and reports it. When the
// connection is lost (the DC restarted, a network blip, a DC frozen past
// the timeout) it connects and binds again and tries the operation once
// more; the callers treat "already done" answers of a retried write as done.
// When the DC cannot be reached again, the error wraps ErrUnavailable.
func (c *Client) do(ctx context.Context, op string, f func(conn *ldap.Conn) error) error {
	start := time.Now()
	err := f(c.conn)
	if c.observe != nil {
		c.observe(op, time.Since(start), err)
	}
	// An operation in flight when the connection dies gets go-ldap's
	// plain read error, not a network error code: the closing connection
	// says it was lost.
	if err == nil || ctx.Err() != nil || (!lostConnection(err) && !c.conn.IsClosing()) {
		return err
	}
	c.logger.Warn("lost the connection to the domain controller; connecting again", "url", c.url, "operation", op, "error", err)
	if rerr := c.reconnect(ctx); rerr != nil {
		return rerr
	}
	c.reconnects.Add(1)
	start = time.Now()
	err = f(c.conn)
	if c.observe != nil {
		c.observe(op, time.Since(start), err)
	}
	return err
}

// lostConnection reports whether err means the connection, not the
// operation, failed.
func lostConnection(err error) bool {
	// A DC going down may answer "unavailable" or "busy" before it closes
	// the connection: like a lost one, worth connecting again.
	return ldap.IsErrorAnyOf(err, ldap.ErrorNetwork, ldap.LDAPResultUnavailable, ldap.LDAPResultBusy)
}

// ErrUnavailable: the domain controller cannot be reached.
var ErrUnavailable = reconcile.ErrDirectoryUnavailable

// UnavailableError is a DC that stayed unreachable through reconnects.
type UnavailableError struct {
	URL      string
	Attempts int
	Err      error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("directory: %s: %v (%d attempts to connect again): %v", e.URL, ErrUnavailable, e.Attempts, e.Err)
}

func (e *UnavailableError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

// reconnect replaces the connection with a new bound one, trying a few
// times with a growing pause.
func (c *Client) reconnect(ctx context.Context) error {
	c.conn.Close()
	var err error
	wait := c.reconnectWait
	for attempt := 1; attempt <= reconnectAttempts; attempt++ {
		// The DC it worked with first, then the others in their order.
		order := []string{c.url}
		for _, u := range c.candidates {
			if u != c.url {
				order = append(order, u)
			}
		}
		for _, u := range order {
			var conn *ldap.Conn
			if conn, c.protection, err = c.cfg.dialURL(ctx, u, c.id); err != nil {
				continue
			}
			c.conn = conn
			if u != c.url {
				c.logger.Warn("moved to another domain controller", "from", c.url, "to", u, "attempt", attempt)
				c.failovers.Add(1)
				if c.onFailover != nil {
					c.onFailover(c.url, u)
				}
				c.url = u
				return nil
			}
			c.logger.Info("connected to the domain controller again", "url", c.url, "attempt", attempt)
			return nil
		}
		if attempt == reconnectAttempts {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
	return &UnavailableError{URL: strings.Join(c.candidates, ", "), Attempts: reconnectAttempts, Err: err}
}

// reconnectAttempts is how often a lost connection is made again before
// the DC counts as gone: with waits of 1, 2 and 4 s, about 7 s and the
// dial timeouts.
const reconnectAttempts = 4

// TLSConfig returns the TLS configuration for the DC: TLS 1.2 or later,
// the system CAs plus CAFile, and the host name checked.
func (c *Config) TLSConfig() (*tls.Config, error) {
	first := c.URL
	if first == "" && len(c.URLs) > 0 {
		first = c.URLs[0]
	}
	return c.TLSConfigFor(first)
}

// TLSConfigFor is TLSConfig for the DC at rawURL.
func (c *Config) TLSConfigFor(rawURL string) (*tls.Config, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("directory: url: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname()}
	if c.CAFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		b, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("directory: ca_file: %w", err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("directory: ca_file %s holds no PEM certificate", c.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// Open connects, verifies TLS, binds and probes the schema.
func (c *Config) Open(ctx context.Context, logger *slog.Logger) (*Client, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cands, err := c.Candidates(ctx)
	if err != nil {
		return nil, err
	}
	id, err := c.OpenIdentity()
	if err != nil {
		return nil, err
	}
	var conn *ldap.Conn
	var errs []error
	var at, protection string
	for _, u := range cands {
		if conn, protection, err = c.dialURL(ctx, u, id); err == nil {
			at = u
			break
		}
		errs = append(errs, err)
		if len(cands) > 1 {
			logger.Warn("a domain controller cannot be reached; trying the next", "url", u, "error", err)
		}
	}
	if conn == nil {
		if id != nil {
			id.Close()
		}
		return nil, errors.Join(errs...)
	}
	cl := &Client{conn: conn, cfg: *c, logger: logger, reconnectWait: time.Second, url: at, candidates: cands, id: id, protection: protection}
	if cl.schema, err = cl.probeSchema(ctx); err != nil {
		cl.Close()
		return nil, err
	}
	logger.Debug("directory connected", "url", at, "account", c.Account(), "protection", protection, "exchange", cl.schema.Exchange, "anchor_attribute", cl.schema.AnchorAttribute)
	return cl, nil
}

// dialURL connects to the DC at u (TLS verified, or Kerberos-protected)
// and binds: with id when it is set, else with bind_dn and the password.
// It says what protects the connection.
func (c *Config) dialURL(ctx context.Context, u string, id kerberos.Identity) (*ldap.Conn, string, error) {
	conn, wire, err := c.connect(ctx, u, id != nil)
	if err != nil {
		return nil, "", err
	}
	protection := "TLS"
	if id != nil {
		var layer kerberos.Layer
		if layer, err = c.bindKerberos(conn, wire, u, id); err != nil {
			conn.Close()
			return nil, "", wrap("bind with Kerberos as", id.Name(), err)
		}
		if wire != nil {
			protection = "Kerberos " + layer.String()
		}
		return conn, protection, nil
	}
	if err := conn.Bind(c.BindDN, c.Password.Reveal()); err != nil {
		conn.Close()
		return nil, "", wrap("bind as", c.BindDN, err)
	}
	return conn, protection, nil
}

// connect opens an unbound connection to the DC at u: LDAPS, or LDAP with
// StartTLS, or, for Kerberos on ldap://, plain LDAP on a wire the bind
// will protect.
func (c *Config) connect(ctx context.Context, u string, kerberosLayer bool) (*ldap.Conn, *kerberos.Conn, error) {
	tlsCfg, err := c.TLSConfigFor(u)
	if err != nil {
		return nil, nil, err
	}
	dialer := &net.Dialer{Timeout: 15 * time.Second}
	if dl, ok := ctx.Deadline(); ok {
		dialer.Deadline = dl
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	pu, _ := url.Parse(u)
	if kerberosLayer && pu.Scheme == "ldap" && !c.StartTLS {
		host := pu.Host
		if pu.Port() == "" {
			host = net.JoinHostPort(pu.Hostname(), "389")
		}
		raw, err := dialer.DialContext(ctx, "tcp", host)
		if err != nil {
			return nil, nil, fmt.Errorf("directory: connect to %s: %w", u, ldap.NewError(ldap.ErrorNetwork, err))
		}
		wire := kerberos.NewConn(raw)
		conn := ldap.NewConn(wire, false)
		conn.Start()
		conn.SetTimeout(timeout)
		return conn, wire, nil
	}
	conn, err := ldap.DialURL(u, ldap.DialWithTLSConfig(tlsCfg), ldap.DialWithDialer(dialer))
	if err != nil {
		return nil, nil, fmt.Errorf("directory: connect to %s: %w", u, err)
	}
	if c.StartTLS {
		if err := conn.StartTLS(tlsCfg); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("directory: StartTLS with %s: %w", u, err)
		}
	}
	conn.SetTimeout(timeout)
	return conn, nil, nil
}

// bindKerberos binds with a new security context of id, for the DC at u.
func (c *Config) bindKerberos(conn *ldap.Conn, wire *kerberos.Conn, u string, id kerberos.Identity) (kerberos.Layer, error) {
	mech, err := id.NewContext()
	if err != nil {
		return 0, err
	}
	return kerberos.Bind(conn, wire, mech, c.SPN(u))
}

// SPN is the service principal of the DC at u: directory.kerberos.spn,
// or ldap/<host>.
func (c *Config) SPN(u string) string {
	if c.Kerberos.SPN != "" {
		return c.Kerberos.SPN
	}
	pu, err := url.Parse(u)
	if err != nil {
		return "ldap/" + u
	}
	return "ldap/" + pu.Hostname()
}

// OpenIdentity logs in to the KDC when the configuration binds with
// Kerberos; it returns nil for a simple bind.
func (c *Config) OpenIdentity() (kerberos.Identity, error) {
	if !c.UsesKerberos() {
		return nil, nil
	}
	return kerberos.Open(c.credentials())
}

// Close ends the connection.
func (c *Client) Close() error {
	if c.gc != nil {
		c.gc.Close()
	}
	if c.id != nil {
		c.id.Close()
	}
	return c.conn.Close()
}

// Protection says what protects the connection: TLS, or Kerberos signing
// (and sealing).
func (c *Client) Protection() string { return c.protection }

// Schema is what the probe found.
func (c *Client) Schema() Schema { return c.schema }

// Counters returns the operation counters.
func (c *Client) Counters() Counters {
	return Counters{Searches: c.searches.Load(), Adds: c.adds.Load(), Modifies: c.modifies.Load(), Renames: c.renames.Load(), Deletes: c.deletes.Load(),
		Reconnects: c.reconnects.Load(), Failovers: c.failovers.Load(), MemberValues: c.memberValues.Load(), LookedUp: c.lookedUp.Load()}
}

// search runs a paged subtree (or base) search; AD returns at most 1,000
// entries a page, so paging is always on.
func (c *Client) search(ctx context.Context, base string, scope int, filter string, attrs []string) ([]*ldap.Entry, error) {
	return c.searchWith(ctx, base, scope, filter, attrs, nil)
}

// searchWith is search with request controls (Show Deleted).
func (c *Client) searchWith(ctx context.Context, base string, scope int, filter string, attrs []string, controls []ldap.Control) ([]*ldap.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.searches.Add(1)
	req := ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, controls)
	var res *ldap.SearchResult
	err := c.do(ctx, "search", func(conn *ldap.Conn) (err error) { res, err = conn.SearchWithPaging(req, 500); return err })
	if err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return nil, nil
		}
		return nil, wrap("search", base, err)
	}
	return res.Entries, nil
}

// The engine reads and writes AD through this client.
var (
	_ engine.DirectoryReader = (*Client)(nil)
	_ gate.Target            = (*Client)(nil)
	_ engine.ForestReader    = (*Client)(nil)
)

// Explain says the failed operation for an admin.
func (e *Error) Explain() (summary, fix string) {
	if e.Code != 0 {
		return advice.LDAP(e.Code, e.Op, e.DN)
	}
	return "AD could not " + e.Op + " " + e.DN, advice.Doctor
}

// Explain says the unreachable DC for an admin.
func (e *UnavailableError) Explain() (summary, fix string) {
	return fmt.Sprintf("the domain controller %s cannot be reached (%d attempts to connect again)", e.URL, e.Attempts),
		"check that the DC is up and that this machine reaches its LDAP port (389, or 636 for ldaps); with several DCs, list them in directory.urls or set directory.domain to find them by DNS"
}
