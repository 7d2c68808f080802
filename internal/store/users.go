package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

// The users of a full round, staged as Graph's reader hands them over
// (StageUsers), read back a slice's at a time (StagedUsers), and moved
// into cloud_users by the snapshot's save (CloudUpdate.UsersStaged): a
// cycle that reads a large tenant's users never holds them all.

// stagedUser is a row of cloud_users_next: one of a full round's entries
// for a user, applied after those with a lower seq.
type stagedUser struct {
	Removed cloud.Removal `json:"removed,omitempty"`
	Present cloud.Field   `json:"present,omitempty"`
	Values  *cloud.User   `json:"values,omitempty"`
}

// unstageRows is how many staged rows the snapshot's save folds at a time.
var unstageRows = 5000

// StageUsers stages a batch of a full round's users, the round's entries
// from the from-th on; from 0 starts the round, and clears what was
// staged before (an earlier round's, or this one's before a resync).
func (s *Store) StageUsers(ctx context.Context, from int, batch []cloud.UserDelta) error {
	return s.write(ctx, "stage the users read", func(tx *tx) error {
		if from == 0 {
			if _, err := tx.ExecContext(ctx, "DELETE FROM cloud_users_next"); err != nil {
				return fmt.Errorf("store: clear cloud_users_next: %w", err)
			}
		}
		put := newRows(ctx, tx, "cloud_users_next", []string{"id", "seq", "data"}, "")
		// In key order: see saveObjects.
		order := make([]int, len(batch))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return cmp.Compare(batch[a].ID, batch[b].ID) })
		for _, i := range order {
			d := &batch[i]
			b, err := json.Marshal(stagedUser{Removed: d.Removed, Present: d.Present, Values: d.Values})
			if err != nil {
				return fmt.Errorf("store: stage user %s: %w", d.ID, err)
			}
			if err := put.add(d.ID, from+i, b); err != nil {
				return err
			}
		}
		return put.flush()
	})
}

// StagedUsers are the users ids that the staged round describes (a user
// it removed, or never named, is not in the map).
func (s *Store) StagedUsers(ctx context.Context, ids []string) (map[string]*cloud.User, error) {
	var deltas []cloud.UserDelta
	err := eachIn(ctx, s.db.conn, "SELECT id, seq, data FROM cloud_users_next WHERE id IN (?...) ORDER BY id, seq",
		slices.Sorted(slices.Values(ids)), stagedRows(&deltas))
	if err != nil {
		return nil, fmt.Errorf("store: read the staged users: %w", err)
	}
	return cloud.FoldUsers(deltas), nil
}

// stagedRows scans rows of id, seq and data into deltas.
func stagedRows(deltas *[]cloud.UserDelta) func(*sql.Rows) error {
	return func(r *sql.Rows) error {
		var (
			id   string
			seq  int64
			data []byte
			st   stagedUser
		)
		if err := r.Scan(&id, &seq, &data); err != nil {
			return err
		}
		if err := json.Unmarshal(data, &st); err != nil {
			return &DamagedRowError{Table: "cloud_users_next", Key: fmt.Sprintf("%s/%d", id, seq), Column: "data", Err: err}
		}
		*deltas = append(*deltas, cloud.UserDelta{ID: id, Removed: st.Removed, Present: st.Present, Values: st.Values})
		return nil
	}
}

// unstageUsers replaces cloud_users by the users the staged round
// describes, folding a batch of users' rows at a time, and empties the
// stage.
func unstageUsers(ctx context.Context, tx *tx) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM cloud_users"); err != nil {
		return fmt.Errorf("store: clear cloud_users: %w", err)
	}
	put := newRows(ctx, tx, "cloud_users", append([]string{"id", "data"}, userColumns.names...), "")
	read := func(q string, args ...any) ([]cloud.UserDelta, error) {
		var deltas []cloud.UserDelta
		if err := eachRow(ctx, tx, q, args, stagedRows(&deltas)); err != nil {
			return nil, fmt.Errorf("store: read cloud_users_next: %w", err)
		}
		return deltas, nil
	}
	after := ""
	for {
		deltas, err := read("SELECT id, seq, data FROM cloud_users_next WHERE id > ? ORDER BY id, seq LIMIT ?", after, unstageRows)
		if err != nil {
			return err
		}
		if len(deltas) == 0 {
			break
		}
		last := deltas[len(deltas)-1].ID
		if len(deltas) == unstageRows {
			// The last user's rows may go on past the limit: it is the
			// next batch's, unless it is this one's only user.
			if cut := slices.IndexFunc(deltas, func(d cloud.UserDelta) bool { return d.ID == last }); cut > 0 {
				deltas, last = deltas[:cut], deltas[cut-1].ID
			} else if deltas, err = read("SELECT id, seq, data FROM cloud_users_next WHERE id = ? ORDER BY id, seq", last); err != nil {
				return err
			}
		}
		users := cloud.FoldUsers(deltas)
		for _, id := range slices.Sorted(maps.Keys(users)) {
			b, err := json.Marshal(users[id])
			if err != nil {
				return fmt.Errorf("store: save cloud_users %s: %w", id, err)
			}
			if err := put.add(append([]any{id, b}, userColumns.values(users[id])...)...); err != nil {
				return err
			}
		}
		after = last
	}
	if err := put.flush(); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM cloud_users_next"); err != nil {
		return fmt.Errorf("store: clear cloud_users_next: %w", err)
	}
	return nil
}
