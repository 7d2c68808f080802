//go:build crashpoints && linux

package main

import (
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// Built with -tags crashpoints (the crash suite does; releases never are),
// groupwriteback kills itself with SIGKILL right after its Nth successful
// LDAP write, N from GROUPWRITEBACK_CRASH_AFTER_WRITES: a kill -9 at an
// exact point of a cycle, which no timer could hit.
//
// GROUPWRITEBACK_STOP_AFTER_WRITES=N stops the process instead (SIGSTOP)
// after its Nth write: an active instance paused in the middle of a cycle,
// for as long as the test wants, to be woken with SIGCONT (the HA suite),
// before the write gate reads the next object.
//
// GROUPWRITEBACK_STOP_BEFORE_WRITE=N stops it at the first read after its
// (N-1)th write: the gate's read of the object the Nth write changes, so
// that the process is paused between that read and the write.
func init() {
	kill, _ := strconv.ParseInt(os.Getenv("GROUPWRITEBACK_CRASH_AFTER_WRITES"), 10, 64)
	stop, _ := strconv.ParseInt(os.Getenv("GROUPWRITEBACK_STOP_AFTER_WRITES"), 10, 64)
	before, _ := strconv.ParseInt(os.Getenv("GROUPWRITEBACK_STOP_BEFORE_WRITE"), 10, 64)
	if kill <= 0 && stop <= 0 && before <= 0 {
		return
	}
	var writes atomic.Int64
	var stoppedBefore atomic.Bool
	continued := make(chan os.Signal, 1)
	signal.Notify(continued, syscall.SIGCONT)
	// pause stops the process here, exactly: SIGSTOP sent to itself stops
	// the process, but not at once, and the goroutine that sent it could
	// otherwise go on a few instructions (as far as handing the next
	// request to go-ldap's writer, which sends it on SIGCONT): it waits
	// here for the SIGCONT that ends the pause.
	pause := func() {
		for len(continued) > 0 {
			<-continued
		}
		_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
		<-continued
	}
	crashHook = func(op string, _ time.Duration, err error) {
		if err != nil {
			return
		}
		if op == "search" {
			if before > 0 && writes.Load() == before-1 && stoppedBefore.CompareAndSwap(false, true) {
				pause()
			}
			return
		}
		switch writes.Add(1) {
		case kill:
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // never returns: the kill is on its way
		case stop:
			pause()
		}
	}
}
