// Package policy decides, for each cloud group, whether it is written back
// and what it becomes in Active Directory: its name, type, attributes and
// the members to look up. It is pure: plain values in, plain values out.
package policy

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

// Naming schemes (writeback.naming).
const (
	NamingDisplayName = "display_name"
	NamingObjectID    = "object_id"
)

// On-premises group types (writebackConfiguration.onPremisesGroupType).
const (
	UniversalDistribution        = "universalDistributionGroup"
	UniversalSecurity            = "universalSecurityGroup"
	UniversalMailEnabledSecurity = "universalMailEnabledSecurityGroup"
)

// Exchange recipient values (published by Microsoft).
const (
	displayTypeDistribution         = 1
	displayTypeSecurityDistribution = 1073741833
	typeDetailsRemoteGroupMailbox   = 8796093022208
)

// Options are everything besides the tenant that decides the outcome.
type Options struct {
	// TargetOU is where groups are created, unless a Placement rule
	// matches them first.
	TargetOU  string
	Placement []PlacementRule
	// Naming is NamingDisplayName or NamingObjectID.
	Naming string
	// GroupScope is writeback.group_scope: the scope of the target OU's
	// groups, and of a placement rule's that names none ("": universal).
	GroupScope string
	// SkipUnsetMicrosoft365 leaves out Microsoft 365 groups whose
	// writebackConfiguration.isEnabled is unset (cloud.unified_writeback_default:
	// false). By default they are written back, as Connect does ("null or
	// true: written back"). The tenant's NewUnifiedGroupWritebackDefault is no
	// scope rule: Entra applies it itself, stamping isEnabled on the groups
	// created after it was set and changing no existing group.
	SkipUnsetMicrosoft365 bool
	// Exchange is whether the AD schema has the Exchange attributes.
	Exchange bool
	// WithoutExchange writes mail-enabled types without mail attributes
	// when the Exchange schema is absent, instead of refusing them.
	WithoutExchange bool
	// AnchorAttribute is whether the schema has msDS-ExternalDirectoryObjectId.
	AnchorAttribute bool
	// MemberLimit skips groups with more members; 0 means no limit.
	MemberLimit int
	// InPlace writes a group whose source of authority moved to the cloud
	// into its original AD group (writeback.source_of_authority: in_place).
	InPlace bool
	// Match are writeback.match_unsynced's rules, in order: a member user
	// not synced from AD is looked up by them (none: it is not written).
	Match []MatchRule
	Scope Scope
	// LetGoAttrs lets each group's attributes go as soon as it is decided
	// (LetGoAttrs), for a planner that makes them again a slice at a time
	// (LoadAttrs): a tenant's attributes are never all held, not even
	// while the groups are decided.
	LetGoAttrs bool
}

// Scope narrows which groups are written back, after the rules of the
// tenant. Empty lists do not narrow.
type Scope struct {
	IncludeIDs   []string
	ExcludeIDs   []string
	IncludeNames []string // path.Match patterns on displayName
	ExcludeNames []string
	// Kinds lists the kinds written back: microsoft365, security.
	Kinds []string
}

// Kind is what a cloud group is, for scope rules and messages.
type Kind string

// Kinds of cloud group.
const (
	KindMicrosoft365        Kind = "microsoft365"
	KindSecurity            Kind = "security"
	KindDistribution        Kind = "distribution"
	KindMailEnabledSecurity Kind = "mailEnabledSecurity"
	KindSyncedFromAD        Kind = "syncedFromAD"
	// KindFromADCloudManaged was synced from AD and no longer is
	// (onPremisesSyncEnabled false, its on-premises SID kept): an admin
	// moved its source of authority to the cloud, or took it out of sync.
	// Its original AD group still exists: a new copy would duplicate it.
	KindFromADCloudManaged Kind = "fromADCloudManaged"
)

// KindOf classifies a cloud group.
func KindOf(g *cloud.Group) Kind {
	switch {
	case g.OnPremisesSyncEnabled != nil && *g.OnPremisesSyncEnabled:
		return KindSyncedFromAD
	case g.OnPremisesSyncEnabled != nil && g.OnPremisesSecurityIdentifier != "":
		return KindFromADCloudManaged
	case g.IsUnified():
		return KindMicrosoft365
	case g.MailEnabled && g.SecurityEnabled:
		return KindMailEnabledSecurity
	case g.MailEnabled:
		return KindDistribution
	default:
		return KindSecurity
	}
}

// Decision is the policy's verdict on one cloud group.
type Decision struct {
	CloudID string
	Name    string
	Kind    Kind
	// InScope is whether the group is to be written back at all.
	InScope bool
	// Reason says why a group is out of scope, and Cause which kind of
	// reason it is (for the delete policies).
	Reason string
	Cause  Cause
	// Problem says why an in-scope group cannot be written; Desired is nil then.
	Problem *Problem
	Desired *DesiredGroup
	// Notes are problems with single fields that did not stop the group:
	// it is written with the field cleaned, or without it, as each says.
	Notes []Problem
}

