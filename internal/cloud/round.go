package cloud

import (
	"context"
	"errors"
)

// GroupRound is one delta round over groups.
type GroupRound struct {
	// Full is true when the round describes every group (no delta link was
	// given, or Graph asked for a resync): the caller replaces its snapshot.
	Full bool
	// Changes holds one entry per group, its pages merged, in the order
	// groups first appeared.
	Changes []GroupDelta
	// DeltaLink starts the next round.
	DeltaLink string
	Stats     RoundStats
}

// UserRound is one delta round over users.
type UserRound struct {
	Full bool
	// Changes holds one entry per user, as GroupRound's, unless Spilled.
	Changes []UserDelta
	// Spilled: the round was full and handed to a UserSpill as it was
	// read (Changes is empty).
	Spilled   bool
	DeltaLink string
	Stats     RoundStats
}

// A UserSpill takes a full round of users a batch at a time as it is
// read, so that a large tenant's users are never all held: a user's
// entries may then come in several batches (Graph may repeat an object
// within a round), each to be applied after the ones before, in order.
type UserSpill interface {
	// Spill takes the batch, whose entries are the round's from the
	// from-th on: from 0 starts the round (again, after a resync), and
	// voids what was spilled before.
	Spill(ctx context.Context, from int, batch []UserDelta) error
}

// SpillFunc is a UserSpill that is a function.
type SpillFunc func(ctx context.Context, from int, batch []UserDelta) error

// Spill calls f.
func (f SpillFunc) Spill(ctx context.Context, from int, batch []UserDelta) error {
	return f(ctx, from, batch)
}

// FoldUsers are the users that a full round's entries (deltas, in the
// order read) describe, as Snapshot.ApplyUsers of the whole round would
// leave them: the entries of any set of users may be folded apart from
// the others'.
func FoldUsers(deltas []UserDelta) map[string]*User {
	s := &Snapshot{Users: map[string]*User{}}
	s.applyUsers(false, deltas, true)
	return s.Users
}

// RoundStats counts what a round read.
type RoundStats struct {
	Pages int
	Items int
	// Resyncs counts restarts from a full read that Graph asked for.
	Resyncs int
	// Skipped counts items without an id, which cannot be applied.
	Skipped int
}

// ErrForbidden: the tenant refused a read for want of a permission (HTTP
// 403); the Graph client's errors match it with errors.Is.
var ErrForbidden = errors.New("forbidden: the app lacks a permission for this read")
