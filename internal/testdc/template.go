//go:build linux

package testdc

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/go-ldap/ldap/v3"

	_ "embed"
)

//go:embed testdata/exchange-schema.ldif
var exchangeLDIF string

//go:embed testdata/anchor-schema.ldif
var anchorLDIF string

//go:embed testdata/add-fixture-users.py
var fixtureScript string

//go:embed testdata/delegate.py
var delegateScript string

func certPool(pem []byte) *x509.CertPool {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pem) {
		return nil
	}
	return p
}

// cacheDir holds provisioned templates between test runs.
func cacheDir() string {
	if d := os.Getenv("TESTDC_CACHE"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "groupwriteback-testdc")
}

// template returns a provisioned, stopped DC directory of the flavour,
// provisioning it the first time. A file lock lets test binaries running
// at the same time share one template.
func template(ctx context.Context, opts Options) (string, error) {
	version, err := exec.Command("samba", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("testdc: samba --version: %w", err)
	}
	name := opts.flavour() + "-" + strings.ReplaceAll(strings.TrimSpace(string(version)), " ", "_")
	root := cacheDir()
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(root, name+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	dir := filepath.Join(root, name)
	if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
		return dir, nil
	}
	_ = os.RemoveAll(dir)
	if err := provision(ctx, dir, opts); err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "ready"), nil, 0o600)
}

// provision makes a template. The plain one: samba-tool provisions the
// domain and the fixture users are written offline. The others: a copy of
// the plain one, extended by a temporary DC that applies the schema LDIF.
func provision(ctx context.Context, dir string, opts Options) error {
	if !opts.Exchange && !opts.Anchor {
		return provisionPlain(ctx, dir, opts.users())
	}
	plain, err := template(ctx, Options{})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, sub := range []string{"private", "state"} {
		if out, err := exec.Command("cp", "-a", filepath.Join(plain, sub), dir).CombinedOutput(); err != nil {
			return fmt.Errorf("testdc: copy %s: %v: %s", sub, err, out)
		}
	}
	addr, lock, err := claimAddress()
	if err != nil {
		return err
	}
	defer lock.Close()
	dc := &DC{Addr: addr, URL: "ldaps://" + addr, Dir: dir}
	ca, cert, err := tempCert(addr)
	if err != nil {
		return err
	}
	dc.CAFile = filepath.Join(dir, "ca.pem")
	files := map[string][]byte{"ca.pem": ca, "tls-cert.pem": cert.CertPEM, "tls-key.pem": cert.KeyPEM}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	conf := filepath.Join(dir, "smb.conf")
	if err := os.WriteFile(conf, []byte(smbConf(dir, addr, true)), 0o644); err != nil {
		return err
	}
	if err := dc.run(ctx, conf); err != nil {
		return err
	}
	defer func() {
		dc.lock = nil
		dc.Dir = "" // keep the template
		dc.Close()
		for name := range files {
			os.Remove(filepath.Join(dir, name))
		}
		os.Remove(conf)
		os.Remove(filepath.Join(dir, "samba.out"))
		os.Remove(filepath.Join(dir, "samba.log"))
	}()
	conn, err := dc.Admin()
	if err != nil {
		return err
	}
	defer conn.Close()
	schemaNC := "CN=Schema,CN=Configuration," + BaseDN
	if opts.Exchange {
		if err := applyLDIF(conn, strings.ReplaceAll(exchangeLDIF, "${SCHEMA_NC}", schemaNC)); err != nil {
			return fmt.Errorf("testdc: Exchange schema: %w", err)
		}
	}
	if opts.Anchor {
		if err := applyLDIF(conn, strings.ReplaceAll(anchorLDIF, "${SCHEMA_NC}", schemaNC)); err != nil {
			return fmt.Errorf("testdc: anchor schema: %w", err)
		}
	}
	return nil
}

// tdbMostUsers is the most fixture users a template keeps in Samba's
// default backend (TDB). A TDB file is at most 4 GiB, and the domain
// partition took 8.2 KB a user (2.05 GB at 250,000 users): at a million,
// samba-tool's adds stopped with "tdb_expand overflow detected
// current map_size[4294967295]". A larger template is provisioned on
// LMDB, whose file is not so bounded, its users added lmdbChunk at a
// time (an LMDB write transaction holds a bounded number of dirty pages).
var (
	tdbMostUsers = 400000
	lmdbChunk    = 20000
)

// lmdbGiB is the LMDB map size, in GiB, for a template of users: twice
// what the users took in TDB, and samba-tool's default (8) at least.
func lmdbGiB(users int) int { return max(8, (users*2*8200)>>30+1) }

