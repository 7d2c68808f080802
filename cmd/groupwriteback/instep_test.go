package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/engine"
)

// One event a group, up to the cap, and one that counts the rest.
func TestInStepEventsAreCapped(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	var matched []engine.Matched
	for i := range 5 {
		matched = append(matched, engine.Matched{CloudID: fmt.Sprintf("g%d", i), Name: fmt.Sprintf("Group %d", i), Changes: []string{"description"},
			Noticed: at, NoticedBy: "notification", Written: at.Add(1500 * time.Millisecond)})
	}
	for _, tc := range []struct {
		most, events int
		more         any
	}{{10, 5, nil}, {5, 5, nil}, {3, 4, 2}} {
		evs := inStepEvents(7, matched, tc.most)
		if len(evs) != tc.events || evs[len(evs)-1].Details["more"] != tc.more {
			t.Fatalf("cap %d: %d events, the last %+v", tc.most, len(evs), evs[len(evs)-1])
		}
		first := evs[0]
		if first.Details["cloudId"] != "g0" || first.Details["seconds"] != 1.5 || !strings.Contains(first.Summary, `"Group 0": description (noticed by notification`) {
			t.Errorf("cap %d: first event %+v", tc.most, first)
		}
	}
	if last := inStepEvents(7, matched, 3)[3]; !strings.Contains(last.Summary, "2 more groups of run 7") || !strings.Contains(last.Summary, "audit --run 7") {
		t.Errorf("the count of the rest: %q", last.Summary)
	}
}
