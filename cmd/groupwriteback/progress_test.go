package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	var buf bytes.Buffer
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clock := t0
	p := &progress{w: &buf, now: func() time.Time { return clock }}
	p.update("writing to AD", 0, 500)
	clock = t0.Add(10 * time.Second)
	p.update("writing to AD", 100, 500)
	clock = clock.Add(50 * time.Millisecond)
	p.update("writing to AD", 101, 500) // too soon: not drawn
	clock = t0.Add(50 * time.Second)
	p.update("writing to AD", 500, 500)
	out := buf.String()
	for _, want := range []string{"writing to AD: 100/500 (10/s, 40s left)", "writing to AD: 500/500 (10/s)\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q in %q", want, out)
		}
	}
	if strings.Contains(out, "101/500") {
		t.Error("redrew faster than five times a second")
	}
	buf.Reset()
	p.update("reading groups from Graph", 2000, 0)
	if !strings.Contains(buf.String(), "reading groups from Graph: 2000 (") {
		t.Errorf("unknown total: %q", buf.String())
	}
}

func TestNoProgressIntoAPipe(t *testing.T) {
	var buf bytes.Buffer
	if newProgress(&buf) != nil {
		t.Fatal("progress on something that is not a terminal")
	}
	var p *progress
	p.update("x", 1, 2) // a nil printer is silent
	p.finish()
}
