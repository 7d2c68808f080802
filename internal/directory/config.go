// Package directory reads and writes Active Directory over LDAP: it connects
// with verified TLS, probes the schema, finds the groups groupwriteback owns
// and applies planned operations. It moves data and decides nothing.
package directory

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/directory/kerberos"
	"github.com/groupwriteback/groupwriteback/internal/secret"
)

// EnvPassword is the environment variable that may hold the bind password.
const EnvPassword = "GROUPWRITEBACK_DIRECTORY_PASSWORD"

// Config is the "directory" section of the configuration: one domain
// controller (or a name that resolves to several), the account that binds,
// and the naming context to work in.
//
//	directory:
//	  url: ldaps://dc1.contoso.com:636
//	  bind_dn: CN=svc-groupwriteback,OU=Service Accounts,DC=contoso,DC=com
//	  password_file: /etc/groupwriteback/bind-password
//	  ca_file: /etc/groupwriteback/contoso-ca.pem
//	  base_dn: DC=contoso,DC=com
type Config struct {
	// URL is ldaps://host[:636], or ldap://host[:389] with StartTLS.
	URL string `yaml:"url"`
	// URLs are several domain controllers, tried in order; Domain (with
	// Site) finds them in DNS instead. Give one of url, urls, domain.
	URLs   []string `yaml:"urls,omitempty"`
	Domain string   `yaml:"domain,omitempty"`
	Site   string   `yaml:"site,omitempty"`
	// LookupSRV replaces the system resolver (tests).
	LookupSRV LookupSRV `yaml:"-" json:"-"`
	// StartTLS upgrades an ldap:// connection before binding. A simple
	// bind requires it with ldap://: a password never goes in clear text.
	// Kerberos does not: it signs and seals ldap:// itself.
	StartTLS bool `yaml:"start_tls"`
	// Auth is how the client binds: "simple" (bind_dn and a password, over
	// TLS; the default) or "kerberos" (GSSAPI, with Kerberos below).
	Auth         string       `yaml:"auth,omitempty"`
	Kerberos     Kerberos     `yaml:"kerberos,omitempty"`
	BindDN       string       `yaml:"bind_dn"`
	Password     secret.Value `yaml:"password"`
	PasswordFile string       `yaml:"password_file"`
	// CAFile is a PEM file of CAs to trust for the DC's certificate, in
	// addition to the system's.
	CAFile string `yaml:"ca_file"`
	// BaseDN is the domain's naming context, e.g. DC=contoso,DC=com.
	BaseDN string `yaml:"base_dn"`
	// GlobalCatalog, when set, finds members from the other domains of
	// the forest: "auto" (the DC in use, on the global catalog's port,
	// 3269 with LDAPS or 3268), or a URL such as ldaps://gc.contoso.com:3269.
	GlobalCatalog string `yaml:"global_catalog,omitempty"`
	// Timeout is the longest one LDAP operation may take before the
	// connection counts as lost and is made again (default 2m).
	Timeout time.Duration `yaml:"timeout"`
}

// Kerberos is the directory.kerberos section: who the service is to the
// KDC. The password, when there is no keytab, is directory.password.
type Kerberos struct {
	// Principal is the account's sAMAccountName, or name@REALM.
	Principal string `yaml:"principal,omitempty"`
	// Realm is the AD domain's DNS name in capitals (CONTOSO.COM).
	Realm  string `yaml:"realm,omitempty"`
	Keytab string `yaml:"keytab,omitempty"`
	// KDCs are the KDCs (DCs) to ask, host[:88]; without them Krb5Conf
	// is read, and without that the KDCs are found in DNS.
	KDCs     []string `yaml:"kdcs,omitempty"`
	Krb5Conf string   `yaml:"krb5_conf,omitempty"`
	// SPN is the DC's service principal when it is not ldap/<the host in
	// the DC's URL>; one DC only.
	SPN string `yaml:"spn,omitempty"`
	// CurrentIdentity binds as the account the service runs as (Windows:
	// a group managed service account), with no keytab and no password.
	CurrentIdentity bool `yaml:"current_identity,omitempty"`
}

// UsesKerberos reports whether the client binds with Kerberos.
func (c *Config) UsesKerberos() bool { return c.Auth == AuthKerberos }

// The values of directory.auth.
const (
	AuthSimple   = "simple"
	AuthKerberos = "kerberos"
)

// Account names the account the client binds as, for messages and for
// finding it in AD: bind_dn, or the Kerberos principal.
func (c *Config) Account() string {
	if c.BindDN != "" || !c.UsesKerberos() {
		return c.BindDN
	}
	if c.Kerberos.CurrentIdentity && c.Kerberos.Principal == "" {
		return "the service's own account"
	}
	user, realm := c.KerberosUser()
	if realm == "" {
		return user
	}
	return user + "@" + realm
}

// KerberosUser is the Kerberos principal's user name and realm.
func (c *Config) KerberosUser() (user, realm string) {
	return kerberos.Credentials{Principal: c.Kerberos.Principal, Realm: c.Kerberos.Realm}.User()
}

// credentials are the Kerberos credentials the configuration gives.
func (c *Config) credentials() kerberos.Credentials {
	k := c.Kerberos
	creds := kerberos.Credentials{Principal: k.Principal, Realm: k.Realm, Keytab: k.Keytab, KDCs: k.KDCs,
		Krb5Conf: k.Krb5Conf, CurrentIdentity: k.CurrentIdentity}
	if k.Keytab == "" {
		creds.Password = c.Password.Reveal()
	}
	if len(creds.KDCs) == 0 && creds.Krb5Conf == "" {
		if _, err := os.Stat("/etc/krb5.conf"); err == nil {
			creds.Krb5Conf = "/etc/krb5.conf"
		}
	}
	return creds
}

