package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/graphsim"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("output differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

// demoSetup starts graphsim with the sample tenant and writes a config that
// signs in to it with the sample app.
func demoSetup(t *testing.T) (*graphsim.Instance, string) {
	t.Helper()
	tf, err := graphsim.LoadTenantFile("../../examples/tenant.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	inst, err := graphsim.Start(graphsim.Options{Tenant: tf, CertDir: dir, Faults: graphsim.Faults{PageSize: 3}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	cfg := `cloud:
  tenant_id: 7a1c3f9e-2b4d-4e8a-9c61-0d5e8f2a1b3c
  client_id: 5b0f8a8e-3b55-4c5e-9f5c-1f6f0f2d7e10
  client_secret: demo-groupwriteback-secret
  graph_url: ` + inst.URL + `
  authority_url: ` + inst.URL + `
  ca_file: ca.pem
directory:
  url: ldaps://127.0.0.1:636
  bind_dn: CN=Administrator,CN=Users,DC=contoso,DC=com
  password: not-used-here
  base_dn: DC=contoso,DC=com
writeback:
  target_ou: OU=Cloud Groups,DC=contoso,DC=com
`
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return inst, path
}

func TestCloudChanges(t *testing.T) {
	inst, cfg := demoSetup(t)
	out, errOut, code := runCLI(t, "--config", cfg, "cloud", "changes")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "cloud-changes-first.txt", out)

	tn := inst.Server.Tenant()
	for _, err := range []error{
		tn.UpdateGroup("6a1e0c55-0001-4f0e-9d3b-2c1a0b9f8e7d", map[string]any{"displayName": "Marketing EMEA"}),
		tn.AddMember("6a1e0c55-0004-4f0e-9d3b-2c1a0b9f8e7d", "3f2b1c4d-0003-4a5b-8c6d-7e8f90a1b2c3"),
		tn.RemoveMember("6a1e0c55-0004-4f0e-9d3b-2c1a0b9f8e7d", "3f2b1c4d-0001-4a5b-8c6d-7e8f90a1b2c3"),
		tn.DeleteGroup("6a1e0c55-0002-4f0e-9d3b-2c1a0b9f8e7d"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	out, errOut, code = runCLI(t, "--config", cfg, "cloud", "changes")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "cloud-changes-second.txt", out)

	out, _, code = runCLI(t, "--config", cfg, "cloud", "changes", "-o", "json")
	if code != 0 || !strings.Contains(out, `"full": false`) || !strings.Contains(out, `"changes": []`) {
		t.Fatalf("quiet JSON round: exit %d\n%s", code, out)
	}
}

func TestConfigCheck(t *testing.T) {
	_, cfg := demoSetup(t)
	out, errOut, code := runCLI(t, "--config", cfg, "config", "check")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	out = regexp.MustCompile(`https://127\.0\.0\.1:\d+`).ReplaceAllString(out, "https://127.0.0.1:PORT")
	out = strings.ReplaceAll(out, filepath.Dir(cfg), "DIR")
	golden(t, "config-check.txt", out)
	if strings.Contains(out, "demo-groupwriteback-secret") || strings.Contains(out, "not-used-here") {
		t.Fatal("config check prints a secret")
	}
}

func TestBadConfigExitsOneNamingTheKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte("cloud:\n  tenant_id: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCLI(t, "--config", path, "config", "check")
	if code != 1 || !strings.Contains(errOut, "cloud.client_id: required") || !strings.Contains(errOut, "directory.url: required") {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
}

func TestVersion(t *testing.T) {
	out, _, code := runCLI(t, "version")
	if code != 0 || !regexp.MustCompile(`^groupwriteback \S+ \(commit \S+, go\S+, \w+/\w+\)\n$`).MatchString(out) {
		t.Fatalf("exit %d: %q", code, out)
	}
}

// --profile leaves a CPU and a heap profile (gzipped protocol buffers),
// even of a command too short for the heap to be sampled while it runs,
// and the peaks of Go's memory; --peak-rss the process's peak RSS.
func TestProfileFlag(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "prof")
	peak := filepath.Join(dir, "peak-rss")
	if _, errOut, code := runCLI(t, "--profile", dir, "--peak-rss", peak, "version"); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, name := range []string{"cpu.pprof", "heap.pprof"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			t.Fatalf("%s: %d bytes, %v", name, len(b), err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "memory.txt")); err != nil || !strings.Contains(string(b), "heap objects: ") || !strings.Contains(string(b), "go runtime total: ") {
		t.Errorf("memory.txt: %q, %v", b, err)
	}
	b, err := os.ReadFile(peak)
	if n, perr := strconv.ParseInt(string(b), 10, 64); err != nil || perr != nil || n < 1<<20 {
		t.Errorf("peak RSS %q (%v, %v): want a number of bytes, over a megabyte", b, err, perr)
	}
}

func TestCloudRecord(t *testing.T) {
	_, cfg := demoSetup(t)
	dir := filepath.Join(t.TempDir(), "rec")
	out, errOut, code := runCLI(t, "--config", cfg, "cloud", "record", dir, "--pseudonymize")
	if code != exitOK || !strings.Contains(out, "names, addresses, identifiers and ids pseudonymised") || !strings.Contains(out, "graphsim -replay "+dir) {
		t.Fatalf("cloud record: exit %d\n%s%s", code, out, errOut)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "recording.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"demo-groupwriteback-secret", "Bearer", "Marketing", "adele@contoso.com", "6a1e0c55-0001-4f0e-9d3b-2c1a0b9f8e7d"} {
		if strings.Contains(string(raw), s) {
			t.Errorf("the pseudonymised recording holds %q", s)
		}
	}
	if !strings.Contains(string(raw), `"pseudonymised": true`) || !strings.Contains(string(raw), "/beta/groups/delta") {
		t.Fatalf("recording:\n%.500s", raw)
	}
}

// TestLogFileOpenedOnce: a service that builds its logger every cycle
// (log.file set) opens the file once, not once a cycle (it leaked a file
// descriptor every cycle).
func TestLogFileOpenedOnce(t *testing.T) {
	_, cfgPath := demoSetup(t)
	g := &globals{configPath: cfgPath, stderr: io.Discard}
	cfg, err := g.load()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Log.File = filepath.Join(t.TempDir(), "gwb.log")
	fds := func() int { es, _ := os.ReadDir("/proc/self/fd"); return len(es) }
	g.logger(cfg).Info("first")
	before := fds()
	for range 50 {
		g.logger(cfg).Info("cycle")
	}
	if after := fds(); after > before {
		t.Fatalf("%d file descriptors after 50 loggers, %d before", after, before)
	}
	b, _ := os.ReadFile(cfg.Log.File)
	if n := strings.Count(string(b), "msg=cycle"); n != 50 {
		t.Fatalf("%d lines logged", n)
	}
}

func TestLogDurationsInSeconds(t *testing.T) {
	var b bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&b, &slog.HandlerOptions{ReplaceAttr: inSeconds}))
	logger.Info("cycle done", "duration", 1500*time.Millisecond, "wait_seconds", 2*time.Second)
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil || m["duration_seconds"] != 1.5 || m["wait_seconds"] != 2.0 || m["duration"] != nil {
		t.Fatalf("log line %s (%v)", b.String(), err)
	}
}

func TestUnknownCommandsNameTheNearest(t *testing.T) {
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"synk"}, "sync"},
		{[]string{"cloud", "chnges"}, "did you mean changes?"},
	} {
		_, errOut, code := runCLI(t, tc.args...)
		if code != exitFatal || !strings.Contains(errOut, tc.says) {
			t.Errorf("%v: exit %d, %q", tc.args, code, errOut)
		}
	}
	if out, _, code := runCLI(t, "cloud"); code != exitOK || !strings.Contains(out, "Available Commands") {
		t.Errorf("cloud alone: exit %d\n%s", code, out)
	}
}
