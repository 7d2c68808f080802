package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/state"
)

// SetStatus records the state of groups.
func (s *Store) SetStatus(ctx context.Context, sts []state.GroupStatus) error {
	return s.write(ctx, "set statuses", func(tx *tx) error { return s.setStatus(ctx, tx, sts) })
}

func (s *Store) setStatus(ctx context.Context, tx *tx, sts []state.GroupStatus) error {
	now := s.now().UTC().Format(time.RFC3339)
	last := make(map[string]int, len(sts)) // a group given twice: the last status stands
	for i, st := range sts {
		last[st.CloudID] = i
	}
	// A status with no sAMAccountName keeps the one recorded: a cycle
	// knows it only for the groups it wrote.
	put := newRows(ctx, tx, "group_status", statusWriteColumns,
		` ON CONFLICT(cloud_id) DO UPDATE SET name = excluded.name, state = excluded.state, message = excluded.message, dn = excluded.dn,
		members_not_written = excluded.members_not_written, updated = excluded.updated, kind = excluded.kind,
		sam = CASE WHEN excluded.sam = '' THEN group_status.sam ELSE excluded.sam END,
		name_fold = excluded.name_fold, dn_fold = excluded.dn_fold,
		sam_fold = CASE WHEN excluded.sam = '' THEN group_status.sam_fold ELSE excluded.sam_fold END`)
	for i, st := range sts {
		if last[st.CloudID] != i {
			continue
		}
		mnw := ""
		if len(st.MembersNotWritten) > 0 {
			b, _ := json.Marshal(st.MembersNotWritten) // a map of ints: cannot fail
			mnw = string(b)
		}
		if err := put.add(statusRow(st, mnw, now)...); err != nil {
			return err
		}
	}
	return put.flush()
}

// Statuses returns the groups in the given states (all when none given).
func (s *Store) Statuses(ctx context.Context, states ...string) ([]state.GroupStatus, error) {
	q := "SELECT " + statusColumns + " FROM group_status"
	var args []any
	if len(states) > 0 {
		q += " WHERE state IN (?" + strings.Repeat(",?", len(states)-1) + ")"
		for _, st := range states {
			args = append(args, st)
		}
	}
	rows, err := s.db.QueryContext(ctx, q+" ORDER BY cloud_id", args...)
	if err != nil {
		return nil, fmt.Errorf("store: statuses: %w", err)
	}
	return scanAll(rows, scanStatus)
}

// scanAll reads every row with scan, and closes rows.
func scanAll[T any](rows *sql.Rows, scan func(*sql.Rows) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// StatusesOf returns the statuses of the groups ids names (those that have
// one), by cloud id.
func (s *Store) StatusesOf(ctx context.Context, ids []string) ([]state.GroupStatus, error) {
	var out []state.GroupStatus
	const chunk = 500 // well under SQLite's limit on bound parameters
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id
		}
		rows, err := s.db.QueryContext(ctx, "SELECT "+statusColumns+" FROM group_status WHERE cloud_id IN (?"+
			strings.Repeat(",?", len(part)-1)+")", args...)
		if err != nil {
			return nil, fmt.Errorf("store: statuses: %w", err)
		}
		found, err := scanAll(rows, scanStatus)
		if err != nil {
			return nil, err
		}
		out = append(out, found...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CloudID < out[j].CloudID })
	return out, nil
}

// statusColumns are the columns scanStatus reads, in its order.
const statusColumns = "cloud_id, name, state, message, dn, members_not_written, updated, kind, sam"

// statusWriteColumns are the columns a status is written to: statusColumns
// and the name, DN and sAMAccountName folded (statusRow).
var statusWriteColumns = []string{"cloud_id", "name", "state", "message", "dn", "members_not_written", "updated", "kind", "sam", "name_fold", "dn_fold", "sam_fold"}

