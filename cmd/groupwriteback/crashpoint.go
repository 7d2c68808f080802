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
func init() {
	n, _ := strconv.ParseInt(os.Getenv("GROUPWRITEBACK_CRASH_AFTER_WRITES"), 10, 64)
	if n <= 0 {
		return
	}
	var writes atomic.Int64
	crashHook = func(op string, _ time.Duration, err error) {
		if err != nil || op == "search" {
			return
		}
		if writes.Add(1) == n {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // never returns: the kill is on its way
		}
	}
}
