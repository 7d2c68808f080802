package engine_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/graphsim"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// BenchmarkToolHeap is the tool's own live heap through a first
// writeback, with the emulators in the same process kept out of it:
// graphsim serves the tenant (its memory is made before the cycle and
// does not grow), and the directory is read but never written, since the
// writes go to a sink that permits each one as a DC would and drops it.
// It reports the highest live heap the collector measured once the
// cycle had read its rounds from Graph (graphsim holds a round while it
// serves it), above what was live before the cycle (MB-live-peak;
// the collector runs at every 10% of growth while measuring, so that it
// measures often), the live heap once the last write is sent
// (MB-live-at-last-write), and the writes sunk. It is a proxy, in a minute, for
// what `scripts/bench 100k` measures on Samba in an hour: the live heap
// at a sync's peak, not its RSS.
//
//	go test ./internal/engine -run '^$' -bench ToolHeap -benchtime 1x
func BenchmarkToolHeap(b *testing.B) {
	for _, size := range []struct{ groups, members, users, writes int }{
		{10000, 20, 5000, 10000}, {100000, 20, 5000, 100000},
		// One large group: an add and a modify per 1,000 members after it.
		{1, 250000, 250000, 250}, {1, 1000000, 1000000, 1000},
	} {
		b.Run(fmt.Sprintf("%dx%d", size.groups, size.members), func(b *testing.B) {
			e := benchTenant(b, size.groups, size.members, size.users)
			for b.Loop() {
				sink := &sinkTarget{Target: e.dir, creates: size.groups == 1, last: int64(size.writes)}
				read := &roundsRead{Cloud: e.cloud, sim: e.sim.Server}
				eng := engine.New(read, e.dir, sink, e.store, e.cfg, nil)
				base := liveHeap()
				old := debug.SetGCPercent(10)
				peak := watchLive(&read.done)
				res, err := eng.Run(context.Background(), engine.RunOptions{})
				top := peak()
				debug.SetGCPercent(old)
				if err != nil || res.Counts.Created != size.groups || sink.writes.Load() != int64(size.writes) {
					b.Fatalf("created %d with %d writes: %v", res.Counts.Created, sink.writes.Load(), err)
				}
				b.ReportMetric(float64(top-min(top, base))/(1<<20), "MB-live-peak")
				b.ReportMetric(float64(sink.liveAtLast-min(sink.liveAtLast, base))/(1<<20), "MB-live-at-last-write")
				b.ReportMetric(float64(sink.writes.Load()), "writes")
			}
		})
	}
}

// roundsRead marks when a cycle has read both its rounds from Graph:
// graphsim holds a round's items while it serves its pages, so the live
// heap is the tool's own only after that.
// Once they are read, graphsim forgets the rounds' plans it keeps for
// their next links.
type roundsRead struct {
	engine.Cloud
	sim           *graphsim.Server
	mu            sync.Mutex
	groups, users bool
	done          atomic.Bool
}

func (r *roundsRead) GroupsDelta(ctx context.Context, link string) (*cloud.GroupRound, error) {
	defer r.read(&r.groups)
	return r.Cloud.GroupsDelta(ctx, link)
}

func (r *roundsRead) UsersDelta(ctx context.Context, link string, spill cloud.UserSpill) (*cloud.UserRound, error) {
	defer r.read(&r.users)
	return r.Cloud.UsersDelta(ctx, link, spill)
}

func (r *roundsRead) read(which *bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*which = true
	if r.groups && r.users && !r.done.Load() {
		r.sim.ForgetRounds()
		r.done.Store(true)
	}
}

// sinkTarget permits each write as a writer must, counts it, and sends
// nothing: AD stays as it was. At the last write it expects, it measures
// the live heap (liveAtLast): what the cycle holds once it has written
// everything, before it records and saves.
// With creates, it sends the creates: a group written in parts needs its
// object there for the modifies that follow (the rest of its members).
type sinkTarget struct {
	gate.Target
	creates    bool
	writes     atomic.Int64
	last       int64
	liveAtLast uint64
}

func (s *sinkTarget) Write(ctx context.Context, a *gate.Approved) error {
	op, err := a.Op()
	if err != nil {
		return err
	}
	if s.creates && op.Action == reconcile.Create {
		if err := s.Target.Write(ctx, a); err != nil {
			return err
		}
	} else if _, err := a.Permit(); err != nil {
		return err
	}
	if s.writes.Add(1) == s.last {
		s.liveAtLast = liveHeap()
		if *toolHeapProfile != "" {
			writeHeapProfile(*toolHeapProfile + ".last")
		}
	}
	return nil
}

// toolHeapProfile, when set, is where ToolHeap writes the heap profile
// taken at each new high of the live heap by 5% (the last one is about
// the peak's), and, with ".last", at the last write. Writing a profile
// allocates: the figures of a run that writes them are not figures.
var toolHeapProfile = flag.String("tool-heap-profile", "", "write ToolHeap's heap profile at the live heap's peak to this file")

// watchLive samples the live heap as the collector last measured it,
// every 5 ms, once from is true, and returns what stops it and gives
// the highest seen.
func watchLive(from *atomic.Bool) func() uint64 {
	runtime.GC()
	var top atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		collected := false
		for {
			if !collected && from.Load() {
				runtime.GC() // what the reading left is measured from here
				collected = true
			}
			metrics.Read(s)
			if v := s[0].Value.Uint64(); from.Load() && v > top.Load() {
				if *toolHeapProfile != "" && v > top.Load()+top.Load()/20 {
					writeHeapProfile(*toolHeapProfile)
				}
				top.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		return top.Load()
	}
}

func writeHeapProfile(path string) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	// A heap profile is as of the last collection: with the emulators'
	// gigabytes, the next one may be far off, and all the garbage since
	// would show as in use. Collect first, twice (a profile is published
	// a cycle late), so that it shows what is live.
	runtime.GC()
	runtime.GC()
	_ = pprof.Lookup("heap").WriteTo(f, 0)
}