// Cause is the kind of reason a group is not written back.
type Cause string

// Causes, each with its own delete policy (writeback.on_*).
const (
	CauseSoftDeleted  Cause = "soft-deleted"
	CauseWritebackOff Cause = "writeback-off"
	CauseOutOfScope   Cause = "out-of-scope"
)

// Problem is a reason one group, or one member, cannot be written. It names
// the group and the cloud field at fault.
type Problem struct {
	CloudID string
	Name    string
	Field   string
	Message string
}

func (p *Problem) Error() string {
	return fmt.Sprintf("group %s (%q): %s: %s", p.CloudID, p.Name, p.Field, p.Message)
}

// DesiredGroup is what a cloud group should be in AD.
type DesiredGroup struct {
	CloudID string
	Anchor  string
	CN      string
	DN      string
	// PlacedBy names the placement rule that chose DN's OU ("": the
	// target OU).
	PlacedBy string
	// Type is the on-premises group type written.
	Type string
	// Scope is its group scope in AD (ScopeUniversal unless a placement
	// rule, or writeback.group_scope, says otherwise: security groups
	// only, since Exchange mail-enables universal groups alone).
	Scope string
	// Attrs holds every attribute the tool manages, by LDAP name; an
	// attribute with no values is one the group must not have. A planner
	// that plans a slice of groups at a time lets them go (LetGoAttrs)
	// and has them made again for the group's slice (LoadAttrs): a
	// tenant's attributes are never all held.
	Attrs map[string][]string
	// from, opts and mail make Attrs again as decided (from: nil, they
	// cannot be), but for the addresses shared with other groups (shared,
	// in order), which LoadAttrs takes out again. A field a group, not a
	// function holding them: a tenant's groups hold one each.
	from   *cloud.Group
	opts   *Options
	mail   bool
	shared []string
	// Members are the group's cloud members and how to find them in AD.
	Members []MemberRef
	// InPlaceSID, for a group whose source of authority moved to the
	// cloud, is the SID of its original AD group, where it is written in
	// place (DN and CN are then unknown until AD is asked): only its
	// members, displayName and description.
	InPlaceSID string
}

// LetGoAttrs lets the group's attributes go, until LoadAttrs makes them
// again; those of a group that cannot make them again are kept.
func (g *DesiredGroup) LetGoAttrs() {
	if g.from != nil {
		g.Attrs = nil
	}
}

// LoadAttrs makes the group's attributes again, as decided, if they were
// let go.
func (g *DesiredGroup) LoadAttrs() {
	if g.Attrs != nil || g.from == nil {
		return
	}
	g.Attrs = desiredAttrs(g.from, g.Anchor, g.CN, g.Type, g.Scope, g.mail, g.opts, func(string, string, ...any) {})
	for _, addr := range g.shared {
		dropShared(g.Attrs, addr)
	}
}

// Settle lets go all but what names the group and where it is (its ids,
// CN, DN, type, placement), once its operations are written: what a
// cycle's statuses need of it. Its attributes are not made again.
func (g *DesiredGroup) Settle() {
	g.Attrs, g.from, g.opts, g.shared, g.Members = nil, nil, nil, nil, nil
}

// MemberRef is a cloud member of a group and the keys that find it in AD.
type MemberRef struct {
	CloudID string
	Type    cloud.ObjectType
	// Keys are shared: every membership of one user points at one Keys
	// (a tenant's memberships outnumber its users by far). Never nil;
	// read-only.
	Keys *Keys
	// NotWritable says why the member cannot be written, if it cannot.
	NotWritable string
}

// Keys find a member in AD, tried in this order: the objectGUID, the
// objectSid, the immutable id (ms-DS-ConsistencyGuid or objectGUID), the DN;
// Anchor finds a member group that is itself written back.
type Keys struct {
	GUID        string
	SID         string
	ImmutableID string
	DN          string
	Anchor      string
	// Match, for a user not synced from AD, are the values of
	// writeback.match_unsynced's rules, in their order.
	Match []MatchKey
}

// noKeys are the keys of a member that has none.
var noKeys Keys

// keyTable holds each member's keys once, by cloud id.
type keyTable map[string]*Keys

func (t keyTable) of(id string, make func() Keys) *Keys {
	if k := t[id]; k != nil {
		return k
	}
	k := make()
	t[id] = &k
	return &k
}

