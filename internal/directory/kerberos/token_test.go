package kerberos

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/types"
)

// pair is the two ends of one context: the client's wrapper and the DC's.
func pair(t *testing.T, etype int32, size int) (client, dc *wrapper) {
	t.Helper()
	key := types.EncryptionKey{KeyType: etype, KeyValue: make([]byte, size)}
	if _, err := rand.Read(key.KeyValue); err != nil {
		t.Fatal(err)
	}
	client, err := newWrapper(key, true, 1000, 7)
	if err != nil {
		t.Fatal(err)
	}
	dc, err = newWrapper(key, true, 7, 1000)
	if err != nil {
		t.Fatal(err)
	}
	dc.initiator = false
	return client, dc
}

func TestWrapRoundTrips(t *testing.T) {
	for _, et := range []struct {
		id   int32
		size int
	}{{17, 16}, {18, 32}} {
		for _, seal := range []bool{false, true} {
			client, dc := pair(t, et.id, et.size)
			for _, msg := range [][]byte{[]byte("a search request"), {}, bytes.Repeat([]byte{0x30}, 70000)} {
				tok, err := client.Wrap(msg, seal)
				if err != nil {
					t.Fatal(err)
				}
				if clear := bytes.Contains(tok, msg); clear == seal && len(msg) > 0 {
					t.Fatalf("etype %d seal %v: the message in clear in the token: %v", et.id, seal, clear)
				}
				got, err := dc.Unwrap(tok)
				if err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("etype %d seal %v: %v, %d octets back", et.id, seal, err, len(got))
				}
				back, err := dc.Wrap(msg, seal)
				if err != nil {
					t.Fatal(err)
				}
				if got, err := client.Unwrap(back); err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("etype %d seal %v, the DC's way: %v", et.id, seal, err)
				}
			}
		}
	}
}

// Windows rotates a token's data right by RRC octets; the client undoes it.
func TestUnwrapRotated(t *testing.T) {
	for _, seal := range []bool{false, true} {
		client, dc := pair(t, 18, 32)
		tok, _ := dc.Wrap([]byte("rotated reply"), seal)
		data := tok[headerLen:]
		const rrc = 28
		r := rrc % len(data)
		rotated := append(append([]byte{}, data[len(data)-r:]...), data[:len(data)-r]...)
		binary.BigEndian.PutUint16(tok[6:], rrc)
		got, err := client.Unwrap(append(tok[:headerLen:headerLen], rotated...))
		if err != nil || string(got) != "rotated reply" {
			t.Fatalf("seal %v: %q, %v", seal, got, err)
		}
	}
}

// A token changed on the way, replayed, from the wrong side, or of an
// unknown format is refused: each is a connection that cannot be trusted.
func TestUnwrapRefuses(t *testing.T) {
	for _, seal := range []bool{false, true} {
		cases := map[string]func(client, dc *wrapper) []byte{
			"a flipped bit": func(_, dc *wrapper) []byte {
				tok, _ := dc.Wrap([]byte("member: CN=A"), seal)
				tok[len(tok)-20] ^= 1
				return tok
			},
			"a replay": func(client, dc *wrapper) []byte {
				tok, _ := dc.Wrap([]byte("once"), seal)
				if _, err := client.Unwrap(tok); err != nil {
					t.Fatal(err)
				}
				return tok
			},
			"a dropped message": func(_, dc *wrapper) []byte {
				_, _ = dc.Wrap([]byte("lost"), seal)
				tok, _ := dc.Wrap([]byte("next"), seal)
				return tok
			},
			"the client's own token": func(client, _ *wrapper) []byte {
				tok, _ := client.Wrap([]byte("echo"), seal)
				return tok
			},
			"not a token": func(*wrapper, *wrapper) []byte { return []byte("0123456789abcdefghij") },
		}
		for name, make := range cases {
			client, dc := pair(t, 18, 32)
			if _, err := client.Unwrap(make(client, dc)); !errors.Is(err, ErrToken) {
				t.Errorf("seal %v, %s: %v", seal, name, err)
			}
		}
	}
}

func TestWrapperRefusesRC4(t *testing.T) {
	_, err := newWrapper(types.EncryptionKey{KeyType: 23, KeyValue: make([]byte, 16)}, false, 0, 0)
	if err == nil || !strings.Contains(err.Error(), "AES") {
		t.Fatalf("rc4-hmac: %v", err)
	}
}

// tokenMech is a Mechanism over a wrapper, for the connection's tests.
type tokenMech struct{ w *wrapper }

