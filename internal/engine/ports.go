package engine

import (
	"context"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/store"
)

// The engine's adapters, as small interfaces in the vocabulary of cloud,
// policy and reconcile: implementations assert them beside themselves.

// Cloud reads the tenant (graph.Client), in the cloud package's vocabulary.
type Cloud interface {
	GroupsDelta(ctx context.Context, link string) (*cloud.GroupRound, error)
	UsersDelta(ctx context.Context, link string) (*cloud.UserRound, error)
	UnifiedWritebackDefault(ctx context.Context) (value, set bool, err error)
	// IsSoftDeleted says whether a group is in deleted items (restorable).
	IsSoftDeleted(ctx context.Context, id string) (bool, error)
	// CloudManaged says whether a group's source of authority moved from
	// AD to the cloud (onPremisesSyncBehavior.isCloudManaged).
	CloudManaged(ctx context.Context, id string) (bool, error)
}

// DirectoryReader reads AD (directory.Client), in reconcile's vocabulary.
type DirectoryReader interface {
	OwnedGroups(ctx context.Context, base string, managed []string) ([]reconcile.ADGroup, error)
	GroupsByAnchor(ctx context.Context, base string, anchors, managed []string) ([]reconcile.ADGroup, error)
	// GroupAttrsByAnchor is GroupsByAnchor without the members
	// (ADGroup.MembersUnread), for groups planned from their changes.
	GroupAttrsByAnchor(ctx context.Context, base string, anchors, managed []string) ([]reconcile.ADGroup, error)
	Lookup(ctx context.Context, kind reconcile.KeyKind, base string, values []string) (map[string]reconcile.ADObject, error)
	// CheckContainer refuses an OU that is no safe place for groups.
	CheckContainer(ctx context.Context, dn string, deep bool) error
	// ReadGroup reads one group with the attributes and all its members.
	ReadGroup(ctx context.Context, dn string, attrs []string) (*reconcile.ADGroup, error)
}

// ForestBase, as Lookup's base, searches the whole forest: every domain,
// through the global catalog (only by objectSid and distinguishedName,
// which the global catalog holds for every object).
const ForestBase = "<forest>"

// ForestReader is a DirectoryReader that also knows the forest's domains;
// the engine uses it when engine.Config.Forest is set.
type ForestReader interface {
	// ForestDomainSIDs are the SIDs of every domain of the forest.
	ForestDomainSIDs(ctx context.Context) ([]string, error)
}

// DirectoryWriter applies planned operations to AD (directory.Client).
type DirectoryWriter interface {
	Apply(ctx context.Context, op reconcile.Op) error
}

// Store keeps the engine's state between cycles (store.Store): the tenant
// as last read, each group's status, the runs and what they wrote, and the
// settings that bind a state file to its tenant and domain. Every
// implementation passes the suite in internal/store/storetest.
type Store interface {
	CloudState
	StatusBook
	RunLog
	Settings
}

// CloudState is the tenant as last read, with the delta links to go on.
type CloudState interface {
	LoadCloud(ctx context.Context) (*cloud.Snapshot, store.Links, error)
	// LoadHead is LoadCloud without the groups and users.
	LoadHead(ctx context.Context) (*cloud.Snapshot, store.Links, error)
	SaveCloud(ctx context.Context, u store.CloudUpdate) error
	// CountWritten counts the groups written back and not deleted.
	CountWritten(ctx context.Context) (int, error)
}

// StatusBook holds each group's status and the operations written.
type StatusBook interface {
	SetStatus(ctx context.Context, sts []store.GroupStatus) error
	Statuses(ctx context.Context, states ...string) ([]store.GroupStatus, error)
	// StatusesOf are the statuses of the groups named (those that have one).
	StatusesOf(ctx context.Context, ids []string) ([]store.GroupStatus, error)
	RecordOperations(ctx context.Context, ops []store.Operation) error
	Operations(ctx context.Context, cloudID string, n int) ([]store.Operation, error)
}

// RunLog records cycles.
type RunLog interface {
	StartRun(ctx context.Context, mode string) (id int64, died []int64, err error)
	FinishRun(ctx context.Context, id int64, mode, outcome string, summary any) error
	Runs(ctx context.Context, n int) ([]store.Run, error)
}

// Settings are the few values that outlive cycles: whether writeback is
// enabled, what the state file is bound to, and free-form metadata.
type Settings interface {
	Enablement(ctx context.Context) (store.Enablement, error)
	SetEnablement(ctx context.Context, e store.Enablement) error
	Binding(ctx context.Context) (b store.Binding, ok bool, err error)
	SetBinding(ctx context.Context, b store.Binding) error
	Meta(ctx context.Context, key string) (string, error)
	SetMeta(ctx context.Context, key, value string) error
}

// Auditor keeps the audit trail: every write to AD (and every refused
// one), as it is made. A write the trail cannot take stops the cycle: the
// operations left stay pending, so no write goes unrecorded.
type Auditor interface {
	Audit(ctx context.Context, e AuditEntry) error
}

// AuditEntry is one operation on AD and how it went.
type AuditEntry struct {
	Time    time.Time `json:"time"`
	RunID   int64     `json:"runId"`
	CloudID string    `json:"cloudId"`
	Name    string    `json:"name,omitempty"`
	Action  string    `json:"action"`
	DN      string    `json:"dn"`
	// NewDN is where a rename or move put the group.
	NewDN string `json:"newDn,omitempty"`
	// Changes are the attributes written, each old and new.
	Changes        []reconcile.AttrChange `json:"changes,omitempty"`
	MembersAdded   []string               `json:"membersAdded,omitempty"`
	MembersRemoved []string               `json:"membersRemoved,omitempty"`
	// Outcome is applied or failed (Error says why).
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
	// Instance and Token, with a shared state, are the instance that wrote
	// and the writer lease's fencing token it wrote under.
	Instance string `json:"instance,omitempty"`
	Token    int64  `json:"token,omitempty"`
}
