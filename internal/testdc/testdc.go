//go:build linux

// Package testdc starts throwaway Samba AD domain controllers on loopback for
// tests and the demo: provisioned once per schema flavour into a cached
// template, copied for each DC, served over LDAPS with a certificate from
// its own CA so that clients verify TLS for real.
package testdc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/testca"
)

// The domain every test DC serves.
const (
	Realm         = "CONTOSO.TEST"
	NetBIOSDomain = "CONTOSO"
	BaseDN        = "DC=contoso,DC=test"
	AdminDN       = "CN=Administrator,CN=Users," + BaseDN
	// AdminPassword meets Samba's default complexity rules.
	AdminPassword = "Passw0rd-Test!"
	// DelegatedOU holds the OUs tests write to (NewOU). DelegatedUser, a
	// plain domain user, has on it exactly the rights docs/permissions.md
	// delegates, and nothing else: end-to-end tests bind as it.
	DelegatedOU       = "OU=Delegated," + BaseDN
	DelegatedUser     = "svc-groupwriteback"
	DelegatedDN       = "CN=" + DelegatedUser + ",CN=Users," + BaseDN
	DelegatedPassword = "Passw0rd-Delegated!"
)

// Options choose the schema of a DC.
type Options struct {
	// Exchange adds the Exchange attributes a mail-enabled group needs.
	Exchange bool
	// Anchor adds the Windows Server 2016 schema attributes Samba 4.17
	// lacks: msDS-ExternalDirectoryObjectId (the anchor) and
	// msDS-ObjectSoa (AD object enforcement's mark).
	Anchor bool
	// Kerberos runs the DC's KDC (on Addr:88) and gives the DC the service
	// principal ldap/<Addr>. The DC then behaves as AD with "LDAP server
	// signing requirements = Require signing": SASL binds on ldap:// must
	// sign or seal, and over TLS need not (allow_sasl_over_tls).
	Kerberos bool
	// Users is how many fixture users the DC holds (default
	// FixtureUserCount); more makes a template of its own, without the
	// Exchange or anchor schema (benchmarks of large groups).
	Users int
}

func (o Options) users() int {
	if o.Users > 0 {
		return o.Users
	}
	return FixtureUserCount
}

func (o Options) flavour() string {
	// d1: the template carries the delegated account.
	f := fmt.Sprintf("u%d-d1-plain", o.users())
	if o.users() > tdbMostUsers {
		f += "-lmdb"
	}
	if o.Exchange {
		f = "exchange-d1"
	}
	if o.Anchor {
		f += "+ws2016" // the anchor, and msDS-ObjectSoa
	}
	return f
}

// DC is a running domain controller.
type DC struct {
	// Addr is the loopback address it listens on, e.g. 127.0.0.3.
	Addr string
	// URL is its LDAPS URL.
	URL string
	// CAFile is the PEM file of the CA that signed its certificate.
	CAFile  string
	Dir     string
	Options Options
	cmd     *exec.Cmd
	// env is the environment samba runs in (nil: the test's own).
	env    []string
	lock   *os.File
	exited chan error
	killed bool
	// cgroup is the cgroup LimitCPU moved samba into, cpuShare its limit.
	cgroup   string
	cpuShare float64

	fixturesOnce sync.Once
	fixtures     []User
	fixturesErr  error
}

// Available reports why DCs cannot be started here, or nil.
func Available() error {
	for _, bin := range []string{"samba", "samba-tool", "ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("testdc: %s not found: install Debian's samba, samba-ad-dc and ldap-utils (scripts/setup does)", bin)
		}
	}
	if os.Geteuid() != 0 {
		return errors.New("testdc: a Samba DC needs root")
	}
	return nil
}

// Start provisions (or copies from the template) and starts a DC.
func Start(ctx context.Context, opts Options) (*DC, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	tmpl, err := template(ctx, opts)
	if err != nil {
		return nil, err
	}
	addr, lock, err := claimAddress()
	if err != nil {
		return nil, err
	}
	dc := &DC{Addr: addr, URL: "ldaps://" + addr, Options: opts, lock: lock}
	if err := dc.start(ctx, tmpl); err != nil {
		dc.Close()
		return nil, err
	}
	return dc, nil
}