// Complete fills defaults and resolves the password.
func (c *Config) Complete(prefix string) error {
	var err error
	if !c.UsesKerberos() || (c.Kerberos.Keytab == "" && !c.Kerberos.CurrentIdentity) {
		c.Password, err = secret.Resolve(c.Password, prefix+"password", c.PasswordFile, prefix+"password_file", EnvPassword)
	}
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Minute
	}
	return err
}

// Validate reports every problem, each naming its key under prefix.
func (c *Config) Validate(prefix string) error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s: %s", prefix, key, fmt.Sprintf(format, args...)))
	}
	given := 0
	for _, set := range []bool{c.URL != "", len(c.URLs) > 0, c.Domain != ""} {
		if set {
			given++
		}
	}
	switch {
	case given == 0:
		bad("url", "required: ldaps://dc.example.com:636 (or ldap://…:389 with start_tls: true); or urls: a list of DCs; or domain: DCs found in DNS")
	case given > 1:
		bad("url", "give one of url, urls and domain")
	case c.Site != "" && c.Domain == "":
		bad("site", "applies to domain only")
	}
	if c.URL != "" {
		c.checkURL("url", c.URL, bad)
	}
	for i, u := range c.URLs {
		c.checkURL(fmt.Sprintf("urls[%d]", i), u, bad)
	}
	if c.Domain != "" && (strings.ContainsAny(c.Domain, "/: ") || !strings.Contains(c.Domain, ".")) {
		bad("domain", "%q is not a DNS domain name such as contoso.com", c.Domain)
	}
	switch c.Auth {
	case "", AuthSimple:
		if c.BindDN == "" {
			bad("bind_dn", "required: the DN of the account groupwriteback binds as")
		}
		if !c.Password.IsSet() {
			bad("password", "required: set password, password_file or %s", EnvPassword)
		}
	case AuthKerberos:
		c.validateKerberos(prefix, bad)
	default:
		bad("auth", "%q is not simple or kerberos", c.Auth)
	}
	if c.BindDN != "" {
		if _, err := ldap.ParseDN(c.BindDN); err != nil {
			bad("bind_dn", "%q is not a DN: %v", c.BindDN, err)
		}
	}
	if c.CAFile != "" {
		if b, err := os.ReadFile(c.CAFile); err != nil {
			bad("ca_file", "%v", err)
		} else if !x509.NewCertPool().AppendCertsFromPEM(b) {
			bad("ca_file", "%s holds no PEM certificate", c.CAFile)
		}
	}
	if g := c.GlobalCatalog; g != "" && g != "auto" {
		c.checkURL("global_catalog", g, bad)
	}
	if c.BaseDN == "" {
		bad("base_dn", "required: the domain naming context, e.g. DC=contoso,DC=com")
	} else if _, err := ldap.ParseDN(c.BaseDN); err != nil {
		bad("base_dn", "%q is not a DN: %v", c.BaseDN, err)
	}
	return errors.Join(errs...)
}

func (c *Config) validateKerberos(prefix string, bad func(key, format string, args ...any)) {
	k := c.Kerberos
	if k.CurrentIdentity {
		if k.Keytab != "" || c.Password.IsSet() {
			bad("kerberos.current_identity", "binds as the service's own account: give no keytab and no password")
		}
	} else {
		if k.Principal == "" {
			bad("kerberos.principal", "required: the account's sAMAccountName (or name@REALM)")
		}
		if _, realm := c.KerberosUser(); realm == "" {
			bad("kerberos.realm", "required: the AD domain's DNS name in capitals, e.g. CONTOSO.COM (or give principal as name@REALM)")
		}
		switch {
		case k.Keytab != "" && c.Password.IsSet():
			bad("kerberos.keytab", "give a keytab or a password, not both")
		case k.Keytab != "":
			if _, err := os.Stat(k.Keytab); err != nil {
				bad("kerberos.keytab", "%v", err)
			}
		case !c.Password.IsSet():
			bad("kerberos.keytab", "required: a keytab for the principal (or a password in password, password_file or %s)", EnvPassword)
		}
	}
	if k.SPN != "" && (c.Domain != "" || len(c.URLs) > 1) {
		bad("kerberos.spn", "applies to one DC only: with several, each is named by the host in its URL (ldap/<host>)")
	}
	if k.Krb5Conf != "" {
		if _, err := os.Stat(k.Krb5Conf); err != nil {
			bad("kerberos.krb5_conf", "%v", err)
		}
	}
}

// checkURL checks one DC's URL: ldaps://, or ldap:// with StartTLS or
// Kerberos (signed and sealed).
func (c *Config) checkURL(key, raw string, bad func(key, format string, args ...any)) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "":
		bad(key, "%q is not an LDAP URL", raw)
	case u.Scheme == "ldaps":
		if c.StartTLS {
			bad("start_tls", "does not apply to ldaps://")
		}
	case u.Scheme == "ldap":
		if !c.StartTLS && !c.UsesKerberos() {
			bad(key, "ldap:// without start_tls: true would send the bind password in clear text (auth: kerberos signs and seals ldap:// instead)")
		}
	default:
		bad(key, "scheme %q is not ldaps or ldap", u.Scheme)
	}
}
