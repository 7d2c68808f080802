package engine

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// opSpool holds the operations of a plan made to be shown or saved
// (RunOptions.ShowOnly) in a temporary file, one JSON object a line,
// written as each slice is planned: a plan of a large tenant never holds
// its member values all at once. The file is readable by its owner only,
// and removed by Close (on Unix at once: it is read through the open
// file).
type opSpool struct {
	f    *os.File
	path string // "" once removed
	w    *bufio.Writer
	enc  *json.Encoder
	n    int
	// closed: Close was called.
	closed bool
}

func newOpSpool() (*opSpool, error) {
	f, err := os.CreateTemp("", "groupwriteback-plan-*.jsonl")
	if err != nil {
		return nil, fmt.Errorf("engine: a file for the plan's operations: %w", err)
	}
	s := &opSpool{f: f, path: f.Name(), w: bufio.NewWriterSize(f, 1<<16)}
	if runtime.GOOS != "windows" && os.Remove(s.path) == nil {
		s.path = ""
	}
	s.enc = json.NewEncoder(s.w)
	return s, nil
}

// add writes ops at the end of the spool.
func (s *opSpool) add(ops []reconcile.Op) error {
	for i := range ops {
		if err := s.enc.Encode(&ops[i]); err != nil {
			return fmt.Errorf("engine: spool the plan's operations: %w", err)
		}
		s.n++
	}
	return nil
}

// each calls fn with every operation spooled, in order.
func (s *opSpool) each(fn func(reconcile.Op) error) error {
	return s.eachJSON(func(line []byte) error {
		var op reconcile.Op
		if err := json.Unmarshal(line, &op); err != nil {
			return fmt.Errorf("engine: read the plan's operations back: %w", err)
		}
		return fn(op)
	})
}

// eachJSON calls fn with every operation spooled, in order, as
// json.Marshal writes it (the line, without its newline), unread.
func (s *opSpool) eachJSON(fn func([]byte) error) error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("engine: spool the plan's operations: %w", err)
	}
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, 0, 1<<62), 1<<16)
	for i := 0; i < s.n; i++ {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return fmt.Errorf("engine: read the plan's operations back (operation %d of %d): %w", i+1, s.n, err)
		}
		if err := fn(line[:len(line)-1]); err != nil {
			return err
		}
	}
	return nil
}

func (s *opSpool) close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.f.Close()
	if s.path != "" {
		err = errors.Join(err, os.Remove(s.path))
		s.path = ""
	}
	return err
}
