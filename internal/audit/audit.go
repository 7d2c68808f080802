// Package audit keeps the audit trail of what groupwriteback wrote to
// Active Directory: an append-only file of JSON lines, one per operation
// (run, group, DN, attributes old and new, members added and removed,
// outcome), pruned to a retention period, and on Windows the same in the
// event log. The engine writes it as it writes AD: an intent before each
// write is sent, its outcome after, so that a process killed between the
// two leaves an intent the next start settles by reading AD. Each line is
// chained to the one before it by an HMAC keyed by a secret of the state,
// so that a line edited, added or removed by hand is found (Verify).
// `groupwriteback audit` reads it.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/engine"
)

// The engine writes its audit trail here, and settles the intents a
// process killed mid-write left.
var (
	_ engine.Auditor   = (*Log)(nil)
	_ engine.IntentLog = (*Log)(nil)
)

// Entry is one operation on AD, as the engine reports it.
type Entry = engine.AuditEntry

// The trail's own lines, which are no operation.
const (
	// OutcomeClosed marks a session that ended with no intent left open:
	// the next start looks back for open intents only as far as it.
	OutcomeClosed = "closed"
	// OutcomeCheckpoint heads a trail whose oldest entries retention
	// pruned: it carries the chain value of the last entry dropped, so
	// that the rest still verifies.
	OutcomeCheckpoint = "checkpoint"
)

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

// Options open a trail.
type Options struct {
	// Retention drops, on open, the entries older than it (0: none).
	Retention time.Duration
	// Events, when set, receives each outcome too.
	Events EventSink
	// Key keys the hash chain: the state's audit key (state.AuditKey).
	Key []byte
}

// Log is an open audit trail.
type Log struct {
	mu     sync.Mutex
	path   string
	f      *os.File
	events EventSink
	key    []byte
	// seq and chain are the last line's: the next line follows them.
	seq   int64
	chain string
	// open are the intents with no outcome yet, by OpID: those a killed
	// process left (found on open), and this session's in flight.
	open  map[string]Entry
	wrote bool
	// applied are, by run, the writes that run's session made, as the
	// tail read back on open found them: what a run killed mid-cycle wrote.
	applied map[int64][]Entry
}

// Open opens the trail at path for appending, first dropping the entries
// older than the retention. It finds where the chain goes on, and the
// intents an earlier process left with no outcome (Unsettled).
func Open(path string, o Options) (*Log, error) {
	if len(o.Key) == 0 {
		return nil, fmt.Errorf("audit: no key for the trail's chain")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if o.Retention > 0 {
		if _, err := Prune(path, time.Now().Add(-o.Retention), o.Key); err != nil {
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
	l := &Log{path: path, f: f, events: o.Events, key: o.Key, open: map[string]Entry{}, applied: map[int64][]Entry{}}
	if err := l.readTail(); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit: %s: %w", path, err)
	}
	return l, nil
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

// readTail reads the trail backwards from its end: the last line's
// sequence number and chain value, and every intent with no outcome back
// to the last session that closed with none open.
func (l *Log) readTail() error {
	done := map[string]bool{}
	found := false
	return backwards(l.f, func(line []byte) (bool, error) {
		var e Entry
		if json.Unmarshal(line, &e) != nil {
			return true, nil // damaged: look further
		}
		if !found {
			l.seq, l.chain, found = e.Seq, e.Chain, true
		}
		switch e.Outcome {
		case OutcomeClosed, OutcomeCheckpoint:
			return false, nil
		case engine.OutcomeIntent:
			if e.OpID != "" && !done[e.OpID] {
				l.open[e.OpID] = e
			}
		default:
			done[e.OpID] = true
			if e.Outcome == engine.OutcomeApplied {
				l.applied[e.RunID] = append(l.applied[e.RunID], e)
			}
		}
		return true, nil
	})
}

// Applied are the writes a run made, as far back as the trail was read on
// open (to the last session that closed with no intent open): all of
// them, for a run whose process was killed.
func (l *Log) Applied(runID int64) []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.applied[runID])
}

// Audit appends one entry, chained to the one before it, and writes its
// outcome to the event log when there is one. The line is written whole
// in one write, so that a crash leaves no half entry before the next.
func (l *Log) Audit(_ context.Context, e Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.Seq = l.seq + 1
	line, chain, err := seal(l.key, l.chain, e)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if _, err := l.f.Write(line); err != nil {
		return fmt.Errorf("audit: %s: %w", l.path, err)
	}
	l.seq, l.chain, l.wrote = e.Seq, chain, true
	switch e.Outcome {
	case engine.OutcomeIntent:
		l.open[e.OpID] = e
		return nil // the event log hears of outcomes
	case OutcomeClosed:
		return nil
	default:
		delete(l.open, e.OpID)
		if e.Settled && e.Outcome == engine.OutcomeApplied {
			l.applied[e.RunID] = append(l.applied[e.RunID], e)
		}
	}
	if l.events != nil {
		e.Chain = chain
		b, _ := json.Marshal(e) // marshalled once already, by seal
		msg := Summary(e) + "\n" + string(b)
		if e.Outcome == engine.OutcomeFailed || e.Outcome == engine.OutcomeRefused {
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

// Unsettled are the intents with no outcome: writes whose process ended
// (or lost the DC) before it knew how they went, oldest first.
func (l *Log) Unsettled() []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Entry, 0, len(l.open))
	for _, e := range l.open {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return int(a.Seq - b.Seq) })
	return out
}

// Head is the last line's sequence number and chain value: the state
// keeps it, so that a trail cut short is found too.
func (l *Log) Head() (seq int64, chain string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.chain
}

// Close marks the session closed when it wrote and left no intent open,
// flushes the trail to disk and closes it.
func (l *Log) Close() error {
	l.mu.Lock()
	wrote, open := l.wrote, len(l.open)
	l.mu.Unlock()
	var err error
	if wrote && open == 0 {
		err = l.Audit(context.Background(), Entry{Time: time.Now().UTC(), Outcome: OutcomeClosed})
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if serr := l.f.Sync(); err == nil {
		err = serr
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if l.events != nil {
		_ = l.events.Close() // the event log's handle: nothing is lost with it
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
