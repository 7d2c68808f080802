// Package store keeps groupwriteback's state in one SQLite file: the cloud
// snapshot and the delta links that advance it, per-group status, and run
// history. It is a cache: deleting it costs a full read, never a wrong
// write, because the directory's anchors are the source of truth.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// schema is the state's schema, one migration a version, written once
// for both engines: {BLOB}, {INT64} and {SERIAL} (an id the database
// numbers) stand for each one's types, {WITHOUT ROWID} for SQLite's
// clustered tables. PRAGMA user_version (SQLite) or the
// schema_version table (PostgreSQL) holds how many have run. Append, never
// edit: a state moves between the engines (state migrate) at one version.
var schema = []string{
	`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
	 CREATE TABLE delta_links (kind TEXT PRIMARY KEY, link TEXT NOT NULL);
	 CREATE TABLE cloud_groups (id TEXT PRIMARY KEY, data {BLOB} NOT NULL);
	 CREATE TABLE cloud_users (id TEXT PRIMARY KEY, data {BLOB} NOT NULL);
	 CREATE TABLE group_status (
	   cloud_id TEXT PRIMARY KEY, name TEXT NOT NULL, state TEXT NOT NULL, message TEXT NOT NULL DEFAULT '',
	   dn TEXT NOT NULL DEFAULT '', members_not_written TEXT NOT NULL DEFAULT '', updated TEXT NOT NULL);
	 CREATE TABLE runs (
	   id {SERIAL}, started TEXT NOT NULL, finished TEXT, mode TEXT NOT NULL,
	   outcome TEXT NOT NULL DEFAULT 'running', summary TEXT NOT NULL DEFAULT '{}');`,
	`CREATE TABLE operations (
	   id {SERIAL}, run_id {INT64} NOT NULL, cloud_id TEXT NOT NULL, action TEXT NOT NULL,
	   dn TEXT NOT NULL, outcome TEXT NOT NULL, error TEXT NOT NULL DEFAULT '', at TEXT NOT NULL);
	 CREATE INDEX operations_cloud_id ON operations(cloud_id, id);`,
	// Every cycle asks for the groups left pending or failed: a handful
	// among 100,000, found without reading every status.
	`CREATE INDEX group_status_state ON group_status(state);`,
	// The writer lease with its fencing token, the instances sharing a
	// state, and the take-overs between them (ha.go).
	`CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, token {INT64} NOT NULL,
	   acquired_ms {INT64} NOT NULL, renewed_ms {INT64} NOT NULL, expires_ms {INT64} NOT NULL);
	 INSERT INTO leases VALUES ('writer', '', 0, 0, 0, 0);
	 CREATE TABLE instances (id TEXT PRIMARY KEY, name TEXT NOT NULL, host TEXT NOT NULL, pid {INT64} NOT NULL,
	   version TEXT NOT NULL, role TEXT NOT NULL, started_ms {INT64} NOT NULL, seen_ms {INT64} NOT NULL, detail TEXT NOT NULL DEFAULT '');
	 CREATE TABLE takeovers (token {INT64} PRIMARY KEY, holder TEXT NOT NULL, previous TEXT NOT NULL, at_ms {INT64} NOT NULL);`,
	// Admins' releases of deletes the threshold holds back (release.go).
	// Never exported: an approval is given here, for a while, by someone.
	`CREATE TABLE releases (cloud_id TEXT PRIMARY KEY, name TEXT NOT NULL, dn TEXT NOT NULL, action TEXT NOT NULL,
	   approved_by TEXT NOT NULL, reason TEXT NOT NULL, at_ms {INT64} NOT NULL, expires_ms {INT64} NOT NULL);`,
	// The console's inventory is ordered by name: a page is read off this
	// index, not sorted out of every group (inventory.go).
	`CREATE INDEX group_status_name ON group_status(LOWER(name), cloud_id);
	 CREATE INDEX operations_run ON operations(run_id, id);`,
	// A release or keep decision, once a cycle wrote it to the audit trail.
	`ALTER TABLE releases ADD COLUMN audited {INT64} NOT NULL DEFAULT 0;`,
	// The cloud group's kind, for the console's filter.
	`ALTER TABLE group_status ADD COLUMN kind TEXT NOT NULL DEFAULT '';`,
	// Which groups each cloud object is a member of, and each user's UPN
	// (lower case), kept with the snapshot (members.go): the console
	// finds a member's groups without reading every group. The group's
	// sAMAccountName as last written, for the same search.
	// One b-tree, keyed by member: written in its order, 2,000,000 rows
	// cost about what 100,000 groups' rows do ({WITHOUT ROWID}: SQLite's
	// clustered table; PostgreSQL has its primary key index).
	`CREATE TABLE cloud_members (member_id TEXT NOT NULL, group_id TEXT NOT NULL, PRIMARY KEY (member_id, group_id)){WITHOUT ROWID};
	 ALTER TABLE cloud_users ADD COLUMN upn TEXT NOT NULL DEFAULT '';
	 CREATE INDEX cloud_users_upn ON cloud_users(upn);
	 ALTER TABLE group_status ADD COLUMN sam TEXT NOT NULL DEFAULT '';`,
	// Each group's members are rows of cloud_members, with their kind,
	// and no longer a list in the group's row (splitMembers moves them):
	// one member added to a group of 250,000 is one row written, not the
	// whole list again. Keyed by group, so that a group's members are
	// read in order; the member's index finds a member's groups.
	`DROP TABLE cloud_members;
	 CREATE TABLE cloud_members (group_id TEXT NOT NULL, member_id TEXT NOT NULL, kind TEXT NOT NULL,
	   PRIMARY KEY (group_id, member_id)){WITHOUT ROWID};
	 ` + memberIndex + `;`,
	// The members of the groups of a full cycle, staged before it plans
	// (StageMembers) and read back a slice at a time (StagedMembers), so
	// that it need not hold every group's members until it saves the
	// snapshot, which moves them to cloud_members.
	`CREATE TABLE cloud_members_next (group_id TEXT NOT NULL, member_id TEXT NOT NULL, kind TEXT NOT NULL,
	   PRIMARY KEY (group_id, member_id)){WITHOUT ROWID};`,
	// The users of a full round, staged as they are read (StageUsers) and
	// read back a slice's at a time (StagedUsers), so that a cycle need
	// not hold them all; the snapshot's save moves them to cloud_users.
	`CREATE TABLE cloud_users_next (id TEXT NOT NULL, seq {INT64} NOT NULL, data {BLOB} NOT NULL,
	   PRIMARY KEY (id, seq)){WITHOUT ROWID};`,
	// How many quiet cycles a run's row stands for (FinishQuietRun): at a
	// 10-second interval, 8,640 a day would otherwise bury the runs that
	// did something.
	`ALTER TABLE runs ADD COLUMN quiet {INT64} NOT NULL DEFAULT 0;`,
	// Each group's name, DN and sAMAccountName folded to lower case by
	// Go (strings.ToLower), for the console's search and order: SQLite's
	// LOWER folds ASCII alone, so "ОТДЕЛ" never found "Отдел".
	`ALTER TABLE group_status ADD COLUMN name_fold TEXT NOT NULL DEFAULT '';
	 ALTER TABLE group_status ADD COLUMN dn_fold TEXT NOT NULL DEFAULT '';
	 ALTER TABLE group_status ADD COLUMN sam_fold TEXT NOT NULL DEFAULT '';
	 CREATE INDEX group_status_name_fold ON group_status(name_fold, cloud_id);
	 DROP INDEX group_status_name;`,
}

