// Package gate is the one write gate in front of the directory writer:
// every operation on Active Directory, whatever path planned it (a cycle, a
// saved plan, disable, a cycle on one group, a take-over), is checked here
// against the object as AD holds it at that moment, and against the HA
// fence, before it is sent. The directory writers take only what the gate
// approved (*Approved), so that no path can reach AD around it.
//
// The rules are pure (Rules.Check): an operation and the facts read for it
// in, a refusal naming the rule out. The Gate reads those facts through the
// writer's own Inspect, and the cloud's through Graph.
package gate

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// Rule names one rule of the gate: in errors, the audit trail and the docs
// (docs/operating.md, "The write gate").
type Rule string

// The rules.
const (
	// RuleAnchor: an operation names its cloud group's own anchor, and the
	// object it changes carries it.
	RuleAnchor Rule = "anchor"
	// RulePlace: a create's parent is the target OU, a placement OU or the
	// quarantine OU; an object changed, moved, renamed or deleted lies
	// under one of them, before and after a move.
	RulePlace Rule = "place"
	// RuleClass: the tool creates and changes groups only, and never sets
	// objectClass.
	RuleClass Rule = "class"
	// RuleGroupType: the only groupType values written are the ones policy
	// writes: distribution or security, universal, or of the group scope
	// the configuration gives the OU the group is in (writeback.group_scope,
	// a placement rule's group_scope).
	RuleGroupType Rule = "group-type"
	// RuleAttributes: only the managed attributes are written, and the
	// anchor attributes only with the operation's own anchor.
	RuleAttributes Rule = "attributes"
	// RuleInPlace: an original AD group is written in place only under
	// source_of_authority: in_place, only its members, displayName and
	// description, and only the group whose objectSid is the cloud group's
	// onPremisesSecurityIdentifier as Graph gives it now.
	RuleInPlace Rule = "in-place"
	// RuleProtected: no member is ever added to a protected group
	// (adminCount=1, a built-in privileged group, or nested at any depth
	// in one), nor is such a group made a security group.
	RuleProtected Rule = "protected-group"
	// RuleCritical: a critical system object is never written.
	RuleCritical Rule = "critical-object"
	// RuleRestore: a deleted object is brought back only by a restore, and
	// a restore brings back only a deleted group carrying the operation's
	// anchor, deleted from the configured OUs, into one of them, without
	// members (added after it, each add checked as any other).
	RuleRestore Rule = "restore"
	// RuleAction: the operation is one the tool knows.
	RuleAction Rule = "action"
)

// ErrRefused: the write gate refused an operation. Every refusal is a
// *RefusedError; those of ownership (RuleAnchor, RulePlace, RuleInPlace,
// RuleCritical) also match reconcile.ErrNotOwned.
var ErrRefused = errors.New("refused by the write gate")

// RefusedError is one operation the gate refused: which rule, on which
// object, and what it found.
type RefusedError struct {
	Rule    Rule
	Action  reconcile.Action
	DN      string
	CloudID string
	Why     string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("gate: %s of %s %v (rule %s): %s", e.Action, e.DN, ErrRefused, e.Rule, e.Why)
}

// Is matches ErrRefused, and reconcile.ErrNotOwned for the rules of
// ownership.
func (e *RefusedError) Is(target error) bool {
	switch target {
	case ErrRefused:
		return true
	case reconcile.ErrNotOwned:
		return e.Rule == RuleAnchor || e.Rule == RulePlace || e.Rule == RuleInPlace || e.Rule == RuleCritical
	}
	return false
}

// Rules are what the gate allows: the configuration's places and managed
// attributes, and whether groups are written in place. They come from the
// engine's configuration, never from a path or a file.
type Rules struct {
	// Places are the OUs groups are created in: the target OU and every
	// placement OU.
	Places []string
	// QuarantineOU is where quarantined groups go ("" when none).
	QuarantineOU string
	// Managed are the attributes the tool writes (policy.ManagedAttributes).
	Managed []string
	// InPlace is source_of_authority: in_place.
	InPlace bool
	// MoveBack is writeback.move_back: a group carrying its anchor that an
	// admin moved elsewhere in the domain (Domain) may be moved back into
	// a configured OU, and only that.
	MoveBack bool
	Domain   string
	// Scopes are the group scopes of the places, by OU DN lower-cased
	// (policy.Placement.ScopeByOU): a place's groups are universal or of
	// its scope. A place not listed is universal.
	Scopes map[string]string
}

