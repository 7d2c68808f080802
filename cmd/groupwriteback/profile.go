package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"sync"
	"time"
)

// startProfile writes, into dir, a CPU profile of the whole command
// (cpu.pprof) and a heap profile taken at the heap's highest point
// (heap.pprof: what was live then, and where it was allocated), for
// `go tool pprof`. It returns the function that finishes both.
func startProfile(dir string) (stop func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cpu, err := os.Create(filepath.Join(dir, "cpu.pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		cpu.Close()
		return nil, err
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/total:bytes"},
			{Name: "/memory/classes/heap/released:bytes"}, {Name: "/gc/heap/goal:bytes"}}
		var written uint64
		var peak [3]uint64 // heap objects, Go's memory held from the OS, heap goal
		defer func() { writeMemory(filepath.Join(dir, "memory.txt"), peak) }()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			stopping := false
			select {
			case <-quit:
				stopping = true
			case <-tick.C:
			}
			metrics.Read(sample)
			peak[0] = max(peak[0], sample[0].Value.Uint64())
			peak[1] = max(peak[1], sample[1].Value.Uint64()-sample[2].Value.Uint64())
			peak[2] = max(peak[2], sample[3].Value.Uint64())
			// A new high, or the end of a command too short for one.
			if live := sample[0].Value.Uint64(); live > written+written/10 || (stopping && written == 0) {
				if err := writeHeap(filepath.Join(dir, "heap.pprof")); err != nil {
					fmt.Fprintln(os.Stderr, "groupwriteback: --profile:", err)
					return
				}
				written = max(live, 1)
			}
			if stopping {
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(quit)
			<-done
			pprof.StopCPUProfile()
			cpu.Close()
		})
	}, nil
}

func writeHeap(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeMemory writes the highest values sampled: of the heap's objects
// (live and not yet swept), of the memory the Go runtime held from the OS,
// and of the collector's heap goal. The process's peak RSS beyond the
// second is memory outside the Go runtime (the SQLite library's).
func writeMemory(path string, peak [3]uint64) {
	const mb = 1 << 20
	// A figure for the bench (hidden --profile): a file that cannot be
	// written is a figure missing from its report, which says so.
	_ = os.WriteFile(path, fmt.Appendf(nil, "heap objects: %d MB\ngo runtime total: %d MB\nheap goal: %d MB\n",
		peak[0]/mb, peak[1]/mb, peak[2]/mb), 0o600)
}

// writePeakRSS writes the process's peak resident set (VmHWM, from
// /proc/self/status) in bytes into path; where there is no /proc, it
// writes nothing. Unlike getrusage's maximum RSS, VmHWM is of this
// program's memory alone, not of the memory of the process that started
// it (which Linux carries across exec).
func writePeakRSS(path string) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscan(rest, &kb); err == nil {
				_ = os.WriteFile(path, fmt.Append(nil, kb*1024), 0o600) // as writeMemory: the bench reports a missing figure
			}
			return
		}
	}
}
