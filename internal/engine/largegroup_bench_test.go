package engine_test

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"sync/atomic"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/engine"
)

// oneMemberProfile, when set, is where LargeGroup writes the CPU profile
// of the one-member cycle alone (the first writeback would swamp it).
var oneMemberProfile = flag.String("one-member-profile", "", "write the CPU profile of LargeGroup's one-member cycle to this file")

// profileCPU starts a CPU profile into path ("": none) and returns what
// stops it.
func profileCPU(b *testing.B, path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// BenchmarkLargeGroup is the tool's own cost for one group of n members,
// on the in-memory directory (Samba cannot be filled with that many users
// here: docs/performance.md): the first writeback, then one member added
// in the cloud. It reports the time per 1,000 members, the peak live
// heap, and the LDAP writes of the one-member change (1 is the target).
//
//	go test ./internal/engine -run '^$' -bench 'LargeGroup/(25000|250000)$' -benchtime 1x
//	go test ./internal/engine -run '^$' -bench 'LargeGroup/1000000' -benchtime 1x -timeout 30m
//
// The million takes minutes and about 9 GB.
func BenchmarkLargeGroup(b *testing.B) {
	for _, n := range []int{25000, 250000, 1000000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			members := make([]any, n)
			for i := range n {
				members[i] = userID(i)
			}
			e := newGroupsEnv(b, n+1, []map[string]any{{"id": groupID(1), "displayName": "Large", "mailNickname": "large", "members": members}}, nil)
			peak := watchHeap(b)
			for b.Loop() {
				start := time.Now()
				res, _ := e.sync(engine.RunOptions{})
				first := time.Since(start)
				if res.Counts.Created != 1 {
					b.Fatalf("created %d", res.Counts.Created)
				}
				if err := e.tenant.AddMember(groupID(1), userID(n)); err != nil {
					b.Fatal(err)
				}
				// A service's heap is collected between cycles (Go forces a
				// collection every two minutes at least): start from there,
				// so that the emulators' heap, in this process, is not
				// marked on the cycle's time.
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				stop := profileCPU(b, *oneMemberProfile)
				start = time.Now()
				_, writes := e.sync(engine.RunOptions{})
				one := time.Since(start)
				stop()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/(1<<20), "MB-alloc-one-member")
				b.ReportMetric(float64(first.Milliseconds())/float64(n)*1000, "ms/1000members")
				b.ReportMetric(float64(one.Milliseconds()), "ms-one-member")
				b.ReportMetric(float64(writes), "writes-one-member")
			}
			b.ReportMetric(float64(peak())/(1<<20), "MB-peak-heap")
		})
	}
}

// watchHeap samples the live heap until the benchmark ends and returns
// the highest value seen.
func watchHeap(b *testing.B) func() uint64 {
	runtime.GC()
	var max atomic.Uint64
	stop := make(chan struct{})
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > max.Load() {
				max.Store(v)
			}
		}
	}()
	b.Cleanup(func() { close(stop) })
	return func() uint64 { return max.Load() }
}
