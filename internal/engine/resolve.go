package engine

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// resolveSlice is about how many members resolve lists and looks up at a
// time: a slice's member lists are let go once placed, so that the
// members of a whole tenant are never all listed at once.
var resolveSlice = 50000

// resolve finds the members of the desired groups in AD, looking up each
// kind of key in batches, and says why each member it cannot place is not
// written. It lists the members of a slice of groups at a time (in.list),
// and looks each key up once however many groups of a slice hold it; what
// it found is let go between slices once it holds more than a few slices'
// worth (a large tenant's members are never all held).
//
// A group planned from its changes (in.changes) has only its members
// added and removed looked up. A group the plan creates (in.creates) with
// more members than two slices hold is a slice of its own, in parts of a
// slice's size: the group with its first members, then more
// (reconcile.Desired.More).
//
// in.tr, when set, hears how each member of its group was placed.
//
// in.load, when set, is handed each slice's groups before their members
// are listed (a cycle that staged every member list reads the slice's
// back); in.users, when set, the members about to be listed (a cycle
// that staged its users reads those they name). in.part reads back each
// part of a group in parts whose list was let go (staged).
//
// Each slice's groups, their members placed, go to in.each with the part
// of work they come from (a group in parts: with its last part), and are
// let go after: the caller plans them and keeps only the operations. Once
// each says to stop, or fails, resolve returns the work it did not finish.
func (e *Engine) resolve(ctx context.Context, work []policy.Decision, in resolving) (left []policy.Decision, err error) {
	list, changes := in.list, in.changes
	members := func(d policy.Decision) [][]policy.MemberRef {
		if c := changes[d.CloudID]; c != nil {
			return [][]policy.MemberRef{c.added, c.removed}
		}
		if d.Desired.Members != nil {
			return [][]policy.MemberRef{d.Desired.Members}
		}
		return [][]policy.MemberRef{list.Members(d.CloudID)}
	}
	size := func(d policy.Decision) int {
		if c := changes[d.CloudID]; c != nil {
			return len(c.added) + len(c.removed)
		}
		if d.Desired.Members != nil {
			return len(d.Desired.Members)
		}
		return list.Len(d.CloudID)
	}
	inParts := func(d policy.Decision) bool {
		return size(d) > 2*resolveSlice && changes[d.CloudID] == nil && d.Desired.Members == nil && d.Desired.InPlaceSID == "" &&
			in.creates != nil && in.creates(d.CloudID)
	}
	inWork, scopes := map[string]bool{}, map[string]string{}
	for _, d := range work {
		if d.Desired != nil {
			inWork[d.Desired.Anchor] = true
			scopes[d.Desired.Anchor] = d.Desired.Scope
		}
	}
	r := &lookups{e: e, inWork: inWork, scopes: scopes, anchors: map[string]*reconcile.Member{}}
	r.forget()
	for start := 0; start < len(work); {
		from := start
		// A slice of groups, counted, then their members read (load)
		// and listed.
		var slice []policy.Decision
		n := 0
		for ; start < len(work) && (len(slice) == 0 || n < resolveSlice); start++ {
			d := work[start]
			if d.Desired == nil {
				continue
			}
			if inParts(d) {
				break
			}
			slice, n = append(slice, d), n+size(d)
		}
		if len(slice) == 0 && start < len(work) {
			d := work[start]
			start++
			more, err := e.resolveParts(ctx, d, in, r, func(placed reconcile.Desired, last bool) (bool, error) {
				if last {
					return in.each([]reconcile.Desired{placed}, work[from:start])
				}
				return in.each([]reconcile.Desired{placed}, nil)
			})
			switch {
			case err != nil:
				return work[from:], err
			case !more:
				return work[start:], nil
			}
			continue
		}
		if in.load != nil {
			if err := in.load(ctx, slice); err != nil {
				return work[from:], err
			}
		}
		if in.users != nil {
			var sets []cloud.Refs
			for _, d := range slice {
				if changes[d.CloudID] == nil && d.Desired.Members == nil {
					sets = append(sets, list.Refs(d.CloudID))
				}
			}
			if err := in.users(ctx, sets...); err != nil {
				return work[from:], err
			}
		}
		lists := make([][][]policy.MemberRef, len(slice))
		for i, d := range slice {
			lists[i] = members(d)
		}
		for _, l := range lists {
			r.wantAll(l...)
		}
		if err := r.run(ctx); err != nil {
			return work[from:], err
		}
		placed := make([]reconcile.Desired, len(slice))
		for i, d := range slice {
			placed[i] = e.placeAll(d, lists[i], changes[d.CloudID], r, in.tr)
		}
		if more, err := in.each(placed, work[from:start]); err != nil {
			return work[from:], err
		} else if !more {
			return work[start:], nil
		}
		r.forgetMany()
		list.Forget(forgetAfter())
	}
	return nil, nil
}

