// Package audit keeps the audit trail of what groupwriteback wrote to
// Active Directory: an append-only file of JSON lines, one per operation
// (run, group, DN, attributes old and new, members added and removed,
// outcome), pruned to a retention period, and on Windows the same in the
// event log. The engine writes it as it writes AD; `groupwriteback audit`
// reads it.
package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/engine"
)

// The engine writes its audit trail here.
var _ engine.Auditor = (*Log)(nil)

// Entry is one operation on AD, as the engine reports it.
type Entry = engine.AuditEntry

// EventSink is a second home for each entry: the Windows event log.
type EventSink interface {
	Info(eventID uint32, msg string) error
	Warning(eventID uint32, msg string) error
	Close() error
}

// Event ids in the event log.
const (
	EventApplied = 100
	EventFailed  = 101
)

// Log is an open audit trail.
type Log struct {
	mu     sync.Mutex
	path   string
	f      *os.File
	events EventSink
}

// Open opens the trail at path for appending, first dropping the entries
// older than retention (none when retention is 0). events, when not nil,
// receives each entry too.
func Open(path string, retention time.Duration, events EventSink) (*Log, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if retention > 0 {
		if _, err := Prune(path, time.Now().Add(-retention)); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if err := endLine(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit: %s: %w", path, err)
	}
	return &Log{path: path, f: f, events: events}, nil
}

// endLine ends a last line a crash cut short, so that the next entry
// starts a line of its own (the cut one stays, reported as damaged).
func endLine(f *os.File) error {
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return err
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, fi.Size()-1); err != nil {
		return err
	}
	if last[0] != '\n' {
		_, err = f.Write([]byte("\n"))
	}
	return err
}

// Audit appends one entry, and writes it to the event log when there is
// one. The line is written whole in one write, so that a crash leaves no
// half entry before the next.
func (l *Log) Audit(_ context.Context, e Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("audit: %s: %w", l.path, err)
	}
	if l.events != nil {
		msg := Summary(e) + "\n" + string(b)
		if e.Outcome == "failed" {
			err = l.events.Warning(EventFailed, msg)
		} else {
			err = l.events.Info(EventApplied, msg)
		}
		if err != nil {
			return fmt.Errorf("audit: the event log: %w", err)
		}
	}
	return nil
}

// Close flushes the trail to disk and closes it.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.f.Sync()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if l.events != nil {
		_ = l.events.Close()
	}
	return err
}

// Summary is an entry in one line, for people.
func Summary(e Entry) string {
	s := fmt.Sprintf("run %d %s %s %q (%s)", e.RunID, e.Outcome, e.Action, e.Name, e.DN)
	if e.NewDN != "" {
		s += " to " + e.NewDN
	}
	if e.Error != "" {
		s += ": " + e.Error
	}
	return s
}

// Filter chooses entries to read.
type Filter struct {
	// Since drops entries before it (zero: none).
	Since time.Time
	// Group keeps the entries of one group: its cloud id, name or DN
	// (empty: all).
	Group string
}

func (f Filter) keep(e Entry) bool {
	if e.Time.Before(f.Since) {
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
// first. A missing trail has none. Lines that are not entries are
// skipped and named in a *DamagedError returned with the entries.
func Read(path string, f Filter) ([]Entry, error) {
	file, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return []Entry{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer file.Close()
	out := []Entry{}
	damaged := &DamagedError{Path: path}
	err = scan(file, func(n int, line []byte, e *Entry) error {
		switch {
		case e == nil:
			damaged.Lines = append(damaged.Lines, n)
		case f.keep(*e):
			out = append(out, *e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit: %s: %w", path, err)
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

// errStop ends a scan early.
var errStop = errors.New("stop")

// firstTime is the time of the trail's first dated entry.
func firstTime(r io.Reader) (t time.Time, ok bool) {
	_ = scan(r, func(_ int, _ []byte, e *Entry) error {
		if e == nil {
			return nil // a damaged line cannot be dated: look further
		}
		t, ok = e.Time, true
		return errStop
	})
	return t, ok
}

// Prune drops the entries older than before from the trail at path,
// rewriting it beside and renaming it over, so that a crash leaves either
// trail whole. It returns how many it dropped.
//
// Entries are appended in time order, so when the first dated entry is
// within the retention there is nothing to drop, and the trail is not
// read further: every session opens the trail, and a year of it is
// rewritten only when its oldest entry expires.
func Prune(path string, before time.Time) (int, error) {
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
	tmp, err := os.CreateTemp(filepath.Dir(path), ".audit-*")
	if err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriter(tmp)
	dropped := 0
	err = scan(in, func(_ int, line []byte, e *Entry) error {
		if e != nil && e.Time.Before(before) { // a damaged line is kept: it cannot be dated
			dropped++
			return nil
		}
		_, err := w.Write(append(line, '\n'))
		return err
	})
	if err == nil {
		err = w.Flush()
	}
	if err == nil && dropped > 0 {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("audit: prune %s: %w", path, err)
	}
	if dropped == 0 {
		return 0, nil
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	return dropped, nil
}
