package server

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/scheduler"
	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/store"
)

// TestStatusPageInChromium loads the status page, after a failing run
// recorded in a real state file, in headless Chromium: it must load, show
// the failed group, and log no console message.
func TestStatusPageInChromium(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and no chromium: scripts/setup installs Debian's chromium")
		}
		t.Skip("chromium not installed")
	}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id, _, _ := st.StartRun(ctx, "delta")
	if err := st.SetStatus(ctx, []state.GroupStatus{{CloudID: "6a1e0c55-0003-4f0e-9d3b-2c1a0b9f8e7d", Name: "Finance approvers",
		State: state.Failed, Message: "directory: add CN=Finance approvers: LDAP result 50 (Insufficient Access Rights)"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.FinishRun(ctx, id, "", "partial", map[string]int{"created": 2, "failed": 1}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(&cycles{status: scheduler.Status{LastError: "1 group failed", ConsecutiveFailures: 1}}, st, NewMetrics(), time.Hour, notStaging, nil).Handler())
	defer srv.Close()

	shot := filepath.Join(t.TempDir(), "status.png")
	run := func(args ...string) (string, string) {
		cmd := exec.CommandContext(ctx, browser, append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir=" + t.TempDir(),
			"--enable-logging=stderr", "--v=0"}, args...)...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium: %v\n%s", err, errb.String())
		}
		return out.String(), errb.String()
	}
	dom, log := run("--dump-dom", srv.URL+"/")
	for _, want := range []string{`id="not-in-step"`, "Finance approvers", "Insufficient Access Rights", "partial"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, ":CONSOLE") || strings.Contains(line, "Failed to load resource") {
			t.Errorf("console: %s", line)
		}
	}
	if _, log = run("--window-size=1100,800", "--screenshot="+shot, srv.URL+"/"); true {
		if fi, err := os.Stat(shot); err != nil || fi.Size() < 1000 {
			t.Fatalf("no screenshot: %v\n%s", err, log)
		}
	}
	if dir := os.Getenv("SCREENSHOT_DIR"); dir != "" {
		b, _ := os.ReadFile(shot)
		_ = os.WriteFile(filepath.Join(dir, "status.png"), b, 0o644)
	}
}