// forgetAfter is how many members' keys and lookups resolve keeps from
// one slice to the next: a few slices' worth. A tenant whose groups share
// their members (most) keeps them all; one with more members than that
// looks up again a member met in an earlier slice. The parts of one group
// share no member: each part's are let go once it is planned.
func forgetAfter() int { return 4 * resolveSlice }

// resolving is what resolve is given beside the work.
type resolving struct {
	list    *policy.Lister
	changes map[string]*memberChanges
	// creates reports whether the plan creates a group (its members may
	// then be given in parts); nil: none is.
	creates func(id string) bool
	tr      *Trace
	load    func(context.Context, []policy.Decision) error
	users   func(context.Context, ...cloud.Refs) error
	// part gives the members of a group in parts whose list was let go
	// (staged), from the at-th to the to-th: those after the last part's
	// last (after).
	part func(ctx context.Context, id string, at, to int, after string) (cloud.Refs, error)
	each func(placed []reconcile.Desired, planned []policy.Decision) (bool, error)
}

// resolveParts resolves the members of group d, which the plan creates,
// a slice of them at a time, and hands each part to each: the first as
// the group, the others as more of its members; the last says so.
func (e *Engine) resolveParts(ctx context.Context, d policy.Decision, in resolving, r *lookups,
	each func(placed reconcile.Desired, last bool) (bool, error)) (bool, error) {
	held := in.list.Refs(d.CloudID)
	total := held.Len()
	after := ""
	for at := 0; at < total; at += resolveSlice {
		to := min(at+resolveSlice, total)
		// A list held whole is cut here; one let go is read a part at a
		// time.
		var refs cloud.Refs
		if held.Partial() {
			var err error
			if refs, err = in.part(ctx, d.CloudID, at, to, after); err != nil {
				return false, err
			}
		} else {
			refs = held.Part(at, to)
		}
		for m := range refs.All() {
			after = m
		}
		if in.users != nil {
			if err := in.users(ctx, refs); err != nil {
				return false, err
			}
		}
		part := in.list.MembersOf(d.CloudID, refs)
		r.wantAll(part)
		if err := r.run(ctx); err != nil {
			return false, err
		}
		placed := e.placeAll(d, [][]policy.MemberRef{part}, nil, r, in.tr)
		placed.More = at > 0
		if more, err := each(placed, to == total); err != nil || !more {
			return more, err
		}
		r.forget()
		in.list.Forget(0)
	}
	return true, nil
}

// placeAll places the members of group d (lists: its members, or those
// added and those removed), as resolve found them.
func (e *Engine) placeAll(d policy.Decision, lists [][]policy.MemberRef, c *memberChanges, r *lookups, tr *Trace) reconcile.Desired {
	rd := reconcile.Desired{Group: d.Desired, Members: make([]*reconcile.Member, 0, len(lists[0]))}
	for _, m := range lists[0] {
		dn, member, reason := e.place(d.CloudID, d.Desired.Scope, m, r)
		switch {
		case reason != "":
			rd.NotWritten = append(rd.NotWritten, reconcile.MemberProblem{CloudID: m.CloudID, Reason: reason})
		default:
			rd.Members = append(rd.Members, member)
			if len(m.Keys.Match) > 0 {
				_, rule, _ := r.matchOf(m.Keys)
				rd.Matched = append(rd.Matched, reconcile.MemberMatch{CloudID: m.CloudID, Rule: string(rule), DN: dn})
			}
		}
		if tr != nil && d.CloudID == tr.CloudID {
			tr.member(m, r, dn, reason)
		}
	}
	if c != nil {
		rd.Changes = &reconcile.MemberChanges{}
		c.removedNotWritten = map[string]string{}
		for _, m := range lists[1] {
			_, member, reason := e.place(d.CloudID, d.Desired.Scope, m, r)
			if reason != "" {
				c.removedNotWritten[m.CloudID] = policy.MemberReasonCode(reason)
				continue
			}
			rd.Changes.Removed = append(rd.Changes.Removed, member)
		}
	}
	return rd
}

