//go:build linux

package testdc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/testca"
)

// nssWrapper is the library that lets both DCs find each other by name
// from a hosts file, without touching /etc (Debian's libnss-wrapper).
const nssWrapper = "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so"

// Pair is two domain controllers of one domain, replicating with each
// other: the first provisioned with Samba's internal DNS, the second
// joined to it, as an admin adds a DC. They share a CA. Each DC is
// ~60 MB of memory; the pair starts in about 15 s.
type Pair struct {
	DC1, DC2 *DC
	dir      string
	env      []string
}

// PairAvailable reports why a pair cannot be started here, or nil.
func PairAvailable() error {
	if err := Available(); err != nil {
		return err
	}
	if _, err := os.Stat(nssWrapper); err != nil {
		return errors.New("testdc: " + nssWrapper + " not found: install Debian's libnss-wrapper (scripts/setup does)")
	}
	return nil
}

// StartPair provisions a fresh domain on one DC, joins a second DC to it
// and starts both. Nothing is cached: the join is part of what is tested.
func StartPair(ctx context.Context) (p *Pair, err error) {
	if err := PairAvailable(); err != nil {
		return nil, err
	}
	p = &Pair{}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if p.dir, err = os.MkdirTemp("", "testdc-pair-"); err != nil {
		return nil, err
	}
	p.DC1, p.DC2 = &DC{}, &DC{}
	for _, dc := range []*DC{p.DC1, p.DC2} {
		if dc.Addr, dc.lock, err = claimAddress(); err != nil {
			return nil, err
		}
		dc.URL = "ldaps://" + dc.Addr
	}
	p.DC1.Dir, p.DC2.Dir = filepath.Join(p.dir, "dc1"), filepath.Join(p.dir, "dc2")
	hosts := filepath.Join(p.dir, "hosts")
	krb5 := filepath.Join(p.dir, "krb5.conf")
	p.env = append(os.Environ(), "LD_PRELOAD="+nssWrapper, "NSS_WRAPPER_HOSTS="+hosts,
		"NSS_WRAPPER_PASSWD=/etc/passwd", "NSS_WRAPPER_GROUP=/etc/group", "KRB5_CONFIG="+krb5)
	p.DC1.env, p.DC2.env = p.env, p.env
	names := fmt.Sprintf("%s %s testdc\n%s dc2.%s dc2\n", p.DC1.Addr, FQDN, p.DC2.Addr, strings.ToLower(Realm))
	if err := os.WriteFile(hosts, []byte(names), 0o644); err != nil {
		return nil, err
	}
	// Samba's own krb5.conf finds KDCs in DNS, which this machine's
	// resolver does not serve: name them, for the realm in both cases
	// (the DRS service principal carries the realm in lower case).
	kconf := fmt.Sprintf("[libdefaults]\n\tdefault_realm = %[1]s\n\tdns_lookup_kdc = false\n\tdns_lookup_realm = false\n\trdns = false\n"+
		"[realms]\n\t%[1]s = {\n\t\tkdc = %[2]s\n\t\tkdc = %[3]s\n\t}\n\t%[4]s = {\n\t\tkdc = %[2]s\n\t\tkdc = %[3]s\n\t}\n[domain_realm]\n\t.%[4]s = %[1]s\n\t%[4]s = %[1]s\n",
		Realm, p.DC1.Addr, p.DC2.Addr, strings.ToLower(Realm))
	if err := os.WriteFile(krb5, []byte(kconf), 0o644); err != nil {
		return nil, err
	}
	services := "ldap, cldap, kdc, dns, rpc, drepl, kcc"
	if err := p.run(ctx, "samba-tool", "domain", "provision", "--realm="+Realm, "--domain="+NetBIOSDomain, "--server-role=dc",
		"--dns-backend=SAMBA_INTERNAL", "--adminpass="+AdminPassword, "--targetdir="+p.DC1.Dir, "--host-name=testdc",
		"--host-ip="+p.DC1.Addr, "--option=interfaces = "+p.DC1.Addr, "--option=bind interfaces only = yes",
		"--option=server services = "+services); err != nil {
		return nil, err
	}
	// The delegated account, as in every test domain.
	script := filepath.Join(p.dir, "delegate.py")
	if err := os.WriteFile(script, []byte(delegateScript), 0o600); err != nil {
		return nil, err
	}
	if err := p.run(ctx, "/usr/bin/python3", script, filepath.Join(p.DC1.Dir, "etc", "smb.conf"),
		filepath.Join(p.DC1.Dir, "private", "sam.ldb"), DelegatedOU, DelegatedUser, DelegatedPassword); err != nil {
		return nil, err
	}
	ca, err := testca.New("test DC pair CA")
	if err != nil {
		return nil, err
	}
	if err := p.configure(p.DC1, ca, "TESTDC", services, kconf); err != nil {
		return nil, err
	}
	if err := p.DC1.run(ctx, filepath.Join(p.DC1.Dir, "smb.conf")); err != nil {
		return nil, err
	}
	if err := p.run(ctx, "samba-tool", "domain", "join", strings.ToLower(Realm), "DC", "-U", NetBIOSDomain+`\administrator%`+AdminPassword,
		"--server="+p.DC1.Addr, "--dns-backend=SAMBA_INTERNAL", "--targetdir="+p.DC2.Dir, "--option=netbios name = DC2",
		"--option=interfaces = "+p.DC2.Addr, "--option=bind interfaces only = yes"); err != nil {
		return nil, err
	}
	// Each DC reaches the other by its NTDS Settings GUID.
	guids, err := p.DC1.ntdsGUIDs()
	if err != nil {
		return nil, err
	}
	names += fmt.Sprintf("%s %s._msdcs.%s\n%s %s._msdcs.%s\n", p.DC1.Addr, guids["TESTDC"], strings.ToLower(Realm), p.DC2.Addr, guids["DC2"], strings.ToLower(Realm))
	if err := os.WriteFile(hosts, []byte(names), 0o644); err != nil {
		return nil, err
	}
	// Replication authenticates to the DRS service principal, which
	// samba_spnupdate would add (AD adds it when a DC is promoted).
	for name, guid := range guids {
		dn := "CN=" + name + ",OU=Domain Controllers," + BaseDN
		if err := p.DC1.addSPNTo(dn, drsSPN+"/"+guid+"/"+strings.ToLower(Realm)); err != nil {
			return nil, err
		}
	}
	if err := p.configure(p.DC2, ca, "DC2", services, kconf); err != nil {
		return nil, err
	}
	if err := p.DC2.run(ctx, filepath.Join(p.DC2.Dir, "smb.conf")); err != nil {
		return nil, err
	}
	for _, dc := range []*DC{p.DC1, p.DC2} {
		if err := p.run(ctx, "samba-tool", "drs", "kcc", dc.Addr, "-U", NetBIOSDomain+`\administrator%`+AdminPassword, "-s", filepath.Join(dc.Dir, "smb.conf")); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// configure writes a DC's certificate, Kerberos and Samba configuration.
func (p *Pair) configure(dc *DC, ca *testca.CA, netbios, services, kconf string) error {
	cert, err := ca.Server(dc.Addr, "localhost")
	if err != nil {
		return err
	}
	if dc.CAFile, err = ca.WriteFile(dc.Dir, "ca.pem"); err != nil {
		return err
	}
	files := map[string][]byte{"tls-cert.pem": cert.CertPEM, "tls-key.pem": cert.KeyPEM, "private/krb5.conf": []byte(kconf)}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dc.Dir, name), b, 0o600); err != nil {
			return err
		}
	}
	text := strings.Replace(smbConf(dc.Dir, dc.Addr, true), "netbios name = TESTDC", "netbios name = "+netbios, 1)
	text = strings.Replace(text, "server services = ldap\n", "server services = "+services+"\n\tdreplsrv:periodic_interval = 2\n", 1)
	return os.WriteFile(filepath.Join(dc.Dir, "smb.conf"), []byte(text), 0o644)
}

