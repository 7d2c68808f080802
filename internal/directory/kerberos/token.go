package kerberos

import (
	"bytes"
	"crypto/hmac"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/etype"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"
)

// RFC 4121 section 4.2.2: the flags of a wrap token.
const (
	flagSentByAcceptor = 0x01
	flagSealed         = 0x02
	flagAcceptorSubkey = 0x04
	headerLen          = 16
)

// ErrToken is a wrap token that is malformed, fails its checksum, or
// arrives out of order: the connection cannot be trusted any more.
var ErrToken = errors.New("kerberos: bad wrap token")

// wrapper makes and reads the RFC 4121 wrap tokens that carry every LDAP
// message once a SASL security layer is in force: signed (a checksum) or
// sealed (encrypted, then checksummed), with sequence numbers that let
// nothing be replayed, dropped or reordered.
type wrapper struct {
	key            types.EncryptionKey
	et             etype.EType
	acceptorSubkey bool
	// initiator is true on the client's side (the tests play the server).
	initiator bool
	sendSeq   uint64
	recvSeq   uint64
}

// newWrapper checks the key's type: RFC 4121 tokens need a key of a
// "newer" encryption type (AES); RC4 and DES use other formats this
// package does not speak.
func newWrapper(key types.EncryptionKey, acceptorSubkey bool, sendSeq, recvSeq uint64) (*wrapper, error) {
	switch key.KeyType {
	case 17, 18, 19, 20: // aes128/256-cts-hmac-sha1-96, aes128-sha256-128, aes256-sha384-192
	default:
		return nil, fmt.Errorf("kerberos: the session key is of encryption type %d: LDAP signing and sealing need AES; "+
			"allow AES for the service account and the DC (msDS-SupportedEncryptionTypes)", key.KeyType)
	}
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, err
	}
	return &wrapper{key: key, et: et, acceptorSubkey: acceptorSubkey, initiator: true, sendSeq: sendSeq, recvSeq: recvSeq}, nil
}

func (w *wrapper) usages() (send, recv uint32) {
	if w.initiator {
		return keyusage.GSSAPI_INITIATOR_SEAL, keyusage.GSSAPI_ACCEPTOR_SEAL
	}
	return keyusage.GSSAPI_ACCEPTOR_SEAL, keyusage.GSSAPI_INITIATOR_SEAL
}

func header(flags byte, ec, rrc uint16, seq uint64) []byte {
	h := make([]byte, headerLen)
	h[0], h[1], h[2], h[3] = 0x05, 0x04, flags, 0xff
	binary.BigEndian.PutUint16(h[4:], ec)
	binary.BigEndian.PutUint16(h[6:], rrc)
	binary.BigEndian.PutUint64(h[8:], seq)
	return h
}

// Wrap makes the token for p: sealed, or signed only.
func (w *wrapper) Wrap(p []byte, seal bool) ([]byte, error) {
	var flags byte
	if !w.initiator {
		flags |= flagSentByAcceptor
	}
	if w.acceptorSubkey {
		flags |= flagAcceptorSubkey
	}
	usage, _ := w.usages()
	seq := w.sendSeq
	w.sendSeq++
	if seal {
		flags |= flagSealed
		hdr := header(flags, 0, 0, seq)
		_, ct, err := w.et.EncryptMessage(w.key.KeyValue, append(append([]byte{}, p...), hdr...), usage)
		if err != nil {
			return nil, fmt.Errorf("kerberos: seal: %w", err)
		}
		return append(hdr, ct...), nil
	}
	sum, err := w.et.GetChecksumHash(w.key.KeyValue, append(append([]byte{}, p...), header(flags, 0, 0, seq)...), usage)
	if err != nil {
		return nil, fmt.Errorf("kerberos: sign: %w", err)
	}
	tok := header(flags, uint16(len(sum)), 0, seq)
	tok = append(tok, p...)
	return append(tok, sum...), nil
}

// Unwrap checks a token from the other side and returns what it carries.
// Tokens must come in sequence: one out of order is an error.
func (w *wrapper) Unwrap(tok []byte) ([]byte, error) {
	if len(tok) < headerLen || tok[0] != 0x05 || tok[1] != 0x04 || tok[3] != 0xff {
		return nil, fmt.Errorf("%w: not an RFC 4121 wrap token", ErrToken)
	}
	flags := tok[2]
	if (flags&flagSentByAcceptor != 0) != w.initiator {
		return nil, fmt.Errorf("%w: sent by the wrong side", ErrToken)
	}
	ec := binary.BigEndian.Uint16(tok[4:])
	rrc := int(binary.BigEndian.Uint16(tok[6:]))
	seq := binary.BigEndian.Uint64(tok[8:])
	if seq != w.recvSeq {
		return nil, fmt.Errorf("%w: sequence number %d, expected %d (a message lost, replayed or reordered)", ErrToken, seq, w.recvSeq)
	}
	// Windows rotates the data right by RRC octets; undo it.
	data := append([]byte{}, tok[headerLen:]...)
	if len(data) > 0 && rrc > 0 {
		r := rrc % len(data)
		data = append(data[r:], data[:r]...)
	}
	_, usage := w.usages()
	var p []byte
	if flags&flagSealed != 0 {
		pt, err := w.et.DecryptMessage(w.key.KeyValue, data, usage)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrToken, err)
		}
		// The plaintext ends with EC filler octets and a copy of the
		// header (RRC zero), which must match the one outside.
		if len(pt) < headerLen+int(ec) {
			return nil, fmt.Errorf("%w: sealed data too short", ErrToken)
		}
		inner := pt[len(pt)-headerLen:]
		if !bytes.Equal(inner, header(flags, ec, 0, seq)) {
			return nil, fmt.Errorf("%w: the sealed header does not match", ErrToken)
		}
		p = pt[:len(pt)-headerLen-int(ec)]
	} else {
		if int(ec) > len(data) {
			return nil, fmt.Errorf("%w: checksum length %d beyond the token", ErrToken, ec)
		}
		var sum []byte
		p, sum = data[:len(data)-int(ec)], data[len(data)-int(ec):]
		want, err := w.et.GetChecksumHash(w.key.KeyValue, append(append([]byte{}, p...), header(flags, 0, 0, seq)...), usage)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrToken, err)
		}
		if !hmac.Equal(want, sum) {
			return nil, fmt.Errorf("%w: checksum mismatch", ErrToken)
		}
	}
	w.recvSeq++
	return p, nil
}
