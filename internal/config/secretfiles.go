package config

import (
	"fmt"
	"os"
	"runtime"
)

// secretFiles are the configured files that hold a secret, by key.
func (c *Config) secretFiles() [][2]string {
	out := [][2]string{}
	for _, f := range [][2]string{
		{"cloud.client_secret_file", c.Cloud.ClientSecretFile},
		{"cloud.certificate_file", c.Cloud.CertificateFile},
		{"directory.password_file", c.Directory.PasswordFile},
		{"directory.kerberos.keytab", c.Directory.Kerberos.Keytab},
		{"server.tls_key_file", c.Server.TLSKeyFile},
		{"server.token_file", c.Server.TokenFile},
		{"alerts.webhook_url_file", c.Alerts.WebhookURLFile},
		{"state.url_file", c.State.URLFile},
		{"writeback.plan_key_file", c.Writeback.PlanKeyFile},
	} {
		if f[1] != "" {
			out = append(out, f)
		}
	}
	return out
}

// exposedSecrets are warnings for the secret files every account of the
// machine can read (Unix modes; Windows keeps ACLs, not modes, and is not
// checked).
func (c *Config) exposedSecrets() []string {
	if runtime.GOOS == "windows" {
		return nil
	}
	var w []string
	for _, f := range c.secretFiles() {
		fi, err := os.Stat(f[1])
		if err != nil || fi.Mode().Perm()&0o004 == 0 {
			continue
		}
		w = append(w, fmt.Sprintf("%s: %s is readable by every account on this machine (mode %04o): "+
			"chmod o-rwx %s (it needs to be readable by the service's account only: root:groupwriteback, mode 0640)",
			f[0], f[1], fi.Mode().Perm(), f[1]))
	}
	return w
}
