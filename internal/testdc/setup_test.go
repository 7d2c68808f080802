package testdc

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSetupCheck: scripts/setup looks for what provisioning needs, not
// only for the commands: a machine with Samba's programs but without the
// schema files of samba-ad-provision is repaired, and so is one with
// PostgreSQL's client (which puts psql where the server's programs go) but
// not its server. (A fake root holds every need but those files.)
func TestSetupCheck(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"usr/sbin/samba", "usr/bin/samba-tool", "usr/bin/ldapsearch", "usr/sbin/ip", "usr/bin/chromium", "usr/bin/zip", "usr/bin/dpkg-deb", "usr/sbin/useradd", "usr/sbin/runuser",
		"usr/lib/x86_64-linux-gnu/samba/ldb/samba_dsdb.so", "usr/lib/python3/dist-packages/samba/__init__.py", "usr/lib/x86_64-linux-gnu/libnss_wrapper.so",
		"usr/lib/postgresql/15/bin/psql"} {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	check := func(env ...string) string {
		cmd := exec.Command("../../scripts/setup", "--check")
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("setup --check: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	if got := check("SETUP_ROOT=" + root); got != "samba-ad-provision\npostgresql" {
		t.Fatalf("missing = %q, want samba-ad-provision and postgresql", got)
	}
	for _, f := range []string{"usr/lib/postgresql/15/bin/initdb", "usr/lib/postgresql/15/bin/postgres"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(root, "usr/sbin/samba")); err != nil {
		t.Fatal(err)
	}
	if got := check("SETUP_ROOT=" + root); got != "samba\nsamba-ad-provision" {
		t.Fatalf("missing = %q", got)
	}
	// Where the tests run, setup has installed everything.
	if os.Getenv("CI") == "true" {
		if got := check(); got != "" {
			t.Fatalf("this machine lacks %q after setup", got)
		}
	}
}
