package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/state"
)

// likeEscaper makes text match itself in a LIKE pattern (ESCAPE '\').
var likeEscaper = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)

// Inventory is a page of the groups q chooses, and how many it chooses in
// all: the console's search, answered by the database a page at a time.
func (s *Store) Inventory(ctx context.Context, q state.InventoryQuery) ([]state.GroupStatus, int, error) {
	var where []string
	var args []any
	if q.Text != "" {
		text := strings.ToLower(strings.TrimSpace(q.Text))
		like := "%" + likeEscaper.Replace(text) + "%"
		cond := `name_fold LIKE ? ESCAPE '\' OR dn_fold LIKE ? ESCAPE '\' OR sam_fold LIKE ? ESCAPE '\' OR cloud_id = ?`
		args = append(args, like, like, like, text)
		if strings.Contains(text, "@") {
			// A member's UPN, whole: its groups, found through the
			// indexes on the UPN and on the member.
			cond += ` OR cloud_id IN (SELECT m.group_id FROM cloud_users u JOIN cloud_members m ON m.member_id = u.id WHERE u.upn = ?)`
			args = append(args, text)
		}
		where = append(where, "("+cond+")")
	}
	if q.State != "" {
		where = append(where, "state = ?")
		args = append(args, q.State)
	}
	if q.Kind != "" {
		where = append(where, "kind = ?")
		args = append(args, q.Kind)
	}
	if q.OU != "" {
		where = append(where, `dn_fold LIKE ? ESCAPE '\'`)
		args = append(args, "%,"+likeEscaper.Replace(strings.ToLower(q.OU)))
	}
	if q.Reason != "" {
		// members_not_written is a JSON object keyed by reason code.
		where = append(where, `members_not_written LIKE ? ESCAPE '\'`)
		args = append(args, `%"`+likeEscaper.Replace(q.Reason)+`":%`)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM group_status"+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: inventory: %w", err)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.db.QueryContext(ctx, "SELECT "+statusColumns+" FROM group_status"+cond+
		" ORDER BY name_fold, cloud_id LIMIT ? OFFSET ?", append(args, limit, max(q.Offset, 0))...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: inventory: %w", err)
	}
	out, err := scanAll(rows, scanStatus)
	return out, total, err
}

// RunOperations are the operations of one run, in the order they were
// made (at most n).
func (s *Store) RunOperations(ctx context.Context, runID int64, n int) ([]state.Operation, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT run_id, cloud_id, action, dn, outcome, error, at FROM operations WHERE run_id = ? ORDER BY id LIMIT ?", runID, n)
	if err != nil {
		return nil, fmt.Errorf("store: operations of run %d: %w", runID, err)
	}
	return scanAll(rows, scanOperation)
}
