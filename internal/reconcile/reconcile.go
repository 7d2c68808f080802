// Package reconcile compares the groups policy wants in Active Directory with
// the groups the tool finds there and plans the operations that make them
// equal, behind the safety gates: only owned objects in the target OU are
// touched, and a run that would delete too much deletes nothing. It is pure.
package reconcile

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/policy"
)

// Sentinel errors of the safety gates, for errors.Is.
var (
	// ErrNotOwned: the object lacks the tool's anchor or lies outside the
	// target OU, so the tool leaves it alone.
	ErrNotOwned = errors.New("not owned by groupwriteback")
	// ErrThresholdExceeded: the run would delete more groups than allowed.
	ErrThresholdExceeded = errors.New("delete threshold exceeded")
)

// ADGroup is a group as read from Active Directory.
type ADGroup struct {
	DN   string `json:"dn"`
	GUID string `json:"guid"`
	// Anchor is the adminDescription value that names the cloud group.
	Anchor string `json:"anchor"`
	// Attrs holds the managed attributes present on the object.
	Attrs map[string][]string `json:"attrs"`
	// Members are the DNs in member, all of them (ranged retrieval).
	Members []string `json:"members"`
	// MembersUnread: the group was read without its members (Members is
	// empty), for a Desired that carries only its member changes.
	MembersUnread bool `json:"membersUnread,omitempty"`
}

// Member is a resolved member: its DN in AD, or, for a group that is itself
// written back, its anchor (whose DN may change in this very run).
type Member struct {
	DN     string
	Anchor string
}

// Desired is a group policy wants, with its members resolved.
type Desired struct {
	Group *policy.DesiredGroup
	// Members point into one table of the members found (a tenant's
	// memberships outnumber its objects by far): 8 bytes a membership;
	// read-only.
	Members []*Member
	// Original, for a group written in place, is its original AD group as
	// read (with displayName, description and members).
	Original *ADGroup
	// NotWritten are the members that cannot be written, and why.
	NotWritten []MemberProblem
	// Matched are the members, not synced from AD, that a
	// writeback.match_unsynced rule matched to an AD account.
	Matched []MemberMatch
	// Changes, when set, says the group was in step when last written and
	// only these members changed since: Members (and NotWritten) are just
	// the members added, Changes.Removed the DNs of those removed, and the
	// plan adds and removes exactly these, without the AD group's members
	// (an add of a value already there, or a removal of one already gone,
	// is harmless: the directory skips it). The AD group must be where
	// the group belongs (Stays): anything more is for a full comparison.
	Changes *MemberChanges
	// More, when set, says Members (and NotWritten) are more members of a
	// group the plan creates (Maker.Creates), given after the group: one
	// with more members than a slice of the plan holds is planned in parts,
	// so that its members are never all resolved and held at once. The
	// plan adds them to the group it creates.
	More bool
}

// MemberMatch is a member not synced from AD that a writeback.match_unsynced
// rule matched to an AD user account: which rule, and the account.
type MemberMatch struct {
	CloudID string `json:"cloudId"`
	Rule    string `json:"rule"`
	DN      string `json:"dn"`
}

// MemberChanges are the members removed from a group since it was last
// written (see Desired.Changes).
type MemberChanges struct {
	Removed []*Member
}