// statusRow is st's values for statusWriteColumns, its members not
// written mnw (JSON) and its time updated.
func statusRow(st state.GroupStatus, mnw, updated string) []any {
	return []any{st.CloudID, st.Name, st.State, st.Message, st.DN, mnw, updated, st.Kind, st.SAM,
		strings.ToLower(st.Name), strings.ToLower(st.DN), strings.ToLower(st.SAM)}
}

// backfillFolds folds the name, DN and sAMAccountName of every status the
// state holds (schema 14).
func backfillFolds(ctx context.Context, tx *tx) error {
	rows, err := tx.QueryContext(ctx, "SELECT cloud_id, name, dn, sam FROM group_status")
	if err != nil {
		return fmt.Errorf("store: backfill group_status: %w", err)
	}
	var all [][4]string
	for rows.Next() {
		var r [4]string
		if err := rows.Scan(&r[0], &r[1], &r[2], &r[3]); err != nil {
			rows.Close()
			return err
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range all {
		if _, err := tx.ExecContext(ctx, "UPDATE group_status SET name_fold = ?, dn_fold = ?, sam_fold = ? WHERE cloud_id = ?",
			strings.ToLower(r[1]), strings.ToLower(r[2]), strings.ToLower(r[3]), r[0]); err != nil {
			return fmt.Errorf("store: backfill group_status: %w", err)
		}
	}
	return nil
}

// scanStatus reads a group_status row: its statusColumns.
func scanStatus(rows *sql.Rows) (state.GroupStatus, error) {
	var st state.GroupStatus
	var mnw, updated string
	if err := rows.Scan(&st.CloudID, &st.Name, &st.State, &st.Message, &st.DN, &mnw, &updated, &st.Kind, &st.SAM); err != nil {
		return st, err
	}
	if mnw != "" {
		if err := json.Unmarshal([]byte(mnw), &st.MembersNotWritten); err != nil {
			return st, &DamagedRowError{Table: "group_status", Key: st.CloudID, Column: "members_not_written", Err: err}
		}
	}
	var err error
	if st.Updated, err = time.Parse(time.RFC3339, updated); err != nil {
		return st, &DamagedRowError{Table: "group_status", Key: st.CloudID, Column: "updated", Err: err}
	}
	return st, nil
}

// DamagedRowError is a row of the state that does not read as the tool
// wrote it: read as zero values, it would pass for a fact. The read that
// meets one fails, naming it.
type DamagedRowError struct {
	Table, Key, Column string
	Err                error
}

func (e *DamagedRowError) Error() string {
	return fmt.Sprintf("store: the state is damaged: %s row %s, column %s: %v (restore the state from a backup, or `state export` what reads and import it into a new state)",
		e.Table, e.Key, e.Column, e.Err)
}

func (e *DamagedRowError) Unwrap() error { return e.Err }

// StartRun records the start of a cycle and returns its id. Runs still
// marked running are ones whose process died (a caller holds the cycle
// lock, so no other run is alive): they are marked died, and returned.
func (s *Store) StartRun(ctx context.Context, mode string) (id int64, died []int64, err error) {
	err = s.write(ctx, "start run", func(tx *tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT id FROM runs WHERE outcome = 'running'")
		if err != nil {
			return fmt.Errorf("store: start run: %w", err)
		}
		for rows.Next() {
			var d int64
			if err := rows.Scan(&d); err != nil {
				rows.Close()
				return err
			}
			died = append(died, d)
		}
		rows.Close()
		if _, err := tx.ExecContext(ctx, "UPDATE runs SET outcome = ? WHERE outcome = 'running'", string(state.OutcomeDied)); err != nil {
			return fmt.Errorf("store: start run: %w", err)
		}
		if err := tx.QueryRowContext(ctx, "INSERT INTO runs(started, mode) VALUES(?, ?) RETURNING id", s.now().UTC().Format(time.RFC3339Nano), mode).Scan(&id); err != nil {
			return fmt.Errorf("store: start run: %w", err)
		}
		return nil
	})
	return id, died, err
}

// SetRunSummary records what a run did, when it is found after the run
// (a run whose process was killed never recorded it).
func (s *Store) SetRunSummary(ctx context.Context, id int64, summary any) error {
	b, err := json.Marshal(summary)
	if err != nil {
		return fmt.Errorf("store: run summary: %w", err)
	}
	return s.exec(ctx, "set run summary", "UPDATE runs SET summary = ? WHERE id = ?", string(b), id)
}

// Binding returns what the state file was made for; ok is false for a
// state file that records none yet (new, or from before bindings).
func (s *Store) Binding(ctx context.Context) (b state.Binding, ok bool, err error) {
	var v string
	err = s.db.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = 'binding'").Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return state.Binding{}, false, nil
	}
	if err != nil {
		return state.Binding{}, false, fmt.Errorf("store: binding: %w", err)
	}
	if err := json.Unmarshal([]byte(v), &b); err != nil {
		return state.Binding{}, false, fmt.Errorf("store: binding: %w", err)
	}
	return b, true, nil
}

// SetBinding records what the state file is for.
func (s *Store) SetBinding(ctx context.Context, b state.Binding) error {
	v, _ := json.Marshal(b) // four strings: cannot fail
	return s.exec(ctx, "set binding", "INSERT INTO meta(key, value) VALUES('binding', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", string(v))
}

// CountWritten is the number of groups the state file knows to have an
// AD copy written by the tool: the denominator of the percentage delete
// threshold when a delta cycle reads only some groups from AD.
func (s *Store) CountWritten(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM group_status WHERE dn != '' AND state IN (?, ?, ?, ?)",
		state.InStep, state.Failed, state.Pending, state.Quarantined).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count written: %w", err)
	}
	return n, nil
}

