package main

import (
	"strings"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/state"
)

func TestReleasesOf(t *testing.T) {
	held := []state.GroupStatus{
		{CloudID: "6a1e0c55-0001-4f0e-9d3b-2c1a0b000001", Name: "Team A", DN: "CN=Team A,OU=G,DC=x", State: state.Held, Message: "delete held back by the delete threshold (gone)"},
		{CloudID: "6a1e0c55-0002-4f0e-9d3b-2c1a0b000002", Name: "Team B", DN: "CN=Team B,OU=G,DC=x", State: state.Held, Message: "move held back by the delete threshold (gone)"},
		{CloudID: "6a1e0c55-0003-4f0e-9d3b-2c1a0b000003", Name: "Twin", DN: "CN=Twin,OU=G,DC=x", State: state.Held, Message: "delete held back"},
		{CloudID: "6a1e0c55-0004-4f0e-9d3b-2c1a0b000004", Name: "Twin", DN: "CN=Twin 2,OU=G,DC=x", State: state.Held, Message: "delete held back"},
	}
	at := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		names   []string
		want    []string // cloud ids released
		wantErr string
	}{
		{[]string{"Team A"}, []string{held[0].CloudID}, ""},
		{[]string{"team a", "CN=Team B,OU=G,DC=x", "6a1e0c55-0001-4f0e-9d3b-2c1a0b000001"}, []string{held[0].CloudID, held[1].CloudID}, ""},
		{[]string{"Team A", "Nobody"}, nil, `release "Nobody": no held group`},
		{[]string{"Twin"}, nil, "2 held groups have that name"},
		{[]string{"CN=Twin 2,OU=G,DC=x"}, []string{held[3].CloudID}, ""},
	}
	for _, tt := range tests {
		rs, err := releasesOf(tt.names, held, "cli:alice", " project ended ", at, at.Add(time.Hour))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "nothing was released") || rs != nil {
				t.Errorf("%v: %v, %v; want %q", tt.names, rs, err, tt.wantErr)
			}
			continue
		}
		if err != nil || len(rs) != len(tt.want) {
			t.Fatalf("%v: %+v, %v", tt.names, rs, err)
		}
		for i, r := range rs {
			if r.CloudID != tt.want[i] || r.By != "cli:alice" || r.Reason != "project ended" || !r.Expires.Equal(at.Add(time.Hour)) || r.DN == "" {
				t.Errorf("%v: %+v", tt.names, r)
			}
		}
	}
	if rs, _ := releasesOf([]string{"Team B"}, held, "x", "y", at, at); rs[0].Action != "move" {
		t.Errorf("action %q, want move", rs[0].Action)
	}
}

func TestReleaseNeedsAReason(t *testing.T) {
	_, cfg := demoSetup(t)
	_, errOut, code := runCLI(t, "--config", cfg, "release", "Team A")
	if code != exitFatal || !strings.Contains(errOut, "--reason") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

// A run's summary in status says what it did, or its error and fix, and
// who asked for it.
func TestRunSummary(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{`{"created":2,"failed":1,"actor":"cli:alice"}`, ": 2 created, 1 failed (asked by cli:alice)"},
		{`{"error":"the domain controller cannot be reached","fix":"check directory.url","actor":"service"}`,
			": the domain controller cannot be reached. Fix: check directory.url (asked by service)"},
		{`{"error":"boom"}`, ": boom"},
		{`{}`, ": no change"},
		{``, ""},
	} {
		if got := runSummary([]byte(tc.raw)); got != tc.want {
			t.Errorf("runSummary(%s) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}