// ManagedAttributes are the attributes the tool owns on its groups; every
// other attribute is left as it is. The Exchange ones and the anchor
// attribute only when the schema has them.
func ManagedAttributes(o Options) []string {
	attrs := []string{"sAMAccountName", "groupType", "displayName", "description", "adminDescription"}
	if o.AnchorAttribute {
		attrs = append(attrs, "msDS-ExternalDirectoryObjectId")
	}
	if o.Exchange {
		attrs = append(attrs, "mail", "mailNickname", "proxyAddresses", "msExchRecipientDisplayType",
			"msExchRecipientTypeDetails", "msExchRequireAuthToSendTo")
	}
	return attrs
}

// Decide returns a decision for every group in the snapshot, ordered by id.
func Decide(snap *cloud.Snapshot, o Options) []Decision { return DecideSome(snap, o, nil) }

// DecideSome is Decide, but lists the members (the costly part) only of the
// groups in only; nil means all. Scope is still decided for every group,
// since whether a nested group is written back decides how it is a member.
func DecideSome(snap *cloud.Snapshot, o Options, only map[string]bool) []Decision {
	ids := make([]string, 0, len(snap.Groups))
	for id := range snap.Groups {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]Decision, 0, len(ids))
	addrs := make([]addresses, 0, len(ids))
	for _, id := range ids {
		d := scope(snap.Groups[id], snap, &o)
		var a addresses
		if d.Desired != nil {
			a = addressesOf(d.Desired.Attrs)
			if o.LetGoAttrs {
				d.Desired.LetGoAttrs()
			}
		}
		out, addrs = append(out, d), append(addrs, a)
	}
	inScope := written(out)
	uniqueAddresses(out, addrs)
	for i := range out {
		d := out[i].Desired
		if n := snap.Groups[out[i].CloudID].Members.Len(); d != nil && o.MemberLimit > 0 && n > o.MemberLimit {
			out[i].Problem = &Problem{CloudID: d.CloudID, Name: out[i].Name, Field: "members",
				Message: fmt.Sprintf("%d members exceed writeback.member_limit (%d)", n, o.MemberLimit)}
			out[i].Desired = nil
		}
	}
	listMembers(out, snap, inScope, only, o.Match)
	noteCycles(out, snap, inScope)
	return out
}

// Lister lists desired groups' members on demand, as DecideSome does: a
// caller that holds only some groups' members at a time asks DecideSome
// to list none (an empty only) and lists them here.
type Lister struct {
	snap    *cloud.Snapshot
	written map[string]bool
	keys    keyTable
	match   []MatchRule
}

// NewLister lists members of the groups of snap, decided as ds, users not
// synced from AD with the keys of the rules match.
func NewLister(snap *cloud.Snapshot, ds []Decision, match []MatchRule) *Lister {
	return &Lister{snap: snap, written: written(ds), keys: keyTable{}, match: match}
}

// Len is how many members the group id has, listed or not (a list loaded
// in part counts those it does not hold).
func (l *Lister) Len(id string) int { return l.snap.Groups[id].Members.Len() }

// Refs are the members of the group id, as the snapshot holds them.
func (l *Lister) Refs(id string) cloud.Refs { return l.snap.Groups[id].Members }

// Members are the members of the group id, with the keys that find each.
func (l *Lister) Members(id string) []MemberRef {
	return memberRefs(l.snap.Groups[id], l.snap, l.written, l.keys, l.match)
}

// MembersOf are part, some of the members of the group id held whole,
// as Members lists them: a group too large to list at once is listed in
// parts.
func (l *Lister) MembersOf(id string, part cloud.Refs) []MemberRef {
	return memberRefs(&cloud.Group{ID: id, Members: part}, l.snap, l.written, l.keys, l.match)
}

// Forget lets go of the keys listed so far once they are more than max
// (each member's keys are kept once for every group that lists it): the
// members of a large tenant are then never all held.
func (l *Lister) Forget(max int) {
	if len(l.keys) > max {
		l.keys = keyTable{}
	}
}

func listMembers(ds []Decision, snap *cloud.Snapshot, written map[string]bool, only map[string]bool, match []MatchRule) {
	keys := keyTable{}
	for i := range ds {
		if d := ds[i].Desired; d != nil && (only == nil || only[d.CloudID]) {
			d.Members = memberRefs(snap.Groups[d.CloudID], snap, written, keys, match)
		}
	}
}

// written are the groups whose AD copy is found by its anchor: in scope
// and writable (one written in place is found by its SID instead). A group
// over writeback.member_limit counts: its problem comes after the members
// of the others are listed, and its AD copy, if any, is kept.
func written(ds []Decision) map[string]bool {
	out := map[string]bool{}
	for _, d := range ds {
		if d.InScope && (d.Problem == nil || d.Problem.Field == "members") && (d.Desired == nil || d.Desired.InPlaceSID == "") {
			out[d.CloudID] = true
		}
	}
	return out
}

