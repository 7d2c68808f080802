package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestMigrationsAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := open(t, path)
	var v int
	if err := s.db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != len(migrations) {
		t.Fatalf("user_version %d, %v", v, err)
	}
	s.Close()
	s = open(t, path) // migrating again is a no-op
	if _, err := s.db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(context.Background(), path); err == nil || !strings.Contains(err.Error(), "newer than this groupwriteback knows") {
		t.Fatalf("newer schema: err = %v", err)
	}
}

func TestCloudRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	snap, links, err := s.LoadCloud(ctx)
	if err != nil || len(snap.Groups) != 0 || links.Groups != "" || !snap.UnifiedWritebackDefault {
		t.Fatalf("empty store: %+v %+v %v", snap, links, err)
	}
	yes := true
	snap.Groups["g1"] = &cloud.Group{ID: "g1", DisplayName: "One", Writeback: cloud.WritebackConfiguration{IsEnabled: &yes},
		Members: map[string]cloud.ObjectType{"u1": cloud.TypeUser}}
	snap.Groups["g2"] = &cloud.Group{ID: "g2", DisplayName: "Two", Removed: cloud.SoftDeleted}
	snap.Users["u1"] = &cloud.User{ID: "u1", OnPremisesSecurityIdentifier: "S-1-5-21-1"}
	snap.UnifiedWritebackDefault = false
	if err := s.SaveCloud(ctx, CloudUpdate{Snapshot: snap, FullGroups: true, FullUsers: true, Links: Links{Groups: "gl1", Users: "ul1"},
		Pending: map[string]string{"g1": "One"}}); err != nil {
		t.Fatal(err)
	}
	got, links, err := s.LoadCloud(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if links != (Links{"gl1", "ul1"}) || got.UnifiedWritebackDefault || got.Groups["g1"].Members["u1"] != cloud.TypeUser ||
		!*got.Groups["g1"].Writeback.IsEnabled || got.Groups["g2"].Removed != cloud.SoftDeleted || got.Users["u1"].OnPremisesSecurityIdentifier != "S-1-5-21-1" {
		t.Fatalf("loaded %+v %+v", got, links)
	}
	// Incremental: g1 changes, g2 goes, g3 comes; only those are written.
	delete(got.Groups, "g2")
	got.Groups["g1"].DisplayName = "Uno"
	got.Groups["g3"] = &cloud.Group{ID: "g3"}
	if err := s.SaveCloud(ctx, CloudUpdate{Snapshot: got, ChangedGroups: []string{"g1", "g2", "g3"}, Links: Links{"gl2", "ul2"}}); err != nil {
		t.Fatal(err)
	}
	again, links, _ := s.LoadCloud(ctx)
	if len(again.Groups) != 2 || again.Groups["g1"].DisplayName != "Uno" || again.Groups["g3"] == nil || links.Groups != "gl2" {
		t.Fatalf("after incremental save: %v %+v", again.Groups, links)
	}
	pending, err := s.Statuses(ctx, StatePending)
	if err != nil || len(pending) != 1 || pending[0].CloudID != "g1" {
		t.Fatalf("pending = %+v, %v", pending, err)
	}
}

func TestStatusAndRuns(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	if err := s.SetStatus(ctx, []GroupStatus{
		{CloudID: "g1", Name: "One", State: StateInStep, DN: "CN=One", MembersNotWritten: map[string]int{"cloud-only user": 2}},
		{CloudID: "g2", Name: "Two", State: StateFailed, Message: "LDAP 50"},
	}); err != nil {
		t.Fatal(err)
	}
	failed, _ := s.Statuses(ctx, StateFailed, StateNotWritable)
	if len(failed) != 1 || failed[0].Message != "LDAP 50" {
		t.Fatalf("failed = %+v", failed)
	}
	all, _ := s.Statuses(ctx)
	if len(all) != 2 || all[0].MembersNotWritten["cloud-only user"] != 2 || all[0].Updated.IsZero() {
		t.Fatalf("all = %+v", all)
	}
	id, died, err := s.StartRun(ctx, "delta")
	if err != nil || len(died) != 0 {
		t.Fatal(died, err)
	}
	if err := s.FinishRun(ctx, id, "ok", map[string]int{"created": 3}); err != nil {
		t.Fatal(err)
	}
	runs, err := s.Runs(ctx, 5)
	if err != nil || len(runs) != 1 || runs[0].Outcome != "ok" || string(runs[0].Summary) != `{"created":3}` || runs[0].Finished.IsZero() {
		t.Fatalf("runs = %+v, %v", runs, err)
	}
}

func TestOperationLog(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	now := time.Now()
	if err := s.RecordOperations(ctx, []Operation{
		{RunID: 1, CloudID: "g1", Action: "create", DN: "CN=a", Outcome: "applied", At: now},
		{RunID: 2, CloudID: "g1", Action: "update", DN: "CN=a", Outcome: "failed", Error: "LDAP 50", At: now},
		{RunID: 2, CloudID: "g2", Action: "create", DN: "CN=b", Outcome: "applied", At: now},
	}); err != nil {
		t.Fatal(err)
	}
	ops, err := s.Operations(ctx, "g1", 10)
	if err != nil || len(ops) != 2 || ops[0].Action != "update" || ops[0].Error != "LDAP 50" || ops[1].RunID != 1 {
		t.Fatalf("ops = %+v, %v", ops, err)
	}
}
