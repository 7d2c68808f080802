//go:build linux

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

// The service's model (packaging/groupwriteback.service, sysusers.conf):
// it runs as the system account groupwriteback, its secrets in files
// root:groupwriteback 0640. doctor run as that account, as docs/install.md
// says (runuser -u groupwriteback -- groupwriteback doctor), passes; a secret
// readable by root only fails, naming its key.
func TestDoctorAsServiceAccount(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root (to create the service account)")
		}
		t.Skip("needs root")
	}
	if _, err := user.Lookup("groupwriteback"); err != nil {
		if out, err := exec.Command("useradd", "--system", "--home-dir", "/var/lib/groupwriteback", "--no-create-home",
			"--shell", "/usr/sbin/nologin", "groupwriteback").CombinedOutput(); err != nil {
			t.Fatalf("useradd: %v %s", err, out)
		}
	}
	u, _ := user.Lookup("groupwriteback")
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)

	cfgPath, ou, _ := dcSetup(t, testdc.Options{Exchange: true, Anchor: true}, 11)
	dc := testdc.Shared(t, testdc.Options{Exchange: true, Anchor: true})
	base, err := os.MkdirTemp("", "gwb-account-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Chmod(base, 0o755))
	bin := filepath.Join(base, "groupwriteback")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v %s", err, out)
	}
	etc, state := filepath.Join(base, "etc"), filepath.Join(base, "state")
	must(os.Mkdir(etc, 0o750))
	must(os.Chown(etc, 0, gid))
	must(os.Mkdir(state, 0o700))
	must(os.Chown(state, uid, gid))
	secretFile := func(name, value string) string {
		p := filepath.Join(etc, name)
		must(os.WriteFile(p, []byte(value+"\n"), 0o640))
		must(os.Chown(p, 0, gid))
		return p
	}
	copyCA := func(from, name string) string {
		b, err := os.ReadFile(from)
		must(err)
		p := filepath.Join(etc, name)
		must(os.WriteFile(p, b, 0o644))
		return p
	}
	sim := sims[cfgPath]
	cfg := "cloud:\n  tenant_id: 7a1c3f9e-2b4d-4e8a-9c61-0d5e8f2a1b3c\n  client_id: 5b0f8a8e-3b55-4c5e-9f5c-1f6f0f2d7e10\n" +
		"  client_secret_file: " + secretFile("client-secret", "s") + "\n  graph_url: " + sim.URL + "\n  authority_url: " + sim.URL +
		"\n  ca_file: " + copyCA(sim.CAFile, "graph-ca.pem") + "\ndirectory:\n  url: " + dc.URL + "\n  bind_dn: " + testdc.DelegatedDN +
		"\n  password_file: " + secretFile("bind-password", testdc.DelegatedPassword) + "\n  ca_file: " + copyCA(dc.CAFile, "dc-ca.pem") +
		"\n  base_dn: " + testdc.BaseDN + "\nwriteback:\n  target_ou: " + ou + "\nstate:\n  path: " + filepath.Join(state, "groupwriteback.db") + "\n"
	config := secretFile("config.yaml", cfg)
	doctor := func() (int, string) {
		cmd := exec.Command("runuser", "-u", "groupwriteback", "--", bin, "--config", config, "doctor", "-o", "json")
		out, err := cmd.Output()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, string(out)
	}
	code, out := doctor()
	var rep doctorJSON
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || !rep.OK {
		t.Fatalf("doctor as groupwriteback: exit %d, %v\n%s", code, err, out)
	}
	// A secret only root may read: the account cannot, and doctor says which key.
	must(os.Chmod(filepath.Join(etc, "bind-password"), 0o600))
	code, out = doctor()
	if code == 0 || !strings.Contains(out, "directory.password_file") || !strings.Contains(out, "permission denied") {
		t.Fatalf("doctor with a root-only secret: exit %d\n%s", code, out)
	}
}