func (m tokenMech) Step(string, []byte) ([]byte, bool, error) { return nil, true, nil }
func (m tokenMech) Wrap(p []byte, seal bool) ([]byte, error)  { return m.w.Wrap(p, seal) }
func (m tokenMech) Unwrap(tok []byte) ([]byte, error)         { return m.w.Unwrap(tok) }
func (m tokenMech) CanSeal() bool                             { return true }

// Once the layer is on, a write larger than the DC takes goes in several
// tokens, each within the DC's limit, and reads put replies back together;
// bytes before the layer pass untouched.
func TestConnFramesMessages(t *testing.T) {
	client, dc := pair(t, 18, 32)
	a, b := net.Pipe()
	c := NewConn(a)
	defer c.Close()
	go func() { _, _ = c.Write([]byte("bind")) }()
	head := make([]byte, 4)
	if _, err := io.ReadFull(b, head); err != nil || string(head) != "bind" {
		t.Fatalf("before the layer: %q, %v", head, err)
	}
	const maxSend = 4096
	c.protect(tokenMech{client}, true, maxSend)
	msg := bytes.Repeat([]byte("0123456789"), 1000) // 10,000 octets: three tokens
	done := make(chan error, 1)
	go func() { _, err := c.Write(msg); done <- err }()
	var got []byte
	for frames := 0; len(got) < len(msg); frames++ {
		var n [4]byte
		if _, err := io.ReadFull(b, n[:]); err != nil {
			t.Fatal(err)
		}
		size := binary.BigEndian.Uint32(n[:])
		if size > maxSend {
			t.Fatalf("a token of %d octets, more than the %d the DC takes", size, maxSend)
		}
		tok := make([]byte, size)
		if _, err := io.ReadFull(b, tok); err != nil {
			t.Fatal(err)
		}
		p, err := dc.Unwrap(tok)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p...)
		if frames > 3 {
			t.Fatal("more than 3 tokens")
		}
	}
	if err := <-done; err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("%v; %d octets through", err, len(got))
	}
	// The DC's reply in two tokens reads back as one stream.
	go func() {
		for _, part := range []string{"search ", "result"} {
			tok, _ := dc.Wrap([]byte(part), true)
			_, _ = b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(tok))))
			_, _ = b.Write(tok)
		}
	}()
	reply := make([]byte, len("search result"))
	if _, err := io.ReadFull(c, reply); err != nil || string(reply) != "search result" {
		t.Fatalf("%q, %v", reply, err)
	}
}

type signOnly struct{ tokenMech }

func (signOnly) CanSeal() bool { return false }

// The layer chosen from what the DC offers (RFC 4752 3.1): none inside
// TLS, else sealing when both sides can, else signing, never nothing.
func TestNegotiateLayer(t *testing.T) {
	cases := []struct {
		name   string
		tls    bool
		seal   bool
		offers byte
		max    uint32
		want   Layer
		err    string
	}{
		{name: "TLS", tls: true, seal: true, offers: 7, max: 1 << 20, want: LayerNone},
		{name: "TLS, the DC insists on a layer", tls: true, seal: true, offers: 6, max: 1 << 20, err: "inside TLS"},
		{name: "plain, everything offered", seal: true, offers: 7, max: 1 << 20, want: LayerPrivacy},
		{name: "plain, a mechanism that cannot seal", offers: 7, max: 1 << 20, want: LayerIntegrity},
		{name: "plain, signing only", seal: true, offers: 3, max: 1 << 20, want: LayerIntegrity},
		{name: "plain, no layer offered", seal: true, offers: 1, max: 0, err: "offers no signing"},
		{name: "plain, a tiny buffer", seal: true, offers: 7, max: 100, err: "at most 100"},
	}
	for _, tc := range cases {
		client, dc := pair(t, 18, 32)
		var mech Mechanism = tokenMech{client}
		if !tc.seal {
			mech = signOnly{tokenMech{client}}
		}
		b := &bindClient{mech: mech, tls: tc.tls}
		offer, _ := dc.Wrap([]byte{tc.offers, byte(tc.max >> 16), byte(tc.max >> 8), byte(tc.max)}, false)
		reply, err := b.NegotiateSaslAuth(offer, "")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || b.layer != tc.want {
			t.Errorf("%s: %v, layer %v, want %v", tc.name, err, b.layer, tc.want)
			continue
		}
		p, err := dc.Unwrap(reply)
		if err != nil || len(p) != 4 || Layer(p[0]) != tc.want {
			t.Errorf("%s: the reply %v, %v", tc.name, p, err)
		}
	}
}
