package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// ErrNotEmpty: an import goes into a new, empty state only.
var ErrNotEmpty = errors.New("the state is not empty")

// Export reads the whole state in one transaction.
func (s *Store) Export(ctx context.Context) (*state.Export, error) {
	tx, err := s.db.BeginTx(ctx, &s.d.exportTx)
	if err != nil {
		return nil, fmt.Errorf("store: export: %w", err)
	}
	defer tx.Rollback()
	e := &state.Export{Version: state.ExportVersion, Kind: "state", Exported: s.now().UTC(), Meta: map[string]string{},
		Groups: map[string]json.RawMessage{}, Users: map[string]json.RawMessage{}}
	steps := []struct {
		q    string
		scan func(*sql.Rows) error
	}{
		{"SELECT key, value FROM meta WHERE key NOT LIKE 'secret.%' AND key NOT LIKE 'notify.%'", func(r *sql.Rows) error {
			var k, v string
			err := r.Scan(&k, &v)
			e.Meta[k] = v
			return err
		}},
		{"SELECT kind, link FROM delta_links", func(r *sql.Rows) error {
			var k, v string
			err := r.Scan(&k, &v)
			switch k {
			case "groups":
				e.Links.Groups = v
			case "users":
				e.Links.Users = v
			}
			return err
		}},
		{"SELECT id, data FROM cloud_groups", rawInto(e.Groups)},
		{"SELECT id, data FROM cloud_users", rawInto(e.Users)},
		{"SELECT " + statusColumns + " FROM group_status ORDER BY cloud_id", func(r *sql.Rows) error {
			st, err := scanStatus(r)
			e.Statuses = append(e.Statuses, st)
			return err
		}},
		{"SELECT id, started, COALESCE(finished, ''), mode, outcome, summary, quiet FROM runs ORDER BY id", func(r *sql.Rows) error {
			run, err := scanRun(r)
			e.Runs = append(e.Runs, run)
			return err
		}},
		{"SELECT run_id, cloud_id, action, dn, outcome, error, at FROM operations ORDER BY id", func(r *sql.Rows) error {
			op, err := scanOperation(r)
			e.Operations = append(e.Operations, op)
			return err
		}},
	}
	for _, st := range steps {
		if err := eachRow(ctx, tx, st.q, nil, st.scan); err != nil {
			return nil, fmt.Errorf("store: export: %w", err)
		}
	}
	if err := exportMembers(ctx, tx, e.Groups); err != nil {
		return nil, fmt.Errorf("store: export: %w", err)
	}
	return e, nil
}

// exportMembers puts each group's members back in its object, where an
// export has always carried them (and an import takes them from).
func exportMembers(ctx context.Context, tx *tx, groups map[string]json.RawMessage) error {
	members := map[string]*cloud.Refs{}
	stored := func(id string) bool { _, ok := groups[id]; return ok }
	if err := loadAllMembers(ctx, tx, refsIn(members, stored)); err != nil {
		return err
	}
	for id, refs := range members {
		var g cloud.Group
		if err := json.Unmarshal(groups[id], &g); err != nil {
			return &DamagedRowError{Table: "cloud_groups", Key: id, Column: "data", Err: err}
		}
		g.Members = *refs
		b, err := json.Marshal(&g)
		if err != nil {
			return err
		}
		groups[id] = b
	}
	return nil
}

// putRaw puts each raw object with its id.
func putRaw(put func(vals ...any) error, m map[string]json.RawMessage) error {
	for id, d := range m {
		if err := put(id, []byte(d)); err != nil {
			return err
		}
	}
	return nil
}

func rawInto(m map[string]json.RawMessage) func(*sql.Rows) error {
	return func(r *sql.Rows) error {
		var id string
		var data []byte
		err := r.Scan(&id, &data)
		m[id] = json.RawMessage(data)
		return err
	}
}

