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

// saveMembers keeps cloud_members, a row a membership, in step with the
// groups about to be saved. A full save rebuilds it: the staged members
// of the groups let go, the others from the snapshot. Otherwise, of each
// changed group, it writes the rows its member changes name (u.Members),
// or, without them, the rows the group lost and gained against those
// stored (none, for a group whose members were loaded in part): one
// member added to a large group is one row written. Rows are written in
// the table's key order: a b-tree filled in order is filled fast.
func saveMembers(ctx context.Context, tx *tx, u state.CloudUpdate) error {
	groups := u.Snapshot.Groups
	if u.FullGroups {
		for _, q := range []string{"DELETE FROM cloud_members", "DROP INDEX cloud_members_member"} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("store: clear cloud_members: %w", err)
			}
		}
		if err := unstage(ctx, tx, groups); err != nil {
			return err
		}
		put := memberRows(ctx, tx)
		for _, id := range slices.Sorted(maps.Keys(groups)) {
			if groups[id].Members.Partial() {
				continue // staged
			}
			for m, kind := range groups[id].Members.All() {
				if err := put.add(id, m, kind.String()); err != nil {
					return err
				}
			}
		}
		if err := put.flush(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, memberIndex); err != nil {
			return fmt.Errorf("store: index cloud_members: %w", err)
		}
		return nil
	}
	var gone, compare []string
	put := memberRows(ctx, tx)
	for _, id := range slices.Sorted(slices.Values(unique(u.ChangedGroups))) {
		d, ok := u.Members[id]
		switch {
		case groups[id] == nil:
			gone = append(gone, id)
		case ok:
			// Removed first, then added: an id in both is a member.
			removed := make([]string, 0, len(d.Removed))
			for _, r := range d.Removed {
				removed = append(removed, r.ID)
			}
			if err := deleteMembers(ctx, tx, id, removed); err != nil {
				return err
			}
			for m, kind := range cloud.RefsOf(d.Added...).All() {
				if err := put.add(id, m, kind.String()); err != nil {
					return err
				}
			}
		case groups[id].Members.Partial():
			// Loaded in part, and no member changes: its members did not
			// change (a change is made by a round, which gives them).
		default:
			compare = append(compare, id)
		}
	}
	if err := eachIn(ctx, tx, "DELETE FROM cloud_members WHERE group_id IN", gone, nil); err != nil {
		return err
	}
	stored := map[string]*cloud.Refs{}
	if err := loadMembers(ctx, tx, compare, refsIn(stored, nil)); err != nil {
		return err
	}
	for _, id := range compare {
		var was cloud.Refs
		if r := stored[id]; r != nil {
			was = *r
		}
		now := groups[id].Members
		if err := deleteMembers(ctx, tx, id, slices.Collect(was.Minus(now))); err != nil {
			return err
		}
		for m, kind := range now.All() {
			if k, ok := was.Get(m); !ok || k != kind {
				if err := put.add(id, m, kind.String()); err != nil {
					return err
				}
			}
		}
	}
	return put.flush()
}

// StageMembers stages the members of groups (a batch of a full cycle's)
// for the snapshot's save; first clears what an earlier cycle staged and
// did not save. Once staged, a group's members may be let go (cloud.InPart
// with those held that the cycle still needs): SaveCloud takes them from
// the stage, and StagedMembers reads them back.
func (s *Store) StageMembers(ctx context.Context, first bool, groups map[string]cloud.Refs) error {
	return s.write(ctx, "stage the members of the cycle's groups", func(tx *tx) error {
		if first {
			if _, err := tx.ExecContext(ctx, "DELETE FROM cloud_members_next"); err != nil {
				return fmt.Errorf("store: clear cloud_members_next: %w", err)
			}
		}
		put := newRows(ctx, tx, "cloud_members_next", []string{"group_id", "member_id", "kind"}, " ON CONFLICT(group_id, member_id) DO UPDATE SET kind = excluded.kind")
		for _, id := range slices.Sorted(maps.Keys(groups)) {
			if groups[id].Partial() {
				return fmt.Errorf("store: stage the members of group %s: %w", id, cloud.ErrPartial)
			}
			for m, kind := range groups[id].All() {
				if err := put.add(id, m, kind.String()); err != nil {
					return err
				}
			}
		}
		return put.flush()
	})
}