// memberIndex finds a member's groups. A full save drops it and makes it
// again (saveMembers): filled row by row, in the table's order, it is
// filled in random order, and slows as it outgrows the page cache.
const memberIndex = "CREATE INDEX cloud_members_member ON cloud_members(member_id, group_id)"

// backfills fill what a migration adds from what the state holds, in the
// migrating transaction: by the version that adds it.
var backfills = map[int]func(context.Context, *tx) error{9: backfillUPNs, 10: splitMembers, 14: backfillFolds}

// inTypes is the schema in one engine's types.
func inTypes(r *strings.Replacer) []string {
	out := make([]string, len(schema))
	for i, m := range schema {
		out[i] = r.Replace(m)
	}
	return out
}

var (
	migrations = inTypes(strings.NewReplacer("{BLOB}", "BLOB", "{INT64}", "INTEGER", "{SERIAL}", "INTEGER PRIMARY KEY AUTOINCREMENT",
		"{WITHOUT ROWID}", " WITHOUT ROWID"))
	pgMigrations = inTypes(strings.NewReplacer("{BLOB}", "BYTEA", "{INT64}", "BIGINT", "{SERIAL}", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
		"{WITHOUT ROWID}", ""))
)

// Store is the state: a SQLite file, or a PostgreSQL database that
// several instances share.
type Store struct {
	db  db
	d   *dialect
	now func() time.Time
	// fence, once set, makes every write to the shared state carry a
	// writer lease's token, refused once the lease is lost (ha.go).
	fence atomic.Pointer[fence]
}

