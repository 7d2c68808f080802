//go:build linux

package main

import (
	"bufio"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

// metricValue reads one unlabelled sample from /metrics.
func metricValue(t *testing.T, url, name string) float64 {
	t.Helper()
	_, body := httpGet(t, url+"/metrics")
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return 0
}

// TestServiceKeepsOneSession: the service opens Graph's client, the DC's
// connection and the state file once, not every cycle (no descriptor grows
// with the number of cycles, each cycle counts only its own Graph
// requests), and SIGHUP re-reads the configuration into a new session.
func TestServiceKeepsOneSession(t *testing.T) {
	cfg, _, _ := dcSetup(t, testdc.Options{Exchange: true, Anchor: true}, 3)
	if _, _, code := runCLI(t, "--config", cfg, "enable"); code != exitOK {
		t.Fatal("enable failed")
	}
	url, logs, stop := startService(t, cfg)
	waitFor(t, "readiness", func() bool { code, _ := httpGet(t, url+"/readyz"); return code == 200 })
	fds := func() int { es, _ := os.ReadDir("/proc/self/fd"); return len(es) }

	postSync(t, url)
	http.DefaultClient.CloseIdleConnections()
	before, r0 := fds(), metricValue(t, url, "groupwriteback_graph_requests_total")
	postSync(t, url)
	r1 := metricValue(t, url, "groupwriteback_graph_requests_total")
	for range 5 {
		postSync(t, url)
	}
	r6 := metricValue(t, url, "groupwriteback_graph_requests_total")
	http.DefaultClient.CloseIdleConnections()
	if after := fds(); after > before+2 {
		t.Errorf("%d file descriptors after 6 more cycles, %d before", after, before)
	}
	if per := r1 - r0; per <= 0 || r6-r1 != 5*per {
		t.Errorf("Graph requests: %v after one cycle, %v after one more, %v after five more; each quiet delta cycle should add the same", r0, r1, r6)
	}
	if n := strings.Count(logs.String(), "session opened"); n != 1 {
		t.Fatalf("%d sessions opened for 8 cycles:\n%s", n, logs.String())
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the SIGHUP reload", func() bool { return strings.Contains(logs.String(), "SIGHUP: the configuration is read again") })
	postSync(t, url)
	if n := strings.Count(logs.String(), "session opened"); n != 2 {
		t.Fatalf("%d sessions opened after SIGHUP:\n%s", n, logs.String())
	}
	stop()
}
