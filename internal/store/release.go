package store

import (
	"context"
	"fmt"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/state"
)

// AddReleases records admins' releases of held deletes; a release of a
// group replaces the one it had.
func (s *Store) AddReleases(ctx context.Context, rs []state.Release) error {
	return s.write(ctx, "record releases", func(t *tx) error {
		for _, r := range rs {
			if _, err := t.ExecContext(ctx, `INSERT INTO releases(cloud_id, name, dn, action, approved_by, reason, at_ms, expires_ms, audited) VALUES(?, ?, ?, ?, ?, ?, ?, ?, 0)
				ON CONFLICT(cloud_id) DO UPDATE SET name = excluded.name, dn = excluded.dn, action = excluded.action, approved_by = excluded.approved_by,
				reason = excluded.reason, at_ms = excluded.at_ms, expires_ms = excluded.expires_ms, audited = 0`,
				r.CloudID, r.Name, r.DN, r.Action, r.By, r.Reason, r.At.UnixMilli(), r.Expires.UnixMilli()); err != nil {
				return fmt.Errorf("store: record the release of %s: %w", r.CloudID, err)
			}
		}
		return nil
	})
}

// Releases are the releases that stand now (expired ones are left out).
func (s *Store) Releases(ctx context.Context) ([]state.Release, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT cloud_id, name, dn, action, approved_by, reason, at_ms, expires_ms, audited FROM releases WHERE expires_ms > ? ORDER BY cloud_id",
		s.now().UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("store: releases: %w", err)
	}
	defer rows.Close()
	var out []state.Release
	for rows.Next() {
		var r state.Release
		var at, expires, audited int64
		if err := rows.Scan(&r.CloudID, &r.Name, &r.DN, &r.Action, &r.By, &r.Reason, &at, &expires, &audited); err != nil {
			return nil, fmt.Errorf("store: releases: %w", err)
		}
		r.At, r.Expires, r.Audited = time.UnixMilli(at).UTC(), time.UnixMilli(expires).UTC(), audited != 0
		out = append(out, r)
	}
	return out, rows.Err()
}

// DropReleases forgets the releases of the groups named (used, or
// withdrawn), and every expired one.
func (s *Store) DropReleases(ctx context.Context, ids []string) error {
	return s.write(ctx, "drop releases", func(t *tx) error {
		for _, id := range ids {
			if _, err := t.ExecContext(ctx, "DELETE FROM releases WHERE cloud_id = ?", id); err != nil {
				return fmt.Errorf("store: drop the release of %s: %w", id, err)
			}
		}
		if _, err := t.ExecContext(ctx, "DELETE FROM releases WHERE expires_ms <= ?", s.now().UnixMilli()); err != nil {
			return fmt.Errorf("store: drop expired releases: %w", err)
		}
		return nil
	})
}

// MarkReleasesAudited records that a cycle wrote these decisions to the
// audit trail.
func (s *Store) MarkReleasesAudited(ctx context.Context, ids []string) error {
	return s.write(ctx, "mark releases audited", func(t *tx) error {
		for _, id := range ids {
			if _, err := t.ExecContext(ctx, "UPDATE releases SET audited = 1 WHERE cloud_id = ?", id); err != nil {
				return fmt.Errorf("store: mark the release of %s audited: %w", id, err)
			}
		}
		return nil
	})
}
