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
	FullGroups, FullUsers       bool
	ChangedGroups, ChangedUsers []string
	Links                       Links
	// Pending are groups to mark pending: the next cycle works on them even
	// if Graph reports no change, so a crash loses nothing.
	Pending map[string]string // cloud id → name
}
