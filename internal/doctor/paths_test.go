package doctor

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/config"
)

// pathsChild, set in the environment, makes the test binary run
// checkPaths on the paths given and print the report: the check run as
// another account (nobody), as an admin runs doctor as the service's.
const pathsChild = "GROUPWRITEBACK_TEST_PATHS_CHILD"

func init() {
	if spec := os.Getenv(pathsChild); spec != "" {
		var cfg config.Config
		if err := json.Unmarshal([]byte(spec), &cfg); err != nil {
			os.Exit(3)
		}
		r := &Report{}
		checkPaths(r, &cfg)
		_ = json.NewEncoder(os.Stdout).Encode(r)
		os.Exit(0)
	}
}

// checkPathsAs runs checkPaths as nobody when the test runs as root (root
// writes anywhere), and in this process otherwise.
func checkPathsAs(t *testing.T, cfg config.Config) *Report {
	t.Helper()
	if os.Getuid() != 0 {
		r := &Report{}
		checkPaths(r, &cfg)
		return r
	}
	// The test binary, somewhere nobody may run it from.
	dir := publicTempDir(t)
	exe := filepath.Join(dir, "doctor.test")
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	dst, err := os.OpenFile(exe, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(dst, src)
	src.Close()
	dst.Close()
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(cfg)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), pathsChild+"="+string(spec))
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the check as nobody: %v", err)
	}
	var r Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("the check as nobody printed %q: %v", out, err)
	}
	return &r
}

// TestPathsWritable: doctor fails, as the account it runs as, for each
// file the service would write and cannot, naming the key and the fix;
// and passes the paths it can.
func TestPathsWritable(t *testing.T) {
	root := publicTempDir(t)
	shut := filepath.Join(root, "shut") // nobody (or this account) may not write here
	open := filepath.Join(root, "open")
	for _, d := range []string{shut, open} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if os.Getuid() == 0 {
		if err := os.Chmod(open, 0o777); err != nil {
			t.Fatal(err)
		}
	} else if err := os.Chmod(shut, 0o555); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		state, audit string
		fail         []string
	}{
		{"all writable", filepath.Join(open, "gwb.db"), filepath.Join(open, "audit.jsonl"), nil},
		{"state directory missing, parent writable", filepath.Join(open, "sub", "gwb.db"), filepath.Join(open, "audit.jsonl"), nil},
		{"state in a shut directory", filepath.Join(shut, "gwb.db"), filepath.Join(open, "audit.jsonl"), []string{"paths: state.path"}},
		{"audit in a shut directory", filepath.Join(open, "gwb.db"), filepath.Join(shut, "audit.jsonl"), []string{"paths: audit.file"}},
		{"state directory missing under a shut one", filepath.Join(shut, "sub", "gwb.db"), filepath.Join(shut, "a.jsonl"), []string{"paths: state.path", "paths: audit.file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cfg config.Config
			cfg.State.Path, cfg.Audit.File = tc.state, tc.audit
			r := checkPathsAs(t, cfg)
			var failed []string
			for _, c := range r.Checks {
				if c.Status == Fail {
					failed = append(failed, c.Name)
					if !strings.Contains(c.Fix, "install -d -m 0700") || !strings.Contains(c.Detail, "permission denied") {
						t.Errorf("%s: detail %q, fix %q", c.Name, c.Detail, c.Fix)
					}
				}
			}
			if strings.Join(failed, ",") != strings.Join(tc.fail, ",") {
				t.Fatalf("failed %v, want %v: %+v", failed, tc.fail, r.Checks)
			}
		})
	}
}

// TestPathFixUnderEtc: a path under /etc (the packaged skeleton's old
// mistake) is named as such, with where it belongs.
func TestPathFixUnderEtc(t *testing.T) {
	if fix := pathFix("audit.file", "/etc/groupwriteback/audit.jsonl"); !strings.Contains(fix, "ProtectSystem=strict") || !strings.Contains(fix, "/var/lib/groupwriteback") {
		t.Fatalf("fix %q", fix)
	}
}

// publicTempDir is a temporary directory every account may enter (the
// test's own, and its parent, are its owner's only).
func publicTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
