package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// saveMembers keeps cloud_members, which groups each cloud object is a
// member of, in step with the groups about to be saved: rebuilt whole
// when full, else, for each changed group, the memberships it lost
// removed and those it gained added (compared with the group stored, so
// that one member added to a large group is one row). Rows are written
// in the table's key order: a b-tree filled in order is filled fast.
func saveMembers(ctx context.Context, tx *tx, full bool, changed []string, groups map[string]*cloud.Group) error {
	if full {
		if _, err := tx.ExecContext(ctx, "DELETE FROM cloud_members"); err != nil {
			return fmt.Errorf("store: clear cloud_members: %w", err)
		}
		byMember := map[string][]string{}
		for id, g := range groups {
			for m := range g.Members.All() {
				byMember[m] = append(byMember[m], id)
			}
		}
		return putMembers(ctx, tx, byMember)
	}
	ids := unique(changed)
	stored, err := storedMembers(ctx, tx, ids)
	if err != nil {
		return err
	}
	gained := map[string][]string{}
	for _, id := range ids {
		var now cloud.Refs
		if g, ok := groups[id]; ok {
			now = g.Members
		}
		// Both sets are sorted by id: a walk of each against the other
		// finds what was lost and what was gained.
		was := stored[id]
		for m := range was.Minus(now) {
			if err := deleteMembership(ctx, tx, m, id); err != nil {
				return err
			}
		}
		for m := range now.Minus(was) {
			gained[m] = append(gained[m], id)
		}
	}
	return putMembers(ctx, tx, gained)
}

// putMembers writes the memberships of byMember (member → groups), in key
// order.
func putMembers(ctx context.Context, tx *tx, byMember map[string][]string) error {
	put := newRows(ctx, tx, "cloud_members", []string{"member_id", "group_id"}, " ON CONFLICT DO NOTHING")
	for _, m := range slices.Sorted(maps.Keys(byMember)) {
		gs := byMember[m]
		slices.Sort(gs)
		for _, g := range slices.Compact(gs) {
			if err := put.add(m, g); err != nil {
				return err
			}
		}
	}
	return put.flush()
}

func deleteMembership(ctx context.Context, tx *tx, member, group string) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM cloud_members WHERE member_id = ? AND group_id = ?", member, group); err != nil {
		return fmt.Errorf("store: remove from cloud_members: %w", err)
	}
	return nil
}

// storedMembers are the members of the groups ids as the state holds them.
func storedMembers(ctx context.Context, tx *tx, ids []string) (map[string]cloud.Refs, error) {
	out := map[string]cloud.Refs{}
	err := loadByID(ctx, tx.conn, "cloud_groups", ids, func(id string, g *cloud.Group) {
		out[id] = g.Members
	})
	return out, err
}

// backfillMembers fills cloud_members and the users' UPNs from the
// snapshot a state of an earlier version holds.
func backfillMembers(ctx context.Context, tx *tx) error {
	groups := map[string]*cloud.Group{}
	if err := loadAll(ctx, tx.conn, "cloud_groups", func(id string, g *cloud.Group) { groups[id] = g }); err != nil {
		return err
	}
	if err := saveMembers(ctx, tx, true, nil, groups); err != nil {
		return err
	}
	upns := map[string]string{}
	if err := loadAll(ctx, tx.conn, "cloud_users", func(id string, u *cloud.User) { upns[id] = strings.ToLower(u.UserPrincipalName) }); err != nil {
		return err
	}
	for id, upn := range upns {
		if _, err := tx.ExecContext(ctx, "UPDATE cloud_users SET upn = ? WHERE id = ?", upn, id); err != nil {
			return fmt.Errorf("store: backfill cloud_users: %w", err)
		}
	}
	return nil
}

// LoadPart returns the part of the snapshot a delta cycle with changes
// works on, rather than the whole tenant (see state.Part): the groups
// asked for, the groups that have a changed object as a member (read off
// cloud_members), every user and group those name (but the users of the
// bare ones), and the objects named. The delta links are LoadHead's.
func (s *Store) LoadPart(ctx context.Context, q state.Part) (*cloud.Snapshot, state.Links, error) {
	snap, links, err := s.LoadHead(ctx)
	if err != nil {
		return nil, links, err
	}
	want := map[string]bool{}
	for _, id := range q.Groups {
		want[id] = true
	}
	parents, err := inBatches(ctx, s.db.conn, "SELECT group_id FROM cloud_members WHERE member_id IN", q.Members, func(r *sql.Rows) (string, error) {
		var id string
		return id, r.Scan(&id)
	})
	if err != nil {
		return nil, links, err
	}
	for _, id := range parents {
		want[id] = true
	}
	if err := loadByID(ctx, s.db.conn, "cloud_groups", slices.Collect(maps.Keys(want)), func(id string, g *cloud.Group) { snap.Groups[id] = g }); err != nil {
		return nil, links, err
	}
	bare := map[string]bool{}
	for _, id := range q.Bare {
		bare[id] = true
	}
	for _, id := range parents {
		delete(bare, id) // a parent of a changed object is compared in full
	}
	objects := map[string]bool{}
	for id, g := range snap.Groups {
		for m, kind := range g.Members.All() {
			if !bare[id] || kind != cloud.TypeUser {
				objects[m] = true
			}
		}
	}
	for _, id := range slices.Concat(q.Members, q.Named) {
		objects[id] = true
	}
	for id := range snap.Groups {
		delete(objects, id)
	}
	names := slices.Collect(maps.Keys(objects))
	// A member is a user or a group: each id is looked for in both.
	if err := loadByID(ctx, s.db.conn, "cloud_users", names, func(id string, u *cloud.User) { snap.Users[id] = u }); err != nil {
		return nil, links, err
	}
	var groups []string
	for _, id := range names {
		if snap.Users[id] == nil {
			groups = append(groups, id)
		}
	}
	if err := loadByID(ctx, s.db.conn, "cloud_groups", groups, func(id string, g *cloud.Group) { snap.Groups[id] = g }); err != nil {
		return nil, links, err
	}
	return snap, links, nil
}

// loadByID decodes the rows of table whose ids are given.
func loadByID[T any](ctx context.Context, db conn, table string, ids []string, put func(id string, v *T)) error {
	type row struct {
		id   string
		data []byte
	}
	rows, err := inBatches(ctx, db, "SELECT id, data FROM "+table+" WHERE id IN", ids, func(r *sql.Rows) (row, error) {
		var v row
		return v, r.Scan(&v.id, &v.data)
	})
	if err != nil {
		return err
	}
	for _, r := range rows {
		v := new(T)
		if err := json.Unmarshal(r.data, v); err != nil {
			return &DamagedRowError{Table: table, Key: r.id, Column: "data", Err: err}
		}
		put(r.id, v)
	}
	return nil
}

// inBatches runs query (ending in "IN") on ids, batchRows at a time, and
// scans every row.
func inBatches[T any](ctx context.Context, db conn, query string, ids []string, scan func(*sql.Rows) (T, error)) ([]T, error) {
	var out []T
	for start := 0; start < len(ids); start += batchRows {
		part := ids[start:min(start+batchRows, len(ids))]
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id
		}
		rows, err := db.QueryContext(ctx, query+" (?"+strings.Repeat(", ?", len(part)-1)+")", args...)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", query, err)
		}
		for rows.Next() {
			v, err := scan(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, v)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
