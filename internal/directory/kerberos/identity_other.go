//go:build !windows

package kerberos

import "errors"

// currentIdentity needs Windows: elsewhere a process has no Kerberos
// identity of its own that a library can use without a keytab.
func currentIdentity(Credentials) (Identity, error) {
	return nil, errors.New("kerberos: current_identity works on Windows only (a gMSA through SSPI); on Linux give a keytab")
}
