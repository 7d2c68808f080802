package engine_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/store"
)

// usersDN are the DNs of the env's users i, lower-cased and sorted.
func (e *env) usersDN(is ...int) []string {
	var out []string
	for _, i := range is {
		out = append(out, strings.ToLower(e.users[i].DN))
	}
	slices.Sort(out)
	return out
}

// TestDeltaPlansFromMemberChanges: a delta cycle brings a group whose only
// change is in Graph's report (members added and removed) in step without
// reading its members in AD or looking them all up: one lookup and one
// write per member changed. Whatever else changed is compared in full.
func TestDeltaPlansFromMemberChanges(t *testing.T) {
	const n = 200
	all := make([]any, 0, n)
	for i := range n - 2 {
		all = append(all, userID(i))
	}
	all = append(all, cloudOnly)
	big, small := groupID(1), groupID(2)
	e := newGroupsEnv(t, n, []map[string]any{
		{"id": big, "displayName": "Big", "mailNickname": "big", "members": all},
		{"id": small, "displayName": "Small", "mailNickname": "small", "members": []any{userID(0)}},
	}, nil)
	e.sync(engine.RunOptions{})
	reads := func() (int64, int64) { return e.ad.Reads() }

	type step struct {
		name   string
		change func(t *testing.T)
		// members read in AD, values looked up, writes
		read, looked, writes int64
		want                 []int // big's members after, by user number
		notWritten           int   // big's members not written, as recorded
	}
	base := make([]int, n-2)
	for i := range base {
		base[i] = i
	}
	steps := []step{
		{name: "one member added", change: func(t *testing.T) { must(t, e.tenant.AddMember(big, userID(n-2))) },
			looked: 1, writes: 1, want: append(slices.Clone(base), n-2), notWritten: 1},
		{name: "one removed, one added", change: func(t *testing.T) {
			must(t, e.tenant.RemoveMember(big, userID(0)))
			must(t, e.tenant.AddMember(big, userID(n-1)))
		}, looked: 2, writes: 2, want: append(slices.Clone(base[1:]), n-2, n-1), notWritten: 1},
		{name: "the cloud-only member removed: no write, one fewer not written", change: func(t *testing.T) { must(t, e.tenant.RemoveMember(big, cloudOnly)) },
			looked: 0, writes: 0, want: append(slices.Clone(base[1:]), n-2, n-1), notWritten: 0},
		// The one value looked up: the new sAMAccountName, held by none.
		{name: "renamed: attributes only, no member read", change: func(t *testing.T) { must(t, e.tenant.UpdateGroup(big, map[string]any{"displayName": "Bigger"})) },
			looked: 0, writes: 2, want: append(slices.Clone(base[1:]), n-2, n-1)}, // the sAMAccountName stays: no lookup of a new one
		{name: "a member user changed: compared in full", change: func(t *testing.T) {
			must(t, e.tenant.UpdateUser(userID(5), map[string]any{"displayName": "User five"}))
			must(t, e.tenant.AddMember(big, userID(0)))
		}, read: n - 1, looked: n, writes: 1, want: append(slices.Clone(base), n-2, n-1)},
	}
	for _, s := range steps {
		s.change(t)
		read0, looked0 := reads()
		res, writes := e.sync(engine.RunOptions{})
		read1, looked1 := reads()
		if read1-read0 != s.read || looked1-looked0 != s.looked || writes != s.writes {
			t.Errorf("%s: read %d members, looked up %d, wrote %d; want %d, %d, %d (%+v)", s.name, read1-read0, looked1-looked0, writes,
				s.read, s.looked, s.writes, kept(res))
		}
		if got, want := members(e.group(big)), e.usersDN(s.want...); !slices.Equal(got, want) {
			t.Fatalf("%s: members differ: %d in AD, %d wanted", s.name, len(got), len(want))
		}
		st := e.statuses()[big]
		if st.State != state.InStep || st.MembersNotWritten[policy.MemberReasonCode(policy.MemberCloudOnly)] != s.notWritten {
			t.Errorf("%s: status %+v, want in step with %d cloud-only members not written", s.name, st, s.notWritten)
		}
	}
	// The small group was untouched throughout.
	if got := members(e.group(small)); !slices.Equal(got, e.usersDN(0)) {
		t.Errorf("small: %v", got)
	}
}

