package store

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"
)

// dialect is what differs between the two engines a state lives in. The
// queries are written once, with ? placeholders and the SQL both accept
// (ON CONFLICT … DO UPDATE, RETURNING); a dialect says the rest.
type dialect struct {
	name string
	// dollar: placeholders are $1, $2… (PostgreSQL), not ?.
	dollar     bool
	migrations []string
	// nowMS is an expression for the database's clock in milliseconds
	// since 1970: leases are timed by one clock, the database's, whatever
	// the instances' clocks say.
	nowMS string
	// forUpdate and forShare end a SELECT that locks the rows it reads
	// until the transaction ends ("" where a write transaction already
	// holds the whole database, as SQLite's do).
	forUpdate, forShare string
	// exportTx are the options of the transaction an export reads in: one
	// consistent view of the whole state.
	exportTx sql.TxOptions
	// afterImport runs after rows were inserted with their own ids.
	afterImport []string
}

var sqliteDialect = dialect{
	name:       "sqlite",
	migrations: migrations,
	nowMS:      "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
	exportTx:   sql.TxOptions{ReadOnly: true},
}

var postgresDialect = dialect{
	name:       "postgres",
	dollar:     true,
	migrations: pgMigrations,
	nowMS:      "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
	forUpdate:  " FOR UPDATE",
	forShare:   " FOR SHARE",
	exportTx:   sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead},
	afterImport: []string{
		"SELECT setval(pg_get_serial_sequence('runs', 'id'), GREATEST((SELECT MAX(id) FROM runs), 1))",
	},
}

var rebound sync.Map // query with ? → query with $n

// bind rewrites a query's ? placeholders for the dialect. The queries
// hold no ? inside string literals.
func (d *dialect) bind(q string) string {
	if !d.dollar || !strings.Contains(q, "?") {
		return q
	}
	if b, ok := rebound.Load(q); ok {
		return b.(string)
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	rebound.Store(q, b.String())
	return b.String()
}

// conn is a database or a transaction that binds queries for its dialect:
// the store's code writes ? and runs on both engines.
// querier runs statements: a conn, or a tx (under its own context).
type querier interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

type conn struct {
	c interface {
		ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	}
	d *dialect
}

func (c conn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return c.c.ExecContext(ctx, c.d.bind(q), args...)
}

func (c conn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return c.c.QueryContext(ctx, c.d.bind(q), args...)
}

func (c conn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return c.c.QueryRowContext(ctx, c.d.bind(q), args...)
}

// db is the store's database.
type db struct {
	conn
	raw *sql.DB
}

// tx is a transaction on it. Its statements run under the context it was
// begun with (its deadline too), whatever context their caller holds: a
// statement outliving its transaction's deadline would keep the
// transaction from being rolled back.
type tx struct {
	conn
	raw *sql.Tx
	ctx context.Context
}

func (d db) BeginTx(ctx context.Context, o *sql.TxOptions) (*tx, error) {
	t, err := d.raw.BeginTx(ctx, o)
	if err != nil {
		return nil, err
	}
	return &tx{conn: conn{c: t, d: d.d}, raw: t, ctx: ctx}, nil
}

func (t *tx) ExecContext(_ context.Context, q string, args ...any) (sql.Result, error) {
	return t.conn.ExecContext(t.ctx, q, args...)
}

func (t *tx) QueryContext(_ context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.conn.QueryContext(t.ctx, q, args...)
}

func (t *tx) QueryRowContext(_ context.Context, q string, args ...any) *sql.Row {
	return t.conn.QueryRowContext(t.ctx, q, args...)
}

func (d db) Close() error { return d.raw.Close() }

func (t *tx) Commit() error   { return t.raw.Commit() }
func (t *tx) Rollback() error { return t.raw.Rollback() }