// FinishRun records how a cycle ended, and its mode when it is known only
// at the end (a cycle started as delta may turn out full); "" keeps the
// mode it started with.
func (s *Store) FinishRun(ctx context.Context, id int64, mode string, outcome state.Outcome, summary any) error {
	b, err := json.Marshal(summary)
	if err != nil {
		return err
	}
	return s.exec(ctx, "finish run", "UPDATE runs SET finished = ?, outcome = ?, summary = ?, mode = COALESCE(NULLIF(?, ''), mode) WHERE id = ?",
		s.now().UTC().Format(time.RFC3339Nano), string(outcome), string(b), mode, id)
}

// FinishQuietRun records the end of a cycle that found nothing to do (a
// delta cycle Graph said nothing changed for, with nothing left from the
// last one, that wrote nothing) and returns the id of the row that holds
// it. The last row, when it holds quiet cycles of the same mode, outcome
// and summary (the same actor), takes it in: its finished time moves on,
// its count of quiet cycles grows by one, and the run's own row goes. A
// service cycling every 10 seconds keeps one row per quiet stretch, not
// 8,640 a day.
func (s *Store) FinishQuietRun(ctx context.Context, id int64, mode string, summary any) (kept int64, err error) {
	b, err := json.Marshal(summary)
	if err != nil {
		return 0, err
	}
	now := s.now().UTC().Format(time.RFC3339Nano)
	err = s.write(ctx, "finish quiet run", func(tx *tx) error {
		var prev, quiet int64
		var pmode, poutcome, psummary string
		err := tx.QueryRowContext(ctx, "SELECT id, mode, outcome, summary, quiet FROM runs WHERE id < ? ORDER BY id DESC LIMIT 1", id).Scan(&prev, &pmode, &poutcome, &psummary, &quiet)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: finish quiet run: %w", err)
		}
		if err == nil && quiet > 0 && pmode == mode && poutcome == string(state.OutcomeOK) && psummary == string(b) {
			if _, err := tx.ExecContext(ctx, "UPDATE runs SET finished = ?, quiet = quiet + 1 WHERE id = ?", now, prev); err != nil {
				return fmt.Errorf("store: finish quiet run: %w", err)
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM runs WHERE id = ?", id); err != nil {
				return fmt.Errorf("store: finish quiet run: %w", err)
			}
			kept = prev
			return nil
		}
		if _, err := tx.ExecContext(ctx, "UPDATE runs SET finished = ?, outcome = ?, summary = ?, mode = ?, quiet = 1 WHERE id = ?", now, string(state.OutcomeOK), string(b), mode, id); err != nil {
			return fmt.Errorf("store: finish quiet run: %w", err)
		}
		kept = id
		return nil
	})
	return kept, err
}