// unstage moves the staged members of the groups whose members are let
// go (partial) into cloud_members, after checking that the stage holds
// each one's every member: a group missing from it would be saved with
// none. The stage is left empty.
func unstage(ctx context.Context, tx *tx, groups map[string]*cloud.Group) error {
	letGo := false
	for _, g := range groups {
		letGo = letGo || g.Members.Partial()
	}
	if !letGo {
		return nil // what a stage holds is an earlier cycle's, cleared when staging next
	}
	staged := map[string]int{}
	if err := eachRow(ctx, tx, "SELECT group_id, COUNT(*) FROM cloud_members_next GROUP BY group_id", nil, countInto(staged)); err != nil {
		return fmt.Errorf("store: read cloud_members_next: %w", err)
	}
	for id, g := range groups {
		if g.Members.Partial() && staged[id] != g.Members.Len() {
			return fmt.Errorf("store: save group %s: %d members staged, %d in the snapshot: %w", id, staged[id], g.Members.Len(), cloud.ErrPartial)
		}
	}
	for id := range staged {
		if g := groups[id]; g == nil || !g.Members.Partial() {
			// Staged, and since gone or held whole: the snapshot's word.
			if _, err := tx.ExecContext(ctx, "DELETE FROM cloud_members_next WHERE group_id = ?", id); err != nil {
				return fmt.Errorf("store: clear cloud_members_next: %w", err)
			}
		}
	}
	for _, q := range []string{
		"INSERT INTO cloud_members(group_id, member_id, kind) SELECT group_id, member_id, kind FROM cloud_members_next ORDER BY group_id, member_id",
		"DELETE FROM cloud_members_next",
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("store: move the staged members: %w", err)
		}
	}
	return nil
}

// scanMember reads a row of group, member and kind (an unknown kind reads
// as unknown, as in JSON).
func scanMember(r *sql.Rows) (group, member string, kind cloud.ObjectType, err error) {
	var k string
	if err = r.Scan(&group, &member, &k); err == nil {
		_ = kind.UnmarshalText([]byte(k))
	}
	return group, member, kind, err
}

// countInto scans rows of an id and a count into counts.
func countInto(counts map[string]int) func(*sql.Rows) error {
	return func(r *sql.Rows) error {
		var id string
		var n int
		err := r.Scan(&id, &n)
		counts[id] = n
		return err
	}
}

// refsIn gives each group its set in sets, made on first use; a group
// keep refuses gets none (keep nil: every group gets one).
func refsIn(sets map[string]*cloud.Refs, keep func(group string) bool) func(group string) *cloud.Refs {
	return func(group string) *cloud.Refs {
		if keep != nil && !keep(group) {
			return nil
		}
		if sets[group] == nil {
			sets[group] = &cloud.Refs{}
		}
		return sets[group]
	}
}

// memberRows writes rows of cloud_members (group, member, kind), a kind
// changed where the row is there.
func memberRows(ctx context.Context, tx *tx) *rows {
	return newRows(ctx, tx, "cloud_members", []string{"group_id", "member_id", "kind"}, " ON CONFLICT(group_id, member_id) DO UPDATE SET kind = excluded.kind")
}

// deleteMembers deletes the rows of group's members.
func deleteMembers(ctx context.Context, tx *tx, group string, members []string) error {
	return eachInAfter(ctx, tx, "DELETE FROM cloud_members WHERE group_id = ? AND member_id IN", []any{group}, members, nil)
}

// loadMembers reads the member rows of the groups ids into the set into
// gives for each group (nil: skip its rows), in the table's order (a set
// read in id order is built without a search).
func loadMembers(ctx context.Context, db querier, ids []string, into func(group string) *cloud.Refs) error {
	return readMembers(ctx, db, "cloud_members", false, slices.Sorted(slices.Values(ids)), into)
}

// loadAllMembers is loadMembers of every group.
func loadAllMembers(ctx context.Context, db querier, into func(group string) *cloud.Refs) error {
	return readMembers(ctx, db, "cloud_members", true, nil, into)
}

// StagedMembers reads back the staged members of the groups ids (those
// staged; a group with no row staged is not in the map).
func (s *Store) StagedMembers(ctx context.Context, ids []string) (map[string]cloud.Refs, error) {
	sets := map[string]*cloud.Refs{}
	if err := readMembers(ctx, s.db.conn, "cloud_members_next", false, slices.Sorted(slices.Values(ids)), refsIn(sets, nil)); err != nil {
		return nil, fmt.Errorf("store: read the staged members: %w", err)
	}
	out := make(map[string]cloud.Refs, len(sets))
	for id, set := range sets {
		out[id] = *set
	}
	return out, nil
}