// eachRow runs q with args and hands each row to scan.
func eachRow(ctx context.Context, db querier, q string, args []any, scan func(*sql.Rows) error) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Import writes e into this state, which must be empty (no run, no
// group, no binding): all of it or, on any error, none of it. Run ids,
// times and the operation log are kept as they were. Every row is checked
// first (an export is untrusted input): a row the tool would never have
// written is refused with a *BadRowError naming it, and nothing is
// written.
func (s *Store) Import(ctx context.Context, e *state.Export) error {
	if e.Version != state.ExportVersion || e.Kind != "state" {
		return fmt.Errorf("store: import: a %q export of version %d; this groupwriteback reads state exports of version %d", e.Kind, e.Version, state.ExportVersion)
	}
	if err := e.Validate(); err != nil {
		return err
	}
	return s.write(ctx, "import", func(tx *tx) error { return s.importInto(ctx, tx, e) })
}

func (s *Store) importInto(ctx context.Context, tx *tx, e *state.Export) (err error) {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT (SELECT COUNT(*) FROM runs) + (SELECT COUNT(*) FROM group_status) + (SELECT COUNT(*) FROM cloud_groups) + (SELECT COUNT(*) FROM meta WHERE key NOT LIKE 'secret.%' AND key NOT LIKE 'notify.%')").Scan(&n); err != nil {
		return fmt.Errorf("store: import: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("store: import: %w: import into a new state file (move this one aside)", ErrNotEmpty)
	}
	exec := func(q string, args ...any) {
		if err == nil {
			_, err = tx.ExecContext(ctx, q, args...)
		}
	}
	for k, v := range e.Meta {
		exec("INSERT INTO meta(key, value) VALUES(?, ?)", k, v)
	}
	exec("INSERT INTO delta_links(kind, link) VALUES('groups', ?), ('users', ?)", e.Links.Groups, e.Links.Users)
	if err != nil {
		return fmt.Errorf("store: import: %w", err)
	}
	batches := []struct {
		table   string
		columns []string
		each    func(put func(vals ...any) error) error
	}{
		{"cloud_groups", []string{"id", "data"}, func(put func(...any) error) error { return putRaw(put, e.Groups) }},
		{"cloud_users", []string{"id", "data"}, func(put func(...any) error) error { return putRaw(put, e.Users) }},
		{"group_status", statusWriteColumns, func(put func(...any) error) error {
			for _, st := range e.Statuses {
				mnw := ""
				if len(st.MembersNotWritten) > 0 {
					b, _ := json.Marshal(st.MembersNotWritten) // a map of ints: cannot fail
					mnw = string(b)
				}
				if err := put(statusRow(st, mnw, st.Updated.UTC().Format(time.RFC3339))...); err != nil {
					return err
				}
			}
			return nil
		}},
		{"runs", []string{"id", "started", "finished", "mode", "outcome", "summary", "quiet"}, func(put func(...any) error) error {
			for _, r := range e.Runs {
				var finished any
				if !r.Finished.IsZero() {
					finished = r.Finished.UTC().Format(time.RFC3339Nano)
				}
				if err := put(r.ID, r.Started.UTC().Format(time.RFC3339Nano), finished, r.Mode, r.Outcome, string(r.Summary), r.Quiet); err != nil {
					return err
				}
			}
			return nil
		}},
		{"operations", []string{"run_id", "cloud_id", "action", "dn", "outcome", "error", "at"}, func(put func(...any) error) error {
			for _, op := range e.Operations {
				if err := put(op.RunID, op.CloudID, op.Action, op.DN, op.Outcome, op.Error, op.At.UTC().Format(time.RFC3339Nano)); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, b := range batches {
		r := newRows(ctx, tx, b.table, b.columns, "")
		if err := b.each(r.add); err != nil {
			return fmt.Errorf("store: import: %w", err)
		}
		if err := r.flush(); err != nil {
			return fmt.Errorf("store: import: %w", err)
		}
	}
	for _, q := range s.d.afterImport {
		exec(q)
	}
	if err != nil {
		return fmt.Errorf("store: import: %w", err)
	}
	// The members rows and the UPNs are the snapshot's, made again here.
	if err := splitMembers(ctx, tx); err != nil {
		return fmt.Errorf("store: import: %w", err)
	}
	if err := backfillUPNs(ctx, tx); err != nil {
		return fmt.Errorf("store: import: %w", err)
	}
	return nil
}

// secrets reads the state's secrets, for Migrate alone: a state moved
// keeps the keys its plans and audit trail were signed with.
func (s *Store) secrets(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	rows, err := s.db.QueryContext(ctx, "SELECT key, value FROM meta WHERE key LIKE 'secret.%'")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}

// setSecrets replaces this state's secrets with a moved state's.
func (s *Store) setSecrets(ctx context.Context, secrets map[string]string) error {
	return s.write(ctx, "set secrets", func(t *tx) error {
		for k, v := range secrets {
			if !strings.HasPrefix(k, state.SecretPrefix) {
				continue
			}
			if _, err := t.ExecContext(ctx, "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", k, v); err != nil {
				return err
			}
		}
		return nil
	})
}
