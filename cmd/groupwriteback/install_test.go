//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/groupwriteback/groupwriteback/internal/graphsim"
	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

// cleanRoot is a throwaway copy of this machine's root (an overlay whose
// writes go to memory), without groupwriteback: the package is installed
// into it as into a fresh server, and the installation's commands run in
// it (chroot), as root or as the service's account.
type cleanRoot struct {
	t    *testing.T
	root string
}

func newCleanRoot(t *testing.T) *cleanRoot {
	t.Helper()
	base := t.TempDir()
	mounts := [][]string{
		{"-t", "tmpfs", "tmpfs", base},
	}
	upper, work, root := filepath.Join(base, "upper"), filepath.Join(base, "work"), filepath.Join(base, "root")
	var mounted []string
	mount := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
			t.Fatalf("mount %v: %v %s", args, err, out)
		}
		mounted = append(mounted, args[len(args)-1])
	}
	t.Cleanup(func() {
		for i := len(mounted) - 1; i >= 0; i-- {
			_ = exec.Command("umount", "-l", mounted[i]).Run()
		}
	})
	mount(mounts[0]...)
	for _, d := range []string{upper, work, root} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mount("-t", "overlay", "overlay", "-o", "lowerdir=/,upperdir="+upper+",workdir="+work, root)
	mount("--bind", "/proc", filepath.Join(root, "proc"))
	mount("--bind", "/dev", filepath.Join(root, "dev"))
	mount("-t", "tmpfs", "tmpfs", filepath.Join(root, "tmp"))
	r := &cleanRoot{t: t, root: root}
	// Clean: no groupwriteback of an earlier test or install.
	r.sh("", "if getent passwd groupwriteback >/dev/null; then userdel groupwriteback; fi; "+
		"if getent group groupwriteback >/dev/null; then groupdel groupwriteback; fi; "+
		"rm -rf /etc/groupwriteback /var/lib/groupwriteback /usr/bin/groupwriteback /lib/systemd/system/groupwriteback.service")
	return r
}

// sh runs a shell command line in the root, as root, with stdin, and
// returns its output; it fails the test on a non-zero exit.
func (r *cleanRoot) sh(stdin, line string) string {
	r.t.Helper()
	out, err := r.cmd(stdin, line).CombinedOutput()
	if err != nil {
		r.t.Fatalf("in the clean root: %s: %v\n%s", line, err, out)
	}
	return string(out)
}

func (r *cleanRoot) cmd(stdin, line string) *exec.Cmd {
	cmd := exec.Command("chroot", r.root, "/bin/sh", "-c", line)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "DEBIAN_FRONTEND=noninteractive"}
	return cmd
}

// path is a path of the root, seen from here.
func (r *cleanRoot) path(p string) string { return filepath.Join(r.root, p) }

// installSteps are the shell lines of install.md's blocks that install
// the package and set it up: what an admin types, in order.
func installSteps(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "install.md"))
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllSubmatch(b, -1) {
		block := string(m[1])
		if !strings.Contains(block, "apt install ./") && !strings.Contains(block, "groupwriteback doctor") {
			continue
		}
		sc := bufio.NewScanner(strings.NewReader(block))
		for sc.Scan() {
			line, _, _ := strings.Cut(sc.Text(), "#")
			if line = strings.TrimSpace(line); line != "" {
				steps = append(steps, line)
			}
		}
	}
	return steps
}