func (dc *DC) start(ctx context.Context, tmpl string) error {
	var err error
	dc.Dir, err = os.MkdirTemp("", "testdc-"+dc.Addr+"-")
	if err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, "cp", "-a", tmpl+"/.", dc.Dir).CombinedOutput(); err != nil {
		return fmt.Errorf("testdc: copy template: %v: %s", err, out)
	}
	ca, err := testca.New("test DC CA " + dc.Addr)
	if err != nil {
		return err
	}
	cert, err := ca.Server(dc.Addr, "localhost")
	if err != nil {
		return err
	}
	if dc.CAFile, err = ca.WriteFile(dc.Dir, "ca.pem"); err != nil {
		return err
	}
	// Samba refuses a key file others may read.
	if err := os.WriteFile(filepath.Join(dc.Dir, "tls-cert.pem"), cert.CertPEM, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dc.Dir, "tls-key.pem"), cert.KeyPEM, 0o600); err != nil {
		return err
	}
	conf := filepath.Join(dc.Dir, "smb.conf")
	text := smbConf(dc.Dir, dc.Addr, true)
	if dc.Options.Kerberos {
		text = strings.Replace(text, "server services = ldap\n", "server services = ldap, kdc\n\tldap server require strong auth = allow_sasl_over_tls\n", 1)
	}
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return err
	}
	if err := dc.run(ctx, conf); err != nil {
		return err
	}
	if dc.Options.Kerberos {
		// AD's DCs carry ldap/<fqdn>; samba_spnupdate, which would add
		// it, does not run here. ldap/<address> lets tests dial the IP.
		return dc.addSPN("ldap/"+FQDN, "ldap/"+dc.Addr)
	}
	return nil
}

// KDC is the DC's KDC, host:port.
func (dc *DC) KDC() string { return net.JoinHostPort(dc.Addr, "88") }

// MachineDN is the DC's own computer account.
const MachineDN = "CN=TESTDC,OU=Domain Controllers," + BaseDN

// FQDN is the DC's DNS name.
const FQDN = "testdc.contoso.test"

// addSPN gives the DC's account more service principal names.
func (dc *DC) addSPN(spns ...string) error { return dc.addSPNTo(MachineDN, spns...) }

// addSPNTo gives the account at dn more service principal names.
func (dc *DC) addSPNTo(dn string, spns ...string) error {
	conn, err := dc.Admin()
	if err != nil {
		return err
	}
	defer conn.Close()
	req := ldap.NewModifyRequest(dn, nil)
	req.Add("servicePrincipalName", spns)
	if err := conn.Modify(req); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultAttributeOrValueExists) {
		return fmt.Errorf("testdc: add SPNs %v: %w", spns, err)
	}
	return nil
}

// Keytab exports the keys of principal (a user's sAMAccountName) into a
// keytab file under the DC's directory, as an admin does with
// samba-tool domain exportkeytab (or ktpass on Windows). It is exported
// once a DC: the keys change only with the password, which no test sets.
func (dc *DC) Keytab(principal string) (string, error) {
	path := filepath.Join(dc.Dir, principal+".keytab")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	out, err := exec.Command("samba-tool", "domain", "exportkeytab", path, "--principal="+principal,
		"-s", filepath.Join(dc.Dir, "smb.conf")).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("testdc: export keytab for %s: %v: %s", principal, err, out)
	}
	return path, nil
}

// smbConf is the configuration of a test DC rooted at dir, listening on
// addr: LDAP only, everything under dir.
func smbConf(dir, addr string, tls bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, `[global]
	netbios name = TESTDC
	realm = %s
	workgroup = %s
	server role = active directory domain controller
	server services = ldap
	interfaces = %s
	bind interfaces only = yes
	private dir = %[4]s/private
	state directory = %[4]s/state
	cache directory = %[4]s/cache
	lock directory = %[4]s
	pid directory = %[4]s
	binddns dir = %[4]s/bind-dns
	log file = %[4]s/samba.log
	logging = file
	dsdb:schema update allowed = true
`, Realm, NetBIOSDomain, addr, dir)
	if tls {
		fmt.Fprintf(&b, "\ttls enabled = yes\n\ttls keyfile = %[1]s/tls-key.pem\n\ttls certfile = %[1]s/tls-cert.pem\n\ttls cafile = %[1]s/ca.pem\n", dir)
	}
	return b.String()
}