// TestDeltaByChangesFallsBackToFull: a group whose AD copy cannot be
// brought in step from its changes alone is compared in full: its AD
// group deleted by hand (created again, with every member), moved out of
// its OU by hand (reported, not duplicated), or left failed by the last
// cycle.
func TestDeltaByChangesFallsBackToFull(t *testing.T) {
	ctx := context.Background()
	g1, g2 := groupID(1), groupID(2)
	e := newGroupsEnv(t, 6, []map[string]any{
		{"id": g1, "displayName": "One", "mailNickname": "one", "members": []any{userID(0), userID(1)}},
		{"id": g2, "displayName": "Two", "mailNickname": "two", "members": []any{userID(0), userID(1)}},
	}, nil)
	e.sync(engine.RunOptions{})

	// One deleted by hand: the member change brings it back whole.
	e.ad.Delete(t, e.group(g1).DN)
	must(t, e.tenant.AddMember(g1, userID(2)))
	res, _ := e.sync(engine.RunOptions{})
	if g := e.group(g1); g == nil || !slices.Equal(members(g), e.usersDN(0, 1, 2)) {
		t.Fatalf("deleted by hand, then a member added: %+v (%+v)", g, kept(res))
	}

	// Two moved out of the OU by hand: reported, not created again.
	elsewhere := e.ad.NewOU(t, "Elsewhere")
	rdn, _ := policy.SplitDN(e.group(g2).DN)
	e.ad.ModifyDN(t, e.group(g2).DN, rdn, elsewhere)
	must(t, e.tenant.AddMember(g2, userID(3)))
	res, writes := e.sync(engine.RunOptions{})
	if writes != 0 || !slices.ContainsFunc(res.Failures, func(f engine.Failure) bool { return f.CloudID == g2 }) {
		t.Errorf("moved by hand: %d writes, failures %+v; want none, and the group reported", writes, res.Failures)
	}
	gs, err := e.dir.GroupsByAnchor(ctx, e.ad.BaseDN, []string{policy.Anchor(g2)}, nil)
	if err != nil || len(gs) != 1 {
		t.Fatalf("groups with the anchor: %d, %v", len(gs), err)
	}

	// A failed group with a member change: compared in full, so the member
	// an admin removed by hand is back too.
	must(t, e.store.SetStatus(ctx, []state.GroupStatus{{CloudID: g1, Name: "One", State: state.Failed, Message: "test"}}))
	e.ad.Unnest(t, e.group(g1).DN, e.users[0].DN)
	must(t, e.tenant.AddMember(g1, userID(4)))
	e.sync(engine.RunOptions{})
	if got := members(e.group(g1)); !slices.Equal(got, e.usersDN(0, 1, 2, 4)) {
		t.Errorf("failed before: members %v", got)
	}

	// In step: a member removed by hand stays removed until the full cycle
	// (the daily one) compares the group.
	e.ad.Unnest(t, e.group(g1).DN, e.users[1].DN)
	must(t, e.tenant.AddMember(g1, userID(5)))
	e.sync(engine.RunOptions{})
	if got := members(e.group(g1)); !slices.Equal(got, e.usersDN(0, 2, 4, 5)) {
		t.Errorf("delta after a hand removal: members %v", got)
	}
	res, _ = e.sync(engine.RunOptions{Full: true})
	if got := members(e.group(g1)); !slices.Equal(got, e.usersDN(0, 1, 2, 4, 5)) || res.Counts.Drifted != 1 {
		t.Errorf("full cycle: members %v, drifted %d", got, res.Counts.Drifted)
	}
}