// Object is an object as AD holds it when the gate checks a write to it.
type Object struct {
	DN    string
	Class []string
	// AdminDescription and ExternalID carry the anchor.
	AdminDescription, ExternalID string
	SID                          string
	// AdminCount is adminCount=1: AD's mark on the members of protected
	// groups (AdminSDHolder).
	AdminCount bool
	// Critical is isCriticalSystemObject.
	Critical bool
	// GroupType is the object's groupType, as AD gives it.
	GroupType string
	// Holders are every group that holds the object, at any depth, when
	// they were read (Inspect with holders).
	Holders []Holder
	// Deleted is isDeleted: the object is a tombstone (or, with the
	// Recycle Bin, a deleted object) under CN=Deleted Objects, deleted
	// from LastKnownParent.
	Deleted         bool
	LastKnownParent string
}

// Holder is a group that holds an object, directly or through others.
type Holder struct {
	DN, SID    string
	AdminCount bool
}

// IsGroup reports whether the object is a group.
func (o *Object) IsGroup() bool {
	return slices.ContainsFunc(o.Class, func(c string) bool { return strings.EqualFold(c, "group") })
}

// CloudGroup is what Graph says now of a cloud group written in place.
type CloudGroup struct {
	// SID is its onPremisesSecurityIdentifier.
	SID string
	// CloudManaged is onPremisesSyncBehavior.isCloudManaged: its source of
	// authority moved to the cloud.
	CloudManaged bool
}

// inPlaceAttributes are what a group written in place has written besides
// its members.
var inPlaceAttributes = []string{"displayName", "description"}

// anchorAttributes carry the anchor: written only with the op's own.
var anchorAttributes = []string{"adminDescription", policy.AnchorAttribute}

// Needs says what the gate must read before it checks op: the object at
// Subject(op) (every operation but a create), the groups holding it (a
// member added, or a groupType changed), and the cloud group from Graph
// (an operation in place).
func Needs(op reconcile.Op) (object, holders, cloud bool) {
	object = op.Action != reconcile.Create || op.SID != ""
	holders = op.Action == reconcile.AddMembers || ((op.Action == reconcile.Update || op.Action == reconcile.ChangeScope) && changes(op, "groupType"))
	return object, holders && object, op.SID != ""
}

// Subject is the DN of the object op changes as AD holds it now: the
// deleted object a restore brings back, else op.DN.
func Subject(op reconcile.Op) string {
	if op.Action == reconcile.Restore {
		return op.From
	}
	return op.DN
}