// Runs returns the last n runs, newest first.
func (s *Store) Runs(ctx context.Context, n int) ([]state.Run, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, started, COALESCE(finished, ''), mode, outcome, summary, quiet FROM runs ORDER BY id DESC LIMIT ?", n)
	if err != nil {
		return nil, fmt.Errorf("store: runs: %w", err)
	}
	defer rows.Close()
	var out []state.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// scanRun reads a runs row: id, started, finished (” while running),
// mode, outcome, summary, quiet.
func scanRun(rows *sql.Rows) (state.Run, error) {
	var r state.Run
	var started, finished, summary string
	if err := rows.Scan(&r.ID, &started, &finished, &r.Mode, &r.Outcome, &summary, &r.Quiet); err != nil {
		return r, err
	}
	var err error
	if r.Started, err = time.Parse(time.RFC3339Nano, started); err != nil {
		return r, &DamagedRowError{Table: "runs", Key: fmt.Sprint(r.ID), Column: "started", Err: err}
	}
	if finished != "" { // '' while the run is running
		if r.Finished, err = time.Parse(time.RFC3339Nano, finished); err != nil {
			return r, &DamagedRowError{Table: "runs", Key: fmt.Sprint(r.ID), Column: "finished", Err: err}
		}
	}
	if summary != "" && !json.Valid([]byte(summary)) {
		return r, &DamagedRowError{Table: "runs", Key: fmt.Sprint(r.ID), Column: "summary", Err: errors.New("not JSON")}
	}
	r.Summary = json.RawMessage(summary)
	return r, nil
}

// Meta returns a value the engine keeps between cycles ("" when unset).
func (s *Store) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", "engine."+key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: meta %s: %w", key, err)
	}
	return v, nil
}

// SetMeta keeps a value between cycles.
func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	return s.exec(ctx, "set meta "+key, "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", "engine."+key, value)
}

// TenantWritebackDefault is the tenant's NewUnifiedGroupWritebackDefault
// as the last cycle read it (true when the tenant has no such setting, or
// the app may not read it); ok is false before the first cycle.
func (s *Store) TenantWritebackDefault(ctx context.Context) (value, ok bool, err error) {
	var v string
	err = s.db.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = 'unified_writeback_default'").Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("store: tenant writeback default: %w", err)
	}
	return v == "true", true, nil
}

// Enablement returns the recorded state; a new store is disabled.
func (s *Store) Enablement(ctx context.Context) (state.Enablement, error) {
	var v string
	err := s.db.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = 'enablement'").Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return state.Enablement{}, nil
	}
	if err != nil {
		return state.Enablement{}, fmt.Errorf("store: enablement: %w", err)
	}
	var e state.Enablement
	if err := json.Unmarshal([]byte(v), &e); err != nil {
		return state.Enablement{}, fmt.Errorf("store: enablement: %w", err)
	}
	return e, nil
}

// SetEnablement records whether writeback is on.
func (s *Store) SetEnablement(ctx context.Context, e state.Enablement) error {
	e.Changed = s.now().UTC()
	b, _ := json.Marshal(e) // plain fields: cannot fail
	return s.exec(ctx, "set enablement", "INSERT INTO meta(key, value) VALUES('enablement', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", string(b))
}

// SetPendingPlan records the plan a staging cycle would have applied.
func (s *Store) SetPendingPlan(ctx context.Context, ops any) error {
	b, err := json.Marshal(map[string]any{"at": s.now().UTC(), "ops": ops})
	if err != nil {
		return err
	}
	return s.exec(ctx, "set pending plan", "INSERT INTO meta(key, value) VALUES('pending_plan', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", string(b))
}