// lookups are the key values resolve looked up in AD, what they found,
// and the values wanted and not looked up yet.
type lookups struct {
	e *Engine
	// inWork are the anchors of the groups of the work; scopes their
	// group scopes.
	inWork map[string]bool
	scopes map[string]string
	found  map[reconcile.KeyKind]map[string]reconcile.ADObject
	tried  map[reconcile.KeyKind]map[string]bool
	// forest are the forest's domain SIDs, once read.
	forest []string
	wanted map[reconcile.KeyKind]map[string]bool
	// keys are the members to find by their keys, not looked up yet;
	// matchKeys those to match by writeback.match_unsynced's rules.
	keys, matchKeys []*policy.Keys
	// matched are, by rule, the user accounts each value matched (by the
	// value lower-cased), matchTried the values looked up.
	matched    map[policy.MatchRule]map[string][]reconcile.ADObject
	matchTried map[policy.MatchRule]map[string]bool
	// members are the members placed, by DN (or by anchor, for a group
	// of the work): every membership of one object points at one.
	members, anchors map[string]*reconcile.Member
}

// forget lets go of every lookup made and member placed (the groups of
// the work, placed by anchor, and the forest's domains are kept).
func (r *lookups) forget() {
	r.found, r.tried = map[reconcile.KeyKind]map[string]reconcile.ADObject{}, map[reconcile.KeyKind]map[string]bool{}
	r.matched, r.matchTried = map[policy.MatchRule]map[string][]reconcile.ADObject{}, map[policy.MatchRule]map[string]bool{}
	r.members = map[string]*reconcile.Member{}
}

// forgetMany forgets, once the values looked up are more than
// forgetAfter: a member met again after is looked up again.
func (r *lookups) forgetMany() {
	n := 0
	for _, tried := range r.tried {
		n += len(tried)
	}
	for _, tried := range r.matchTried {
		n += len(tried)
	}
	if n > forgetAfter() {
		r.forget()
	}
}

// wantAll asks for the members of lists to be looked up: member groups of
// the work are placed by anchor, and need none.
func (r *lookups) wantAll(lists ...[]policy.MemberRef) {
	for m := range iterAll(lists) {
		if m.NotWritable != "" {
			continue
		}
		if m.Keys.Anchor != "" {
			if !r.inWork[m.Keys.Anchor] {
				r.want(reconcile.ByAnchor, m.Keys.Anchor)
			}
			continue
		}
		if len(m.Keys.Match) > 0 {
			r.matchKeys = append(r.matchKeys, m.Keys)
			continue
		}
		r.keys = append(r.keys, m.Keys)
	}
}

// member is the one member of DN dn.
func (r *lookups) member(dn string) *reconcile.Member {
	m := r.members[dn]
	if m == nil {
		m = &reconcile.Member{DN: dn}
		r.members[dn] = m
	}
	return m
}

// anchored is the one member of the group of the work with anchor a.
func (r *lookups) anchored(a string) *reconcile.Member {
	m := r.anchors[a]
	if m == nil {
		m = &reconcile.Member{Anchor: a}
		r.anchors[a] = m
	}
	return m
}

// want asks for v to be looked up by k, unless it was.
func (r *lookups) want(k reconcile.KeyKind, v string) {
	if v == "" || r.tried[k][v] {
		return
	}
	if r.wanted == nil {
		r.wanted = map[reconcile.KeyKind]map[string]bool{}
	}
	if r.wanted[k] == nil {
		r.wanted[k] = map[string]bool{}
	}
	r.wanted[k][v] = true
}

