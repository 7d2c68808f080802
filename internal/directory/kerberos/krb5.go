package kerberos

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Credentials say who the service is to the KDC: a keytab or a password
// for Principal, or (Windows) the identity the service runs as.
type Credentials struct {
	// Principal is the account's name, svc-groupwriteback or
	// svc-groupwriteback@CONTOSO.COM.
	Principal string
	// Realm is the Kerberos realm, the AD domain's DNS name in capitals.
	Realm    string
	Keytab   string
	Password string
	// KDCs are host[:port] of KDCs (the DCs). Without them, Krb5Conf is
	// read; without that, KDCs are found in DNS (_kerberos._tcp.<realm>).
	KDCs     []string
	Krb5Conf string
	// CurrentIdentity uses the credentials of the account the process
	// runs as (Windows SSPI: a gMSA or a virtual account).
	CurrentIdentity bool
}

// User is the principal's user name and realm.
func (c Credentials) User() (user, realm string) {
	user, realm = c.Principal, strings.ToUpper(c.Realm)
	if i := strings.LastIndex(user, "@"); i >= 0 {
		user, realm = user[:i], strings.ToUpper(user[i+1:])
	}
	return user, realm
}

// Open logs in to the KDC (a ticket-granting ticket) as the credentials
// say, so that a bad keytab, password, realm or clock fails here.
func Open(c Credentials) (Identity, error) {
	if c.CurrentIdentity {
		return currentIdentity(c)
	}
	user, realm := c.User()
	conf, err := c.config(realm)
	if err != nil {
		return nil, err
	}
	var cl *client.Client
	// Samba's and AD's KDCs do not need FAST; gokrb5 would ask for it.
	settings := client.DisablePAFXFAST(true)
	switch {
	case c.Keytab != "":
		kt, err := keytab.Load(c.Keytab)
		if err != nil {
			return nil, fmt.Errorf("kerberos: keytab %s: %w", c.Keytab, err)
		}
		cl = client.NewWithKeytab(user, realm, kt, conf, settings)
	case c.Password != "":
		cl = client.NewWithPassword(user, realm, c.Password, conf, settings)
	default:
		return nil, errors.New("kerberos: no keytab and no password")
	}
	if err := cl.Login(); err != nil {
		return nil, &Error{Step: "get a ticket-granting ticket for " + user + "@" + realm, Err: err}
	}
	return &krb5Identity{cl: cl, name: user + "@" + realm}, nil
}

// config is the krb5 configuration: the KDCs given, or a krb5.conf, or DNS.
func (c Credentials) config(realm string) (*config.Config, error) {
	if len(c.KDCs) == 0 && c.Krb5Conf != "" {
		conf, err := config.Load(c.Krb5Conf)
		if err != nil {
			return nil, fmt.Errorf("kerberos: krb5_conf %s: %w", c.Krb5Conf, err)
		}
		return conf, nil
	}
	conf := config.New()
	conf.LibDefaults.DefaultRealm = realm
	conf.LibDefaults.DNSCanonicalizeHostname = false
	conf.LibDefaults.RDNS = false
	conf.LibDefaults.UDPPreferenceLimit = 1 // TCP: AD's tickets outgrow UDP
	if len(c.KDCs) == 0 {
		conf.LibDefaults.DNSLookupKDC = true
		return conf, nil
	}
	kdcs := make([]string, len(c.KDCs))
	for i, k := range c.KDCs {
		if !strings.Contains(k, ":") || strings.HasSuffix(k, "]") {
			k += ":88"
		}
		kdcs[i] = k
	}
	conf.Realms = []config.Realm{{Realm: realm, KDC: kdcs}}
	return conf, nil
}

