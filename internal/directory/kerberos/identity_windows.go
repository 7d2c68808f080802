//go:build windows

package kerberos

import (
	"errors"
	"fmt"

	"github.com/alexbrainman/sspi"
	sspikrb "github.com/alexbrainman/sspi/kerberos"
)

// sspiIdentity is the account the service runs as, through Windows SSPI:
// a group managed service account needs no password or keytab here, as
// Windows keeps its password. Not run in CI (no Windows machine): only the
// RFC 4752 negotiation around it, which it shares with gokrb5, is tested.
type sspiIdentity struct {
	creds *sspi.Credentials
	name  string
}

func currentIdentity(c Credentials) (Identity, error) {
	creds, err := sspikrb.AcquireCurrentUserCredentials()
	if err != nil {
		return nil, &Error{Step: "acquire the service account's Kerberos credentials (SSPI)", Err: err}
	}
	name := c.Principal
	if name == "" {
		name = "the service's own account"
	}
	return &sspiIdentity{creds: creds, name: name}, nil
}

func (s *sspiIdentity) Name() string { return s.name }
func (s *sspiIdentity) Close()       { _ = s.creds.Release() }

func (s *sspiIdentity) NewContext() (Mechanism, error) { return &sspiContext{creds: s.creds}, nil }

type sspiContext struct {
	creds *sspi.Credentials
	ctx   *sspikrb.ClientContext
}

// qopWrapNoEncrypt (KERB_WRAP_NO_ENCRYPT) asks EncryptMessage to sign only.
const qopWrapNoEncrypt = 0x80000001

func (s *sspiContext) CanSeal() bool { return true }

func (s *sspiContext) Step(spn string, in []byte) ([]byte, bool, error) {
	flags := uint32(sspi.ISC_REQ_INTEGRITY | sspi.ISC_REQ_CONFIDENTIALITY | sspi.ISC_REQ_MUTUAL_AUTH)
	if in == nil {
		ctx, done, out, err := sspikrb.NewClientContextWithFlags(s.creds, spn, flags)
		if err != nil {
			return nil, false, &Error{Step: "authenticate to " + spn + " (SSPI)", Err: err}
		}
		s.ctx = ctx
		return out, done, nil
	}
	done, out, err := s.ctx.Update(in)
	if err != nil {
		return nil, false, &Error{Step: "authenticate to " + spn + " (SSPI)", Err: err}
	}
	if done {
		if err := s.ctx.VerifyFlags(); err != nil {
			return nil, false, fmt.Errorf("kerberos: the DC did not grant signing, sealing and mutual authentication: %w", err)
		}
	}
	return out, done, nil
}

func (s *sspiContext) Wrap(p []byte, seal bool) ([]byte, error) {
	if s.ctx == nil {
		return nil, errors.New("kerberos: no security context")
	}
	qop := uint32(qopWrapNoEncrypt)
	if seal {
		qop = 0
	}
	// EncryptMessage works in place: give it a copy.
	return s.ctx.EncryptMessage(append([]byte{}, p...), qop, 0)
}

func (s *sspiContext) Unwrap(tok []byte) ([]byte, error) {
	if s.ctx == nil {
		return nil, errors.New("kerberos: no security context")
	}
	_, p, err := s.ctx.DecryptMessage(append([]byte{}, tok...), 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrToken, err)
	}
	return p, nil
}