// run finds the members wanted: the member groups by their anchors, and
// the others by their keys in the order they are tried (objectGUID, then
// objectSid, the immutable id, the DN), each key looked up only for the
// members no key before it found, in the domain and then, for those not
// found, in the forest. A tenant synced from this domain is found by its
// objectGUIDs alone: one search where every key would be four.
func (r *lookups) run(ctx context.Context) error {
	if err := r.lookUp(ctx); err != nil {
		return err
	}
	for _, kind := range []reconcile.KeyKind{reconcile.ByGUID, reconcile.BySID, reconcile.ByImmutableID, reconcile.ByDN} {
		for _, k := range r.keys {
			if _, ok := first(r.found, k); !ok {
				r.want(kind, keyValue(k, kind))
			}
		}
		if err := r.lookUp(ctx); err != nil {
			return err
		}
	}
	r.keys = nil
	if err := r.runMatches(ctx); err != nil {
		return err
	}
	forest, err := r.e.lookUpForest(ctx, r.wanted, r.found, r.forest != nil)
	if err != nil {
		return err
	}
	if forest != nil {
		r.forest = forest
	}
	r.wanted = nil
	return nil
}

// matcher finds user accounts by an attribute under search bases
// (directory.Client, memdir): writeback.match_unsynced's lookups.
type matcher interface {
	MatchUsers(ctx context.Context, attr string, bases, values []string) (map[string][]reconcile.ADObject, error)
}

// runMatches matches the users not synced from AD by
// writeback.match_unsynced's rules, a rule at a time in their order: each
// rule is looked up only for the members no rule before it decided.
func (r *lookups) runMatches(ctx context.Context) error {
	if len(r.matchKeys) == 0 {
		return nil
	}
	m, ok := r.e.reader.(matcher)
	if !ok {
		return fmt.Errorf("engine: writeback.match_unsynced: %T cannot match users", r.e.reader)
	}
	for _, rule := range r.e.cfg.Policy.Match {
		var values []string
		seen := map[string]bool{}
		for _, k := range r.matchKeys {
			if _, _, decided := r.matchOf(k); decided {
				continue
			}
			for _, mk := range k.Match {
				if lv := strings.ToLower(mk.Value); mk.Rule == rule && !r.matchTried[rule][lv] && !seen[lv] {
					seen[lv] = true
					values = append(values, mk.Value)
				}
			}
		}
		if len(values) == 0 {
			continue
		}
		objs, err := m.MatchUsers(ctx, rule.Attribute(), r.e.cfg.MatchBases, values)
		if err != nil {
			return fmt.Errorf("engine: match users not synced from AD by %s: %w", rule, err)
		}
		if r.matched[rule] == nil {
			r.matched[rule], r.matchTried[rule] = map[string][]reconcile.ADObject{}, map[string]bool{}
		}
		for _, v := range values {
			lv := strings.ToLower(v)
			r.matchTried[rule][lv] = true
			r.matched[rule][lv] = objs[lv]
		}
	}
	r.matchKeys = nil
	return nil
}

// matchOf is what writeback.match_unsynced's rules decided of a member:
// tried in order, the first rule that finds exactly one enabled user
// account matches it; one that finds more than one decides it ambiguous
// (none is written: which is meant is not known); none found by any rule,
// no match. decided is false while a rule is not looked up yet.
func (r *lookups) matchOf(k *policy.Keys) (obj reconcile.ADObject, rule policy.MatchRule, decided bool) {
	for _, mk := range k.Match {
		lv := strings.ToLower(mk.Value)
		if !r.matchTried[mk.Rule][lv] {
			return reconcile.ADObject{}, "", false
		}
		var enabled []reconcile.ADObject
		for _, o := range r.matched[mk.Rule][lv] {
			if !o.Disabled {
				enabled = append(enabled, o)
			}
		}
		switch len(enabled) {
		case 0:
			continue
		case 1:
			return enabled[0], mk.Rule, true
		default:
			return reconcile.ADObject{}, mk.Rule, true
		}
	}
	return reconcile.ADObject{}, "", true
}