// PendingPlan returns the last staging cycle's plan and when it was made.
func (s *Store) PendingPlan(ctx context.Context) (json.RawMessage, time.Time, error) {
	var v string
	err := s.db.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = 'pending_plan'").Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("store: pending plan: %w", err)
	}
	var p struct {
		At  time.Time       `json:"at"`
		Ops json.RawMessage `json:"ops"`
	}
	if err := json.Unmarshal([]byte(v), &p); err != nil {
		return nil, time.Time{}, err
	}
	return p.Ops, p.At, nil
}

// RecordOperations appends to the operation log.
func (s *Store) RecordOperations(ctx context.Context, ops []state.Operation) error {
	if len(ops) == 0 {
		return nil
	}
	return s.write(ctx, "record operations", func(tx *tx) error {
		put := newRows(ctx, tx, "operations", []string{"run_id", "cloud_id", "action", "dn", "outcome", "error", "at"}, "")
		for _, op := range ops {
			if err := put.add(op.RunID, op.CloudID, op.Action, op.DN, op.Outcome, op.Error, op.At.UTC().Format(time.RFC3339Nano)); err != nil {
				return err
			}
		}
		return put.flush()
	})
}

// PruneHistory drops the run history and the operation log older than
// before: the runs that ended before it (never one still running) and
// the operations written before it, keeping the last keep runs and their
// operations whatever their age, so that status and the console still
// show the last cycles of a service idle for long. It returns how many
// runs and operations it dropped.
func (s *Store) PruneHistory(ctx context.Context, before time.Time, keep int) (runs, ops int64, err error) {
	cut := before.UTC().Format(time.RFC3339Nano)
	err = s.write(ctx, "prune history", func(tx *tx) error {
		var last int64
		err := tx.QueryRowContext(ctx, "SELECT COALESCE(MIN(id), 0) FROM (SELECT id FROM runs ORDER BY id DESC LIMIT ?) AS kept", keep).Scan(&last)
		if err != nil {
			return fmt.Errorf("store: prune history: %w", err)
		}
		if last == 0 {
			return nil // no runs at all
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM operations WHERE at < ? AND run_id < ?", cut, last)
		if err != nil {
			return fmt.Errorf("store: prune history: %w", err)
		}
		ops, _ = res.RowsAffected()
		res, err = tx.ExecContext(ctx, "DELETE FROM runs WHERE outcome <> 'running' AND COALESCE(finished, started) < ? AND id < ?", cut, last)
		if err != nil {
			return fmt.Errorf("store: prune history: %w", err)
		}
		runs, _ = res.RowsAffected()
		return nil
	})
	return runs, ops, err
}

// Operations returns a group's last n operations, newest first.
func (s *Store) Operations(ctx context.Context, cloudID string, n int) ([]state.Operation, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT run_id, cloud_id, action, dn, outcome, error, at FROM operations WHERE cloud_id = ? ORDER BY id DESC LIMIT ?", cloudID, n)
	if err != nil {
		return nil, fmt.Errorf("store: operations: %w", err)
	}
	return scanAll(rows, scanOperation)
}

// scanOperation reads an operations row: run_id, cloud_id, action, dn,
// outcome, error, at.
func scanOperation(rows *sql.Rows) (state.Operation, error) {
	var op state.Operation
	var at string
	if err := rows.Scan(&op.RunID, &op.CloudID, &op.Action, &op.DN, &op.Outcome, &op.Error, &at); err != nil {
		return op, err
	}
	var err error
	if op.At, err = time.Parse(time.RFC3339Nano, at); err != nil {
		return op, &DamagedRowError{Table: "operations", Key: fmt.Sprintf("run %d, group %s", op.RunID, op.CloudID), Column: "at", Err: err}
	}
	return op, nil
}
