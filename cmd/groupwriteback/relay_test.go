//go:build linux

package main

import (
	"io"
	"net"
	"sync"
	"testing"
)

// relay is a TCP relay in front of a server (a DC, the database), for
// one instance of the HA suite: it passes bytes both ways, or holds the
// server's answers (a DC slow to answer), or swallows everything both
// ways and answers nothing (a hung server, a path that drops packets), or
// cuts every connection.
type relay struct {
	t      *testing.T
	ln     net.Listener
	target string

	mu    sync.Mutex
	cond  *sync.Cond
	hold  bool // the server's answers wait
	black bool // nothing passes, either way; new connections are never answered
	conns []net.Conn
}

// newRelay listens on host (port chosen) and relays to target.
func newRelay(t *testing.T, host, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{t: t, ln: ln, target: target}
	r.cond = sync.NewCond(&r.mu)
	go r.accept()
	t.Cleanup(func() {
		ln.Close()
		r.Pass()
		r.Cut()
	})
	return r
}

// Addr is where clients connect.
func (r *relay) Addr() string { return r.ln.Addr().String() }

func (r *relay) accept() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		r.conns = append(r.conns, c)
		black := r.black
		r.mu.Unlock()
		if black {
			go func() { _, _ = io.Copy(io.Discard, c) }() // accepted, never answered
			continue
		}
		up, err := net.Dial("tcp", r.target)
		if err != nil {
			c.Close()
			continue
		}
		r.mu.Lock()
		r.conns = append(r.conns, up)
		r.mu.Unlock()
		go r.pipe(up, c, false)
		go r.pipe(c, up, true)
	}
}

// pipe copies from src to dst; answers are the server's bytes.
func (r *relay) pipe(dst, src net.Conn, answers bool) {
	defer dst.Close()
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.mu.Lock()
			for answers && r.hold && !r.black {
				r.cond.Wait()
			}
			black := r.black
			r.mu.Unlock()
			if !black {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// Hold makes the server's answers wait until Release.
func (r *relay) Hold() { r.set(func() { r.hold = true }) }

// Release lets the answers held go on.
func (r *relay) Release() { r.set(func() { r.hold = false }) }

// Blackhole swallows everything, both ways, on every connection, and
// answers no new one: a server that accepts and never answers.
func (r *relay) Blackhole() { r.set(func() { r.black = true }) }

// Pass relays again (connections opened while black stay unanswered).
func (r *relay) Pass() { r.set(func() { r.black, r.hold = false, false }) }

// Cut closes every connection open through the relay.
func (r *relay) Cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		c.Close()
	}
	r.conns = nil
}

func (r *relay) set(f func()) {
	r.mu.Lock()
	f()
	r.mu.Unlock()
	r.cond.Broadcast()
}
