//go:build crashpoints && linux

package main

import (
	"os"
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
	crashHook = func(op string, _ time.Duration, err error) {
		if err != nil {
			return
		}
		if op == "search" {
			if before > 0 && writes.Load() == before-1 && stoppedBefore.CompareAndSwap(false, true) {
				_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP) // returns once continued
			}
			return
		}
		switch writes.Add(1) {
		case kill:
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // never returns: the kill is on its way
		case stop:
			_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP) // returns once continued
		}
	}
}
