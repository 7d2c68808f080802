package cloud

import "errors"

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
	Full      bool
	Changes   []UserDelta
	DeltaLink string
	Stats     RoundStats
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