// MemberProblem is one member that is not written, and why.
type MemberProblem struct {
	CloudID string `json:"cloudId"`
	// Code is the reason's stable code (policy.MemberReasonCode), Reason
	// its sentence.
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// Fate is what becomes of an owned AD group policy no longer wants.
type Fate string

// The fates: keep it as it is (and stop updating it), delete it, or move it
// to the quarantine OU with its members cleared, keeping its SID and anchor
// so a later re-enable finds it again.
const (
	Keep       Fate = "keep"
	DeleteIt   Fate = "delete"
	Quarantine Fate = "quarantine"
)

// Disposition says what to do with an owned AD group that policy does not
// want written (out of scope, soft-deleted, unwritable), and why.
type Disposition struct {
	Fate   Fate
	Reason string
}

// Action is the kind of an operation.
type Action string

// The operations, in the order a plan applies them.
const (
	Create        Action = "create"
	Restore       Action = "restore"
	Move          Action = "move"
	Rename        Action = "rename"
	Update        Action = "update"
	RemoveMembers Action = "remove-members"
	// ChangeScope changes a group's scope (groupType's scope bits), after
	// the member removals and before the adds: AD refuses a scope its
	// members do not fit (a global group holding a universal one), and a
	// member only the new scope holds (a domain-local group in a
	// domain-local group).
	ChangeScope Action = "change-scope"
	AddMembers  Action = "add-members"
	Delete      Action = "delete"
)

var actionOrder = []Action{Create, Restore, Move, Rename, Update, RemoveMembers, ChangeScope, AddMembers, Delete}

// Op is one LDAP operation on one group.
type Op struct {
	Action  Action `json:"action"`
	CloudID string `json:"cloudId"`
	// DN is the object operated on (for create, the new object).
	DN string `json:"dn"`
	// NewRDN is the new relative DN of a rename, escaped.
	NewRDN string `json:"newRdn,omitempty"`
	// NewParent is the OU a move puts the group in.
	NewParent string `json:"newParent,omitempty"`
	// From, on a restore, is the deleted object it brings back to DN: the
	// group the cloud group had, with its objectGUID and objectSid, as AD
	// keeps it under CN=Deleted Objects.
	From string `json:"restoreFrom,omitempty"`
	// Anchor is the anchor the object must carry: the directory checks it
	// again before writing.
	Anchor  string       `json:"anchor"`
	Changes []AttrChange `json:"changes,omitempty"`
	// Members are added or removed (for create: the initial members).
	Members []string `json:"members,omitempty"`
	// MemberCount, in a cycle's result, is how many member values the
	// operation wrote: a cycle keeps its operations without their values
	// once written (the audit trail holds them). Never set in a plan.
	MemberCount int    `json:"memberCount,omitempty"`
	Reason      string `json:"reason,omitempty"`
	// SID, set on the operations of a group written in place (its source
	// of authority moved to the cloud), is the objectSid the original AD
	// group must have: it is checked instead of the anchor, which such a
	// group does not carry.
	SID string `json:"inPlaceSid,omitempty"`
}

// FinalDN is where the group is once the operation is done: the new name
// of a rename, the new place of a move, "" after a delete, else its DN.
func (op Op) FinalDN() string {
	switch op.Action {
	case Rename:
		_, parent := policy.SplitDN(op.DN)
		return op.NewRDN + "," + parent
	case Move:
		rdn, _ := policy.SplitDN(op.DN)
		return rdn + "," + op.NewParent
	case Delete:
		return ""
	}
	return op.DN
}

// Creates reports whether the operation makes the group exist at DN: a
// create, or the restore of its deleted object.
func (op Op) Creates() bool { return op.Action == Create || op.Action == Restore }

// Change is the operation's change of attribute name (as AD compares
// names, case aside), if it has one.
func (op Op) Change(name string) (AttrChange, bool) {
	for _, ch := range op.Changes {
		if strings.EqualFold(ch.Name, name) {
			return ch, true
		}
	}
	return AttrChange{}, false
}

// Quarantines reports whether the operation moves the group into the
// quarantine OU given, the DNs compared as AD compares them (case and
// spacing aside): the one place that decides it.
func (op Op) Quarantines(quarantineOU string) bool {
	return op.Action == Move && quarantineOU != "" && policy.SameDN(op.NewParent, quarantineOU)
}

// AttrChange sets an attribute; no New values removes it.
type AttrChange struct {
	Name string   `json:"name"`
	Old  []string `json:"old,omitempty"`
	New  []string `json:"new,omitempty"`
}

// Problem is a group the plan leaves alone, and why.
type Problem struct {
	CloudID string `json:"cloudId"`
	DN      string `json:"dn,omitempty"`
	Err     error  `json:"-"`
	Message string `json:"message"`
}

// Options tune planning.
type Options struct {
	TargetOU string
	// OUs are every OU groups are placed in (writeback.placement), the
	// target OU among them; empty means the target OU alone.
	OUs []string
	// QuarantineOU holds quarantined groups; the tool owns anchored groups
	// there too.
	QuarantineOU string
	// MoveBack moves a wanted group an admin moved out of the target OU
	// back into it; otherwise such a group is reported and left alone.
	MoveBack bool
	// Managed are the attributes the tool owns (policy.ManagedAttributes).
	Managed []string
	// KeepSAM keeps the sAMAccountName of a group that has one: it is
	// written when the group is created, and a rename leaves it as it is.
	KeepSAM bool
	// BatchSize is the most member values in one modify (default 1000).
	BatchSize int
	// DeleteThreshold is the most deletes and quarantines one run may make;
	// DeleteThresholdPercent, when set, lowers it to that share of the owned
	// groups (never below one group). AllowDeletes lifts the limit for one
	// run.
	DeleteThreshold        int
	DeleteThresholdPercent int
	AllowDeletes           int
	// Released are the groups whose removal an admin released, by cloud
	// id, with the DN the release names: such a removal of that object
	// goes through, and does not count against the threshold.
	Released map[string]string
	// Held are the groups an earlier run held back: their removal waits
	// for a release (or an AllowDeletes that covers it), even when fewer
	// removals than the threshold are left.
	Held map[string]bool
	// OwnedTotal, when above the owned groups among actual, is the number
	// of groups the tool has written: a delta cycle reads only some.
	OwnedTotal int
	// Command is the command to name in the threshold message (default sync).
	Command string
}

// Plan is the result: operations in order, and the groups left alone.
type Plan struct {
	Ops      []Op      `json:"operations"`
	Problems []Problem `json:"problems,omitempty"`
	// NotWritten are, per cloud group, the members not written.
	NotWritten map[string][]MemberProblem `json:"membersNotWritten,omitempty"`
	// Unchanged counts desired groups already in step.
	Unchanged int `json:"unchanged"`
	// HeldBack are the deletes and quarantines the threshold stopped.
	HeldBack []Op `json:"heldBack,omitempty"`
}

// resolve turns members into DNs, anchors through finalDN; it returns the
// anchors it could not place.
func resolve(ms []*Member, finalDN map[string]string) (dns []string, missing []string) {
	seen := make(map[string]bool, len(ms))
	dns = make([]string, 0, len(ms))
	for _, m := range ms {
		dn := m.DN
		if m.Anchor != "" {
			if f, ok := finalDN[m.Anchor]; ok {
				dn = f
			}
		}
		if dn == "" {
			missing = append(missing, policy.CloudIDFromAnchor(m.Anchor))
			continue
		}
		if k := strings.ToLower(dn); !seen[k] {
			seen[k] = true
			dns = append(dns, dn)
		}
	}
	return dns, missing
}

func create(g *policy.DesiredGroup, members []string, created func(dn string) bool, o Options) []Op {
	// The add takes the first members, the modifies after it the rest,
	// and members that are groups created by this plan too come later
	// (they exist only once created). Without such members the slices
	// share members' array: a large tenant's plan holds each DN once.
	n := min(len(members), o.BatchSize)
	initial, later := members[:n:n], members[n:]
	if slices.ContainsFunc(members, created) {
		initial, later = nil, nil
		for _, m := range members {
			if !created(m) && len(initial) < o.BatchSize {
				initial = append(initial, m)
			} else {
				later = append(later, m)
			}
		}
	}
	c := Op{Action: Create, CloudID: g.CloudID, DN: g.DN, Anchor: g.Anchor, Members: initial}
	for _, name := range sortedKeys(g.Attrs) {
		if vals := g.Attrs[name]; len(vals) > 0 {
			c.Changes = append(c.Changes, AttrChange{Name: name, New: vals})
		}
	}
	return append([]Op{c}, batches(AddMembers, g.CloudID, g.DN, g.Anchor, later, o.BatchSize)...)
}

// converge plans the operations that make an existing group as desired.
func converge(g *policy.DesiredGroup, a *ADGroup, members []string, o Options) []Op {
	ops, dn := reshape(g, a, o)
	want := map[string]bool{}
	for _, m := range members {
		want[strings.ToLower(m)] = true
	}
	have := map[string]bool{}
	var remove []string
	for _, m := range a.Members {
		k := strings.ToLower(m)
		have[k] = true
		if !want[k] {
			remove = append(remove, m)
		}
	}
	var add []string
	for _, m := range members {
		if !have[strings.ToLower(m)] {
			add = append(add, m)
		}
	}
	ops = append(ops, batches(RemoveMembers, g.CloudID, dn, g.Anchor, remove, o.BatchSize)...)
	ops = append(ops, batches(AddMembers, g.CloudID, dn, g.Anchor, add, o.BatchSize)...)
	return ops
}

// byChanges plans the operations of a group known to have been in step
// but for its changed members (Desired.Changes): its attributes as
// converge compares them, then the members added and removed.
func byChanges(g *policy.DesiredGroup, a *ADGroup, added, removed []string, o Options) []Op {
	ops, dn := reshape(g, a, o)
	drop := map[string]bool{}
	for _, m := range added {
		drop[strings.ToLower(m)] = true // removed and added back: it stays
	}
	removed = slices.DeleteFunc(removed, func(m string) bool { return drop[strings.ToLower(m)] })
	ops = append(ops, batches(RemoveMembers, g.CloudID, dn, g.Anchor, removed, o.BatchSize)...)
	ops = append(ops, batches(AddMembers, g.CloudID, dn, g.Anchor, added, o.BatchSize)...)
	return ops
}

// Stays reports whether a, the AD group of g, is where g belongs: no move
// (back from quarantine or elsewhere, or to another placement OU) is due.
func Stays(a *ADGroup, g *policy.DesiredGroup, o Options) bool {
	return o.home(a.DN) != "" && homeDN(a.DN, g, o) == a.DN
}

// reshape plans the move, rename and attribute update that make a as g
// wants it, and says the DN the group has after them.
func reshape(g *policy.DesiredGroup, a *ADGroup, o Options) (ops []Op, dn string) {
	dn = a.DN
	if home := homeDN(a.DN, g, o); home != a.DN {
		// Back from quarantine (or, with MoveBack, from where an admin
		// moved it), or to the OU a placement rule now gives it: the same
		// object, SID and ACLs.
		reason := "wanted again"
		if o.home(a.DN) != "" {
			reason = "placed in " + parentOf(g.DN) + " by " + cmp.Or(g.PlacedBy, "writeback.target_ou")
		}
		ops = append(ops, Op{Action: Move, CloudID: g.CloudID, DN: a.DN, NewParent: parentOf(g.DN), Anchor: g.Anchor, Reason: reason})
		dn = home
	}
	if newDN := renamedDN(dn, g.CN); newDN != dn {
		ops = append(ops, Op{Action: Rename, CloudID: g.CloudID, DN: dn, NewRDN: "CN=" + policy.EscapeRDNValue(g.CN), Anchor: g.Anchor})
		dn = newDN
	}
	var changes []AttrChange
	var rescope []Op
	for _, name := range o.Managed {
		want, have := g.Attrs[name], a.Attrs[name]
		if o.KeepSAM && strings.EqualFold(name, "sAMAccountName") && len(have) > 0 {
			continue // set at creation; sssd, scripts and applications key on it
		}
		if strings.EqualFold(name, "groupType") && len(want) == 1 && len(have) == 1 {
			if rescope = changeScope(g, dn, have[0], want[0]); rescope != nil {
				continue
			}
		}
		if !sameValues(name, want, have) {
			changes = append(changes, AttrChange{Name: name, Old: have, New: want})
		}
	}
	if len(changes) > 0 {
		ops = append(ops, Op{Action: Update, CloudID: g.CloudID, DN: dn, Anchor: g.Anchor, Changes: changes})
	}
	return append(ops, rescope...), dn
}

// changeScope plans the change of a group's scope from the groupType have
// to want, as AD allows it: through universal between global and domain
// local, one write a step (each with want's security bit); nil when the
// scope stays (a change of the security bit alone is an update).
func changeScope(g *policy.DesiredGroup, dn, have, want string) []Op {
	from, _ := policy.ScopeOfGroupType(have)
	to, security := policy.ScopeOfGroupType(want)
	if from == "" || to == "" || from == to {
		return nil
	}
	var ops []Op
	old := have
	for _, step := range policy.ScopeSteps(from, to) {
		gt := strconv.FormatInt(policy.GroupTypeOf(step, security), 10)
		ops = append(ops, Op{Action: ChangeScope, CloudID: g.CloudID, DN: dn, Anchor: g.Anchor,
			Changes: []AttrChange{{Name: "groupType", Old: []string{old}, New: []string{gt}}}, Reason: "group scope " + from + " to " + to})
		old = gt
	}
	return ops
}
