package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// progress prints how far a long read or write has got, on one line that
// it rewrites: counts, rate and, when the total is known, the time left.
// It prints only to a terminal, never into a pipe or a file.
type progress struct {
	w     io.Writer
	now   func() time.Time
	mu    sync.Mutex
	phase string
	start time.Time
	last  time.Time
	shown bool
}

// newProgress returns a progress printer for w, or nil when w is no terminal.
func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &progress{w: w, now: time.Now}
}

// update reports done of total (total 0: unknown) in a phase; it redraws at
// most five times a second, and always at the end of a phase.
func (p *progress) update(phase string, done, total int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if phase != p.phase {
		if p.shown {
			fmt.Fprintln(p.w)
		}
		p.phase, p.start, p.shown, p.last = phase, now, false, time.Time{}
	}
	final := total > 0 && done >= total
	if !final && now.Sub(p.last) < 200*time.Millisecond {
		return
	}
	p.last, p.shown = now, true
	fmt.Fprint(p.w, "\r\033[K"+p.line(done, total, now))
	if final {
		fmt.Fprintln(p.w)
		p.shown = false
	}
}

// line is the text of one progress line.
func (p *progress) line(done, total int, now time.Time) string {
	elapsed := now.Sub(p.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done) / elapsed
	}
	if total <= 0 {
		return fmt.Sprintf("%s: %d (%.0f/s)", p.phase, done, rate)
	}
	s := fmt.Sprintf("%s: %d/%d (%.0f/s", p.phase, done, total, rate)
	if rate > 0 && done < total {
		s += fmt.Sprintf(", %s left", (time.Duration(float64(total-done)/rate) * time.Second).Round(time.Second))
	}
	return s + ")"
}

// finish ends the current line.
func (p *progress) finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprintln(p.w)
		p.shown = false
	}
}
