package engine

import (
	"context"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// The engine's adapters, as small interfaces in the vocabulary of cloud,
// policy and reconcile: implementations assert them beside themselves.

// Cloud reads the tenant (graph.Client), in the cloud package's vocabulary.
type Cloud interface {
	GroupsDelta(ctx context.Context, link string) (*cloud.GroupRound, error)
	// UsersDelta reads a round of users; a full one goes to spill, when
	// set, as it is read (cloud.UserRound.Spilled).
	UsersDelta(ctx context.Context, link string, spill cloud.UserSpill) (*cloud.UserRound, error)
	UnifiedWritebackDefault(ctx context.Context) (value, set bool, err error)
	// IsSoftDeleted says whether a group is in deleted items (restorable).
	IsSoftDeleted(ctx context.Context, id string) (bool, error)
	// CloudManaged says whether a group's source of authority moved from
	// AD to the cloud (onPremisesSyncBehavior.isCloudManaged).
	CloudManaged(ctx context.Context, id string) (bool, error)
	// SourceOfAuthority reads a group's onPremisesSecurityIdentifier and
	// isCloudManaged now, for the write gate's check of a write in place.
	SourceOfAuthority(ctx context.Context, id string) (gate.CloudGroup, error)
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

// The directory writer is a gate.Target (directory.Client, memdir): the
// engine writes to it only through the write gate it builds in New.

// Store keeps the engine's state between cycles (store.Store): the tenant
// as last read, each group's status, the runs and what they wrote, and the
// settings that bind a state file to its tenant and domain. Every
// implementation passes the suite in internal/store/storetest.
type Store interface {
	CloudState
	StatusBook
	RunLog
	Settings
	Approvals
}

// Approvals are admins' releases of the deletes the threshold holds back.
type Approvals interface {
	// Releases are the releases that stand now.
	Releases(ctx context.Context) ([]state.Release, error)
	// DropReleases forgets the releases of the groups named, and the
	// expired ones.
	DropReleases(ctx context.Context, ids []string) error
	// MarkReleasesAudited records that the decisions of the groups named
	// are in the audit trail.
	MarkReleasesAudited(ctx context.Context, ids []string) error
}

// CloudState is the tenant as last read, with the delta links to go on.
type CloudState interface {
	LoadCloud(ctx context.Context) (*cloud.Snapshot, state.Links, error)
	// LoadGroups is LoadCloud without the users.
	LoadGroups(ctx context.Context) (*cloud.Snapshot, state.Links, error)
	// LoadHead is LoadCloud without the groups and users.
	LoadHead(ctx context.Context) (*cloud.Snapshot, state.Links, error)
	// LoadPart is LoadCloud with only the part a delta cycle with changes
	// needs (state.Part says which).
	LoadPart(ctx context.Context, q state.Part) (*cloud.Snapshot, state.Links, error)
	SaveCloud(ctx context.Context, u state.CloudUpdate) error
	// StageMembers stages the members of groups of a full cycle (first:
	// the cycle's first batch, which clears what an earlier one left), so
	// that it may let them go (cloud.InPart) before SaveCloud, which takes
	// them from the stage.
	StageMembers(ctx context.Context, first bool, groups map[string]cloud.Refs) error
	// StagedMembers reads back, whole, the staged members of the groups
	// ids: a cycle that staged every list before planning reads each
	// slice's back to plan it.
	StagedMembers(ctx context.Context, ids []string) (map[string]cloud.Refs, error)
	// StagedMembersAfter reads back the first n staged members of group
	// that sort after after (all: ""): a group too large to read back
	// whole is read a part at a time.
	StagedMembersAfter(ctx context.Context, group, after string, n int) (cloud.Refs, error)
	// StageUsers stages a batch of a full round of users as it is read
	// (a cloud.UserSpill; from 0 clears what was staged before), for
	// SaveCloud (state.CloudUpdate.UsersStaged) to take.
	StageUsers(ctx context.Context, from int, batch []cloud.UserDelta) error
	// StagedUsers reads back the users ids that the staged round
	// describes: a cycle that staged them reads each slice's members'.
	StagedUsers(ctx context.Context, ids []string) (map[string]*cloud.User, error)
	// ForgetLinks drops the delta links (the snapshot stays): the next
	// cycle reads the whole tenant.
	ForgetLinks(ctx context.Context) error
	// CountWritten counts the groups written back and not deleted.
	CountWritten(ctx context.Context) (int, error)
}

// StatusBook holds each group's status and the operations written.
type StatusBook interface {
	SetStatus(ctx context.Context, sts []state.GroupStatus) error
	Statuses(ctx context.Context, states ...string) ([]state.GroupStatus, error)
	// StatusesOf are the statuses of the groups named (those that have one).
	StatusesOf(ctx context.Context, ids []string) ([]state.GroupStatus, error)
	RecordOperations(ctx context.Context, ops []state.Operation) error
	Operations(ctx context.Context, cloudID string, n int) ([]state.Operation, error)
}

// RunLog records cycles.
type RunLog interface {
	StartRun(ctx context.Context, mode string) (id int64, died []int64, err error)
	FinishRun(ctx context.Context, id int64, mode string, outcome state.Outcome, summary any) error
	// FinishQuietRun records a cycle that found nothing to do, in the
	// last row when it holds quiet cycles like it; it returns the row's id.
	FinishQuietRun(ctx context.Context, id int64, mode string, summary any) (int64, error)
	// SetRunSummary records what a run did, found after it died.
	SetRunSummary(ctx context.Context, id int64, summary any) error
	// PruneHistory drops the runs that ended and the operations written
	// before the time given, but the last keep runs and theirs.
	PruneHistory(ctx context.Context, before time.Time, keep int) (runs, ops int64, err error)
	Runs(ctx context.Context, n int) ([]state.Run, error)
}

// Settings are the few values that outlive cycles: whether writeback is
// enabled, what the state file is bound to, and free-form metadata.
type Settings interface {
	Enablement(ctx context.Context) (state.Enablement, error)
	SetEnablement(ctx context.Context, e state.Enablement) error
	Binding(ctx context.Context) (b state.Binding, ok bool, err error)
	SetBinding(ctx context.Context, b state.Binding) error
	Meta(ctx context.Context, key string) (string, error)
	SetMeta(ctx context.Context, key, value string) error
	// Secret is one of the keys the state makes once (state.PlanKey signs
	// saved plans).
	Secret(ctx context.Context, name string) ([]byte, error)
	// SetPendingPlan records a staging server's last plan (nil: none).
	SetPendingPlan(ctx context.Context, ops any) error
}

// Auditor keeps the audit trail: every write to AD (and every refused
// one), as it is made: an intent before the write is sent, its outcome
// after. A write the trail cannot take stops the cycle: the operations
// left stay pending, so no write goes unrecorded.
type Auditor interface {
	Audit(ctx context.Context, e AuditEntry) error
}

// The outcomes of an audit entry.
const (
	// OutcomeIntent is written before a write is sent: an intent with no
	// outcome after it is a write whose process ended before it knew how
	// the write went; the next start settles it by reading AD.
	OutcomeIntent = "intent"
	// OutcomeApplied and OutcomeFailed say how a write went.
	OutcomeApplied = "applied"
	OutcomeFailed  = "failed"
	// OutcomeRefused: the write gate refused the operation; nothing was
	// sent (Rule says which rule).
	OutcomeRefused = "refused"
	// OutcomeNotApplied settles an intent whose write AD shows was never
	// made.
	OutcomeNotApplied = "not-applied"
	// OutcomeInStep is no write: a cycle's writes brought a changed group
	// in step ("AD now matches"; InStep says when and what).
	OutcomeInStep = "in-step"
)

// InStep is an "AD now matches" entry's account: when the change was
// noticed and how, when AD was written, and what was written.
type InStep struct {
	Noticed time.Time `json:"noticed"`
	// By is how the change was noticed: notification, or cycle (the
	// cycle's delta read found it).
	By      string    `json:"by"`
	Written time.Time `json:"written"`
	Changes []string  `json:"changes"`
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
	// RestoredFrom, on a restore, is the deleted object brought back to
	// DN ("restored from deleted objects": its objectGUID and objectSid).
	RestoredFrom string `json:"restoredFrom,omitempty"`
	// Changes are the attributes written, each old and new.
	Changes        []reconcile.AttrChange `json:"changes,omitempty"`
	MembersAdded   []string               `json:"membersAdded,omitempty"`
	MembersRemoved []string               `json:"membersRemoved,omitempty"`
	// Outcome is intent, applied, failed, refused or not-applied (Error
	// says why); Rule is the write gate's rule that refused it.
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
	Rule    string `json:"rule,omitempty"`
	// OpID pairs an intent with its outcome: the run and the operation's
	// place in it.
	OpID string `json:"opId,omitempty"`
	// Settled marks an outcome found later by reading AD, for an intent
	// whose process ended before it recorded one.
	Settled bool `json:"settled,omitempty"`
	// Actor is who asked for the write (WithActor): "service",
	// "cli:alice", the console's identity. AllowDeletes is the
	// --allow-deletes the run was given; Release the admin's release a
	// held delete or quarantine went through with (who, why, when).
	Actor        string         `json:"actor,omitempty"`
	AllowDeletes int            `json:"allowDeletes,omitempty"`
	Release      *state.Release `json:"release,omitempty"`
	// InStep is set on an OutcomeInStep entry.
	InStep *InStep `json:"inStep,omitempty"`
	// Adopted marks a write to a group this state had never written,
	// found by its anchor (Connect's, or an earlier install's): the
	// write that takes it over.
	Adopted bool `json:"adopted,omitempty"`
	// Approval is the admin's approval of the saved plan the write came
	// from, when it was applied from the console (who, why, which plan).
	Approval *Approval `json:"approval,omitempty"`
	// Instance and Token, with a shared state, are the instance that wrote
	// and the writer lease's fencing token it wrote under.
	Instance string `json:"instance,omitempty"`
	Token    int64  `json:"token,omitempty"`
	// Seq and Chain are set by the trail: the entry's place in it, and
	// the chain value sealing it to the one before. Prev and Pruned are a
	// checkpoint's: the chain value of the last entry retention dropped,
	// and how many it dropped.
	Seq    int64  `json:"seq,omitempty"`
	Prev   string `json:"prev,omitempty"`
	Pruned int    `json:"pruned,omitempty"`
	Chain  string `json:"chain,omitempty"`
}

// IntentLog is an Auditor that knows the intents it holds with no outcome
// (audit.Log): writes whose process ended, or lost the DC, before it knew
// how they went. The engine settles them by reading AD before it writes.
type IntentLog interface {
	Unsettled() []AuditEntry
	// Applied are the writes a run made whose process was killed (what
	// the trail holds of it).
	Applied(runID int64) []AuditEntry
}