// Open opens (creating and migrating as needed) the state file at path.
// The file is readable by its owner only: it holds the tenant's group and
// user data. A file that is not a state file (corrupt, or something else)
// is refused with ErrCorrupt and what to do about it.
func Open(ctx context.Context, path string) (*Store, error) {
	if err := private(path); err != nil {
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	raw.SetMaxOpenConns(1)
	s := newStore(raw, &sqliteDialect)
	if err := s.migrate(ctx); err != nil {
		raw.Close()
		if corrupt(err) {
			return nil, &CorruptError{Path: path, Err: err}
		}
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	return s, nil
}

// OpenPostgres opens (migrating as needed) the state in the PostgreSQL
// database at url (postgres://user@host/db?sslmode=…; a password may come
// from PGPASSWORD or ~/.pgpass, as for psql), which several instances may
// share.
func OpenPostgres(ctx context.Context, url string) (*Store, error) {
	raw, where, err := openPostgres(url)
	if err != nil {
		return nil, err
	}
	raw.SetMaxOpenConns(8)
	s := newStore(raw, &postgresDialect)
	if err := s.migrate(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("store: postgres %s: %w", where, err)
	}
	return s, nil
}

// openPostgres opens a pool on the database at url; where names it
// (user@host:port/database) without the password.
func openPostgres(url string) (raw *sql.DB, where string, err error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, "", fmt.Errorf("store: state.url: %w", err)
	}
	return stdlib.OpenDB(*cfg), fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database), nil
}

func newStore(raw *sql.DB, d *dialect) *Store {
	return &Store{db: db{conn: conn{c: raw, d: d}, raw: raw}, d: d, now: time.Now}
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
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	version, err := s.d.version(ctx, tx)
	if err != nil {
		return err
	}
	ms := s.d.migrations
	if version > len(ms) {
		return fmt.Errorf("state schema version %d is newer than this groupwriteback knows (%d): upgrade groupwriteback", version, len(ms))
	}
	if version < len(ms) {
		for v := version; v < len(ms); v++ {
			if _, err := tx.ExecContext(ctx, ms[v]); err != nil {
				return fmt.Errorf("migration %d: %w", v+1, err)
			}
			if fill := backfills[v+1]; fill != nil && version > 0 {
				if err := fill(ctx, tx); err != nil {
					return fmt.Errorf("migration %d: %w", v+1, err)
				}
			}
		}
		if err := s.d.setVersion(ctx, tx, len(ms)); err != nil {
			return err
		}
	}
	if err := ensureSecrets(ctx, tx); err != nil {
		return err
	}
	return tx.Commit()
}