// drsSPN is the service class of directory replication (the DRSUAPI
// interface's UUID).
const drsSPN = "E3514235-4B06-11D1-AB04-00C04FC2DCD2"

// ntdsGUIDs reads each DC's NTDS Settings objectGUID, by DC name.
func (dc *DC) ntdsGUIDs() (map[string]string, error) {
	conn, err := dc.Admin()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest("CN=Sites,CN=Configuration,"+BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=nTDSDSA)", []string{"objectGUID"}, nil))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, e := range res.Entries {
		dn, err := ldap.ParseDN(e.DN)
		if err != nil || len(dn.RDNs) < 2 {
			continue
		}
		out[strings.ToUpper(dn.RDNs[1].Attributes[0].Value)] = guidString(e.GetRawAttributeValue("objectGUID"))
	}
	if out["TESTDC"] == "" || out["DC2"] == "" {
		return nil, fmt.Errorf("testdc: NTDS Settings of both DCs not found: %v", out)
	}
	return out, nil
}

// guidString is a GUID in its text form (the first three fields little-endian).
func guidString(b []byte) string {
	if len(b) != 16 {
		return ""
	}
	return fmt.Sprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%x-%x", b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8:10], b[10:])
}

// Replicate makes to pull the domain partition from from at once, as
// samba-tool drs replicate does (AD: repadmin /replicate).
func (p *Pair) Replicate(ctx context.Context, to, from *DC) error {
	name := func(dc *DC) string {
		if dc == p.DC1 {
			return "TESTDC"
		}
		return "DC2"
	}
	// Until the KCC has set up the link (a few seconds after the start),
	// the DC refuses with WERR_INVALID_PARAMETER: try again.
	var err error
	for attempt := 0; attempt < 40; attempt++ {
		if err = p.run(ctx, "samba-tool", "drs", "replicate", name(to), name(from), BaseDN, "-U", NetBIOSDomain+`\administrator%`+AdminPassword,
			"-s", filepath.Join(to.Dir, "smb.conf")); err == nil || !strings.Contains(err.Error(), "WERR_INVALID_PARAMETER") {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return err
}

// run runs a Samba tool in the pair's environment.
func (p *Pair) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = p.env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testdc: %s %s: %v: %s", name, strings.Join(args[:min(2, len(args))], " "), err, tail(out))
	}
	return nil
}

// Close stops both DCs and removes their files.
func (p *Pair) Close() {
	for _, dc := range []*DC{p.DC1, p.DC2} {
		if dc != nil {
			d := dc.Dir
			dc.Dir = "" // removed with the pair's directory
			dc.Close()
			dc.Dir = d
		}
	}
	if p.dir != "" && os.Getenv("TESTDC_KEEP") == "" {
		_ = os.RemoveAll(p.dir)
	}
}
