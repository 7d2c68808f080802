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
	LookupSRV LookupSRV `yaml:"-"`
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

// checkURL checks one DC's URL: ldaps://, or ldap:// with StartTLS.
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
		if !c.StartTLS {
			bad(key, "ldap:// without start_tls: true would send the bind password in clear text")
		}
	default:
		bad(key, "scheme %q is not ldaps or ldap", u.Scheme)
	}
}
