package state

import (
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

// IsPostgres says whether a state URL names a PostgreSQL database.
func IsPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// Links are the delta links the last completed rounds ended with.
type Links struct {
	Groups, Users string
}

// CloudUpdate is what one cycle learned from Graph, saved at once.
type CloudUpdate struct {
	Snapshot *cloud.Snapshot
	// FullGroups and FullUsers replace all stored groups (users); otherwise
	// only the ids in ChangedGroups (ChangedUsers) are written or removed.
	FullGroups, FullUsers bool
	// UsersStaged: the users are the full round the state staged
	// (StageUsers), not the snapshot's, which holds none of them.
	UsersStaged                 bool
	ChangedGroups, ChangedUsers []string
	// Members are the member changes of changed groups the state held
	// before (cloud.Snapshot.TakeGroups): saved as the rows they change.
	// A changed group not in it has its members compared with the state's.
	Members map[string]cloud.MemberDelta
	Links   Links
	// Pending are groups to mark pending: the next cycle works on them even
	// if Graph reports no change, so a crash loses nothing.
	Pending map[string]string // cloud id → name
}

// Part is the part of the stored snapshot a delta cycle with changes
// loads (LoadPart), rather than the whole tenant.
type Part struct {
	// Groups are loaded with the users and groups they name as members,
	// but for the groups also in Bare, whose member users are left out (a
	// group planned from its member changes needs only the members
	// changed; one planned in full has the rest loaded later).
	Groups, Bare []string
	// Members are the objects that changed: the groups that have one as
	// a member are loaded too, with what they name.
	Members []string
	// Named are loaded by themselves, each a user or a group (the members
	// the changes add or remove).
	Named []string
}
