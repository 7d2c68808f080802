package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/groupwriteback/groupwriteback/internal/graph"
)

const validYAML = `
cloud:
  tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47
  client_id: 5b0f8a8e-3b55-4c5e-9f5c-1f6f0f2d7e10
  client_secret: cloud-secret-value
directory:
  url: ldaps://dc1.contoso.com:636
  bind_dn: CN=svc,OU=Service Accounts,DC=contoso,DC=com
  password: bind-secret-value
  base_dn: DC=contoso,DC=com
writeback:
  target_ou: OU=Cloud Groups,DC=contoso,DC=com
`

// load writes yaml to a temporary config file and loads it.
func load(t *testing.T, text string, files map[string]string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(path)
}

func TestValidConfigDefaults(t *testing.T) {
	c, err := load(t, validYAML, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Cloud.GraphURL != "https://graph.microsoft.com" || c.Cloud.AuthorityURL != "https://login.microsoftonline.com" ||
		c.Cloud.Credential != graph.CredentialClientSecret || c.Writeback.Naming != NamingDisplayName ||
		!filepath.IsAbs(c.State.Path) || filepath.Base(c.State.Path) != "groupwriteback.db" || c.Log.Level != "info" {
		t.Fatalf("defaults not filled: %+v", c)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	edit := func(old, new string) string {
		if !strings.Contains(validYAML, old) {
			panic(old)
		}
		return strings.Replace(validYAML, old, new, 1)
	}
	cases := []struct {
		name, yaml string
		env        map[string]string
		files      map[string]string
		want       []string
	}{
		{"missing tenant", edit("  tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47\n", ""), nil, nil, []string{"cloud.tenant_id: required"}},
		{"a number for a duration", validYAML + "schedule:\n  interval: 30\n", nil, nil,
			[]string{"schedule.interval: cannot unmarshal !!int `30` into time.Duration (line 14): write a duration with its unit"}},
		{"a word for a number", edit("writeback:\n", "writeback:\n  delete_threshold: many\n"), nil, nil, []string{"writeback.delete_threshold: cannot unmarshal !!str `many`"}},
		{"an interval under 10 seconds", validYAML + "schedule:\n  interval: 9s\n", nil, nil, []string{"schedule.interval: 9s is shorter than 10s"}},
		{"notifications over plain HTTP", validYAML + "notifications:\n  public_url: http://wb.contoso.com/graph/notifications\n", nil, nil,
			[]string{"notifications.public_url: \"http://wb.contoso.com/graph/notifications\" is not an https URL"}},
		{"notifications on the console's path", validYAML + "notifications:\n  public_url: https://wb.contoso.com/console/n\n", nil, nil,
			[]string{"notifications.public_url: the path of \"https://wb.contoso.com/console/n\" must be one of its own"}},
		{"notifications on the root", validYAML + "notifications:\n  public_url: https://wb.contoso.com\n", nil, nil,
			[]string{"notifications.public_url: the path of"}},
		{"notifications without the server", validYAML + "server:\n  listen: \"off\"\nnotifications:\n  public_url: https://wb.contoso.com/n\n", nil, nil,
			[]string{"notifications.public_url: notifications need the HTTP server"}},
		{"notifications on users alone", validYAML + "notifications:\n  public_url: https://wb.contoso.com/n\n  resources: [users, devices]\n", nil, nil,
			[]string{"notifications.resources: \"devices\" is not groups or users", "notifications.resources: groups must be watched"}},
		{"a negative jitter", validYAML + "schedule:\n  jitter: -1s\n", nil, nil, []string{"schedule.jitter: -1s must be between 0s and half of schedule.interval (15m0s)"}},
		{"a jitter over half the interval", validYAML + "schedule:\n  interval: 10m\n  jitter: 6m\n", nil, nil, []string{"schedule.jitter: 6m0s must be between 0s and half of schedule.interval (5m0s)"}},
		{"bad tenant", edit("72f988bf-86f1-41af-91ab-2d7cd011db47", "72f988bf/../x"), nil, nil, []string{"cloud.tenant_id:"}},
		{"no credential", edit("  client_secret: cloud-secret-value\n", ""), nil, nil, []string{"cloud.client_secret: no credential"}},
		{"secret twice", edit("client_secret: cloud-secret-value", "client_secret: a\n  client_secret_file: s"), nil, map[string]string{"s": "b"},
			[]string{"cloud.client_secret and cloud.client_secret_file are both set"}},
		{"secret file missing", edit("client_secret: cloud-secret-value", "client_secret_file: nothere"), nil, nil, []string{"cloud.client_secret_file:"}},
		{"unknown credential", edit("client_secret: cloud-secret-value", "client_secret: x\n  credential: kerberos"), nil, nil, []string{`cloud.credential: "kerberos" is not supported`}},
		{"certificate file missing", edit("client_secret: cloud-secret-value", "certificate_file: cert.pem"), nil, nil, []string{"cloud.certificate_file:"}},
		{"graph url not https", edit("client_secret: cloud-secret-value", "client_secret: x\n  graph_url: http://graph.example"), nil, nil, []string{"cloud.graph_url:"}},
		{"ca file not PEM", edit("client_secret: cloud-secret-value", "client_secret: x\n  ca_file: ca.pem"), nil, map[string]string{"ca.pem": "nope"}, []string{"cloud.ca_file:"}},
		{"unknown key", edit("  client_id:", "  clientid: x\n  client_id:"), nil, nil, []string{"cloud.clientid: unknown key (line 4)"}},
		{"unknown section", validYAML + "scheduler:\n  every: 1h\n", nil, nil, []string{"scheduler: unknown key"}},
		{"ldap without starttls", edit("ldaps://dc1.contoso.com:636", "ldap://dc1.contoso.com"), nil, nil, []string{"directory.url: ldap:// without start_tls"}},
		{"not ldap", edit("ldaps://dc1.contoso.com:636", "https://dc1"), nil, nil, []string{`directory.url: scheme "https"`}},
		{"bad bind dn", edit("CN=svc,OU=Service Accounts,DC=contoso,DC=com", "svc@contoso"), nil, nil, []string{"directory.bind_dn:"}},
		{"no password", edit("  password: bind-secret-value\n", ""), nil, nil, []string{"directory.password: required"}},
		{"target outside base", edit("OU=Cloud Groups,DC=contoso,DC=com", "OU=Cloud Groups,DC=fabrikam,DC=com"), nil, nil, []string{"writeback.target_ou:", "is not under directory.base_dn"}},
		{"target not a DN", edit("OU=Cloud Groups,DC=contoso,DC=com", "Cloud Groups"), nil, nil, []string{`writeback.target_ou: "Cloud Groups" is not a DN`}},
		{"bad naming", validYAML + "  naming: guid\n", nil, nil, []string{"writeback.naming:"}},
		{"bad sam_on_rename", validYAML + "  sam_on_rename: random\n", nil, nil, []string{`writeback.sam_on_rename: "random" is not keep or follow`}},
		{"a negative history", validYAML + "state:\n  history_days: -1\n", nil, nil, []string{"state.history_days: -1 is negative"}},
		{"group scopes", validYAML + "  group_scope: local\n", nil, nil, []string{`writeback.group_scope: "local" is not one of [universal global domain_local]`}},
		{"two scopes for one OU", validYAML + "  placement:\n    - ou: \"OU=A,DC=contoso,DC=com\"\n      group_scope: global\n    - ou: \"OU=A,DC=contoso,DC=com\"\n      kind: security\n      group_scope: domain_local\n    - ou: \"OU=B,DC=contoso,DC=com\"\n      group_scope: wide\n", nil, nil,
			[]string{`writeback.placement[1].group_scope: domain_local, but writeback.placement[0].group_scope gives the same OU global`, `writeback.placement[2].group_scope: "wide" is not one of`}},
		{"match rules without search bases", validYAML + "  match_unsynced:\n    rules: [userPrincipalName, mail, mail, displayName]\n", nil, nil,
			[]string{`writeback.match_unsynced.rules[2]: "mail" is listed twice`, `writeback.match_unsynced.rules[3]: "displayName" is not one of`,
				"writeback.match_unsynced.search_bases: required with rules"}},
		{"a match search base outside the domain", validYAML + "  match_unsynced:\n    rules: [employeeId]\n    search_bases: [\"OU=Staff,DC=fabrikam,DC=com\", \"not a dn\"]\n", nil, nil,
			[]string{`writeback.match_unsynced.search_bases[0]: "OU=Staff,DC=fabrikam,DC=com" is not under directory.base_dn`, `writeback.match_unsynced.search_bases[1]: "not a dn" is not a DN`}},
		{"member batch too large", validYAML + "  member_batch_size: 10000\n", nil, nil, []string{`writeback.member_batch_size: 10000 is not between 100 and 5000`}},
		{"member batch too small", validYAML + "  member_batch_size: 10\n", nil, nil, []string{`writeback.member_batch_size: 10 is not between 100 and 5000`}},
		{"console over plain http", validYAML + "server:\n  console:\n    public_url: http://wb01.contoso.com\n", nil, nil, []string{"server.console.public_url:", "session cookie is Secure"}},
		{"console with a path", validYAML + "server:\n  console:\n    public_url: https://wb01.contoso.com/gwb\n", nil, nil, []string{"server.console.public_url:"}},
		{"console without the server", validYAML + "server:\n  listen: \"off\"\n  console:\n    public_url: https://wb01.contoso.com\n", nil, nil, []string{"server.console.public_url: the console needs the HTTP server"}},
		{"target is the domain root", edit("OU=Cloud Groups,DC=contoso,DC=com", "DC=contoso,DC=com"), nil, nil, []string{"writeback.target_ou:", "the domain root"}},
		{"target is CN=Users", edit("OU=Cloud Groups,DC=contoso,DC=com", "CN=Users,DC=contoso,DC=com"), nil, nil, []string{"writeback.target_ou:", "only an organizational unit"}},
		{"target is Domain Controllers", edit("OU=Cloud Groups,DC=contoso,DC=com", "OU=Domain Controllers,DC=contoso,DC=com"), nil, nil, []string{"writeback.target_ou:", "built-in Domain Controllers OU"}},
		{"quarantine in CN=Computers", validYAML + "  quarantine_ou: CN=Computers,DC=contoso,DC=com\n", nil, nil, []string{"writeback.quarantine_ou:", "only an organizational unit"}},
		{"placement rule without an OU", validYAML + "  placement:\n  - kind: security\n", nil, nil, []string{"writeback.placement[0].ou: required"}},
		{"placement rule in CN=Users", validYAML + "  placement:\n  - ou: CN=Users,DC=contoso,DC=com\n", nil, nil, []string{"writeback.placement[0].ou:", "only an organizational unit"}},
		{"placement rule outside the domain", validYAML + "  placement:\n  - ou: OU=X,DC=fabrikam,DC=com\n", nil, nil, []string{"writeback.placement[0].ou:", "not under directory.base_dn"}},
		{"placement rule's kind", validYAML + "  placement:\n  - ou: OU=X,DC=contoso,DC=com\n    kind: distribution\n", nil, nil, []string{`writeback.placement[0].kind: "distribution" is not microsoft365 or security`}},
		{"placement rule's pattern", validYAML + "  placement:\n  - ou: OU=X,DC=contoso,DC=com\n    display_name: \"[\"\n", nil, nil, []string{"writeback.placement[0].display_name:"}},
		{"placement rule's mail domain", validYAML + "  placement:\n  - ou: OU=X,DC=contoso,DC=com\n    mail_domain: contoso\n", nil, nil, []string{"writeback.placement[0].mail_domain:"}},
		{"placement rule's extension", validYAML + "  placement:\n  - ou: OU=X,DC=contoso,DC=com\n    extension: department\n", nil, nil, []string{`writeback.placement[0].extension: "department" is neither`}},
		{"placement rule's extension value alone", validYAML + "  placement:\n  - ou: OU=X,DC=contoso,DC=com\n    extension_value: Sales\n", nil, nil, []string{"writeback.placement[0].extension_value: needs extension"}},
		{"quarantine inside a placement OU", validYAML + "  placement:\n  - ou: OU=X,DC=contoso,DC=com\n  quarantine_ou: OU=Q,OU=X,DC=contoso,DC=com\n", nil, nil,
			[]string{"writeback.quarantine_ou: must be apart from writeback.placement[0].ou"}},
		{"tls cert without key", validYAML + "server:\n  tls_cert_file: c.pem\n", nil, nil, []string{"server.tls_cert_file:"}},
		{"client CA without TLS", validYAML + "server:\n  client_ca_file: ca.pem\n", nil, nil, []string{"server.client_ca_file: client certificates need TLS"}},
		{"short token", validYAML + "server:\n  token_file: tok\n", nil, map[string]string{"tok": "abc\n"}, []string{"server.token_file: the token", "shorter than 16"}},
		{"source of authority", validYAML + "  source_of_authority: copy\n", nil, nil, []string{`writeback.source_of_authority: "copy" is not report or in_place`}},
		{"cycle timeout", validYAML + "schedule:\n  cycle_timeout: 1ms\n", nil, nil, []string{"schedule.cycle_timeout:"}},
		{"bad log level", validYAML + "log:\n  level: loud\n", nil, nil, []string{"log.level:"}},
		{"several at once", edit("  tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47\n", "") + "log:\n  format: xml\n", nil, nil,
			[]string{"cloud.tenant_id: required", "log.format:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := load(t, tc.yaml, tc.files)
			if err == nil {
				t.Fatal("loaded; want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			for _, s := range []string{"cloud-secret-value", "bind-secret-value"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error leaks a secret: %v", err)
				}
			}
		})
	}
}

func TestSecretSources(t *testing.T) {
	noSecrets := strings.NewReplacer("  client_secret: cloud-secret-value\n", "", "  password: bind-secret-value\n", "").Replace(validYAML)
	t.Run("environment", func(t *testing.T) {
		t.Setenv(graph.EnvClientSecret, "from-env")
		t.Setenv("GROUPWRITEBACK_DIRECTORY_PASSWORD", "pw-from-env")
		c, err := load(t, noSecrets, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.Cloud.ClientSecret.Reveal() != "from-env" || c.Directory.Password.Reveal() != "pw-from-env" {
			t.Fatal("secrets not taken from the environment")
		}
	})
	t.Run("files, relative to the config", func(t *testing.T) {
		y := strings.Replace(noSecrets, "  client_id:", "  client_secret_file: cs.txt\n  client_id:", 1)
		y = strings.Replace(y, "  base_dn:", "  password_file: pw.txt\n  base_dn:", 1)
		c, err := load(t, y, map[string]string{"cs.txt": "from-file\n", "pw.txt": "pw-from-file"})
		if err != nil {
			t.Fatal(err)
		}
		if c.Cloud.ClientSecret.Reveal() != "from-file" || c.Directory.Password.Reveal() != "pw-from-file" {
			t.Fatal("secrets not read from files")
		}
	})
}

// TestSecretsNeverShow formats a loaded config every way a program might
// print or log it.
func TestSecretsNeverShow(t *testing.T) {
	c, err := load(t, validYAML, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "%v %+v %#v %s", *c, *c, *c, c.Cloud.ClientSecret)
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	out.Write(j)
	y, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	out.Write(y)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("config", "cloud", c.Cloud, "secret", c.Directory.Password)
	slog.New(slog.NewTextHandler(&out, nil)).Info("config", "cloud", c.Cloud, "secret", c.Directory.Password)
	for _, s := range []string{"cloud-secret-value", "bind-secret-value"} {
		if strings.Contains(out.String(), s) {
			t.Fatalf("a secret shows in:\n%s", out.String())
		}
	}
	if !strings.Contains(string(y), "[redacted]") {
		t.Fatalf("YAML shows no redaction marker:\n%s", y)
	}
}

// TestExampleConfig keeps examples/config.yaml valid.
func TestExampleConfig(t *testing.T) {
	b, err := os.ReadFile("../../examples/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, body := range map[string]string{"client-secret": "s", "bind-password": "p"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ca, err := os.ReadFile("../../internal/config/testdata/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "contoso-ca.pem"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
}

func TestWarnings(t *testing.T) {
	cases := []struct {
		server string
		warns  []string
	}{
		{"", nil},
		{"server:\n  listen: '[::1]:9000'\n", nil},
		{"server:\n  listen: 0.0.0.0:8080\n", []string{"plain HTTP", "no authentication"}},
		{"server:\n  listen: 0.0.0.0:8443\n  tls_cert_file: c.pem\n  tls_key_file: k.pem\n", []string{"no authentication"}},
		{"server:\n  listen: 0.0.0.0:8443\n  tls_cert_file: c.pem\n  tls_key_file: k.pem\n  token_file: tok\n", nil},
		{"mode: staging\nschedule:\n  interval: 2h\n", []string{"schedule.interval: a staging service saves a plan every 2h0m0s", "plan_max_age (1h0m0s)"}},
		{"mode: staging\nschedule:\n  interval: 30m\n", nil},
		{"schedule:\n  interval: 2h\n", nil}, // only a staging service stages plans
	}
	for _, tc := range cases {
		c, err := load(t, validYAML+tc.server, map[string]string{"tok": "0123456789abcdef0123"})
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(c.Warnings(), "\n")
		if len(tc.warns) == 0 && got != "" {
			t.Errorf("%q: warnings %q", tc.server, got)
		}
		for _, w := range tc.warns {
			if !strings.Contains(got, w) {
				t.Errorf("%q: warnings %q lack %q", tc.server, got, w)
			}
		}
	}
}

// TestExposedSecretsWarn: a secret file every account can read is
// warned of by name and key; one the service's account alone reads is
// not.
func TestExposedSecretsWarn(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows keeps ACLs, not modes")
	}
	noSecrets := strings.NewReplacer("  client_secret: cloud-secret-value\n", "", "  password: bind-secret-value\n", "").Replace(validYAML)
	y := strings.Replace(noSecrets, "  client_id:", "  client_secret_file: cs.txt\n  client_id:", 1)
	y = strings.Replace(y, "  base_dn:", "  password_file: pw.txt\n  base_dn:", 1)
	for _, tc := range []struct {
		mode os.FileMode
		warn bool
	}{{0o600, false}, {0o640, false}, {0o644, true}, {0o604, true}} {
		t.Run(fmt.Sprintf("%04o", tc.mode), func(t *testing.T) {
			c, err := load(t, y, map[string]string{"cs.txt": "from-file\n", "pw.txt": "pw"})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(c.Cloud.ClientSecretFile, tc.mode); err != nil {
				t.Fatal(err)
			}
			got := strings.Join(c.Warnings(), "\n")
			warned := strings.Contains(got, "cloud.client_secret_file: "+c.Cloud.ClientSecretFile+" is readable by every account") &&
				strings.Contains(got, "chmod o-rwx")
			if warned != tc.warn || strings.Contains(got, "directory.password_file") {
				t.Fatalf("mode %04o: warnings %q", tc.mode, got)
			}
		})
	}
}

// TestJitterDefaults: jitter is a tenth of the interval, at most a minute,
// unless set; 0s is none.
func TestJitterDefaults(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want time.Duration
	}{
		{"", time.Minute},
		{"schedule:\n  interval: 5m\n", 30 * time.Second},
		{"schedule:\n  interval: 10s\n", time.Second},
		{"schedule:\n  interval: 5m\n  jitter: 0s\n", 0},
		{"schedule:\n  jitter: 2m\n", 2 * time.Minute},
	} {
		c, err := load(t, validYAML+tc.yaml, nil)
		if err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		if got := c.Schedule.JitterOrNone(); c.Schedule.Jitter == nil || got != tc.want {
			t.Errorf("%q: jitter %s, want %s", tc.yaml, got, tc.want)
		}
	}
}