// MemberRefsOf lists refs, members of group id now or until lately, with
// the keys that find each in AD, as DecideSome lists a group's members:
// decisions are DecideSome's for snap.
func MemberRefsOf(snap *cloud.Snapshot, decisions []Decision, id string, refs []cloud.ObjectRef, match []MatchRule) []MemberRef {
	g := &cloud.Group{ID: id, Members: cloud.RefsOf(refs...)}
	return memberRefs(g, snap, written(decisions), keyTable{}, match)
}

// excludes returns why the configured scope leaves g out, or "".
func (s Scope) excludes(g *cloud.Group, k Kind) string {
	match := func(patterns []string) bool {
		return slices.ContainsFunc(patterns, func(p string) bool { ok, _ := path.Match(p, g.DisplayName); return ok })
	}
	switch {
	case len(s.Kinds) > 0 && !slices.Contains(s.Kinds, string(k)):
		return fmt.Sprintf("kind %s is not in writeback.scope.kinds", k)
	case slices.ContainsFunc(s.ExcludeIDs, func(id string) bool { return strings.EqualFold(id, g.ID) }):
		return "excluded by writeback.scope.exclude_ids"
	case match(s.ExcludeNames):
		return "excluded by writeback.scope.exclude_names"
	case len(s.IncludeIDs) > 0 || len(s.IncludeNames) > 0:
		if !slices.ContainsFunc(s.IncludeIDs, func(id string) bool { return strings.EqualFold(id, g.ID) }) && !match(s.IncludeNames) {
			return "not in writeback.scope.include_ids or include_names"
		}
	}
	return ""
}

// memberRefs lists g's members with the keys that find each in AD. A
// list loaded in part is never listed: written as the group's members, it
// would remove the others from AD. The engine loads a group's whole list
// before it plans the group in full; reaching here without it is a bug.
func memberRefs(g *cloud.Group, snap *cloud.Snapshot, written map[string]bool, keys keyTable, match []MatchRule) []MemberRef {
	if g.Members.Partial() {
		panic(fmt.Sprintf("policy: the members of group %s are listed from a list loaded in part", g.ID))
	}
	refs := make([]MemberRef, 0, g.Members.Len())
	for id, typ := range g.Members.All() {
		r := cloud.ObjectRef{ID: id, Type: typ}
		m := MemberRef{CloudID: r.ID, Type: r.Type, Keys: &noKeys}
		switch {
		case r.ID == g.ID:
			m.Type, m.NotWritable = cloud.TypeGroup, MemberItself
		case r.Type == cloud.TypeUser || (r.Type == cloud.TypeUnknown && snap.Users[r.ID] != nil):
			m.Type = cloud.TypeUser
			u := snap.Users[r.ID]
			switch {
			case u == nil:
				m.NotWritable = MemberUnknown
			case u.OnPremisesObjectIdentifier == "" && u.OnPremisesSecurityIdentifier == "" && u.OnPremisesImmutableID == "" && u.OnPremisesDistinguishedName == "":
				m.NotWritable = MemberCloudOnly
				if len(match) > 0 {
					m.Keys, m.NotWritable = matchKeys(u, match, keys, MemberCloudOnly)
				}
			case u.OnPremisesSyncEnabled == nil || !*u.OnPremisesSyncEnabled:
				// Its on-premises identifiers stay untrusted: the rules,
				// if any, are what may match it.
				m.NotWritable = MemberCloudOnlyWithIDs
				if len(match) > 0 {
					m.Keys, m.NotWritable = matchKeys(u, match, keys, MemberCloudOnlyWithIDs)
				}
			default:
				m.Keys = keys.of(r.ID, func() Keys {
					return Keys{GUID: u.OnPremisesObjectIdentifier, SID: u.OnPremisesSecurityIdentifier,
						ImmutableID: u.OnPremisesImmutableID, DN: u.OnPremisesDistinguishedName}
				})
			}
		case r.Type == cloud.TypeGroup || (r.Type == cloud.TypeUnknown && snap.Groups[r.ID] != nil):
			m.Type = cloud.TypeGroup
			mg := snap.Groups[r.ID]
			switch {
			case mg == nil:
				m.NotWritable = MemberUnknown
			case written[r.ID]:
				m.Keys = keys.of(r.ID, func() Keys { return Keys{Anchor: Anchor(r.ID)} })
			case (KindOf(mg) == KindSyncedFromAD || KindOf(mg) == KindFromADCloudManaged) && mg.OnPremisesSecurityIdentifier != "":
				// Its AD group is the original, found by SID.
				m.Keys = keys.of(r.ID, func() Keys { return Keys{SID: mg.OnPremisesSecurityIdentifier} })
			default:
				m.NotWritable = MemberGroupNotWritten
			}
		default:
			m.NotWritable = MemberUnsupportedType
		}
		refs = append(refs, m)
	}
	return refs
}