// TestSavedPlanFromChangesGoesStale: a saved plan made from a group's
// changes is refused as stale when the group's attributes change in AD
// (its members were not read, so only they are not compared).
func TestSavedPlanFromChangesGoesStale(t *testing.T) {
	ctx := context.Background()
	g1 := groupID(1)
	e := newGroupsEnv(t, 3, []map[string]any{{"id": g1, "displayName": "One", "mailNickname": "one", "members": []any{userID(0)}}}, nil)
	e.sync(engine.RunOptions{})
	must(t, e.tenant.AddMember(g1, userID(1)))
	p, err := e.eng.Plan(ctx, engine.RunOptions{})
	must(t, err)
	if !strings.HasPrefix(p.Seen[g1], "attributes:") {
		t.Fatalf("seen = %q, want the fingerprint of a group read without members", p.Seen[g1])
	}
	path := t.TempDir() + "/plan.json"
	must(t, e.eng.SavePlan(ctx, p, path))
	// A member changed by hand does not make it stale; a description does.
	e.ad.Nest(t, e.group(g1).DN, e.users[2].DN)
	saved, err := engine.LoadPlan(path)
	must(t, err)
	res, err := e.eng.Apply(ctx, saved)
	if err != nil || res.Counts.Failed != 0 || !slices.Contains(members(e.group(g1)), strings.ToLower(e.users[1].DN)) {
		t.Fatalf("apply: %v, %+v", err, res.Failures)
	}
	must(t, e.tenant.AddMember(g1, cloudOnly))
	must(t, e.tenant.RemoveMember(g1, userID(1)))
	p, err = e.eng.Plan(ctx, engine.RunOptions{})
	must(t, err)
	must(t, e.eng.SavePlan(ctx, p, path))
	e.ad.SetAttribute(t, e.group(g1).DN, "description", []string{"by hand"})
	saved, err = engine.LoadPlan(path)
	must(t, err)
	res, err = e.eng.Apply(ctx, saved)
	if err != nil || res.Counts.Failed != 1 || !strings.Contains(fmt.Sprint(res.Failures), "stale") {
		t.Fatalf("apply after an attribute changed by hand: %v, %+v", err, res.Failures)
	}
}

// loadCounter counts the loads of the whole snapshot, and of parts of it
// (and the groups and users those held).
type loadCounter struct {
	*store.Store
	loads, parts          int
	partGroups, partUsers int
}

func (l *loadCounter) LoadCloud(ctx context.Context) (*cloud.Snapshot, state.Links, error) {
	l.loads++
	return l.Store.LoadCloud(ctx)
}

// LoadGroups is a whole load too: a cycle that staged its users reads
// the snapshot's groups whole.
func (l *loadCounter) LoadGroups(ctx context.Context) (*cloud.Snapshot, state.Links, error) {
	l.loads++
	return l.Store.LoadGroups(ctx)
}

func (l *loadCounter) LoadPart(ctx context.Context, q state.Part) (*cloud.Snapshot, state.Links, error) {
	l.parts++
	snap, links, err := l.Store.LoadPart(ctx, q)
	if snap != nil {
		l.partGroups, l.partUsers = len(snap.Groups), len(snap.Users)
	}
	return snap, links, err
}

