package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/state"
)

// Several instances share one state (PostgreSQL) and one of them writes:
// the holder of the writer lease. A lease is timed by the database's
// clock; each time it changes hands its token grows, and every write to
// the shared state made under a fence carries the token and is refused
// when it is no longer the lease's (a paused or cut-off old holder).

// leaseSchema is the schema version that added the leases (migration 4).
const leaseSchema = 4

// fence is the holder and token every write carries, once Fence was
// called (token 0: no lease held, nothing is written).
type fence struct {
	holder string
	token  int64
}

// Fence makes every later write to the state check, in its own
// transaction, that holder still holds the writer lease with token; a
// token of 0 refuses every write (the lease is not held). An instance
// sharing the state fences its store before its first write and moves the
// fence with each lease it gets or loses.
func (s *Store) Fence(holder string, token int64) {
	s.fence.Store(&fence{holder: holder, token: token})
}

// writeTimeout bounds one write transaction: the largest, a snapshot of
// 100,000 groups saved in batches, takes seconds.
var writeTimeout = 2 * time.Minute

// write runs fn in a transaction, after the fence's check when there is
// one: the check locks the lease's row until the transaction ends, so a
// take-over waits for it, or it sees the take-over and writes nothing.
//
// A write that takes longer than writeTimeout is rolled back: a database
// that accepts and never answers must not hold a cycle until its own
// timeout (hours), with the cycle lock it holds.
func (s *Store) write(ctx context.Context, what string, fn func(t *tx) error) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	t, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	defer t.Rollback()
	if f := s.fence.Load(); f != nil {
		if err := s.checkFence(ctx, t, what, f); err != nil {
			return err
		}
	}
	if err := fn(t); err != nil {
		return err
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("store: %s: commit: %w", what, err)
	}
	return nil
}

// exec is write with one statement.
func (s *Store) exec(ctx context.Context, what, q string, args ...any) error {
	return s.write(ctx, what, func(t *tx) error {
		if _, err := t.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("store: %s: %w", what, err)
		}
		return nil
	})
}

func (s *Store) checkFence(ctx context.Context, t *tx, what string, f *fence) error {
	holder, token := f.holder, f.token
	var cur state.LeaseState
	if err := s.scanLease(t.QueryRowContext(ctx, s.leaseQuery()+s.d.forShare, state.WriterLease), &cur); err != nil {
		return fmt.Errorf("store: %s: read the writer lease: %w", what, err)
	}
	if token == 0 || cur.Holder != holder || cur.Token != token || !cur.Held() {
		fe := &state.FencedError{What: what, Token: token}
		if cur.Held() {
			fe.Holder, fe.HolderToken = cur.Holder, cur.Token
		}
		return fe
	}
	return nil
}

func (s *Store) leaseQuery() string {
	return "SELECT name, holder, token, acquired_ms, expires_ms, " + s.d.nowMS + " FROM leases WHERE name = ?"
}

func (s *Store) scanLease(row *sql.Row, l *state.LeaseState) error {
	var acquired, expires, now int64
	if err := row.Scan(&l.Name, &l.Holder, &l.Token, &acquired, &expires, &now); err != nil {
		return err
	}
	l.Acquired, l.Expires, l.Now = time.UnixMilli(acquired), time.UnixMilli(expires), time.UnixMilli(now)
	return nil
}

// ReadLease returns the lease as it is now.
func (s *Store) ReadLease(ctx context.Context, name string) (state.LeaseState, error) {
	var l state.LeaseState
	if err := s.scanLease(s.db.QueryRowContext(ctx, s.leaseQuery(), name), &l); err != nil {
		return l, fmt.Errorf("store: read the %s lease: %w", name, err)
	}
	return l, nil
}

