// Package kerberos binds to a domain controller with Kerberos (SASL
// GSSAPI, RFC 4752) and, on plain LDAP, keeps every later message signed
// and sealed with the negotiated security layer, as AD's "LDAP server
// signing requirements" policy asks. Credentials come from a keytab or a
// password through gokrb5 on every platform, or, on Windows, from the
// service's own identity (a gMSA) through SSPI.
package kerberos

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/go-ldap/ldap/v3"
)

// Mechanism is one Kerberos security context, made for one connection.
type Mechanism interface {
	// Step returns the next context token for the server's last one (nil
	// at first) and whether the context is now established.
	Step(spn string, in []byte) (out []byte, established bool, err error)
	// Wrap and Unwrap protect messages once the context is established.
	Wrap(p []byte, seal bool) ([]byte, error)
	Unwrap(tok []byte) ([]byte, error)
	// CanSeal reports whether Wrap can encrypt.
	CanSeal() bool
}

// Identity is an account that can make security contexts: one per
// connection, from one ticket-granting ticket.
type Identity interface {
	NewContext() (Mechanism, error)
	// Name is the account as the KDC knows it (user@REALM).
	Name() string
	Close()
}

// Layer is the SASL security layer a bind settled on (RFC 4752 3.3).
type Layer byte

// The layers, as RFC 4752 numbers them.
const (
	LayerNone      Layer = 1
	LayerIntegrity Layer = 2
	LayerPrivacy   Layer = 4
)

func (l Layer) String() string {
	switch l {
	case LayerNone:
		return "none (TLS protects the connection)"
	case LayerIntegrity:
		return "signing"
	case LayerPrivacy:
		return "signing and sealing"
	}
	return fmt.Sprintf("layer %d", byte(l))
}

// maxRecv is the largest wrapped message taken from the DC, and what the
// client tells the DC it takes.
const maxRecv = 1<<24 - 1

// Bind binds l with GSSAPI as the identity behind mech, for the DC whose
// service principal is spn. wire is the connection l runs on when it is
// plain LDAP: the bind then insists on signing (sealing when mech can)
// and wire protects every message after it. On TLS (wire nil) no layer
// is asked for: TLS already protects the connection, and AD refuses
// signing inside TLS.
func Bind(l *ldap.Conn, wire *Conn, mech Mechanism, spn string) (Layer, error) {
	bc := &bindClient{mech: mech, tls: wire == nil}
	if err := l.GSSAPIBind(bc, spn, ""); err != nil {
		return 0, err
	}
	if wire != nil {
		wire.protect(mech, bc.layer == LayerPrivacy, bc.maxSend)
	}
	return bc.layer, nil
}

// bindClient is the GSSAPI SASL client go-ldap drives through a bind.
type bindClient struct {
	mech    Mechanism
	tls     bool
	layer   Layer
	maxSend int
}

func (b *bindClient) InitSecContext(target string, token []byte) ([]byte, bool, error) {
	return b.InitSecContextWithOptions(target, token, nil)
}

func (b *bindClient) InitSecContextWithOptions(target string, token []byte, _ []int) ([]byte, bool, error) {
	out, done, err := b.mech.Step(target, token)
	if out == nil {
		out = []byte{}
	}
	return out, !done, err
}