// run starts samba in the foreground, in its own process group, and waits
// until it answers an authenticated LDAPS search.
func (dc *DC) run(ctx context.Context, conf string) error {
	out, err := os.Create(filepath.Join(dc.Dir, "samba.out"))
	if err != nil {
		return err
	}
	dc.cmd = exec.Command("samba", "-i", "-M", "single", "-s", conf)
	dc.cmd.Stdout, dc.cmd.Stderr, dc.cmd.Env = out, out, dc.env
	dc.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := dc.cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("testdc: start samba: %w", err)
	}
	dc.exited = make(chan error, 1)
	go func() { dc.exited <- dc.cmd.Wait(); out.Close() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := dc.Admin()
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case werr := <-dc.exited:
			dc.exited <- werr
			log, _ := os.ReadFile(filepath.Join(dc.Dir, "samba.out"))
			return fmt.Errorf("testdc: samba exited (%v): %s", werr, tail(log))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testdc: samba on %s did not answer LDAPS within 60s: %v", dc.Addr, err)
		}
	}
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// TLSConfig trusts only the DC's CA.
func (dc *DC) TLSConfig() *tls.Config {
	pem, _ := os.ReadFile(dc.CAFile)
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: dc.Addr}
	if pool := certPool(pem); pool != nil {
		cfg.RootCAs = pool
	}
	return cfg
}

// Admin opens an LDAPS connection bound as Administrator.
func (dc *DC) Admin() (*ldap.Conn, error) {
	conn, err := ldap.DialURL(dc.URL, ldap.DialWithTLSConfig(dc.TLSConfig()),
		ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
	if err != nil {
		return nil, err
	}
	if err := conn.Bind(AdminDN, AdminPassword); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// Kill stops the DC at once, as a crash or a pulled cable does; its data
// stays for Restart.
func (dc *DC) Kill() {
	if dc.cmd == nil || dc.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-dc.cmd.Process.Pid, syscall.SIGKILL)
	werr := <-dc.exited
	dc.exited <- werr
	dc.killed = true
}

// Restart starts a killed DC again with its data, on the same address.
func (dc *DC) Restart(ctx context.Context) error {
	dc.killed = false
	return dc.run(ctx, filepath.Join(dc.Dir, "smb.conf"))
}

// Freeze stops the DC's processes (SIGSTOP): connections stay open and
// nothing answers, as with a hung DC. Thaw resumes them.
func (dc *DC) Freeze() { _ = syscall.Kill(-dc.cmd.Process.Pid, syscall.SIGSTOP) }

// Thaw resumes a frozen DC.
func (dc *DC) Thaw() { _ = syscall.Kill(-dc.cmd.Process.Pid, syscall.SIGCONT) }

// Close stops the DC and removes its files.
func (dc *DC) Close() error {
	if dc.cmd != nil && dc.cmd.Process != nil && !dc.killed {
		dc.Thaw()
		_ = syscall.Kill(-dc.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-dc.exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-dc.cmd.Process.Pid, syscall.SIGKILL)
			<-dc.exited
		}
		dc.killed = true // gone: a second Close has nothing to stop
	}
	dc.removeCgroup()
	if dc.Dir != "" && os.Getenv("TESTDC_KEEP") == "" {
		_ = os.RemoveAll(dc.Dir)
	}
	if dc.lock != nil {
		dc.lock.Close() // releases the address
	}
	return nil
}

// Search reads entries as the domain's administrator, failing the test on
// an error: what tests use to look at AD behind the tool's back.
func (dc *DC) Search(t testing.TB, base string, scope int, filter string, attrs ...string) []*ldap.Entry {
	t.Helper()
	conn, err := dc.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil))
	if err != nil {
		t.Fatalf("search %s %s: %v", base, filter, err)
	}
	return res.Entries
}

// DirectoryConfig is the directory section of a groupwriteback
// configuration (YAML) that binds to dc as the delegated account.
func (dc *DC) DirectoryConfig() string {
	return fmt.Sprintf("directory:\n  url: %s\n  bind_dn: %s\n  password: %s\n  ca_file: %s\n  base_dn: %s\n",
		dc.URL, DelegatedDN, DelegatedPassword, dc.CAFile, BaseDN)
}

// CPU is the CPU time (user and system) the DC's samba process has used
// since it started: the bench reads it before and after a phase, to show
// what the DC did beside what the tool did. Samba runs as one process
// (-M single), so its /proc stat counts all of it.
func (dc *DC) CPU() (time.Duration, error) {
	if dc.cmd == nil || dc.cmd.Process == nil {
		return 0, errors.New("testdc: the DC is not running")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", dc.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	return procCPU(string(b))
}

// procCPU reads utime and stime (fields 14 and 15, in clock ticks of
// 1/100 s on Linux) from a /proc/PID/stat line; the command name in
// parentheses may hold spaces, so fields are counted after its ')'.
func procCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("testdc: a /proc stat line without its command: %.60q", stat)
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("testdc: a short /proc stat line: %.60q", stat)
	}
	var ticks int64
	for _, s := range f[11:13] { // utime, stime: fields 14 and 15 of the line
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("testdc: /proc stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}
