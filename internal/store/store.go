// Package store keeps groupwriteback's state in one SQLite file: the cloud
// snapshot and the delta links that advance it, per-group status, and run
// history. It is a cache: deleting it costs a full read, never a wrong
// write, because the directory's anchors are the source of truth.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

// migrations upgrade the schema one version at a time; PRAGMA user_version
// holds how many have run. Append, never edit.
var migrations = []string{
	`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
	 CREATE TABLE delta_links (kind TEXT PRIMARY KEY, link TEXT NOT NULL);
	 CREATE TABLE cloud_groups (id TEXT PRIMARY KEY, data BLOB NOT NULL);
	 CREATE TABLE cloud_users (id TEXT PRIMARY KEY, data BLOB NOT NULL);
	 CREATE TABLE group_status (
	   cloud_id TEXT PRIMARY KEY, name TEXT NOT NULL, state TEXT NOT NULL, message TEXT NOT NULL DEFAULT '',
	   dn TEXT NOT NULL DEFAULT '', members_not_written TEXT NOT NULL DEFAULT '', updated TEXT NOT NULL);
	 CREATE TABLE runs (
	   id INTEGER PRIMARY KEY AUTOINCREMENT, started TEXT NOT NULL, finished TEXT, mode TEXT NOT NULL,
	   outcome TEXT NOT NULL DEFAULT 'running', summary TEXT NOT NULL DEFAULT '{}');`,
	`CREATE TABLE operations (
	   id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL, cloud_id TEXT NOT NULL, action TEXT NOT NULL,
	   dn TEXT NOT NULL, outcome TEXT NOT NULL, error TEXT NOT NULL DEFAULT '', at TEXT NOT NULL);
	 CREATE INDEX operations_cloud_id ON operations(cloud_id, id);`,
	// Every cycle asks for the groups left pending or failed: a handful
	// among 100,000, found without reading every status.
	`CREATE INDEX group_status_state ON group_status(state);`,
}

// Store is the state file.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

// Open opens (creating and migrating as needed) the state file at path.
// The file is readable by its owner only: it holds the tenant's group and
// user data. A file that is not a state file (corrupt, or something else)
// is refused with ErrCorrupt and what to do about it.
func Open(ctx context.Context, path string) (*Store, error) {
	if err := private(path); err != nil {
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	s := &Store{db: db, now: time.Now}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		if corrupt(err) {
			return nil, &CorruptError{Path: path, Err: err}
		}
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	return s, nil
}

// private creates the state file readable by its owner only, or makes an
// existing one (and its WAL and shared-memory files, which SQLite creates
// with the database's mode) so.
func private(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, 0o600); err != nil {
				return err
			}
		}
	}
	return nil
}

// ErrCorrupt: the state file cannot be read as one.
var ErrCorrupt = errors.New("not a readable groupwriteback state file")

// CorruptError is a state file SQLite cannot read: damaged, or not a
// database at all.
type CorruptError struct {
	Path string
	Err  error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("store: %s is %v (%v). It is a cache of what Graph and AD hold, with whether writeback is enabled and the run history: "+
		"move it aside (keep it for a bug report), then run `groupwriteback enable` again. The first sync reads everything and takes up the groups "+
		"already written (by their anchors), creating no duplicates", e.Path, ErrCorrupt, e.Err)
}

func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// corrupt reports whether err is SQLite saying the file is no database
// (SQLITE_NOTADB) or a damaged one (SQLITE_CORRUPT).
func corrupt(err error) bool {
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		switch coded.Code() & 0xff {
		case 26, 11: // SQLITE_NOTADB, SQLITE_CORRUPT
			return true
		}
	}
	return false
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) migrate(ctx context.Context) error {
	var version int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("state schema version %d is newer than this groupwriteback knows (%d): upgrade groupwriteback", version, len(migrations))
	}
	for v := version; v < len(migrations); v++ {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// Links are the delta links the last completed rounds ended with.
type Links struct {
	Groups, Users string
}

// LoadCloud returns the stored snapshot and delta links; an empty store
// gives an empty snapshot and no links.
func (s *Store) LoadCloud(ctx context.Context) (*cloud.Snapshot, Links, error) {
	snap, links, err := s.LoadHead(ctx)
	if err != nil {
		return nil, links, err
	}
	if err := loadAll(ctx, s.db, "cloud_groups", func(id string, g *cloud.Group) { snap.Groups[id] = g }); err != nil {
		return nil, links, err
	}
	if err := loadAll(ctx, s.db, "cloud_users", func(id string, u *cloud.User) { snap.Users[id] = u }); err != nil {
		return nil, links, err
	}
	return snap, links, nil
}

// LoadHead returns the delta links and a snapshot with no groups or users,
// only the tenant default: what a cycle needs to ask Graph what changed,
// and all it needs when nothing did.
func (s *Store) LoadHead(ctx context.Context) (*cloud.Snapshot, Links, error) {
	snap := cloud.NewSnapshot()
	var links Links
	rows, err := s.db.QueryContext(ctx, "SELECT kind, link FROM delta_links")
	if err != nil {
		return nil, links, fmt.Errorf("store: load links: %w", err)
	}
	for rows.Next() {
		var kind, link string
		if err := rows.Scan(&kind, &link); err != nil {
			rows.Close()
			return nil, links, err
		}
		switch kind {
		case "groups":
			links.Groups = link
		case "users":
			links.Users = link
		}
	}
	rows.Close()
	var def string
	err = s.db.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = 'unified_writeback_default'").Scan(&def)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, links, err
	default:
		snap.UnifiedWritebackDefault = def == "true"
	}
	return snap, links, nil
}

