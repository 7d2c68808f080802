package engine

import (
	"context"
	"fmt"

	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// deletedReader finds deleted groups by their anchors (directory.Client,
// memdir): the engine restores a group AD holds deleted instead of
// creating it anew.
type deletedReader interface {
	// AnyDeleted says whether any deleted group carrying an anchor is
	// there to be found: read once a cycle, before any lookup.
	AnyDeleted(ctx context.Context) (bool, error)
	DeletedByAnchor(ctx context.Context, anchors []string) (map[string]reconcile.Deleted, error)
}

// restoreDeleted turns the creates of ops whose group AD holds deleted
// (its anchor in CN=Deleted Objects) into restores of that object: the
// same objectGUID and objectSid, so that every ACL and every on-premises
// nesting that named the group holds again (reconcile.RestoreDeleted).
// Nothing is read when ops create nothing, writeback.restore_deleted is
// false, or the directory cannot say.
func (e *Engine) restoreDeleted(ctx context.Context, p *planning, ops []reconcile.Op) ([]reconcile.Op, error) {
	r, ok := e.reader.(deletedReader)
	if !ok || e.cfg.CreateAnew {
		return ops, nil
	}
	var anchors []string
	for _, op := range ops {
		if op.Action == reconcile.Create {
			anchors = append(anchors, op.Anchor)
		}
	}
	if len(anchors) == 0 {
		return ops, nil
	}
	if !p.deletedRead {
		p.deletedRead = true
		found, err := r.AnyDeleted(ctx)
		if err != nil {
			return nil, fmt.Errorf("engine: look for deleted groups to restore in CN=Deleted Objects: %w", err)
		}
		p.noneDeleted = !found
	}
	if p.noneDeleted {
		return ops, nil
	}
	deleted, err := r.DeletedByAnchor(ctx, anchors)
	if err != nil {
		return nil, fmt.Errorf("engine: look for deleted groups to restore in CN=Deleted Objects: %w", err)
	}
	ops = reconcile.RestoreDeleted(ops, deleted, p.ropts)
	for _, op := range ops {
		switch {
		case op.Action == reconcile.Restore:
			e.logger.Info("a deleted group is restored, not created anew: the same objectSid", "cloud_id", op.CloudID, "dn", op.DN, "from", op.From, "why", op.Reason)
		case op.Action == reconcile.Create && op.Reason != "":
			e.logger.Warn("a group is created anew: its deleted object cannot be restored", "cloud_id", op.CloudID, "dn", op.DN, "why", op.Reason)
		}
	}
	return ops, nil
}

// unrestored says whether a failed restore falls back to creating the
// group anew: not when the error stops the cycle (the DC gone, the lease
// lost, the audit trail refusing).
func unrestored(op reconcile.Op, err error) bool {
	why, _ := stopsCycle(err)
	return op.Action == reconcile.Restore && why == ""
}