// Check decides whether op may be written: obj is the object at op.DN as
// AD holds it now (nil when there is none, or for a create), cloud what
// Graph says now of the cloud group (for an operation in place). It
// returns nil or a *RefusedError.
func (r Rules) Check(op reconcile.Op, obj *Object, cloud *CloudGroup) error {
	refuse := func(rule Rule, format string, args ...any) error {
		return &RefusedError{Rule: rule, Action: op.Action, DN: op.DN, CloudID: op.CloudID, Why: fmt.Sprintf(format, args...)}
	}
	switch op.Action {
	case reconcile.Create, reconcile.Restore, reconcile.Update, reconcile.ChangeScope, reconcile.Move, reconcile.Rename, reconcile.AddMembers, reconcile.RemoveMembers, reconcile.Delete:
	default:
		return refuse(RuleAction, "unknown operation %q", op.Action)
	}
	if op.Action == reconcile.ChangeScope && (len(op.Changes) != 1 || !strings.EqualFold(op.Changes[0].Name, "groupType")) {
		return refuse(RuleGroupType, "a change of scope writes groupType alone")
	}
	if _, err := policy.ParseDN(op.DN); err != nil || op.DN == "" {
		return refuse(RulePlace, "%q is not a DN", op.DN)
	}
	if op.From != "" {
		if _, err := policy.ParseDN(op.From); err != nil || op.Action != reconcile.Restore {
			return refuse(RuleRestore, "only a restore names a deleted object to bring back, by its DN, not a %s naming %q", op.Action, op.From)
		}
	}
	if op.SID != "" {
		return r.checkInPlace(op, obj, cloud, refuse)
	}
	if policy.CloudIDFromAnchor(op.Anchor) == "" || !strings.EqualFold(op.Anchor, policy.Anchor(op.CloudID)) {
		return refuse(RuleAnchor, "the operation's anchor %q is not its cloud group's (%s)", op.Anchor, policy.Anchor(op.CloudID))
	}
	if err := r.checkAttributes(op, refuse); err != nil {
		return err
	}
	if op.Action == reconcile.Restore {
		return r.checkRestore(op, obj, refuse)
	}
	if op.Action == reconcile.Create {
		// Nothing is read for a create: where it goes and what it carries
		// decide. AD refuses a name already taken, and the writer tells a
		// retry of its own create from another object's name.
		if _, parent := policy.SplitDN(op.DN); !r.isPlace(parent, true) {
			return refuse(RulePlace, "groups are created only in %s, not in %s", r.placesText(), parent)
		}
		if !changes(op, "groupType") {
			return refuse(RuleGroupType, "a create must give the groupType the policy writes")
		}
		if !changes(op, "adminDescription") {
			return refuse(RuleAnchor, "a create must carry its anchor %s in adminDescription", op.Anchor)
		}
		return r.checkScope(op, op.DN, refuse)
	}
	if obj == nil {
		return refuse(RuleAnchor, "no such object")
	}
	if obj.Deleted {
		return refuse(RuleRestore, "the object is deleted: only a restore brings it back")
	}
	if err := checkOwnedGroup(op, obj, refuse); err != nil {
		return err
	}
	if !r.isPlace(obj.DN, false) && !r.movesBack(op, obj) {
		return refuse(RulePlace, "it lies outside %s", r.placesText())
	}
	if err := r.checkScope(op, obj.DN, refuse); err != nil {
		return err
	}
	switch op.Action {
	case reconcile.Move:
		if !r.isPlace(op.NewParent, false) {
			return refuse(RulePlace, "a group is moved only within %s, not to %q", r.placesText(), op.NewParent)
		}
	case reconcile.Rename:
		rdn, err := policy.ParseDN(op.NewRDN)
		if err != nil || len(rdn.RDNs) != 1 || len(rdn.RDNs[0].Attributes) != 1 || !strings.EqualFold(rdn.RDNs[0].Attributes[0].Type, "CN") {
			return refuse(RulePlace, "a rename gives a new cn in the same OU, not %q", op.NewRDN)
		}
	}
	return checkProtected(op, obj, refuse)
}

// checkOwnedGroup refuses an object that is no group, lacks op's anchor, or
// is a critical system object.
func checkOwnedGroup(op reconcile.Op, obj *Object, refuse func(Rule, string, ...any) error) error {
	if !obj.IsGroup() {
		return refuse(RuleClass, "the object is a %s, not a group", lastClass(obj.Class))
	}
	if !policy.CarriesAnchor(obj.AdminDescription, obj.ExternalID, op.Anchor) {
		return refuse(RuleAnchor, "expected anchor %s, found adminDescription %q and %s %q", op.Anchor, obj.AdminDescription, policy.AnchorAttribute, obj.ExternalID)
	}
	if obj.Critical {
		return refuse(RuleCritical, "AD marks it a critical system object")
	}
	return nil
}

