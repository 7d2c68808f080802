package audit_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/audit"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

type events struct{ info, warning []string }

func (e *events) Info(id uint32, msg string) error {
	e.info = append(e.info, msg)
	return nil
}

func (e *events) Warning(id uint32, msg string) error {
	e.warning = append(e.warning, msg)
	return nil
}

func (e *events) Close() error { return nil }

func entry(at time.Time, id, action, outcome string) audit.Entry {
	return audit.Entry{Time: at, RunID: 7, CloudID: id, Name: "VPN users", Action: action, DN: "CN=VPN users,OU=Cloud,DC=contoso,DC=com",
		Changes: []reconcile.AttrChange{{Name: "description", Old: []string{"old"}, New: []string{"new"}}}, Outcome: outcome}
}

func TestAppendReadFilter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "audit.jsonl")
	ev := &events{}
	l, err := audit.Open(path, 0, ev)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	failed := entry(now, "g2", "update", "failed")
	failed.Error = "LDAP 50"
	for _, e := range []audit.Entry{entry(now.Add(-48*time.Hour), "g1", "create", "applied"), entry(now, "g1", "update", "applied"), failed} {
		if err := l.Audit(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("the trail is %v, want 0600", fi.Mode().Perm())
	}
	if len(ev.info) != 2 || len(ev.warning) != 1 || !strings.Contains(ev.warning[0], "failed update") || !strings.Contains(ev.warning[0], `"error":"LDAP 50"`) {
		t.Errorf("event log: %q %q", ev.info, ev.warning)
	}
	all, err := audit.Read(path, audit.Filter{})
	if err != nil || len(all) != 3 || all[0].Action != "create" || all[2].Error != "LDAP 50" || all[1].Changes[0].Old[0] != "old" || !all[1].Time.Equal(now) {
		t.Fatalf("read: %+v %v", all, err)
	}
	for _, tc := range []struct {
		f    audit.Filter
		want int
	}{
		{audit.Filter{Since: now.Add(-time.Hour)}, 2},
		{audit.Filter{Group: "g1"}, 2},
		{audit.Filter{Group: "vpn USERS", Since: now.Add(-time.Hour)}, 2},
		{audit.Filter{Group: "CN=VPN users,OU=Cloud,DC=contoso,DC=com"}, 3},
		{audit.Filter{Group: "nobody"}, 0},
	} {
		if got, _ := audit.Read(path, tc.f); len(got) != tc.want {
			t.Errorf("filter %+v: %d entries, want %d", tc.f, len(got), tc.want)
		}
	}
	if got, err := audit.Read(filepath.Join(t.TempDir(), "none.jsonl"), audit.Filter{}); err != nil || len(got) != 0 {
		t.Errorf("a missing trail: %v %v", got, err)
	}
}

// Opening the trail drops what is older than the retention, and keeps the
// rest byte for byte.
func TestRetention(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := audit.Open(path, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for _, age := range []time.Duration{400 * 24 * time.Hour, 100 * 24 * time.Hour, time.Hour} {
		if err := l.Audit(context.Background(), entry(now.Add(-age), "g1", "update", "applied")); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	before, _ := os.ReadFile(path)
	l, err = audit.Open(path, 365*24*time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	after, _ := os.ReadFile(path)
	lines := strings.Split(string(before), "\n")
	if string(after) != strings.Join(lines[1:], "\n") {
		t.Fatalf("after pruning:\n%s\nwant the last two lines of:\n%s", after, before)
	}
	if n, err := audit.Prune(path, now.Add(-24*time.Hour)); n != 1 || err != nil {
		t.Fatalf("prune to a day: %d, %v", n, err)
	}
}

// Opening the trail, as every session does, reads only its first dated
// entry while that entry is within the retention: the file is left as it
// is, not rewritten. A damaged first line does not stop the check.
func TestPruneReadsOnlyWhatExpires(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	now := time.Now().UTC()
	line := func(age time.Duration) string {
		return `{"time":"` + now.Add(-age).Format(time.RFC3339) + `","runId":1,"action":"create","outcome":"applied"}` + "\n"
	}
	if err := os.WriteFile(path, []byte("{\"damaged\n"+line(time.Hour)+line(time.Minute)), 0o600); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)
	if n, err := audit.Prune(path, now.Add(-24*time.Hour)); n != 0 || err != nil {
		t.Fatalf("%d, %v", n, err)
	}
	if after, _ := os.Stat(path); !os.SameFile(before, after) {
		t.Fatal("the trail was rewritten with nothing to drop")
	}
	if err := os.WriteFile(path, []byte("{\"damaged\n"+line(48*time.Hour)+line(time.Minute)), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := audit.Prune(path, now.Add(-24*time.Hour)); n != 1 || err != nil {
		t.Fatalf("an expired entry after a damaged line: %d, %v", n, err)
	}
	if b, _ := os.ReadFile(path); !strings.HasPrefix(string(b), "{\"damaged\n") || strings.Count(string(b), "\n") != 2 {
		t.Fatalf("after pruning: %q", b)
	}
}

// A write a crash cut short is named, and neither hides the entries
// around it nor glues itself to the next one.
func TestDamagedLineNamed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	first := `{"time":"` + time.Now().UTC().Format(time.RFC3339) + `","runId":1,"action":"create","outcome":"applied"}`
	if err := os.WriteFile(path, []byte(first+"\n{\"runId\":2,\"act"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(path, 365*24*time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Audit(context.Background(), entry(time.Now(), "g3", "delete", "applied")); err != nil {
		t.Fatal(err)
	}
	l.Close()
	got, err := audit.Read(path, audit.Filter{})
	var damaged *audit.DamagedError
	if !errors.As(err, &damaged) || len(damaged.Lines) != 1 || damaged.Lines[0] != 2 || !strings.Contains(err.Error(), "line 2 is not an audit entry") {
		t.Fatalf("err = %v", err)
	}
	if len(got) != 2 || got[0].RunID != 1 || got[1].Action != "delete" {
		t.Fatalf("entries around the damaged line: %+v", got)
	}
}