// ensureSecrets makes the secrets the state lacks, in the migrating
// transaction: instances opening one state at once make them once.
func ensureSecrets(ctx context.Context, t *tx) error {
	for _, name := range []string{state.PlanKey, state.AuditKey, state.NotifyKey} {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		if _, err := t.ExecContext(ctx, "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO NOTHING", state.SecretPrefix+name, hex.EncodeToString(b[:])); err != nil {
			return fmt.Errorf("secret %s: %w", name, err)
		}
	}
	return nil
}

// Secret is one of the state's secrets (PlanKey, AuditKey, NotifyKey).
func (s *Store) Secret(ctx context.Context, name string) ([]byte, error) {
	var v string
	if err := s.db.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", state.SecretPrefix+name).Scan(&v); err != nil {
		return nil, fmt.Errorf("store: secret %s: %w", name, err)
	}
	b, err := hex.DecodeString(v)
	if err != nil || len(b) < 32 {
		return nil, fmt.Errorf("store: secret %s is damaged", name)
	}
	return b, nil
}

// version is the schema version of the state, read in the migrating
// transaction. PostgreSQL's is in a table, and instances starting at once
// take turns: the first migrates, the others find it done.
func (d *dialect) version(ctx context.Context, t *tx) (int, error) {
	var v int
	if !d.dollar {
		err := t.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
		return v, err
	}
	if _, err := t.ExecContext(ctx, "SELECT pg_advisory_xact_lock(4711)"); err != nil {
		return 0, err
	}
	if _, err := t.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"); err != nil {
		return 0, err
	}
	err := t.QueryRowContext(ctx, "SELECT version FROM schema_version").Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

func (d *dialect) setVersion(ctx context.Context, t *tx, v int) error {
	if !d.dollar {
		_, err := t.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v))
		return err
	}
	if _, err := t.ExecContext(ctx, "DELETE FROM schema_version"); err != nil {
		return err
	}
	_, err := t.ExecContext(ctx, "INSERT INTO schema_version(version) VALUES(?)", v)
	return err
}

// LoadCloud returns the stored snapshot and delta links; an empty store
// gives an empty snapshot and no links.
func (s *Store) LoadCloud(ctx context.Context) (*cloud.Snapshot, state.Links, error) {
	snap, links, err := s.LoadGroups(ctx)
	if err != nil {
		return nil, links, err
	}
	if err := loadAll(ctx, s.db.conn, "cloud_users", func(id string, u *cloud.User) { snap.Users[id] = u }); err != nil {
		return nil, links, err
	}
	return snap, links, nil
}

// LoadGroups is LoadCloud without the users: a cycle that staged a full
// round of users reads them from the stage.
func (s *Store) LoadGroups(ctx context.Context) (*cloud.Snapshot, state.Links, error) {
	snap, links, err := s.LoadHead(ctx)
	if err != nil {
		return nil, links, err
	}
	if err := loadAllGroups(ctx, s.db.conn, func(id string, g *cloud.Group) { snap.Groups[id] = g }); err != nil {
		return nil, links, err
	}
	return snap, links, nil
}

// LoadHead returns the delta links and a snapshot with no groups or users,
// only the tenant default: what a cycle needs to ask Graph what changed,
// and all it needs when nothing did.
func (s *Store) LoadHead(ctx context.Context) (*cloud.Snapshot, state.Links, error) {
	snap := cloud.NewSnapshot()
	var links state.Links
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
func loadAll[T any](ctx context.Context, db querier, table string, put func(id string, v *T)) error {
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
	return s.write(ctx, "forget the delta links", func(tx *tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM delta_links"); err != nil {
			return fmt.Errorf("store: forget delta links: %w", err)
		}
		return nil
	})
}

