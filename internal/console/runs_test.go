package console

import (
	"encoding/json"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/state"
)

// The runs page says what a run did: its counts, its error, or that it
// stands for a stretch of quiet cycles.
func TestSaidOf(t *testing.T) {
	for _, tc := range []struct {
		run  state.Run
		said string
	}{
		{state.Run{Summary: json.RawMessage(`{"created":2,"failed":1,"actor":"service"}`)}, "1 failed, 2 created"},
		{state.Run{Summary: json.RawMessage(`{"actor":"service"}`)}, "no change"},
		{state.Run{Summary: json.RawMessage(`{"actor":"service"}`), Quiet: 1}, "a quiet cycle: Graph said nothing changed, nothing was written"},
		{state.Run{Summary: json.RawMessage(`{"actor":"service"}`), Quiet: 360}, "360 quiet cycles: Graph said nothing changed, nothing was written"},
	} {
		if got := saidOf(tc.run); got.Said != tc.said || got.Actor != "service" {
			t.Errorf("%+v: said %q by %q, want %q by service", tc.run, got.Said, got.Actor, tc.said)
		}
	}
}