// TestPackagedInstall installs the built .deb into a clean root and
// follows docs/install.md literally, as the service's account, to a first
// sync. The admin's own input stands in where the docs ask for it (the
// secrets on stdin, the configuration's keys); systemd is absent, so
// `systemctl enable --now` is the unit's command line run as its user.
func TestPackagedInstall(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root (to mount the clean root and install the package)")
		}
		t.Skip("needs root")
	}
	if testing.Short() {
		t.Skip("builds the package")
	}
	opts := testdc.Options{Exchange: true, Anchor: true}
	dc := testdc.Shared(t, opts)
	fx := dc.Fixtures(t)
	ou := dc.NewOU(t, "packaged")
	tf := &graphsim.TenantFile{TenantID: "7a1c3f9e-2b4d-4e8a-9c61-0d5e8f2a1b3c",
		Applications: []graphsim.Application{{AppID: "5b0f8a8e-3b55-4c5e-9f5c-1f6f0f2d7e10", PasswordCredentials: []graphsim.PasswordCredential{{SecretText: "the-client-secret"}}}},
		Users: []map[string]any{{"id": "3f2b1c4d-0001-4a5b-8c6d-7e8f90a1b2c3", "displayName": "A", "userPrincipalName": "a@x",
			"onPremisesSyncEnabled": true, "onPremisesSecurityIdentifier": fx[0].SID}},
		Groups: []map[string]any{{"id": gid(77, 1), "displayName": "Packaged", "mailEnabled": false, "mailNickname": "packaged",
			"securityEnabled": true, "writebackConfiguration": map[string]any{"isEnabled": true}, "members": []any{"3f2b1c4d-0001-4a5b-8c6d-7e8f90a1b2c3"}}}}
	sim, err := graphsim.Start(graphsim.Options{Tenant: tf, CertDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })

	debs := t.TempDir()
	if out, err := exec.Command(filepath.Join("..", "..", "scripts", "release"), "--deb", debs).CombinedOutput(); err != nil {
		t.Fatalf("scripts/release --deb: %v\n%s", err, out)
	}
	deb, _ := filepath.Glob(filepath.Join(debs, "*.deb"))
	if len(deb) != 1 {
		t.Fatalf("built %v", deb)
	}
	r := newCleanRoot(t)
	b, err := os.ReadFile(deb[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.path("/tmp/"+filepath.Base(deb[0])), b, 0o644); err != nil {
		t.Fatal(err)
	}
	stdin := map[string]string{"client-secret": "the-client-secret\n", "bind-password": testdc.DelegatedPassword + "\n"}
	var service *exec.Cmd
	for _, step := range installSteps(t) {
		switch {
		case strings.HasPrefix(step, "apt install ./"):
			r.sh("", "cd /tmp && apt-get install -y ./"+filepath.Base(deb[0]))
			// What the package made: the state directory the account
			// alone writes, and a configuration that keeps the state there.
			if out := r.sh("", "stat -c '%U %a' /var/lib/groupwriteback"); strings.TrimSpace(out) != "groupwriteback 700" {
				t.Fatalf("the state directory is %q", out)
			}
		case strings.Contains(step, "/dev/stdin"):
			name := filepath.Base(strings.Fields(step)[len(strings.Fields(step))-1])
			if stdin[name] == "" {
				t.Fatalf("install.md reads a secret the test does not know: %s", step)
			}
			r.sh(stdin[name], step)
		case strings.HasPrefix(step, "editor /etc/groupwriteback/config.yaml"):
			editConfig(t, r, sim, dc, ou)
		case strings.HasPrefix(step, "runuser -u groupwriteback -- groupwriteback "):
			if out, err := r.cmd("", step).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", step, err, out)
			}
		case step == "systemctl enable --now groupwriteback":
			service = startUnit(t, r)
		default:
			t.Fatalf("install.md has a step this test does not know how to take: %q", step)
		}
	}
	if service == nil {
		t.Fatal("install.md never starts the service")
	}
	// The first sync: the service's first cycle.
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, _ := r.cmd("", "runuser -u groupwriteback -- groupwriteback status -o json").Output()
		var st statusJSON
		if json.Unmarshal(out, &st) == nil && len(st.Runs) > 0 && st.Runs[0].Outcome == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no first sync within 60 s: %s", out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	_ = service.Process.Signal(syscall.SIGTERM)
	if err := service.Wait(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatal(err)
		}
	}
	if got := dc.Search(t, ou, 1, "(adminDescription=Group_"+gid(77, 1)+")", "member"); len(got) != 1 || len(got[0].GetAttributeValues("member")) != 1 {
		t.Fatalf("the packaged service's first sync wrote %d groups to %s", len(got), ou)
	}
	for _, f := range []string{"/var/lib/groupwriteback/groupwriteback.db", "/var/lib/groupwriteback/audit.jsonl"} {
		if out := r.sh("", "stat -c %U "+f); strings.TrimSpace(out) != "groupwriteback" {
			t.Fatalf("%s: owner %q", f, out)
		}
	}
}

// editConfig is the admin at the editor: the tenant, the secrets' files,
// the DC, the target OU; and, here, the emulator and the test DC's CAs,
// and a free port for the status page. The packaged state.path is kept.
func editConfig(t *testing.T, r *cleanRoot, sim *graphsim.Instance, dc *testdc.DC, ou string) {
	t.Helper()
	for from, to := range map[string]string{sim.CAFile: "/etc/groupwriteback/graph-ca.pem", dc.CAFile: "/etc/groupwriteback/dc-ca.pem"} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(r.path(to), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := r.path("/etc/groupwriteback/config.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	for key, value := range map[string]string{
		"cloud.tenant_id": "7a1c3f9e-2b4d-4e8a-9c61-0d5e8f2a1b3c", "cloud.client_id": "5b0f8a8e-3b55-4c5e-9f5c-1f6f0f2d7e10",
		"cloud.client_secret_file": "/etc/groupwriteback/client-secret", "cloud.graph_url": sim.URL, "cloud.authority_url": sim.URL,
		"cloud.ca_file": "/etc/groupwriteback/graph-ca.pem", "directory.url": dc.URL, "directory.bind_dn": testdc.DelegatedDN,
		"directory.password_file": "/etc/groupwriteback/bind-password", "directory.ca_file": "/etc/groupwriteback/dc-ca.pem",
		"directory.base_dn": testdc.BaseDN, "writeback.target_ou": ou, "server.listen": listen,
	} {
		setYAML(t, doc.Content[0], strings.Split(key, "."), value)
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o640); err != nil {
		t.Fatal(err)
	}
}

// setYAML sets the scalar at keys in a mapping node, adding what is missing.
func setYAML(t *testing.T, m *yaml.Node, keys []string, value string) {
	t.Helper()
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != keys[0] {
			continue
		}
		if len(keys) == 1 {
			m.Content[i+1] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value}
			return
		}
		setYAML(t, m.Content[i+1], keys[1:], value)
		return
	}
	if len(keys) == 1 {
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: keys[0]}, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value})
		return
	}
	sub := &yaml.Node{Kind: yaml.MappingNode}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: keys[0]}, sub)
	setYAML(t, sub, keys[1:], value)
}

// startUnit runs the unit's command line as its user in the root: the
// service as systemd would start it.
func startUnit(t *testing.T, r *cleanRoot) *exec.Cmd {
	t.Helper()
	b, err := os.ReadFile(r.path("/lib/systemd/system/groupwriteback.service"))
	if err != nil {
		t.Fatal(err)
	}
	var user, execStart string
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "User="); ok {
			user = v
		}
		if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
			execStart = v
		}
	}
	if user == "" || execStart == "" {
		t.Fatalf("the unit has User=%q ExecStart=%q", user, execStart)
	}
	cmd := r.cmd("", fmt.Sprintf("exec runuser -u %s -- %s", user, execStart))
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("the service's output:\n%s", log.String())
		}
	})
	return cmd
}
