package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"runtime/pprof"
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
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var written uint64
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