// TestQuietCycleLoadsNoSnapshot: a delta cycle that Graph reports nothing
// changed for, with nothing left from the last cycle, does not load the
// tenant as last read (its cost would grow with the tenant); one with
// work loads only the part of it that work concerns; a full one loads it
// whole.
func TestQuietCycleLoadsNoSnapshot(t *testing.T) {
	ctx := context.Background()
	g1 := groupID(1)
	e := newGroupsEnv(t, 3, []map[string]any{{"id": g1, "displayName": "One", "mailNickname": "one", "members": []any{userID(0)}}}, nil)
	lc := &loadCounter{Store: e.store}
	e.eng = engine.New(e.cloud, e.dir, e.dir, lc, e.cfg, nil)
	steps := []struct {
		name          string
		before        func(t *testing.T)
		full          bool
		loads, parts  int
		writes        int64
		groups, users int // loaded by the part
	}{
		{name: "first: full read", loads: 1, writes: 1},
		{name: "nothing changed"},
		{name: "nothing changed again"},
		{name: "a group left failed", before: func(t *testing.T) {
			must(t, e.store.SetStatus(ctx, []state.GroupStatus{{CloudID: g1, Name: "One", State: state.Failed}}))
		}, parts: 1},
		// Its group and the user added: not the user that was a member
		// already (the group is planned from its member changes), nor the
		// third user.
		{name: "a member added", before: func(t *testing.T) { must(t, e.tenant.AddMember(g1, userID(1))) }, parts: 1, writes: 1, groups: 1, users: 1},
		{name: "quiet once more"},
		// A member added to a group left failed, whose AD copy lost its
		// members by hand: it is compared in full, so its other members'
		// users are loaded after all (a second part), and all are written.
		{name: "a member added to a failed group", before: func(t *testing.T) {
			must(t, e.store.SetStatus(ctx, []state.GroupStatus{{CloudID: g1, Name: "One", State: state.Failed}}))
			for _, u := range e.usersDN(0, 1) {
				e.ad.Unnest(t, e.group(g1).DN, u)
			}
			must(t, e.tenant.AddMember(g1, userID(2)))
		}, parts: 2, writes: 1},
		{name: "full", full: true, loads: 1},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before(t)
		}
		lc.loads, lc.parts = 0, 0
		res, writes := e.sync(engine.RunOptions{Full: s.full})
		if lc.loads != s.loads || lc.parts != s.parts || writes != s.writes || len(res.Failures) != 0 {
			t.Errorf("%s: %d whole loads, %d parts, %d writes, failures %+v; want %d, %d, %d, none", s.name, lc.loads, lc.parts, writes, res.Failures, s.loads, s.parts, s.writes)
		}
		if s.groups != 0 && (lc.partGroups != s.groups || lc.partUsers != s.users) {
			t.Errorf("%s: the part held %d groups and %d users; want %d and %d", s.name, lc.partGroups, lc.partUsers, s.groups, s.users)
		}
	}
	// show (and the console's group page) by id reads that group and
	// what it names, not the tenant; by name, the whole snapshot.
	lc.loads, lc.parts = 0, 0
	x, err := e.eng.Explain(ctx, g1)
	if err != nil || x.Cloud == nil || x.Status == nil || lc.loads != 0 || lc.parts != 1 || lc.partGroups != 1 || lc.partUsers != 3 {
		t.Errorf("explain by id: %v, %+v; %d whole loads, %d parts of %d groups and %d users", err, x, lc.loads, lc.parts, lc.partGroups, lc.partUsers)
	}
	if x, err := e.eng.Explain(ctx, "One"); err != nil || x.CloudID != g1 || lc.loads != 1 {
		t.Errorf("explain by name: %v, %+v; %d whole loads", err, x, lc.loads)
	}
	if got := members(e.group(g1)); !slices.Equal(got, e.usersDN(0, 1, 2)) {
		t.Errorf("members %v", got)
	}
}