// SaveCloud stores a cycle's cloud reads and pending marks in one
// transaction: after a crash, either all of it or none of it is there.
func (s *Store) SaveCloud(ctx context.Context, u state.CloudUpdate) error {
	return s.write(ctx, "save the cloud's state", func(tx *tx) error {
		// The members first: a changed group without its member changes
		// is compared with the members stored.
		if err := saveMembers(ctx, tx, u); err != nil {
			return err
		}
		if err := saveObjects(ctx, tx, "cloud_groups", u.FullGroups, u.ChangedGroups, u.Snapshot.Groups, groupColumns); err != nil {
			return err
		}
		if u.UsersStaged {
			if err := unstageUsers(ctx, tx); err != nil {
				return err
			}
		} else {
			if err := saveObjects(ctx, tx, "cloud_users", u.FullUsers, u.ChangedUsers, u.Snapshot.Users, userColumns); err != nil {
				return err
			}
			// What a stage holds is a round that was never saved.
			if _, err := tx.ExecContext(ctx, "DELETE FROM cloud_users_next"); err != nil {
				return fmt.Errorf("store: clear cloud_users_next: %w", err)
			}
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
		return nil
	})
}

// columns are a table's columns beside id and data, each with its value
// for an object, and how an object is written in data (nil: as JSON).
type columns[T any] struct {
	names  []string
	values func(*T) []any
	encode func(*T) ([]byte, error)
}

// userColumns: a user's UPN, lower case, for the console's member search.
var userColumns = &columns[cloud.User]{names: []string{"upn"}, values: func(u *cloud.User) []any { return []any{strings.ToLower(u.UserPrincipalName)} }}

// groupColumns: a group without its members (cloud_members holds them).
var groupColumns = &columns[cloud.Group]{encode: encodeGroup}

// saveObjects writes objects to table: all of them (replacing the table)
// when full, else those in changed, removing the ones objs no longer has.
// extra (nil: none) are the table's other columns.
func saveObjects[T any](ctx context.Context, tx *tx, table string, full bool, changed []string, objs map[string]*T, extra *columns[T]) error {
	cols, tail := []string{"id", "data"}, " ON CONFLICT(id) DO UPDATE SET data = excluded.data"
	if extra != nil {
		cols = append(cols, extra.names...)
		for _, c := range extra.names {
			tail += ", " + c + " = excluded." + c
		}
	}
	put := newRows(ctx, tx, table, cols, tail)
	encode := func(v *T) ([]byte, error) { return json.Marshal(v) }
	if extra != nil && extra.encode != nil {
		encode = extra.encode
	}
	add := func(id string, v *T) error {
		b, err := encode(v)
		if err != nil {
			return fmt.Errorf("store: save %s %s: %w", table, id, err)
		}
		if extra != nil && extra.values != nil {
			return put.add(append([]any{id, b}, extra.values(v)...)...)
		}
		return put.add(id, b)
	}
	if full {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+table); err != nil {
			return fmt.Errorf("store: clear %s: %w", table, err)
		}
		// In key order: a b-tree (the id's index) filled in order is
		// filled fast, where random order slows as the table outgrows the
		// page cache.
		for _, id := range slices.Sorted(maps.Keys(objs)) {
			if err := add(id, objs[id]); err != nil {
				return err
			}
		}
		return put.flush()
	}
	var gone []any
	for _, id := range unique(changed) {
		if v, ok := objs[id]; ok {
			if err := add(id, v); err != nil {
				return err
			}
		} else {
			gone = append(gone, id)
		}
	}
	for start := 0; start < len(gone); start += batchRows {
		part := gone[start:min(start+batchRows, len(gone))]
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE id IN (?"+strings.Repeat(", ?", len(part)-1)+")", part...); err != nil {
			return fmt.Errorf("store: remove from %s: %w", table, err)
		}
	}
	return put.flush()
}