// AcquireLease takes the lease for holder for ttl when nobody holds it (it
// ran out, or was released): with a new token, the take-over recorded.
// Held by holder already, it is renewed with the same token. Held by
// another, the error is a *LeaseHeldError.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (state.Lease, error) {
	var got state.Lease
	t, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return got, fmt.Errorf("store: acquire the %s lease: %w", name, err)
	}
	defer t.Rollback()
	var cur state.LeaseState
	if err := s.scanLease(t.QueryRowContext(ctx, s.leaseQuery()+s.d.forUpdate, name), &cur); err != nil {
		return got, fmt.Errorf("store: acquire the %s lease: %w", name, err)
	}
	if cur.Held() && cur.Holder != holder {
		return got, &state.LeaseHeldError{State: cur}
	}
	if cur.Held() { // ours: renew it
		t.Rollback()
		return s.RenewLease(ctx, cur.Lease, ttl)
	}
	var acquired, expires int64
	err = t.QueryRowContext(ctx, "UPDATE leases SET holder = ?, token = token + 1, acquired_ms = "+s.d.nowMS+", renewed_ms = "+s.d.nowMS+
		", expires_ms = "+s.d.nowMS+" + ? WHERE name = ? RETURNING token, acquired_ms, expires_ms", holder, ttl.Milliseconds(), name).Scan(&got.Token, &acquired, &expires)
	if err != nil {
		return got, fmt.Errorf("store: acquire the %s lease: %w", name, err)
	}
	got.Name, got.Holder, got.Acquired, got.Expires = name, holder, time.UnixMilli(acquired), time.UnixMilli(expires)
	if cur.Holder != holder {
		got.Previous = cur.Holder
	}
	if _, err := t.ExecContext(ctx, "INSERT INTO takeovers(token, holder, previous, at_ms) VALUES(?, ?, ?, ?)", got.Token, holder, got.Previous, acquired); err != nil {
		return got, fmt.Errorf("store: acquire the %s lease: %w", name, err)
	}
	if err := t.Commit(); err != nil {
		return got, fmt.Errorf("store: acquire the %s lease: %w", name, err)
	}
	return got, nil
}

// RenewLease extends a lease still held with its token; one that ran out,
// or changed hands, is lost (*FencedError): its holder acquires it again,
// with a new token, or stands by.
func (s *Store) RenewLease(ctx context.Context, l state.Lease, ttl time.Duration) (state.Lease, error) {
	var expires int64
	err := s.db.QueryRowContext(ctx, "UPDATE leases SET renewed_ms = "+s.d.nowMS+", expires_ms = "+s.d.nowMS+" + ? WHERE name = ? AND holder = ? AND token = ? AND expires_ms > "+
		s.d.nowMS+" RETURNING expires_ms", ttl.Milliseconds(), l.Name, l.Holder, l.Token).Scan(&expires)
	if errors.Is(err, sql.ErrNoRows) {
		fe := &state.FencedError{What: "renewing the " + l.Name + " lease", Token: l.Token}
		if cur, rerr := s.ReadLease(ctx, l.Name); rerr == nil && cur.Held() {
			fe.Holder, fe.HolderToken = cur.Holder, cur.Token
		}
		return l, fe
	}
	if err != nil {
		return l, fmt.Errorf("store: renew the %s lease: %w", l.Name, err)
	}
	l.Expires = time.UnixMilli(expires)
	return l, nil
}

// ReleaseLease gives a lease up at once (a service stopping): a standby
// takes it at its next try, not when it would have run out.
func (s *Store) ReleaseLease(ctx context.Context, l state.Lease) error {
	_, err := s.db.ExecContext(ctx, "UPDATE leases SET expires_ms = 0 WHERE name = ? AND holder = ? AND token = ?", l.Name, l.Holder, l.Token)
	if err != nil {
		return fmt.Errorf("store: release the %s lease: %w", l.Name, err)
	}
	return nil
}

// Takeovers returns the last n take-overs, newest first.
func (s *Store) Takeovers(ctx context.Context, n int) ([]state.Takeover, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT token, holder, previous, at_ms FROM takeovers ORDER BY token DESC LIMIT ?", n)
	if err != nil {
		return nil, fmt.Errorf("store: take-overs: %w", err)
	}
	defer rows.Close()
	var out []state.Takeover
	for rows.Next() {
		var tk state.Takeover
		var at int64
		if err := rows.Scan(&tk.Token, &tk.Holder, &tk.Previous, &at); err != nil {
			return nil, err
		}
		tk.At = time.UnixMilli(at).UTC()
		out = append(out, tk)
	}
	return out, rows.Err()
}

