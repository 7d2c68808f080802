package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Holder is who holds a lock.
type Holder struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
}

// LockedError says a lock is held by someone else, and by whom.
type LockedError struct {
	Path   string
	Holder Holder
}

func (e *LockedError) Error() string {
	h := e.Holder
	if h.PID == 0 {
		return fmt.Sprintf("store: %s is locked by another process", e.Path)
	}
	return fmt.Sprintf("store: %s is held by `groupwriteback %s` (pid %d on %s since %s)", e.Path, h.Command, h.PID, h.Host, h.Since.Format(time.RFC3339))
}

// Lock is an exclusive lock on a file, held by this process until Unlock
// (or its end: the operating system releases it).
type Lock struct {
	f *os.File
}

// Locks beside a state file: the service holds one for its lifetime, and
// every cycle (the service's, or a sync from the command line) the other,
// so that two cycles never run at once on one store.
const (
	ServiceLock = ".service.lock"
	CycleLock   = ".cycle.lock"
)

// TryLock takes the lock at path without waiting. When someone else holds
// it, the error is a *LockedError naming them.
func TryLock(path, command string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: lock %s: %w", path, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errWouldBlock) {
			le := &LockedError{Path: path}
			if b, rerr := os.ReadFile(path); rerr == nil {
				// Who holds it is told when the file says; a lock whose
				// holder is unreadable is held all the same.
				_ = json.Unmarshal([]byte(strings.TrimRight(string(b), "\x00")), &le.Holder)
			}
			return nil, le
		}
		return nil, fmt.Errorf("store: lock %s: %w", path, err)
	}
	// The holder written into the file only tells a second command who
	// holds the lock (the lock is the flock): a host name that cannot be
	// read, or a write that fails, leaves that message without it.
	host, _ := os.Hostname()
	b, _ := json.Marshal(Holder{PID: os.Getpid(), Host: host, Command: command, Since: time.Now().UTC()}) // plain fields: cannot fail
	_ = f.Truncate(0)
	_, _ = f.WriteAt(b, 0)
	return &Lock{f: f}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	_ = l.f.Truncate(0) // the holder's name only; the unlock below is what counts
	err := unlockFile(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}
