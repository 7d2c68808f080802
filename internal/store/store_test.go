package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/state"
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
// (schema version 3, with data) opens at the current version (the leases,
// then the releases of held deletes, the console's indexes, audited
// releases, kinds, the member index, members as rows, and their stage,
// quiet runs, folded names), its data kept, its
// groups' members moved out of their rows into cloud_members, and takes
// a lease.
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
	if _, err := raw.Exec(`PRAGMA user_version = 3; INSERT INTO meta(key, value) VALUES('engine.config', 'kept');
		INSERT INTO cloud_users(id, data) VALUES('u1', '{"id":"u1","userPrincipalName":"Ann@Contoso.com"}');
		INSERT INTO cloud_groups(id, data) VALUES('g1', '{"id":"g1","displayName":"Team","members":{"u1":"user"}}');
		INSERT INTO group_status(cloud_id, name, state, updated) VALUES('g1', 'Team', 'inStep', '2026-01-01T00:00:00Z');
		INSERT INTO group_status(cloud_id, name, dn, state, updated) VALUES('g2', 'Équipe Ventes', 'CN=Équipe Ventes,OU=Groupes', 'inStep', '2026-01-01T00:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	s := open(t, path)
	var v int
	if err := s.db.raw.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != len(migrations) || len(migrations) != 14 {
		t.Fatalf("user_version %d after the upgrade, %v", v, err)
	}
	if got, err := s.Meta(ctx, "config"); got != "kept" || err != nil {
		t.Fatalf("meta after the upgrade: %q, %v", got, err)
	}
	// Schema 14 folded the names written before it.
	if rows, n, err := s.Inventory(ctx, state.InventoryQuery{Text: "ÉQUIPE", OU: "ou=groupes"}); err != nil || n != 1 || rows[0].CloudID != "g2" {
		t.Fatalf("a name outside ASCII after the upgrade: %+v %d %v", rows, n, err)
	}
	if rows, n, err := s.Inventory(ctx, state.InventoryQuery{Text: "ann@contoso.com"}); err != nil || n != 1 || rows[0].CloudID != "g1" {
		t.Fatalf("a member's groups after the upgrade: %+v %d %v", rows, n, err)
	}
	var data string
	if err := s.db.raw.QueryRow("SELECT data FROM cloud_groups WHERE id = 'g1'").Scan(&data); err != nil || data != `{"id":"g1","displayName":"Team","writebackConfiguration":{}}` {
		t.Fatalf("the group's row after the upgrade: %s, %v; want it without its members", data, err)
	}
	snap, _, err := s.LoadCloud(ctx)
	if err != nil || snap.Groups["g1"].DisplayName != "Team" || snap.Groups["g1"].Members.Len() != 1 || func() bool { k, ok := snap.Groups["g1"].Members.Get("u1"); return !ok || k != cloud.TypeUser }() {
		t.Fatalf("the snapshot after the upgrade: %+v, %v; want g1 with its member u1", snap.Groups["g1"], err)
	}
	if l, err := s.AcquireLease(ctx, state.WriterLease, "a/1", time.Minute); err != nil || l.Token != 1 {
		t.Fatalf("a lease on the upgraded state: %+v, %v", l, err)
	}
}

// A row that does not read as the tool wrote it fails the read that meets
// it, named: read as zero values, a damaged date or count would pass for a
// fact (a group "updated" in year 1, a run that never ended).
func TestDamagedRowsAreNamed(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	if err := s.SetStatus(ctx, []state.GroupStatus{{CloudID: "g1", Name: "One", State: state.InStep}}); err != nil {
		t.Fatal(err)
	}
	id, _, err := s.StartRun(ctx, "delta")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RecordOperations(ctx, []state.Operation{{RunID: id, CloudID: "g1", Action: "create", DN: "CN=One", Outcome: "applied", At: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		damage string
		read   func() error
		want   string
	}{
		{"UPDATE group_status SET updated = 'yesterday'", func() error { _, err := s.Statuses(ctx); return err }, "group_status row g1, column updated"},
		{"UPDATE group_status SET members_not_written = '{not json'", func() error { _, err := s.StatusesOf(ctx, []string{"g1"}); return err },
			"group_status row g1, column members_not_written"},
		{"UPDATE runs SET started = 'soon'", func() error { _, err := s.Runs(ctx, 5); return err }, "runs row 1, column started"},
		{"UPDATE runs SET summary = '{cut'", func() error { _, err := s.Runs(ctx, 5); return err }, "runs row 1, column summary"},
		{"UPDATE operations SET at = 'never'", func() error { _, err := s.Operations(ctx, "g1", 5); return err }, "operations row run 1, group g1, column at"},
	} {
		if _, err := s.db.raw.Exec(tc.damage); err != nil {
			t.Fatal(err)
		}
		var damaged *DamagedRowError
		if err := tc.read(); !errors.As(err, &damaged) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("after %s: %v, want a damaged row naming %s", tc.damage, err, tc.want)
		}
		// Mend it for the next case.
		for _, q := range []string{"UPDATE group_status SET updated = '2026-01-01T00:00:00Z', members_not_written = ''",
			"UPDATE runs SET started = '2026-01-01T00:00:00Z', summary = ''", "UPDATE operations SET at = '2026-01-01T00:00:00Z'"} {
			if _, err := s.db.raw.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
	}
}