// lookUp looks up, in the domain, the values wanted that were not.
func (r *lookups) lookUp(ctx context.Context) error {
	e := r.e
	for kind, set := range r.wanted {
		var list []string
		for v := range set {
			if !r.tried[kind][v] {
				list = append(list, v)
			}
		}
		if len(list) == 0 {
			continue
		}
		base := e.cfg.BaseDN
		if kind == reconcile.ByAnchor && len(e.cfg.Policy.Placement) == 0 {
			base = e.cfg.TargetOU // else the placement OUs may lie anywhere in the domain
		}
		objs, err := e.reader.Lookup(ctx, kind, base, list)
		if err != nil {
			return fmt.Errorf("engine: look up members by %s: %w", kind, err)
		}
		if r.found[kind] == nil {
			r.found[kind] = map[string]reconcile.ADObject{}
		}
		maps.Copy(r.found[kind], objs)
		if r.tried[kind] == nil {
			r.tried[kind] = map[string]bool{}
		}
		for _, v := range list {
			r.tried[kind][v] = true
		}
	}
	return nil
}

// keyValue is k's value of kind.
func keyValue(k *policy.Keys, kind reconcile.KeyKind) string {
	switch kind {
	case reconcile.ByGUID:
		return k.GUID
	case reconcile.BySID:
		return k.SID
	case reconcile.ByImmutableID:
		return k.ImmutableID
	case reconcile.ByDN:
		return k.DN
	}
	return ""
}

// place says what member m of group id, of group scope scope, becomes in
// AD: the member to write (and its DN, when known), or why it is not
// written.
func (e *Engine) place(id, scope string, m policy.MemberRef, r *lookups) (dn string, member *reconcile.Member, reason string) {
	found, forest := r.found, r.forest
	if m.NotWritable != "" {
		return "", nil, m.NotWritable
	}
	if a := m.Keys.Anchor; a != "" {
		if r.inWork[a] {
			if why := scopeRefuses(scope, true, r.scopes[a], false); why != "" {
				return "", nil, why
			}
			return "", r.anchored(a), ""
		}
		if obj, ok := found[reconcile.ByAnchor][a]; ok {
			if why := scopeRefuses(scope, true, obj.Scope(), obj.OtherDomain); why != "" {
				return "", nil, why
			}
			return obj.DN, r.member(obj.DN), ""
		}
		return "", nil, policy.MemberGroupNoADObject
	}
	if len(m.Keys.Match) > 0 {
		obj, rule, _ := r.matchOf(m.Keys)
		switch {
		case rule == "":
			return "", nil, policy.MemberNoMatch
		case obj.DN == "":
			return "", nil, policy.MemberMatchAmbiguous
		case obj.Critical || obj.AdminCount:
			e.logger.Warn("member refused: the AD account a match rule found is critical or protected", "cloud_id", id, "member", m.CloudID, "rule", rule, "dn", obj.DN)
			return "", nil, policy.MemberMatchProtected
		case obj.Synced:
			return "", nil, policy.MemberMatchSynced
		}
		if why := scopeRefuses(scope, false, "", obj.OtherDomain); why != "" {
			return "", nil, why
		}
		return obj.DN, r.member(obj.DN), ""
	}
	obj, ok := first(found, m.Keys)
	switch {
	case !ok && forest != nil && m.Keys.SID != "" && !slices.Contains(forest, domainOf(m.Keys.SID)):
		return "", nil, policy.MemberOtherForest
	case !ok:
		return "", nil, policy.MemberNotFoundInAD
	case obj.Critical:
		e.logger.Warn("member refused: its on-premises identifier names a critical system object", "cloud_id", id, "member", m.CloudID, "dn", obj.DN)
		return "", nil, policy.MemberCritical
	case m.Type == cloud.TypeUser && !obj.IsUser():
		e.logger.Warn("member refused: a user's on-premises identifier names an object that is not a user", "cloud_id", id, "member", m.CloudID, "dn", obj.DN)
		return "", nil, policy.MemberNotAUser
	case m.Type == cloud.TypeGroup && !obj.IsGroup():
		return "", nil, policy.MemberNotAGroup
	}
	if why := scopeRefuses(scope, obj.IsGroup(), obj.Scope(), obj.OtherDomain); why != "" {
		return "", nil, why
	}
	return obj.DN, r.member(obj.DN), ""
}

