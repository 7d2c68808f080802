package engine_test

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/engine"
)

// BenchmarkLargeTenant is the tool's own cost for a tenant of many groups,
// on the in-memory directory with graphsim in the same process: the first
// writeback, a cycle with nothing changed (which must not grow with the
// tenant), and one member added to one group. It reports each time, the
// LDAP writes, and the peak heap of the first writeback above what the
// emulators hold before it (an upper bound of the tool's own).
//
//	go test ./internal/engine -run '^$' -bench LargeTenant -benchtime 1x
func BenchmarkLargeTenant(b *testing.B) {
	for _, size := range []struct{ groups, members, users int }{{10000, 20, 5000}, {100000, 20, 20000}} {
		b.Run(fmt.Sprintf("%dx%d", size.groups, size.members), func(b *testing.B) {
			e := benchTenant(b, size.groups, size.members, size.users)
			for b.Loop() {
				base := liveHeap()
				peak := watchHeap(b)
				start := time.Now()
				res, writes := e.sync(engine.RunOptions{})
				first := time.Since(start)
				if res.Counts.Created != size.groups || writes != int64(size.groups) {
					b.Fatalf("created %d with %d writes: %+v %+v", res.Counts.Created, writes, res.Failures, res.Plan.Problems)
				}
				b.ReportMetric(first.Seconds(), "s-first")
				b.ReportMetric(float64(peak()-base)/(1<<20), "MB-heap-over-emulators")

				runtime.GC() // as between a service's cycles
				start = time.Now()
				_, writes = e.sync(engine.RunOptions{})
				b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms-no-change")
				b.ReportMetric(float64(writes), "writes-no-change")

				if err := e.tenant.AddMember(benchGroupID(1), userID(size.users-1)); err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				start = time.Now()
				_, writes = e.sync(engine.RunOptions{})
				b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms-one-member")
				b.ReportMetric(float64(writes), "writes-one-member")
			}
		})
	}
}

// benchTenant is a tenant of groups security groups of members members
// each, drawn from users synced users, none written yet.
func benchTenant(b *testing.B, groups, members, users int) *env {
	gs := make([]map[string]any, groups)
	for i := range gs {
		ms := make([]any, members)
		for j := range ms {
			ms[j] = userID((i*7 + j*13) % users)
		}
		gs[i] = map[string]any{"id": benchGroupID(i + 1), "displayName": fmt.Sprintf("Group %d", i+1), "mailNickname": fmt.Sprintf("g%d", i+1), "members": ms}
	}
	return newGroupsEnv(b, users, gs, func(c *engine.Config) { c.DeleteThreshold = groups })
}

// benchGroupID is a group id for any number of groups (groupID's second
// part would grow past four digits at 10,000, and the write gate refuses
// an id that is not one).
func benchGroupID(i int) string { return fmt.Sprintf("6a1e0c55-0000-4f0e-9d3b-%012d", i) }

// liveHeap collects and returns the heap then live.
func liveHeap() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
