package audit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/engine"
)

// Filter chooses entries to read.
type Filter struct {
	// Since drops entries before it (zero: none).
	Since time.Time
	// Group keeps the entries of one group: its cloud id, name or DN
	// (empty: all).
	Group string
	// Run keeps the entries of one run (0: all).
	Run int64
	// Intents keeps every intent; otherwise an intent is read only while
	// no outcome follows it (a write whose outcome is not known yet).
	Intents bool
}

func (f Filter) keep(e Entry) bool {
	if e.Time.Before(f.Since) || (f.Run != 0 && e.RunID != f.Run) {
		return false
	}
	g := f.Group
	return g == "" || strings.EqualFold(e.CloudID, g) || strings.EqualFold(e.Name, g) || strings.EqualFold(e.DN, g) || strings.EqualFold(e.NewDN, g)
}

// DamagedError names the lines of a trail that are not entries: a write a
// crash cut short, or a hand edit. The entries around them are read.
type DamagedError struct {
	Path  string
	Lines []int
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("audit: %s: line %s is not an audit entry (a write cut short by a crash, or an edit); the other entries are read",
		e.Path, strings.Trim(strings.Join(strings.Fields(fmt.Sprint(e.Lines)), ", "), "[]"))
}

// Read returns the entries of the trail at path that f keeps, oldest
// first: operations and their outcomes, not the trail's own lines. A
// missing trail has none. Lines that are not entries are skipped and
// named in a *DamagedError returned with the entries.
func Read(path string, f Filter) ([]Entry, error) {
	file, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return []Entry{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer file.Close()
	var all []Entry
	outcome := map[string]bool{} // the OpIDs with an outcome
	damaged := &DamagedError{Path: path}
	err = scan(file, func(n int, line []byte, e *Entry) error {
		switch {
		case e == nil:
			damaged.Lines = append(damaged.Lines, n)
		case e.Outcome == OutcomeClosed || e.Outcome == OutcomeCheckpoint:
		default:
			if e.Outcome != engine.OutcomeIntent {
				outcome[e.OpID] = true
			}
			if f.keep(*e) {
				all = append(all, *e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit: %s: %w", path, err)
	}
	out := []Entry{}
	for _, e := range all {
		if e.Outcome == engine.OutcomeIntent && e.OpID != "" && outcome[e.OpID] && !f.Intents {
			continue
		}
		out = append(out, e)
	}
	if len(damaged.Lines) > 0 {
		return out, damaged
	}
	return out, nil
}

// scan calls each for every line of r, with its number, its text and the
// entry it holds (nil when it holds none).
func scan(r io.Reader, each func(n int, line []byte, e *Entry) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 64*1024*1024) // a create of 1,000 members is a long line
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		e := &Entry{}
		if json.Unmarshal(line, e) != nil {
			e = nil
		}
		if err := each(n, line, e); err != nil {
			return err
		}
	}
	return sc.Err()
}

// firstTime is the time of the trail's first dated entry (a checkpoint is
// dated when it was written, not by what it stands for).
func firstTime(r io.Reader) (t time.Time, ok bool) {
	_ = scan(r, func(_ int, _ []byte, e *Entry) error {
		if e == nil || e.Outcome == OutcomeCheckpoint {
			return nil // a damaged line cannot be dated: look further
		}
		t, ok = e.Time, true
		return errStop
	})
	return t, ok
}

// Prune drops the entries older than before from the trail at path,
// rewriting it beside and renaming it over, so that a crash leaves either
// trail whole. The new trail begins with a checkpoint, sealed with key,
// carrying the chain value of the last entry dropped, so that what is
// left still verifies. It returns how many it dropped.
//
// Entries are appended in time order, so when the first dated entry is
// within the retention there is nothing to drop, and the trail is not
// read further: every session opens the trail, and a year of it is
// rewritten only when its oldest entry expires.
func Prune(path string, before time.Time, key []byte) (int, error) {
	in, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	defer in.Close()
	if first, ok := firstTime(in); ok && !first.Before(before) {
		return 0, nil
	}
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	var kept [][]byte
	dropped, pruned := 0, 0
	var last Entry // the last entry dropped, or the old checkpoint
	err = scan(in, func(_ int, line []byte, e *Entry) error {
		switch {
		case e != nil && e.Outcome == OutcomeCheckpoint:
			last, pruned = *e, e.Pruned // a new checkpoint replaces it
			last.Chain = e.Prev
		case e != nil && e.Time.Before(before): // a damaged line is kept: it cannot be dated
			dropped++
			pruned++
			last = *e
		default:
			kept = append(kept, append([]byte(nil), line...))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("audit: prune %s: %w", path, err)
	}
	if dropped == 0 {
		return 0, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".audit-*")
	if err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriter(tmp)
	if last.Chain != "" { // a chained trail: what is left follows the checkpoint
		cp := Entry{Time: time.Now().UTC(), Outcome: OutcomeCheckpoint, Seq: last.Seq, Prev: last.Chain, Pruned: pruned}
		line, _, err := seal(key, cp.Prev, cp)
		if err != nil {
			return 0, fmt.Errorf("audit: %w", err)
		}
		_, _ = w.Write(line) // the writer's error is Flush's
	}
	for _, line := range kept {
		_, _ = w.Write(append(line, '\n'))
	}
	err = w.Flush()
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return 0, fmt.Errorf("audit: prune %s: %w", path, err)
	}
	return dropped, nil
}
