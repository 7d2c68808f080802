//go:build linux

package main

import (
	"context"
	"io"
	"os/exec"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/testdc"
)

// The ci scenario as a regression check on counts, never on time: the
// first writeback makes one LDAP add a group, the no-change delta cycle
// makes at most 3 Graph requests and no LDAP write, and one member added
// in the cloud is one LDAP modify.
func TestCIScenarioCounts(t *testing.T) {
	testdc.Need(t, testdc.Available)
	bin := buildTool(t)
	sc := scenarios["ci"]
	// The DCs run at half a CPU, as DC_CPU=0.5 runs them, where the kernel
	// lets this process limit them: the limit holds through a whole
	// scenario (the DC's CPU stays under half its time).
	o := options{dcCPU: 0.5}
	if err := testdc.CPULimitAvailable(); err != nil {
		t.Logf("the DCs run unlimited: %v", err)
		o.dcCPU = 0
	}
	r, err := run(context.Background(), bin, sc, o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if r.FirstDCCPU <= 0 || r.RawDCCPU <= 0 || r.FirstToolCPU <= 0 {
		t.Errorf("CPU not measured: the DC %v during the sync, %v during the import; the tool %v", r.FirstDCCPU, r.RawDCCPU, r.FirstToolCPU)
	}
	if o.dcCPU > 0 && (r.DCCPU != o.dcCPU || r.FirstDCCPU > r.FirstSync/2+time.Second || r.RawDCCPU > r.RawImport/2+time.Second) {
		t.Errorf("the DCs limited to %v of a CPU used %v in %v (the sync) and %v in %v (the import)", r.DCCPU, r.FirstDCCPU, r.FirstSync, r.RawDCCPU, r.RawImport)
	}
	if r.PlanRSS <= 0 || r.PlanBytes <= 0 {
		t.Errorf("the first plan not measured: peak RSS %d, saved plan %d bytes", r.PlanRSS, r.PlanBytes)
	}
	if r.FirstWrites != sc.Groups || r.NoChangeRequests > 3 || r.NoChangeWrites != 0 || r.OneMemberWrites != 1 {
		t.Fatalf("first writeback %d LDAP writes (want %d), no-change cycle %d Graph requests (≤ 3) and %d LDAP writes (0), one member %d writes (1)",
			r.FirstWrites, sc.Groups, r.NoChangeRequests, r.NoChangeWrites, r.OneMemberWrites)
	}
}

// -first-only starts one DC and stops after the first writeback: its
// figures are measured, no raw import is run.
func TestFirstOnlyStopsAfterTheFirstWriteback(t *testing.T) {
	testdc.Need(t, testdc.Available)
	bin := buildTool(t)
	sc := scenarios["ci"]
	r, err := run(context.Background(), bin, sc, options{firstOnly: true}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !r.FirstOnly || r.FirstWrites != sc.Groups || r.FirstRSS <= 0 || r.FirstDCCPU <= 0 {
		t.Errorf("first writeback: %d writes (want %d), peak RSS %d, the DC's CPU %v", r.FirstWrites, sc.Groups, r.FirstRSS, r.FirstDCCPU)
	}
	if r.RawImport != 0 || r.RawDCCPU != 0 || r.NoChange != 0 || r.OneMember != 0 {
		t.Errorf("ran past the first writeback: raw import %v, no-change %v, one member %v", r.RawImport, r.NoChange, r.OneMember)
	}
}

// buildTool builds groupwriteback for a scenario to run.
func buildTool(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", dir+"/", "../groupwriteback").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	return dir + "/groupwriteback"
}

// The latency scenario's machinery, small, and the safety net: with every
// notification lost, every change still reaches AD, by the schedule's
// next cycle (10s here), and the lost ones are counted.
func TestLatencyEveryChangeArrives(t *testing.T) {
	testdc.Need(t, testdc.Available)
	bin := buildTool(t)
	rs, err := latency(context.Background(), bin, []latencyMode{{Name: "notifications, all lost", Interval: 10 * time.Second, Notify: true, Loss: 1}},
		6, 3*time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r := rs[0]
	if r.Arrived != 6 || r.NotInAD != 0 || r.Lost != 6 || r.Max <= 0 || r.P50 > r.P95 || r.P95 > r.Max || r.Max > 25*time.Second {
		t.Fatalf("%+v", r)
	}
	t.Logf("%+v", r)
}