// StagedMembersAfter reads back the first n staged members of group that
// sort after after, in the table's order.
func (s *Store) StagedMembersAfter(ctx context.Context, group, after string, n int) (cloud.Refs, error) {
	var set cloud.Refs
	err := eachRow(ctx, s.db.conn, "SELECT group_id, member_id, kind FROM cloud_members_next WHERE group_id = ? AND member_id > ? ORDER BY member_id LIMIT ?",
		[]any{group, after, n}, func(r *sql.Rows) error {
			_, member, kind, err := scanMember(r)
			if err == nil {
				set.Append(member, kind)
			}
			return err
		})
	if err != nil {
		return cloud.Refs{}, fmt.Errorf("store: read the staged members of group %s: %w", group, err)
	}
	set.Clip()
	return set, nil
}

// readMembers reads table's member rows (cloud_members, or its stage) of
// every group, or of the groups ids, sorted.
func readMembers(ctx context.Context, db querier, table string, all bool, ids []string, into func(group string) *cloud.Refs) error {
	var (
		last string
		set  *cloud.Refs
		read bool
	)
	scan := func(r *sql.Rows) error {
		group, member, kind, err := scanMember(r)
		if err != nil {
			return err
		}
		if !read || group != last {
			if set != nil {
				set.Clip()
			}
			last, set, read = group, into(group), true
		}
		if set != nil {
			set.Append(member, kind)
		}
		return nil
	}
	q := "SELECT group_id, member_id, kind FROM " + table
	var err error
	if all {
		err = eachRow(ctx, db, q+" ORDER BY group_id, member_id", nil, scan)
	} else {
		// In key order, so that each batch reads the table in order.
		err = eachIn(ctx, db, q+" WHERE group_id IN", ids, scan)
	}
	if set != nil {
		set.Clip()
	}
	return err
}

// loadGroups decodes the groups ids with their members.
func loadGroups(ctx context.Context, db querier, ids []string, put func(id string, g *cloud.Group)) error {
	got := map[string]*cloud.Group{}
	if err := loadByID(ctx, db, "cloud_groups", ids, func(id string, g *cloud.Group) { got[id] = g }); err != nil {
		return err
	}
	return withMembers(ctx, db, got, false, put)
}

// loadBareGroups decodes the groups ids, each with its members loaded in
// part (cloud.InPart): those that are not users, and those of known; the
// others only counted. A group of 250,000 member users planned from one
// member's change reads one count, not 250,000 rows.
func loadBareGroups(ctx context.Context, db querier, ids, known []string, put func(id string, g *cloud.Group)) error {
	got := map[string]*cloud.Group{}
	if err := loadByID(ctx, db, "cloud_groups", ids, func(id string, g *cloud.Group) { got[id] = g }); err != nil {
		return err
	}
	if len(got) == 0 {
		return nil
	}
	ids = slices.Sorted(maps.Keys(got))
	counts := map[string]int{}
	if err := eachIn(ctx, db, "SELECT group_id, COUNT(*) FROM cloud_members WHERE group_id IN (?...) GROUP BY group_id", ids, countInto(counts)); err != nil {
		return err
	}
	held := map[string]*cloud.Refs{}
	for id := range got {
		held[id] = &cloud.Refs{}
	}
	scan := func(r *sql.Rows) error {
		group, member, kind, err := scanMember(r)
		if set := held[group]; err == nil && set != nil {
			set.Append(member, kind)
		}
		return err
	}
	if err := eachIn(ctx, db, "SELECT group_id, member_id, kind FROM cloud_members WHERE group_id IN (?...) AND kind <> '"+cloud.TypeUser.String()+"'", ids, scan); err != nil {
		return err
	}
	if err := eachIn(ctx, db, "SELECT group_id, member_id, kind FROM cloud_members WHERE member_id IN", slices.Sorted(slices.Values(known)), scan); err != nil {
		return err
	}
	for id, g := range got {
		g.Members = cloud.InPart(*held[id], counts[id]-held[id].Len())
		put(id, g)
	}
	return nil
}

// loadAllGroups decodes every group with its members.
func loadAllGroups(ctx context.Context, db querier, put func(id string, g *cloud.Group)) error {
	got := map[string]*cloud.Group{}
	if err := loadAll(ctx, db, "cloud_groups", func(id string, g *cloud.Group) { got[id] = g }); err != nil {
		return err
	}
	return withMembers(ctx, db, got, true, put)
}

