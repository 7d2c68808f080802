package store

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLockAcrossProcesses holds the lock in a child process (this test
// binary, run again) and checks that the parent is refused and told who
// holds it, then gets it once the child is gone.
func TestLockAcrossProcesses(t *testing.T) {
	if path := os.Getenv("STORE_LOCK_CHILD"); path != "" {
		l, err := TryLock(path, "run")
		if err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("locked\n")
		buf := make([]byte, 1)
		os.Stdin.Read(buf) // hold until the parent closes stdin
		l.Unlock()
		os.Exit(0)
	}
	path := filepath.Join(t.TempDir(), "state.db"+CycleLock)
	child := exec.Command(os.Args[0], "-test.run=^TestLockAcrossProcesses$")
	child.Env = append(os.Environ(), "STORE_LOCK_CHILD="+path)
	stdin, _ := child.StdinPipe()
	out, _ := child.StdoutPipe()
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := out.Read(buf); err != nil || string(buf) != "locked\n" {
		t.Fatalf("child: %q %v", buf, err)
	}
	_, err := TryLock(path, "sync")
	var le *LockedError
	if !errors.As(err, &le) || le.Holder.PID != child.Process.Pid || le.Holder.Command != "run" ||
		!strings.Contains(err.Error(), "`groupwriteback run`") {
		t.Fatalf("err = %v", err)
	}
	stdin.Close()
	child.Wait()
	l, err := TryLock(path, "sync")
	if err != nil {
		t.Fatalf("after the holder ended: %v", err)
	}
	l.Unlock()
}