// NegotiateSaslAuth reads the layers the server offers and answers with
// the one chosen (RFC 4752 3.1).
func (b *bindClient) NegotiateSaslAuth(token []byte, authzid string) ([]byte, error) {
	offer, err := b.mech.Unwrap(token)
	if err != nil {
		return nil, err
	}
	if len(offer) != 4 {
		return nil, fmt.Errorf("kerberos: the DC's security layer offer is %d octets, not 4", len(offer))
	}
	layers := Layer(offer[0])
	b.maxSend = int(offer[1])<<16 | int(offer[2])<<8 | int(offer[3])
	switch {
	case b.tls && layers&LayerNone != 0:
		b.layer = LayerNone
	case b.tls:
		return nil, fmt.Errorf("kerberos: the DC wants a security layer inside TLS (offers %#x)", byte(layers))
	case layers&LayerPrivacy != 0 && b.mech.CanSeal():
		b.layer = LayerPrivacy
	case layers&LayerIntegrity != 0:
		b.layer = LayerIntegrity
	default:
		return nil, fmt.Errorf("kerberos: the DC offers no signing on ldap:// (offers %#x): use ldaps:// or start_tls", byte(layers))
	}
	if b.layer != LayerNone && b.maxSend < 1024 {
		return nil, fmt.Errorf("kerberos: the DC takes wrapped messages of at most %d octets", b.maxSend)
	}
	reply := []byte{byte(b.layer), 0, 0, 0}
	if b.layer != LayerNone {
		n := uint32(maxRecv)
		reply[1], reply[2], reply[3] = byte(n>>16), byte(n>>8), byte(n)
	}
	return b.mech.Wrap(append(reply, authzid...), false)
}

// DeleteSecContext is called by go-ldap when the bind ends: the context
// lives on in the connection's layer.
func (b *bindClient) DeleteSecContext() error { return nil }

// Conn is a connection to a DC that, once a bind turns the layer on,
// sends every message as a length-prefixed wrap token and reads replies
// the same way (RFC 4422 3.7).
type Conn struct {
	net.Conn
	r  *bufio.Reader
	on atomic.Bool

	rmu   sync.Mutex
	plain []byte

	wmu     sync.Mutex
	mech    Mechanism
	seal    bool
	maxSend int
}

// NewConn wraps a plain connection to a DC.
func NewConn(c net.Conn) *Conn { return &Conn{Conn: c, r: bufio.NewReaderSize(c, 64<<10)} }

func (c *Conn) protect(mech Mechanism, seal bool, maxSend int) {
	c.wmu.Lock()
	c.mech, c.seal, c.maxSend = mech, seal, maxSend
	c.wmu.Unlock()
	c.on.Store(true)
}

// Read returns what the DC sent, unwrapped once the layer is on.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(c.plain) == 0 && !c.on.Load() {
		// A read that began before the bind ended: wait for data, then
		// look again, since the DC's first wrapped reply may be what woke it.
		if _, err := c.r.Peek(1); err != nil {
			return 0, err
		}
		if !c.on.Load() {
			return c.r.Read(p)
		}
	}
	for len(c.plain) == 0 {
		var n [4]byte
		if _, err := io.ReadFull(c.r, n[:]); err != nil {
			return 0, err
		}
		size := binary.BigEndian.Uint32(n[:])
		if size > maxRecv {
			return 0, fmt.Errorf("%w: a wrapped message of %d octets, more than the %d agreed", ErrToken, size, maxRecv)
		}
		tok := make([]byte, size)
		if _, err := io.ReadFull(c.r, tok); err != nil {
			return 0, err
		}
		pt, err := c.mech.Unwrap(tok)
		if err != nil {
			return 0, err
		}
		c.plain = pt
	}
	n := copy(p, c.plain)
	c.plain = c.plain[n:]
	return n, nil
}

// tokenOverhead bounds what a wrap token adds to its data (header,
// confounder, checksum, the sealed copy of the header).
const tokenOverhead = 128

// Write sends p, wrapped once the layer is on, in pieces the DC takes.
func (c *Conn) Write(p []byte) (int, error) {
	if !c.on.Load() {
		return c.Conn.Write(p)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	chunk := c.maxSend - tokenOverhead
	for off := 0; off < len(p); off += chunk {
		end := min(off+chunk, len(p))
		tok, err := c.mech.Wrap(p[off:end], c.seal)
		if err != nil {
			return off, err
		}
		frame := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(tok)), uint32(len(tok)))
		if _, err := c.Conn.Write(append(frame, tok...)); err != nil {
			return off, err
		}
	}
	return len(p), nil
}
