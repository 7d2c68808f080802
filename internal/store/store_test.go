package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	if err := s.db.raw.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != len(migrations) {
		t.Fatalf("user_version %d, %v", v, err)
	}
	s.Close()
	s = open(t, path) // migrating again is a no-op
	if _, err := s.db.raw.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(context.Background(), path); err == nil || !strings.Contains(err.Error(), "newer than this groupwriteback knows") {
		t.Fatalf("newer schema: err = %v", err)
	}
}

// TestUpgradeFromVersion3: a state file of the release before leases
// (schema version 3, with data) opens at version 4, its data kept, and
// takes a lease.
func TestUpgradeFromVersion3(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:3] {
		if _, err := raw.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Exec("PRAGMA user_version = 3; INSERT INTO meta(key, value) VALUES('engine.config', 'kept')"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	s := open(t, path)
	var v int
	if err := s.db.raw.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != len(migrations) || len(migrations) != 4 {
		t.Fatalf("user_version %d after the upgrade, %v", v, err)
	}
	if got, err := s.Meta(ctx, "config"); got != "kept" || err != nil {
		t.Fatalf("meta after the upgrade: %q, %v", got, err)
	}
	if l, err := s.AcquireLease(ctx, WriterLease, "a/1", time.Minute); err != nil || l.Token != 1 {
		t.Fatalf("a lease on the upgraded state: %+v, %v", l, err)
	}
}