// checkRestore checks the restore of a deleted group: it comes back as a
// create would be made (into a configured OU, with the groupType and
// anchor policy writes), and only a deleted group carrying the anchor,
// deleted from where the tool writes, comes back. A restore carries no
// members: AD's Recycle Bin brings a group back with the groups holding
// it, so each member add after it is checked against them as any other.
func (r Rules) checkRestore(op reconcile.Op, obj *Object, refuse func(Rule, string, ...any) error) error {
	if _, parent := policy.SplitDN(op.DN); !r.isPlace(parent, true) {
		return refuse(RulePlace, "groups are restored only into %s, not into %s", r.placesText(), parent)
	}
	switch {
	case !changes(op, "groupType"):
		return refuse(RuleGroupType, "a restore must give the groupType the policy writes")
	case !changes(op, "adminDescription"):
		return refuse(RuleAnchor, "a restore must carry its anchor %s in adminDescription", op.Anchor)
	case len(op.Members) > 0:
		return refuse(RuleRestore, "a restore carries no members: they are added after it, each add checked against the groups holding the group")
	case op.From == "":
		return refuse(RuleRestore, "a restore names the deleted object it brings back")
	case obj == nil:
		return refuse(RuleRestore, "no deleted object at %s", op.From)
	case !obj.Deleted:
		return refuse(RuleRestore, "%s is not a deleted object", op.From)
	}
	if err := checkOwnedGroup(op, obj, refuse); err != nil {
		return err
	}
	if obj.LastKnownParent == "" || !r.isPlace(obj.LastKnownParent, false) {
		return refuse(RulePlace, "it was deleted from %q, outside %s", obj.LastKnownParent, r.placesText())
	}
	return r.checkScope(op, op.DN, refuse)
}

// checkInPlace checks an operation on an original AD group written in
// place: the one exception to ownership.
func (r Rules) checkInPlace(op reconcile.Op, obj *Object, cloud *CloudGroup, refuse func(Rule, string, ...any) error) error {
	if !r.InPlace {
		return refuse(RuleInPlace, "groups are written in place only with writeback.source_of_authority: in_place")
	}
	switch op.Action {
	case reconcile.Update, reconcile.AddMembers, reconcile.RemoveMembers:
	default:
		return refuse(RuleInPlace, "a group written in place is never created, renamed, moved or deleted")
	}
	for _, ch := range op.Changes {
		if !containsFold(inPlaceAttributes, ch.Name) {
			return refuse(RuleInPlace, "a group written in place has only its members, displayName and description written, not %s", ch.Name)
		}
	}
	if obj == nil {
		return refuse(RuleInPlace, "no such object")
	}
	if !obj.IsGroup() {
		return refuse(RuleClass, "the object is a %s, not a group", lastClass(obj.Class))
	}
	if obj.Critical {
		return refuse(RuleCritical, "AD marks it a critical system object")
	}
	switch {
	case cloud == nil || cloud.SID == "":
		return refuse(RuleInPlace, "Graph gives cloud group %s no onPremisesSecurityIdentifier now", op.CloudID)
	case !cloud.CloudManaged:
		return refuse(RuleInPlace, "Graph says cloud group %s's source of authority is not in the cloud (onPremisesSyncBehavior.isCloudManaged is false)", op.CloudID)
	case !strings.EqualFold(cloud.SID, obj.SID):
		return refuse(RuleInPlace, "expected the group with SID %s (cloud group %s's onPremisesSecurityIdentifier in Graph now), found %s", cloud.SID, op.CloudID, obj.SID)
	case !strings.EqualFold(op.SID, obj.SID):
		return refuse(RuleInPlace, "expected the group with SID %s, found %s", op.SID, obj.SID)
	}
	return checkProtected(op, obj, refuse)
}

// checkAttributes refuses attributes outside the managed set, objectClass,
// a groupType the policy never writes, and an anchor not the op's own.
func (r Rules) checkAttributes(op reconcile.Op, refuse func(Rule, string, ...any) error) error {
	for _, ch := range op.Changes {
		switch {
		case strings.EqualFold(ch.Name, "objectClass"):
			return refuse(RuleClass, "objectClass is never written")
		case !containsFold(r.Managed, ch.Name):
			return refuse(RuleAttributes, "%s is not an attribute the tool manages (%s)", ch.Name, strings.Join(r.Managed, ", "))
		case strings.EqualFold(ch.Name, "groupType"):
			if scope, _ := policy.ScopeOfGroupType(first(ch.New)); len(ch.New) != 1 || scope == "" {
				return refuse(RuleGroupType, "groupType %v is not a universal, global or domain-local distribution or security group", ch.New)
			}
		case containsFold(anchorAttributes, ch.Name):
			if len(ch.New) != 1 || ch.New[0] != op.Anchor {
				return refuse(RuleAttributes, "%s may only be the operation's own anchor %s, not %v", ch.Name, op.Anchor, ch.New)
			}
		}
	}
	return nil
}