// TestResolveInSlices: resolve lists and looks up the members of a few
// groups at a time, and looks each user up once however many slices hold
// it; the groups come out as whole as in one slice.
func TestResolveInSlices(t *testing.T) {
	defer engine.SetResolveSlice(4)() // a group (5 to 7 members) a slice; none in parts (more than 8)
	const users = 8
	var groups []map[string]any
	want := map[string][]int{}
	for g := range 6 {
		var ms []any
		for j := range 5 {
			u := (g*3 + j) % users
			ms = append(ms, userID(u))
			want[groupID(g+1)] = append(want[groupID(g+1)], u)
		}
		groups = append(groups, map[string]any{"id": groupID(g + 1), "displayName": fmt.Sprintf("G%d", g+1), "mailNickname": fmt.Sprintf("g%d", g+1), "members": ms})
	}
	groups[5]["members"] = append(groups[5]["members"].([]any), groupID(1), cloudOnly)
	e := newGroupsEnv(t, users, groups, nil)
	sc := &stageCounter{Store: e.store, writes: e.ad.Writes}
	e.eng = engine.New(e.cloud, e.dir, e.dir, sc, e.cfg, nil)
	_, looked0 := e.ad.Reads()
	res, _ := e.sync(engine.RunOptions{})
	// Each user once, and each new group's sAMAccountName (held by none).
	if _, looked := e.ad.Reads(); looked-looked0 != int64(users+len(groups)) {
		t.Errorf("looked up %d values, want each of the %d users once and %d names", looked-looked0, users, len(groups))
	}
	for id, us := range want {
		got := members(e.group(id))
		wantDNs := e.usersDN(us...)
		if id == groupID(6) {
			wantDNs = append(wantDNs, strings.ToLower(e.group(groupID(1)).DN))
			slices.Sort(wantDNs)
		}
		if !slices.Equal(got, wantDNs) {
			t.Errorf("%s: members %v, want %v", id, got, wantDNs)
		}
	}
	if res.Counts.MembersNotWritten[policy.MemberReasonCode(policy.MemberCloudOnly)] != 1 {
		t.Errorf("members not written: %v", res.Counts.MembersNotWritten)
	}
	// The first writeback staged every member list before it wrote
	// anything (a batch of about a slice's members at a time), read each
	// slice's lists back once to plan it, and saved them with the
	// snapshot: the state holds every group's members as Graph has them.
	if sc.stages != len(groups) || sc.firsts != 1 || sc.stagedAfterWrites {
		t.Errorf("member lists staged %d times (%d first, after a write: %v); want %d batches before any write",
			sc.stages, sc.firsts, sc.stagedAfterWrites, len(groups))
	}
	if !slices.Equal(sc.readBack, []int{1, 1, 1, 1, 1, 1}) {
		t.Errorf("lists read back from the stage, a slice at a time: %v; want each group's once, a slice of one group each", sc.readBack)
	}
	snap, _, err := e.store.LoadCloud(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for id, us := range want {
		var got []string
		for m := range snap.Groups[id].Members.All() {
			got = append(got, m)
		}
		var ids []string
		for _, u := range us {
			ids = append(ids, userID(u))
		}
		if id == groupID(6) {
			ids = append(ids, groupID(1), cloudOnly)
		}
		slices.Sort(ids)
		if ids = slices.Compact(ids); !slices.Equal(got, ids) {
			t.Errorf("%s in the state: %v, want %v", id, got, ids)
		}
	}
	// The users too were staged as Graph's round was read, before any
	// write, and each slice read back only its own members' users: no
	// more than one group's were held at once. The snapshot's save moved
	// them into the state, every field as Graph sent it.
	if sc.usersStaged != users+1 || !slices.Equal(sc.userFroms, []int{0}) || sc.usersAfterWrites {
		t.Errorf("users staged: %d from %v (after a write: %v); want the %d users and the cloud-only one, in one batch from 0, before any write",
			sc.usersStaged, sc.userFroms, sc.usersAfterWrites, users)
	}
	if !slices.Equal(sc.usersAsked, []int{5, 5, 5, 5, 5, 6}) {
		t.Errorf("users read back from the stage, a slice at a time: %v; want each slice's members that are users (5, and 6 with the cloud-only one)", sc.usersAsked)
	}
	if len(snap.Users) != users+1 || snap.Users[userID(3)] == nil || snap.Users[userID(3)].OnPremisesSecurityIdentifier == "" ||
		snap.Users[cloudOnly] == nil || snap.Users[cloudOnly].UserPrincipalName == "" || snap.Users[cloudOnly].OnPremisesSecurityIdentifier != "" {
		t.Errorf("users in the state: %d (%+v, %+v); want %d, with their SIDs", len(snap.Users), snap.Users[userID(3)], snap.Users[cloudOnly], users+1)
	}
	// Nothing changed: the next cycle (a delta) writes nothing and stages
	// no users; one that reads the tenant again (its links forgotten)
	// stages them again, and finds everything in step.
	sc.userFroms = nil
	if _, writes := e.sync(engine.RunOptions{}); writes != 0 || sc.userFroms != nil {
		t.Errorf("the next cycle: %d writes, users staged from %v; want none", writes, sc.userFroms)
	}
	if err := e.store.ForgetLinks(context.Background()); err != nil {
		t.Fatal(err)
	}
	sc.usersAsked = nil
	if _, writes := e.sync(engine.RunOptions{}); writes != 0 || !slices.Equal(sc.userFroms, []int{0}) || len(sc.usersAsked) != len(groups) {
		t.Errorf("a cycle that reads everything again: %d writes, users staged from %v, read back %v; want none, from 0, once a slice", writes, sc.userFroms, sc.usersAsked)
	}
	if again, _, err := e.store.LoadCloud(context.Background()); err != nil || !reflect.DeepEqual(again.Users, snap.Users) {
		t.Errorf("users in the state after reading them again: %v, %d; want the same %d", err, len(again.Users), len(snap.Users))
	}
}

// stageCounter counts the member lists a cycle stages (and whether any
// batch came after an AD write), and the groups of each slice it reads
// back; and the same of the users.
type stageCounter struct {
	*store.Store
	writes            func() int64
	stages, firsts    int
	stagedAfterWrites bool
	readBack          []int
	usersStaged       int
	userFroms         []int
	usersAfterWrites  bool
	usersAsked        []int
}

func (s *stageCounter) StageUsers(ctx context.Context, from int, batch []cloud.UserDelta) error {
	s.usersStaged += len(batch)
	s.userFroms = append(s.userFroms, from)
	s.usersAfterWrites = s.usersAfterWrites || s.writes() > 0
	return s.Store.StageUsers(ctx, from, batch)
}

func (s *stageCounter) StagedUsers(ctx context.Context, ids []string) (map[string]*cloud.User, error) {
	s.usersAsked = append(s.usersAsked, len(ids))
	return s.Store.StagedUsers(ctx, ids)
}

func (s *stageCounter) StageMembers(ctx context.Context, first bool, groups map[string]cloud.Refs) error {
	s.stages++
	if first {
		s.firsts++
	}
	s.stagedAfterWrites = s.stagedAfterWrites || s.writes() > 0
	return s.Store.StageMembers(ctx, first, groups)
}

func (s *stageCounter) StagedMembers(ctx context.Context, ids []string) (map[string]cloud.Refs, error) {
	s.readBack = append(s.readBack, len(ids))
	return s.Store.StagedMembers(ctx, ids)
}

// TestDeltaByChangesNestedGroups: a written-back group added to or
// removed from another is found by its anchor and written as one value,
// planned from the change like a user.
func TestDeltaByChangesNestedGroups(t *testing.T) {
	outer, inner := groupID(1), groupID(2)
	e := newGroupsEnv(t, 3, []map[string]any{
		{"id": outer, "displayName": "Outer", "mailNickname": "outer", "members": []any{userID(0)}},
		{"id": inner, "displayName": "Inner", "mailNickname": "inner", "members": []any{userID(1)}},
	}, nil)
	e.sync(engine.RunOptions{})
	innerDN := strings.ToLower(e.group(inner).DN)
	for _, s := range []struct {
		name   string
		change func() error
		want   []string
	}{
		{"inner added", func() error { return e.tenant.AddMember(outer, inner) }, append(e.usersDN(0), innerDN)},
		{"inner removed", func() error { return e.tenant.RemoveMember(outer, inner) }, e.usersDN(0)},
	} {
		must(t, s.change())
		read0, _ := e.ad.Reads()
		_, writes := e.sync(engine.RunOptions{})
		read1, _ := e.ad.Reads()
		want := slices.Clone(s.want)
		slices.Sort(want)
		if got := members(e.group(outer)); !slices.Equal(got, want) || writes != 1 || read1 != read0 {
			t.Errorf("%s: members %v (want %v), %d writes, %d member values read", s.name, got, want, writes, read1-read0)
		}
	}
}
