package audit_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/audit"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// key is the test trails' chain key.
var key = []byte("0123456789abcdef0123456789abcdef")

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
	l, err := audit.Open(path, audit.Options{Events: ev, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	failed := entry(now, "g2", "update", "failed")
	failed.Error, failed.RunID = "LDAP 50", 8
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
		{audit.Filter{Run: 8}, 1},
		{audit.Filter{Run: 7, Group: "g1"}, 2},
		{audit.Filter{Run: 9}, 0},
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
	l, err := audit.Open(path, audit.Options{Key: key})
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
	l, err = audit.Open(path, audit.Options{Retention: 365 * 24 * time.Hour, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	after, _ := os.ReadFile(path)
	lines := strings.Split(string(before), "\n")
	afterLines := strings.SplitN(string(after), "\n", 2)
	if !strings.Contains(afterLines[0], `"outcome":"checkpoint"`) || !strings.Contains(afterLines[0], `"pruned":1`) ||
		!strings.HasPrefix(afterLines[1], strings.Join(lines[1:], "\n")) {
		t.Fatalf("after pruning:\n%s\nwant a checkpoint, then the last lines of:\n%s", after, before)
	}
	if n, err := audit.Prune(path, now.Add(-24*time.Hour), key); n != 1 || err != nil {
		t.Fatalf("prune to a day: %d, %v", n, err)
	}
	if r, err := audit.Verify(path, key); err != nil || !r.OK() || r.Pruned != 2 || r.First != 3 {
		t.Fatalf("the pruned trail does not verify: %+v, %v", r, err)
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
	if n, err := audit.Prune(path, now.Add(-24*time.Hour), key); n != 0 || err != nil {
		t.Fatalf("%d, %v", n, err)
	}
	if after, _ := os.Stat(path); !os.SameFile(before, after) {
		t.Fatal("the trail was rewritten with nothing to drop")
	}
	if err := os.WriteFile(path, []byte("{\"damaged\n"+line(48*time.Hour)+line(time.Minute)), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := audit.Prune(path, now.Add(-24*time.Hour), key); n != 1 || err != nil {
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
	l, err := audit.Open(path, audit.Options{Retention: 365 * 24 * time.Hour, Key: key})
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

// writeTrail writes n applied entries and closes the trail.
func writeTrail(t *testing.T, path string, n int) {
	t.Helper()
	l, err := audit.Open(path, audit.Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		e := entry(time.Now().UTC(), fmt.Sprintf("g%d", i), "update", "applied")
		e.OpID = fmt.Sprintf("1-%d", i+1)
		if err := l.Audit(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// Every hand edit of a chained trail is found and named by its line: a
// value changed, a line added (even one copied from the trail), a line
// removed, the lines reordered, the end cut off and rewritten, a
// checkpoint forged without the key. The untouched trail holds.
func TestVerifyFindsEveryEdit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	writeTrail(t, path, 5)
	orig, _ := os.ReadFile(path)
	if r, err := audit.Verify(path, key); err != nil || !r.OK() || r.Verified != 6 || r.First != 1 || r.Last != 6 {
		t.Fatalf("the trail as written: %+v, %v", r, err)
	}
	lines := strings.SplitAfter(string(orig), "\n")
	lines = lines[:len(lines)-1] // the empty string after the last newline
	for _, tc := range []struct {
		name string
		edit func(ls []string) []string
		line int // the first line named
	}{
		{"a value changed", func(ls []string) []string {
			ls[2] = strings.Replace(ls[2], `"new"`, `"forged"`, 1)
			return ls
		}, 3},
		{"an outcome changed", func(ls []string) []string {
			ls[1] = strings.Replace(ls[1], `"applied"`, `"failed"`, 1)
			return ls
		}, 2},
		{"a line added by hand", func(ls []string) []string {
			forged := `{"time":"2026-01-01T00:00:00Z","runId":7,"cloudId":"g9","action":"delete","dn":"CN=x","outcome":"applied"}` + "\n"
			return append(ls[:3], append([]string{forged}, ls[3:]...)...)
		}, 4},
		{"a line copied again", func(ls []string) []string {
			return append(ls[:3], append([]string{ls[1]}, ls[3:]...)...)
		}, 4},
		{"a line removed", func(ls []string) []string { return append(ls[:2], ls[3:]...) }, 3},
		{"lines swapped", func(ls []string) []string {
			ls[1], ls[2] = ls[2], ls[1]
			return ls
		}, 2},
		{"the head removed", func(ls []string) []string { return ls[2:] }, 1},
		{"a checkpoint forged over a removed head", func(ls []string) []string {
			cp := `{"time":"2026-01-01T00:00:00Z","runId":0,"cloudId":"","action":"","dn":"","outcome":"checkpoint","seq":2,"prev":"` +
				strings.Repeat("0", 64) + `","pruned":2,"chain":"` + strings.Repeat("1", 64) + `"}` + "\n"
			return append([]string{cp}, ls[2:]...)
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".jsonl")
			if err := os.WriteFile(p, []byte(strings.Join(tc.edit(slices.Clone(lines)), "")), 0o600); err != nil {
				t.Fatal(err)
			}
			r, err := audit.Verify(p, key)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() || len(r.Broken) == 0 || r.Broken[0].Line != tc.line {
				t.Fatalf("%+v: want line %d named", r, tc.line)
			}
		})
	}
	// The key is what makes the chain: another state's key verifies none.
	if r, _ := audit.Verify(path, []byte("another state's key, 32 bytes!!")); r.OK() {
		t.Fatal("verified with another key")
	}
}

// An intent with no outcome (the process was killed between them) is
// found when the trail is opened again, and is settled by an outcome; a
// session that closed with none open bounds how far back a start looks.
func TestIntentsOpenAcrossSessions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	writeTrail(t, path, 2)
	l, err := audit.Open(path, audit.Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if u := l.Unsettled(); len(u) != 0 {
		t.Fatalf("after a closed session: %+v", u)
	}
	in := entry(time.Now().UTC(), "g7", "delete", "intent")
	in.OpID = "2-1"
	done := entry(time.Now().UTC(), "g8", "create", "intent")
	done.OpID = "2-2"
	for _, e := range []audit.Entry{in, done, func() audit.Entry { d := done; d.Outcome = "applied"; return d }()} {
		if err := l.Audit(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	// killed: no Close
	l2, err := audit.Open(path, audit.Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	u := l2.Unsettled()
	if len(u) != 1 || u[0].OpID != "2-1" || u[0].Action != "delete" {
		t.Fatalf("unsettled after a kill: %+v", u)
	}
	settled := u[0]
	settled.Outcome, settled.Settled = "not-applied", true
	if err := l2.Audit(context.Background(), settled); err != nil {
		t.Fatal(err)
	}
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	// The reader shows outcomes, and intents only while open.
	got, err := audit.Read(path, audit.Filter{})
	if err != nil || len(got) != 4 || got[2].Outcome != "applied" || got[3].Outcome != "not-applied" || !got[3].Settled {
		t.Fatalf("read: %+v, %v", got, err)
	}
	if all, _ := audit.Read(path, audit.Filter{Intents: true}); len(all) != 6 {
		t.Fatalf("with intents: %d entries, want 6", len(all))
	}
	if r, err := audit.Verify(path, key); err != nil || !r.OK() {
		t.Fatalf("verify: %+v, %v", r, err)
	}
	l3, err := audit.Open(path, audit.Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer l3.Close()
	if u := l3.Unsettled(); len(u) != 0 {
		t.Fatalf("after settling: %+v", u)
	}
}
