package store

import (
	"errors"
	"fmt"
)

// ErrCorrupt: the state file cannot be read as one.
var ErrCorrupt = errors.New("not a readable groupwriteback state file")

// CorruptError is a state file SQLite cannot read: damaged, or not a
// database at all.
type CorruptError struct {
	Path string
	Err  error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("store: %s is %v (%v). It is a cache of what Graph and AD hold, with whether writeback is enabled and the run history: "+
		"move it aside (keep it for a bug report), then run `groupwriteback enable` again. The first sync reads everything and takes up the groups "+
		"already written (by their anchors), creating no duplicates", e.Path, ErrCorrupt, e.Err)
}

func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// Explain says the damaged state for an admin.
func (e *CorruptError) Explain() (summary, fix string) {
	return "the state file " + e.Path + " is damaged or not a state file",
		"move it aside (keep it for a bug report), then run `groupwriteback enable` again: the first sync takes up the groups already written by their anchors, creating no duplicates"
}

// Explain says the held lock for an admin.
func (e *LockedError) Explain() (summary, fix string) {
	if e.Holder.PID == 0 {
		return "another groupwriteback process holds the state " + e.Path, "wait for it to end, or stop it"
	}
	return fmt.Sprintf("`groupwriteback %s` (pid %d on %s) holds the state %s", e.Holder.Command, e.Holder.PID, e.Holder.Host, e.Path), "wait for it to end, or stop it"
}