// withMembers reads the members of the groups got (of every group stored,
// when all) and hands each group to put.
func withMembers(ctx context.Context, db querier, got map[string]*cloud.Group, all bool, put func(id string, g *cloud.Group)) error {
	into := func(id string) *cloud.Refs {
		if g := got[id]; g != nil {
			return &g.Members
		}
		return nil // the rows of a group not stored: never written so
	}
	var err error
	if all {
		err = loadAllMembers(ctx, db, into)
	} else if len(got) > 0 {
		err = loadMembers(ctx, db, slices.Collect(maps.Keys(got)), into)
	}
	if err != nil {
		return err
	}
	for id, g := range got {
		put(id, g)
	}
	return nil
}

// encodeGroup is a group's row: its members are cloud_members' rows.
func encodeGroup(g *cloud.Group) ([]byte, error) {
	bare := *g
	bare.Members = cloud.Refs{}
	return json.Marshal(&bare)
}

// splitMembers moves the members the groups' rows hold (a state of an
// earlier version, an import) to cloud_members, and writes the rows
// again without them.
func splitMembers(ctx context.Context, tx *tx) error {
	groups := map[string]*cloud.Group{}
	if err := loadAll(ctx, tx, "cloud_groups", func(id string, g *cloud.Group) { groups[id] = g }); err != nil {
		return err
	}
	snap := &cloud.Snapshot{Groups: groups}
	if err := saveMembers(ctx, tx, state.CloudUpdate{Snapshot: snap, FullGroups: true}); err != nil {
		return err
	}
	return saveObjects(ctx, tx, "cloud_groups", true, nil, groups, groupColumns)
}

// backfillUPNs fills the users' UPNs, for the console's member search,
// from the snapshot a state of an earlier version holds.
func backfillUPNs(ctx context.Context, tx *tx) error {
	upns := map[string]string{}
	if err := loadAll(ctx, tx, "cloud_users", func(id string, u *cloud.User) { upns[id] = strings.ToLower(u.UserPrincipalName) }); err != nil {
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
	bare := map[string]bool{}
	for _, id := range q.Bare {
		bare[id] = want[id]
	}
	for _, id := range parents {
		delete(bare, id) // a parent of a changed object is compared in full
	}
	var whole, inPart []string
	for id := range want {
		if bare[id] {
			inPart = append(inPart, id)
		} else {
			whole = append(whole, id)
		}
	}
	put := func(id string, g *cloud.Group) { snap.Groups[id] = g }
	if err := loadGroups(ctx, s.db.conn, whole, put); err != nil {
		return nil, links, err
	}
	if err := loadBareGroups(ctx, s.db.conn, inPart, slices.Concat(q.Members, q.Named), put); err != nil {
		return nil, links, err
	}
	objects := map[string]bool{}
	for _, g := range snap.Groups {
		for m := range g.Members.All() {
			objects[m] = true
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
	if err := loadGroups(ctx, s.db.conn, groups, func(id string, g *cloud.Group) { snap.Groups[id] = g }); err != nil {
		return nil, links, err
	}
	return snap, links, nil
}

// loadByID decodes the rows of table whose ids are given.
func loadByID[T any](ctx context.Context, db querier, table string, ids []string, put func(id string, v *T)) error {
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
func inBatches[T any](ctx context.Context, db querier, query string, ids []string, scan func(*sql.Rows) (T, error)) ([]T, error) {
	var out []T
	err := eachIn(ctx, db, query, ids, func(r *sql.Rows) error {
		v, err := scan(r)
		out = append(out, v)
		return err
	})
	return out, err
}

// eachIn runs query (ending in "IN", or holding "IN (?...)") on ids,
// batchRows at a time, and hands each row to scan (nil: a statement that
// returns none).
func eachIn(ctx context.Context, db querier, query string, ids []string, scan func(*sql.Rows) error) error {
	return eachInAfter(ctx, db, query, nil, ids, scan)
}

// eachInAfter is eachIn with the query's arguments before the list (lead).
func eachInAfter(ctx context.Context, db querier, query string, lead []any, ids []string, scan func(*sql.Rows) error) error {
	for start := 0; start < len(ids); start += batchRows {
		part := ids[start:min(start+batchRows, len(ids))]
		args := append(make([]any, 0, len(lead)+len(part)), lead...)
		for _, id := range part {
			args = append(args, id)
		}
		list := "(?" + strings.Repeat(", ?", len(part)-1) + ")"
		q := query + " " + list
		if strings.Contains(query, "(?...)") {
			q = strings.Replace(query, "(?...)", list, 1)
		}
		if scan == nil {
			if _, err := db.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("store: %s: %w", query, err)
			}
			continue
		}
		if err := eachRow(ctx, db, q, args, scan); err != nil {
			return fmt.Errorf("store: %s: %w", query, err)
		}
	}
	return nil
}
