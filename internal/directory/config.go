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
	"time"

	"github.com/go-ldap/ldap/v3"

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
	// StartTLS upgrades an ldap:// connection before binding. It is
	// required with ldap://: a simple bind never goes in clear text.
	StartTLS     bool         `yaml:"start_tls"`
	BindDN       string       `yaml:"bind_dn"`
	Password     secret.Value `yaml:"password"`
	PasswordFile string       `yaml:"password_file"`
	// CAFile is a PEM file of CAs to trust for the DC's certificate, in
	// addition to the system's.
	CAFile string `yaml:"ca_file"`
	// BaseDN is the domain's naming context, e.g. DC=contoso,DC=com.
	BaseDN string `yaml:"base_dn"`
	// Timeout is the longest one LDAP operation may take before the
	// connection counts as lost and is made again (default 2m).
	Timeout time.Duration `yaml:"timeout"`
}

// Complete fills defaults and resolves the password.
func (c *Config) Complete(prefix string) error {
	var err error
	c.Password, err = secret.Resolve(c.Password, prefix+"password", c.PasswordFile, prefix+"password_file", EnvPassword)
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
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		bad("url", "required: ldaps://dc.example.com:636, or ldap://dc.example.com:389 with start_tls: true")
	case err != nil || u.Host == "":
		bad("url", "%q is not an LDAP URL", c.URL)
	case u.Scheme == "ldaps":
		if c.StartTLS {
			bad("start_tls", "does not apply to ldaps://")
		}
	case u.Scheme == "ldap":
		if !c.StartTLS {
			bad("url", "ldap:// without start_tls: true would send the bind password in clear text")
		}
	default:
		bad("url", "scheme %q is not ldaps or ldap", u.Scheme)
	}
	if c.BindDN == "" {
		bad("bind_dn", "required: the DN of the account groupwriteback binds as")
	} else if _, err := ldap.ParseDN(c.BindDN); err != nil {
		bad("bind_dn", "%q is not a DN: %v", c.BindDN, err)
	}
	if !c.Password.IsSet() {
		bad("password", "required: set password, password_file or %s", EnvPassword)
	}
	if c.CAFile != "" {
		if b, err := os.ReadFile(c.CAFile); err != nil {
			bad("ca_file", "%v", err)
		} else if !x509.NewCertPool().AppendCertsFromPEM(b) {
			bad("ca_file", "%s holds no PEM certificate", c.CAFile)
		}
	}
	if c.BaseDN == "" {
		bad("base_dn", "required: the domain naming context, e.g. DC=contoso,DC=com")
	} else if _, err := ldap.ParseDN(c.BaseDN); err != nil {
		bad("base_dn", "%q is not a DN: %v", c.BaseDN, err)
	}
	return errors.Join(errs...)
}