func provisionPlain(ctx context.Context, dir string, users int) error {
	tmp, err := os.MkdirTemp("", "testdc-provision-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	args := []string{"domain", "provision",
		"--realm=" + Realm, "--domain=" + NetBIOSDomain, "--server-role=dc", "--dns-backend=NONE",
		"--adminpass=" + AdminPassword, "--targetdir=" + tmp, "--host-name=testdc",
		"--option=server services = ldap", "--option=dsdb:schema update allowed = true"}
	chunk := users
	if users > tdbMostUsers {
		args = append(args, "--backend-store=mdb", fmt.Sprintf("--backend-store-size=%dGb", lmdbGiB(users)))
		chunk = lmdbChunk
	}
	cmd := exec.CommandContext(ctx, "samba-tool", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testdc: samba-tool domain provision: %v: %s", err, tail(out))
	}
	script := filepath.Join(tmp, "add-fixture-users.py")
	if err := os.WriteFile(script, []byte(fixtureScript), 0o600); err != nil {
		return err
	}
	// Samba's Python bindings belong to the distribution's Python.
	add := exec.CommandContext(ctx, "/usr/bin/python3", script, filepath.Join(tmp, "etc", "smb.conf"),
		filepath.Join(tmp, "private", "sam.ldb"), FixtureOU, fmt.Sprint(users), fmt.Sprint(chunk))
	if out, err := add.CombinedOutput(); err != nil {
		return fmt.Errorf("testdc: fixture users: %v: %s", err, tail(out))
	}
	delegate := filepath.Join(tmp, "delegate.py")
	if err := os.WriteFile(delegate, []byte(delegateScript), 0o600); err != nil {
		return err
	}
	del := exec.CommandContext(ctx, "/usr/bin/python3", delegate, filepath.Join(tmp, "etc", "smb.conf"),
		filepath.Join(tmp, "private", "sam.ldb"), DelegatedOU, DelegatedUser, DelegatedPassword)
	if out, err := del.CombinedOutput(); err != nil {
		return fmt.Errorf("testdc: delegated account: %v: %s", err, tail(out))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, sub := range []string{"private", "state"} {
		if out, err := exec.Command("cp", "-a", filepath.Join(tmp, sub), dir).CombinedOutput(); err != nil {
			return fmt.Errorf("testdc: copy %s: %v: %s", sub, err, out)
		}
	}
	return nil
}

// claimAddress finds a free loopback address, 127.0.0.2 and up: it holds a
// lock file for the address (released when the file closes) and puts the
// address on lo, where Samba can bind it.
func claimAddress() (string, *os.File, error) {
	for n := 2; n < 255; n++ {
		addr := fmt.Sprintf("127.0.0.%d", n)
		f, err := os.OpenFile(filepath.Join(os.TempDir(), "groupwriteback-testdc-"+addr+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return "", nil, err
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close()
			continue
		}
		if out, err := exec.Command("ip", "addr", "add", addr+"/32", "dev", "lo").CombinedOutput(); err != nil && !strings.Contains(string(out), "File exists") && !strings.Contains(string(out), "already assigned") {
			f.Close()
			return "", nil, fmt.Errorf("testdc: ip addr add %s: %v: %s", addr, err, out)
		}
		ln, err := net.Listen("tcp", addr+":636")
		if err != nil {
			f.Close() // something else listens there
			continue
		}
		ln.Close()
		return addr, f, nil
	}
	return "", nil, fmt.Errorf("testdc: no free loopback address")
}

// applyLDIF applies the small LDIF subset the schema files use: add
// entries, and modify entries with add operations ("dn:" alone is the rootDSE).
func applyLDIF(conn *ldap.Conn, text string) error {
	for _, rec := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		var lines []string
		for _, l := range strings.Split(rec, "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				lines = append(lines, l)
			}
		}
		if len(lines) == 0 {
			continue
		}
		dn := strings.TrimSpace(strings.TrimPrefix(lines[0], "dn:"))
		if len(lines) < 2 || !strings.HasPrefix(lines[1], "changetype: ") {
			return fmt.Errorf("ldif record %q has no changetype", dn)
		}
		attrs := map[string][]string{}
		var order []string
		for _, l := range lines[2:] {
			if l == "-" || strings.HasPrefix(l, "add: ") {
				continue
			}
			k, v, b64 := splitLDIF(l)
			if _, ok := attrs[k]; !ok {
				order = append(order, k)
			}
			if b64 {
				v = decodeB64(v)
			}
			attrs[k] = append(attrs[k], v)
		}
		switch strings.TrimPrefix(lines[1], "changetype: ") {
		case "add":
			req := ldap.NewAddRequest(dn, nil)
			for _, k := range order {
				req.Attribute(k, attrs[k])
			}
			if err := conn.Add(req); err != nil {
				return fmt.Errorf("add %s: %w", dn, err)
			}
		case "modify":
			req := ldap.NewModifyRequest(dn, nil)
			for _, k := range order {
				req.Add(k, attrs[k])
			}
			if err := conn.Modify(req); err != nil {
				return fmt.Errorf("modify %q: %w", dn, err)
			}
		default:
			return fmt.Errorf("ldif record %q: unsupported %s", dn, lines[1])
		}
	}
	return nil
}
