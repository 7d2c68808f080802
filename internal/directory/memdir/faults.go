package memdir

import (
	"context"
	"errors"
	"sync"

	"github.com/groupwriteback/groupwriteback/internal/directory"
)

// faults are what a test does to the DC: stop it (a crash, a pulled
// cable) or freeze it (a hung DC: connections stay open, nothing answers).
type faults struct {
	mu      sync.Mutex
	stopped bool
	// thawed is closed when a frozen directory answers again; nil when
	// it is not frozen.
	thawed chan struct{}
}

// errStopped is what a stopped directory's requests meet.
var errStopped = errors.New("connection refused")

// Stop makes the directory answer nothing, as a DC that crashed: every
// read and write fails as directory.Client's do once no DC answers
// (directory.ErrUnavailable), and writes nothing. Start brings it back
// with its data.
func (d *Directory) Stop() {
	d.faults.mu.Lock()
	defer d.faults.mu.Unlock()
	d.faults.stopped = true
}

// Start answers again after Stop.
func (d *Directory) Start() {
	d.faults.mu.Lock()
	defer d.faults.mu.Unlock()
	d.faults.stopped = false
}

// Freeze makes every request wait, as on a hung DC, until Thaw or until
// its context ends (then it fails as unreachable).
func (d *Directory) Freeze() {
	d.faults.mu.Lock()
	defer d.faults.mu.Unlock()
	if d.faults.thawed == nil {
		d.faults.thawed = make(chan struct{})
	}
}

// Thaw answers the requests a Freeze held, and the ones after.
func (d *Directory) Thaw() {
	d.faults.mu.Lock()
	defer d.faults.mu.Unlock()
	if d.faults.thawed != nil {
		close(d.faults.thawed)
		d.faults.thawed = nil
	}
}

// answer is where every request starts: it fails when ctx has ended or the
// directory is stopped, and waits while it is frozen.
func (d *Directory) answer(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.faults.mu.Lock()
	stopped, thawed := d.faults.stopped, d.faults.thawed
	d.faults.mu.Unlock()
	if thawed != nil {
		select {
		case <-thawed:
		case <-ctx.Done():
			return &directory.UnavailableError{URL: d.url(), Err: ctx.Err()}
		}
		return d.answer(ctx)
	}
	if stopped {
		return &directory.UnavailableError{URL: d.url(), Err: errStopped}
	}
	return nil
}

// url names the directory in errors, as a DC's URL names it.
func (d *Directory) url() string { return "memdir:///" + d.base }