// checkProtected refuses a member added to a protected group, or a
// protected group made a security group.
func checkProtected(op reconcile.Op, obj *Object, refuse func(Rule, string, ...any) error) error {
	switch {
	case op.Action == reconcile.AddMembers:
	case (op.Action == reconcile.Update || op.Action == reconcile.ChangeScope) && makesSecurity(op):
	default:
		return nil
	}
	if why := Protection(obj); why != "" {
		if op.Action == reconcile.AddMembers {
			return refuse(RuleProtected, "no member is added to a protected group: %s", why)
		}
		return refuse(RuleProtected, "a protected group is not made a security group: %s", why)
	}
	return nil
}

// makesSecurity reports whether op sets a groupType with the security bit.
func makesSecurity(op reconcile.Op) bool {
	for _, ch := range op.Changes {
		if strings.EqualFold(ch.Name, "groupType") {
			for _, v := range ch.New {
				if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n&0x80000000 != 0 {
					return true
				}
			}
		}
	}
	return false
}

// movesBack reports whether op moves a group that lies elsewhere in the
// domain back into a configured OU, as writeback.move_back allows.
func (r Rules) movesBack(op reconcile.Op, obj *Object) bool {
	return r.MoveBack && op.Action == reconcile.Move && r.Domain != "" && policy.Within(obj.DN, r.Domain) && r.isPlace(op.NewParent, false)
}

// isPlace reports whether dn is one of the configured OUs (exact) or lies
// under one (!exact).
func (r Rules) isPlace(dn string, exact bool) bool {
	in := policy.Within
	if exact {
		in = policy.SameDN
	}
	for _, ou := range r.places() {
		if in(dn, ou) {
			return true
		}
	}
	return false
}

func (r Rules) places() []string {
	out := slices.Clone(r.Places)
	if r.QuarantineOU != "" {
		out = append(out, r.QuarantineOU)
	}
	return out
}

func (r Rules) placesText() string {
	return "the configured OUs (" + strings.Join(r.places(), "; ") + ")"
}

// checkScope refuses a groupType whose scope is neither universal nor the
// scope of the place the group at dn is in (as AD holds it, or as a
// create or restore makes it).
func (r Rules) checkScope(op reconcile.Op, dn string, refuse func(Rule, string, ...any) error) error {
	ch, ok := op.Change("groupType")
	if !ok || len(ch.New) != 1 {
		return nil
	}
	scope, _ := policy.ScopeOfGroupType(ch.New[0])
	home := policy.HomeOU(dn, r.places())
	allowed := cmp.Or(r.Scopes[strings.ToLower(home)], policy.ScopeUniversal)
	if scope != policy.ScopeUniversal && scope != allowed {
		return refuse(RuleGroupType, "a %s group is not written in %s, whose groups are %s (or universal)", scope, home, allowed)
	}
	return nil
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

func changes(op reconcile.Op, name string) bool {
	return slices.ContainsFunc(op.Changes, func(ch reconcile.AttrChange) bool { return strings.EqualFold(ch.Name, name) && len(ch.New) > 0 })
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(v string) bool { return strings.EqualFold(v, s) })
}

func lastClass(class []string) string {
	if len(class) == 0 {
		return "object of no class"
	}
	return class[len(class)-1]
}

// Explain says the refusal for an admin.
func (e *RefusedError) Explain() (summary, fix string) {
	return fmt.Sprintf("the write gate refused to %s %s: %s", e.Action, e.DN, e.Why),
		"the gate keeps the tool off objects it does not own and out of privileged groups; `groupwriteback show` names the group and what to change"
}