// Error is a Kerberos step that failed, with what usually fixes it.
type Error struct {
	Step string
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("kerberos: %s: %v", e.Step, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// Fix says what usually mends err, from the KDC's error code (gokrb5
// keeps it in the error's text).
func Fix(err error) string {
	var kerr messages.KRBError
	if errors.As(err, &kerr) {
		return fixByCode(kerr.ErrorCode)
	}
	for _, code := range []int32{errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN, errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN,
		errorcode.KDC_ERR_PREAUTH_FAILED, errorcode.KRB_AP_ERR_SKEW, errorcode.KDC_ERR_ETYPE_NOSUPP, errorcode.KDC_ERR_CLIENT_REVOKED} {
		if f := strings.Fields(errorcode.Lookup(code)); len(f) > 1 && strings.Contains(err.Error(), f[1]) {
			return fixByCode(code)
		}
	}
	return "check that the KDCs (the DCs, port 88) can be reached and that the realm is the AD domain's DNS name in capitals"
}

func fixByCode(code int32) string {
	switch code {
	case errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN:
		return "the KDC knows no such account: check directory.kerberos.principal (the sAMAccountName) and realm"
	case errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN:
		return "no account holds the service principal ldap/<DC>: name each DC by its FQDN in directory.url(s), not an IP or alias " +
			"(or give directory.kerberos.spn); setspn -Q ldap/<dc fqdn> lists it"
	case errorcode.KDC_ERR_PREAUTH_FAILED:
		return "the password or the keytab's key is wrong: after a password change, export the keytab again (its key version must match msDS-KeyVersionNumber)"
	case errorcode.KRB_AP_ERR_SKEW:
		return "this machine's clock is more than 5 minutes from the DC's: synchronise it with the domain (chrony or systemd-timesyncd against a DC)"
	case errorcode.KDC_ERR_ETYPE_NOSUPP:
		return "the keytab and the account share no encryption type: export AES keys and allow AES on the account (msDS-SupportedEncryptionTypes)"
	case errorcode.KDC_ERR_CLIENT_REVOKED:
		return "the account is disabled, locked out or expired"
	}
	return fmt.Sprintf("see Kerberos error %d", code)
}

type krb5Identity struct {
	cl   *client.Client
	name string
}

func (k *krb5Identity) Name() string { return k.name }
func (k *krb5Identity) Close()       { k.cl.Destroy() }

func (k *krb5Identity) NewContext() (Mechanism, error) { return &krb5Context{cl: k.cl}, nil }

// ServiceTicket asks the KDC for a ticket to spn and returns the session
// key's encryption type: doctor's check of the SPN.
func ServiceTicket(id Identity, spn string) (etype int32, err error) {
	k, ok := id.(*krb5Identity)
	if !ok {
		return 0, errors.New("kerberos: the current identity's tickets are Windows's (klist shows them)")
	}
	_, key, err := k.cl.GetServiceTicket(spn)
	if err != nil {
		return 0, &Error{Step: "get a service ticket for " + spn, Err: err}
	}
	return key.KeyType, nil
}

// krb5Context is one gokrb5 security context (RFC 4121).
type krb5Context struct {
	cl      *client.Client
	session types.EncryptionKey
	sendSeq uint64
	w       *wrapper
}

func (k *krb5Context) CanSeal() bool { return true }

func (k *krb5Context) Step(spn string, in []byte) ([]byte, bool, error) {
	if in == nil {
		tkt, key, err := k.cl.GetServiceTicket(spn)
		if err != nil {
			return nil, false, &Error{Step: "get a service ticket for " + spn, Err: err}
		}
		k.session = key
		flags := []int{gssapi.ContextFlagInteg, gssapi.ContextFlagConf, gssapi.ContextFlagMutual}
		tok, err := spnego.NewKRB5TokenAPREQ(k.cl, tkt, key, flags, nil)
		if err != nil {
			return nil, false, err
		}
		// The authenticator's sequence number starts the client's wrap tokens.
		plain, err := crypto.DecryptEncPart(tok.APReq.EncryptedAuthenticator, key, keyusage.AP_REQ_AUTHENTICATOR)
		if err != nil {
			return nil, false, err
		}
		var auth types.Authenticator
		if err := auth.Unmarshal(plain); err != nil {
			return nil, false, err
		}
		k.sendSeq = uint64(auth.SeqNumber)
		out, err := tok.Marshal()
		return out, false, err
	}
	var tok spnego.KRB5Token
	if err := tok.Unmarshal(in); err != nil {
		return nil, false, fmt.Errorf("kerberos: the DC's reply: %w", err)
	}
	if tok.IsKRBError() {
		return nil, false, &Error{Step: "authenticate to " + spn, Err: tok.KRBError}
	}
	if !tok.IsAPRep() {
		return nil, false, errors.New("kerberos: the DC's reply is neither AP-REP nor KRB-ERROR")
	}
	plain, err := crypto.DecryptEncPart(tok.APRep.EncPart, k.session, keyusage.AP_REP_ENCPART)
	if err != nil {
		return nil, false, fmt.Errorf("kerberos: the DC's AP-REP: %w", err)
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(plain); err != nil {
		return nil, false, err
	}
	key, subkey := k.session, false
	if len(part.Subkey.KeyValue) > 0 {
		key, subkey = part.Subkey, true
	}
	if k.w, err = newWrapper(key, subkey, k.sendSeq, uint64(part.SequenceNumber)); err != nil {
		return nil, false, err
	}
	return nil, true, nil
}

func (k *krb5Context) Wrap(p []byte, seal bool) ([]byte, error) {
	if k.w == nil {
		return nil, errors.New("kerberos: no security context")
	}
	return k.w.Wrap(p, seal)
}

func (k *krb5Context) Unwrap(tok []byte) ([]byte, error) {
	if k.w == nil {
		return nil, errors.New("kerberos: no security context")
	}
	return k.w.Unwrap(tok)
}

// KeytabEntry is one key of a keytab.
type KeytabEntry struct {
	Principal string
	KVNO      uint32
	EType     int32
}

// ReadKeytab lists a keytab's keys, for doctor.
func ReadKeytab(path string) ([]KeytabEntry, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	kt, err := keytab.Load(path)
	if err != nil {
		return nil, fmt.Errorf("%s is not a keytab: %w", path, err)
	}
	var out []KeytabEntry
	for _, e := range kt.Entries {
		out = append(out, KeytabEntry{Principal: strings.Join(e.Principal.Components, "/") + "@" + e.Principal.Realm, KVNO: e.KVNO, EType: e.Key.KeyType})
	}
	return out, nil
}