// Heartbeat records an instance as alive with its role. It is not fenced:
// every instance reports itself, standbys included.
func (s *Store) Heartbeat(ctx context.Context, in state.Instance) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO instances(id, name, host, pid, version, role, started_ms, seen_ms, detail) VALUES(?, ?, ?, ?, ?, ?, ?, `+s.d.nowMS+`, ?)
		ON CONFLICT(id) DO UPDATE SET role = excluded.role, seen_ms = excluded.seen_ms, detail = excluded.detail`,
		in.ID, in.Name, in.Host, in.PID, in.Version, in.Role, in.Started.UnixMilli(), in.Detail)
	if err != nil {
		return fmt.Errorf("store: heartbeat: %w", err)
	}
	return nil
}

// Instances returns the instances seen within the last since, by name.
func (s *Store) Instances(ctx context.Context, since time.Duration) ([]state.Instance, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, name, host, pid, version, role, started_ms, seen_ms, detail FROM instances WHERE seen_ms > "+s.d.nowMS+" - ? ORDER BY name, id",
		since.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("store: instances: %w", err)
	}
	defer rows.Close()
	var out []state.Instance
	for rows.Next() {
		var in state.Instance
		var started, seen int64
		if err := rows.Scan(&in.ID, &in.Name, &in.Host, &in.PID, &in.Version, &in.Role, &started, &seen, &in.Detail); err != nil {
			return nil, err
		}
		in.Started, in.Seen = time.UnixMilli(started).UTC(), time.UnixMilli(seen).UTC()
		out = append(out, in)
	}
	return out, rows.Err()
}

// Engine names the state's database engine: sqlite or postgres.
func (s *Store) Engine() string { return s.d.name }

// PostgresProbe is what doctor learns of a shared state without changing
// it.
type PostgresProbe struct {
	// Where is user@host:port/database.
	Where, ServerVersion string
	// Schema is the state's schema version (0: empty), Known this
	// groupwriteback's.
	Schema, Known int
	// MayCreate: the role may create tables in the database (an empty
	// state is made by the first instance that opens it).
	MayCreate bool
	// Lease is the writer lease (only when the schema has it).
	Lease *state.LeaseState
}

// ProbePostgres connects to the state at url and reads its schema
// version and writer lease, writing nothing.
func ProbePostgres(ctx context.Context, url string) (*PostgresProbe, error) {
	raw, where, err := openPostgres(url)
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	p := &PostgresProbe{Where: where, Known: len(pgMigrations)}
	s := newStore(raw, &postgresDialect)
	if err := s.db.QueryRowContext(ctx, "SELECT current_setting('server_version'), has_database_privilege(current_user, current_database(), 'CREATE') AND has_schema_privilege(current_user, 'public', 'CREATE')").
		Scan(&p.ServerVersion, &p.MayCreate); err != nil {
		return p, fmt.Errorf("store: %s: %w", p.Where, err)
	}
	var exists bool
	if err := s.db.QueryRowContext(ctx, "SELECT to_regclass('schema_version') IS NOT NULL").Scan(&exists); err != nil {
		return p, fmt.Errorf("store: %s: %w", p.Where, err)
	}
	if !exists {
		return p, nil
	}
	if err := s.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_version").Scan(&p.Schema); err != nil {
		return p, fmt.Errorf("store: %s: %w", p.Where, err)
	}
	if p.Schema >= leaseSchema {
		l, err := s.ReadLease(ctx, state.WriterLease)
		if err != nil {
			return p, err
		}
		p.Lease = &l
	}
	return p, nil
}

// Nudge records that a change notification reached an instance that does
// not write (a standby), for the active one to start a cycle (Nudged).
// Like a heartbeat it is not fenced: a standby writes it.
func (s *Store) Nudge(ctx context.Context) error {
	return s.setNotify(ctx, "nudge", strconv.FormatInt(time.Now().UnixNano(), 10)+"-"+strconv.FormatUint(rand.Uint64(), 36))
}

// Nudged is the last Nudge's mark ("" when there was none): a mark that
// changed since the last read is a notification to act on.
func (s *Store) Nudged(ctx context.Context) (string, error) { return s.notify(ctx, "nudge") }

// SetNotifyStatus records what the instance keeping the change
// notification subscriptions holds (a JSON document), for status to show
// from the state. Not fenced: it says, and decides nothing.
func (s *Store) SetNotifyStatus(ctx context.Context, doc []byte) error {
	return s.setNotify(ctx, "status", string(doc))
}

// NotifyStatus is what SetNotifyStatus last recorded (nil: nothing).
func (s *Store) NotifyStatus(ctx context.Context) ([]byte, error) {
	v, err := s.notify(ctx, "status")
	if v == "" {
		return nil, err
	}
	return []byte(v), err
}

// setNotify writes the change notifications' meta key notify.<key>,
// unfenced; notify reads it ("" when unset). The state's export leaves
// them out: they are an instance's, not the state's.
func (s *Store) setNotify(ctx context.Context, key, value string) error {
	_, err := s.db.ExecContext(ctx, "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", "notify."+key, value)
	if err != nil {
		return fmt.Errorf("store: notify %s: %w", key, err)
	}
	return nil
}

func (s *Store) notify(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", "notify."+key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: notify %s: %w", key, err)
	}
	return v, nil
}
