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
// for as long as the test wants, to be woken with SIGCONT (the HA suite).
func init() {
	kill, _ := strconv.ParseInt(os.Getenv("GROUPWRITEBACK_CRASH_AFTER_WRITES"), 10, 64)
	stop, _ := strconv.ParseInt(os.Getenv("GROUPWRITEBACK_STOP_AFTER_WRITES"), 10, 64)
	if kill <= 0 && stop <= 0 {
		return
	}
	var writes atomic.Int64
	crashHook = func(op string, _ time.Duration, err error) {
		if err != nil || op == "search" {
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
