package store

import "fmt"

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