// scopeRefuses says why a group of scope holder cannot hold a member (a
// group of scope member, or an account; of another domain of the forest
// or not), as AD's rules of group scope say (Microsoft Learn, Active
// Directory security groups, "Group scope"); "" when it can. A group
// written in place ("") is held to a universal group's rules.
func scopeRefuses(holder string, group bool, member string, otherDomain bool) string {
	switch holder {
	case policy.ScopeGlobal:
		switch {
		case otherDomain:
			return policy.MemberGlobalOtherDomain
		case group && member != policy.ScopeGlobal:
			return policy.MemberGlobalOnlyGlobal
		}
	case policy.ScopeDomainLocal:
		// Anything of the forest (a domain-local group of another domain
		// aside, which AD refuses and the write reports).
	default:
		if group && member == policy.ScopeDomainLocal {
			return policy.MemberDomainLocalGroup
		}
	}
	return ""
}

// lookUpForest looks up, in the whole forest, the members the domain did
// not hold, by the keys the global catalog holds for every object
// (objectSid, distinguishedName), and adds what it finds to found. It
// returns the forest's domain SIDs (nil when the forest is not searched,
// every SID was found, or haveDomains says they were read already).
func (e *Engine) lookUpForest(ctx context.Context, values map[reconcile.KeyKind]map[string]bool, found map[reconcile.KeyKind]map[string]reconcile.ADObject, haveDomains bool) ([]string, error) {
	fr, ok := e.reader.(ForestReader)
	if !e.cfg.Forest || !ok {
		return nil, nil
	}
	for _, kind := range []reconcile.KeyKind{reconcile.BySID, reconcile.ByDN} {
		var missing []string
		for v := range values[kind] {
			if _, ok := found[kind][v]; !ok {
				missing = append(missing, v)
			}
		}
		if len(missing) == 0 {
			continue
		}
		objs, err := e.reader.Lookup(ctx, kind, ForestBase, missing)
		if err != nil {
			return nil, fmt.Errorf("engine: look up members by %s in the forest: %w", kind, err)
		}
		if found[kind] == nil {
			found[kind] = map[string]reconcile.ADObject{}
		}
		for v, o := range objs {
			o.OtherDomain = true
			found[kind][v] = o
		}
	}
	// The forest's domains tell a trusted forest's member from one not
	// found: read them only when a SID is still not found (and not yet
	// read).
	if haveDomains {
		return nil, nil
	}
	for v := range values[reconcile.BySID] {
		if _, ok := found[reconcile.BySID][v]; !ok {
			sids, err := fr.ForestDomainSIDs(ctx)
			if err != nil {
				return nil, fmt.Errorf("engine: read the forest's domains: %w", err)
			}
			return sids, nil
		}
	}
	return nil, nil
}

// iterAll ranges over the members of every list, copying none.
func iterAll(lists [][]policy.MemberRef) iter.Seq[policy.MemberRef] {
	return func(yield func(policy.MemberRef) bool) {
		for _, l := range lists {
			for _, m := range l {
				if !yield(m) {
					return
				}
			}
		}
	}
}

// domainOf is the domain part of a SID (all but its last RID).
func domainOf(sid string) string {
	if i := strings.LastIndex(sid, "-"); i > 0 {
		return sid[:i]
	}
	return sid
}

// first returns the object the first key that found one found: objectGUID,
// then objectSid, then the immutable id, then the DN (which may be stale).
func first(found map[reconcile.KeyKind]map[string]reconcile.ADObject, k *policy.Keys) (reconcile.ADObject, bool) {
	if k.Anchor != "" {
		o, ok := found[reconcile.ByAnchor][k.Anchor]
		return o, ok
	}
	for _, try := range [...]keyTry{{reconcile.ByGUID, k.GUID}, {reconcile.BySID, k.SID}, {reconcile.ByImmutableID, k.ImmutableID}, {reconcile.ByDN, k.DN}} {
		if try.v == "" {
			continue
		}
		if o, ok := found[try.kind][try.v]; ok {
			return o, true
		}
	}
	return reconcile.ADObject{}, false
}