// loadAll decodes every row of table and hands each object to put. Rows
// are decoded by as many workers as there are CPUs while SQLite reads on:
// a large tenant's snapshot is hundreds of thousands of rows.
func loadAll[T any](ctx context.Context, db *sql.DB, table string, put func(id string, v *T)) error {
	rows, err := db.QueryContext(ctx, "SELECT id, data FROM "+table)
	if err != nil {
		return fmt.Errorf("store: load %s: %w", table, err)
	}
	defer rows.Close()
	type row struct {
		id   string
		data []byte
		v    *T
		err  error
	}
	const batch = 512
	workers := runtime.GOMAXPROCS(0)
	todo, done := make(chan []row, workers), make(chan []row, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range todo {
				for i := range b {
					b[i].v = new(T)
					b[i].err = json.Unmarshal(b[i].data, b[i].v)
					b[i].data = nil
				}
				done <- b
			}
		}()
	}
	var readErr error
	go func() {
		defer close(todo)
		b := make([]row, 0, batch)
		for rows.Next() {
			var r row
			if readErr = rows.Scan(&r.id, &r.data); readErr != nil {
				return
			}
			if b = append(b, r); len(b) == batch {
				todo <- b
				b = make([]row, 0, batch)
			}
		}
		readErr = rows.Err()
		todo <- b
	}()
	go func() { wg.Wait(); close(done) }()
	var decodeErr error
	for b := range done {
		for _, r := range b {
			if r.err != nil && decodeErr == nil {
				decodeErr = fmt.Errorf("store: %s %s: %w", table, r.id, r.err)
			}
			if r.err == nil {
				put(r.id, r.v)
			}
		}
	}
	if readErr != nil {
		return fmt.Errorf("store: load %s: %w", table, readErr)
	}
	return decodeErr
}

// ForgetLinks drops the delta links, so that the next cycle reads the
// tenant in full and reconciles every group: what enable asks for, since
// while writeback was off AD may have drifted (groups quarantined by
// disable, edits by hand) with nothing in Graph to say so.
func (s *Store) ForgetLinks(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, "DELETE FROM delta_links"); err != nil {
		return fmt.Errorf("store: forget delta links: %w", err)
	}
	return nil
}

// CloudUpdate is what one cycle learned from Graph, saved at once.
type CloudUpdate struct {
	Snapshot *cloud.Snapshot
	// FullGroups and FullUsers replace all stored groups (users); otherwise
	// only the ids in ChangedGroups (ChangedUsers) are written or removed.
	FullGroups, FullUsers       bool
	ChangedGroups, ChangedUsers []string
	Links                       Links
	// Pending are groups to mark pending: the next cycle works on them even
	// if Graph reports no change, so a crash loses nothing.
	Pending map[string]string // cloud id → name
}

// SaveCloud stores a cycle's cloud reads and pending marks in one
// transaction: after a crash, either all of it or none of it is there.
func (s *Store) SaveCloud(ctx context.Context, u CloudUpdate) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer tx.Rollback()
	if err := saveObjects(ctx, tx, "cloud_groups", u.FullGroups, u.ChangedGroups, u.Snapshot.Groups); err != nil {
		return err
	}
	if err := saveObjects(ctx, tx, "cloud_users", u.FullUsers, u.ChangedUsers, u.Snapshot.Users); err != nil {
		return err
	}
	for kind, link := range map[string]string{"groups": u.Links.Groups, "users": u.Links.Users} {
		if _, err := tx.ExecContext(ctx, "INSERT INTO delta_links(kind, link) VALUES(?, ?) ON CONFLICT(kind) DO UPDATE SET link = excluded.link", kind, link); err != nil {
			return fmt.Errorf("store: save link: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO meta(key, value) VALUES('unified_writeback_default', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
		fmt.Sprint(u.Snapshot.UnifiedWritebackDefault)); err != nil {
		return err
	}
	now := s.now().UTC().Format(time.RFC3339)
	for id, name := range u.Pending {
		if _, err := tx.ExecContext(ctx, `INSERT INTO group_status(cloud_id, name, state, updated) VALUES(?, ?, 'pending', ?)
			ON CONFLICT(cloud_id) DO UPDATE SET state = 'pending', name = excluded.name, updated = excluded.updated`, id, name, now); err != nil {
			return fmt.Errorf("store: mark pending: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit cloud update: %w", err)
	}
	return nil
}

// saveObjects writes objects to table: all of them (replacing the table)
// when full, else those in changed, removing the ones objs no longer has.
func saveObjects[T any](ctx context.Context, tx *sql.Tx, table string, full bool, changed []string, objs map[string]*T) error {
	put := func(id string, v *T) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO "+table+"(id, data) VALUES(?, ?) ON CONFLICT(id) DO UPDATE SET data = excluded.data", id, b)
		return err
	}
	if full {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+table); err != nil {
			return fmt.Errorf("store: clear %s: %w", table, err)
		}
		for id, v := range objs {
			if err := put(id, v); err != nil {
				return fmt.Errorf("store: save %s %s: %w", table, id, err)
			}
		}
		return nil
	}
	for _, id := range changed {
		var err error
		if v, ok := objs[id]; ok {
			err = put(id, v)
		} else {
			_, err = tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE id = ?", id)
		}
		if err != nil {
			return fmt.Errorf("store: save %s %s: %w", table, id, err)
		}
	}
	return nil
}
