package store

import (
	"context"
	"fmt"
	"strings"
)

// batchRows is how many rows one statement writes: a round trip for each
// batch, not for each row, which counts when the database is across a
// network. (1,000 rows of 7 values stay far under both engines' limits on
// bound values.)
const batchRows = 500

// rows writes rows of one INSERT form, a batch at a time.
type rows struct {
	ctx        context.Context
	tx         *tx
	what       string
	head, tail string
	row        string
	args       []any
	n          int
	first      any
}

// newRows writes rows into table's columns; tail ends each statement (an
// ON CONFLICT clause). The rows of one statement must not repeat a key
// (PostgreSQL refuses to update one row twice in a statement): callers
// pass each key once.
func newRows(ctx context.Context, t *tx, table string, columns []string, tail string) *rows {
	return &rows{ctx: ctx, tx: t, what: table, head: "INSERT INTO " + table + "(" + strings.Join(columns, ", ") + ") VALUES ", tail: tail,
		row: "(?" + strings.Repeat(", ?", len(columns)-1) + ")"}
}

// add queues a row, writing the batch when it is full.
func (r *rows) add(vals ...any) error {
	if r.n == 0 {
		r.first = vals[0]
	}
	r.args = append(r.args, vals...)
	if r.n++; r.n == batchRows {
		return r.flush()
	}
	return nil
}

// flush writes the rows queued.
func (r *rows) flush() error {
	if r.n == 0 {
		return nil
	}
	q := r.head + strings.Repeat(r.row+", ", r.n-1) + r.row + r.tail
	if _, err := r.tx.ExecContext(r.ctx, q, r.args...); err != nil {
		return fmt.Errorf("store: write %d rows of %s from %v: %w", r.n, r.what, r.first, err)
	}
	r.args, r.n = r.args[:0], 0
	return nil
}

// unique is ids without repeats, in their first order.
func unique(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
