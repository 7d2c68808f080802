package engine_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// TestLargeGroupWrittenInParts: a group the plan creates with more members
// than two slices hold is resolved and written a slice of members at a
// time: the group with its first members, then each part's members added,
// never more members looked up at once than a slice holds. A member not
// written in any part is reported with the others, a member group created
// after it waits as in any group, and the group is recorded once, at the
// end, with what every part wrote. Of a group whose create is refused, no
// other part is written.
func TestLargeGroupWrittenInParts(t *testing.T) {
	defer engine.SetResolveSlice(3)() // parts of 3 members, for groups of more than 6
	big, small, refused := groupID(1), groupID(2), groupID(3)
	var ms []any
	for i := range 20 {
		ms = append(ms, userID(i))
	}
	ms = append(ms, cloudOnly, small) // 22 members: 8 parts, the last the small group alone (its id sorts last)
	groups := []map[string]any{
		{"id": big, "displayName": "Big", "mailNickname": "big", "members": ms},
		{"id": small, "displayName": "Small", "mailNickname": "small", "members": []any{userID(21)}},
		{"id": refused, "displayName": "G3", "mailNickname": "g3", "members": slices.Clone(ms[:9])},
	}
	e := newGroupsEnv(t, 24, groups, nil)
	holder := e.ad.AddUsers(t, "CN=Users,"+e.ad.BaseDN, []string{"G3_2c1a0b000003"})[0]
	rec := &statusRecorder{Store: e.store, writes: e.ad.Writes, at: map[string][]int64{}}
	reads := &stageReads{statusRecorder: rec}
	looked := &lookupCounter{DirectoryReader: e.dir}
	e.eng = engine.New(e.cloud, looked, e.dir, reads, e.cfg, nil)

	res, writes := e.sync(engine.RunOptions{})
	// The member lists and the users were staged, and read back a part's
	// at a time: never a group of more than two slices whole.
	if reads.most == 0 || reads.most > 3 {
		t.Errorf("read back from the stage %d members or users at once, want a part's 3 at most", reads.most)
	}
	// Big: its create and 6 parts added, then the small group (the last
	// part) once created; the small group's create. Nothing of the
	// refused group.
	if writes != 1+6+1+1 {
		t.Errorf("%d writes, want 9", writes)
	}
	if looked.most > 3 {
		t.Errorf("%d members looked up at once, want a part's 3 at most", looked.most)
	}
	total := e.ad.Writes()
	for _, id := range []string{big, refused} {
		if got := rec.at[id]; !slices.Equal(got, []int64{total}) {
			t.Errorf("%s recorded after %v writes, want once, at the end (%d)", id, got, total)
		}
	}
	var want []string
	for i := range 20 {
		want = append(want, strings.ToLower(e.users[i].DN))
	}
	want = append(want, strings.ToLower(e.group(small).DN))
	slices.Sort(want)
	if got := members(e.group(big)); !slices.Equal(got, want) {
		t.Errorf("%s: members %v, want %v", big, got, want)
	}
	sts := e.statuses()
	if st, g := sts[big], e.group(big); st.State != state.InStep || !strings.EqualFold(st.DN, g.DN) || st.SAM != attr(g, "sAMAccountName") ||
		len(st.MembersNotWritten) != 1 || st.MembersNotWritten["cloud_only_user"] != 1 {
		t.Errorf("%s: status %+v", big, st)
	}
	if st := sts[refused]; st.State != state.Failed || !strings.Contains(st.Message, holder.DN) || e.group(refused) != nil {
		t.Errorf("the refused group: %+v", st)
	}
	if len(res.Failures) != 1 || res.Failures[0].CloudID != refused || res.Counts.Created != 2 {
		t.Errorf("result: %+v %+v", res.Failures, res.Counts)
	}
	var got []string
	for _, op := range kept(res) {
		if op.CloudID == big {
			got = append(got, string(op.Action))
		}
	}
	if wantOps := []string{"create", "add-members", "add-members", "add-members", "add-members", "add-members", "add-members", "add-members"}; !slices.Equal(got, wantOps) {
		t.Errorf("the result's operations of %s: %v, want %v", big, got, wantOps)
	}

	// In step after: the next full cycle writes nothing.
	if _, writes := e.sync(engine.RunOptions{Full: true}); writes != 0 {
		t.Errorf("the next cycle wrote %d times", writes)
	}
}

// lookupCounter notes the most values one Lookup by a member's key was
// asked for.
type lookupCounter struct {
	engine.DirectoryReader
	mu   sync.Mutex
	most int
}

func (l *lookupCounter) Lookup(ctx context.Context, kind reconcile.KeyKind, base string, values []string) (map[string]reconcile.ADObject, error) {
	if kind != reconcile.ByAnchor {
		l.mu.Lock()
		l.most = max(l.most, len(values))
		l.mu.Unlock()
	}
	return l.DirectoryReader.Lookup(ctx, kind, base, values)
}

// TestLargeGroupPlannedInParts: a plan holds a group in parts as the
// writes do, whether it is held in memory or spooled to be shown, and
// its saved file, applied, writes the whole group.
func TestLargeGroupPlannedInParts(t *testing.T) {
	defer engine.SetResolveSlice(3)()
	big := groupID(1)
	var ms []any
	for i := range 14 {
		ms = append(ms, userID(i))
	}
	e := newGroupsEnv(t, 14, []map[string]any{{"id": big, "displayName": "Big", "mailNickname": "big", "members": ms}}, nil)
	ctx := context.Background()
	whole, shown, _ := plansBothWays(t, e)
	defer shown.Result.Close()
	var wantMembers int
	var actions []string
	for _, op := range whole.Result.Plan.Ops {
		actions = append(actions, string(op.Action))
		wantMembers += len(op.Members)
	}
	// 14 members in parts of 3: the create, and four parts added.
	if want := []string{"create", "add-members", "add-members", "add-members", "add-members"}; !slices.Equal(actions, want) || wantMembers != 14 {
		t.Fatalf("the plan: %v with %d member values, want %v with 14", actions, wantMembers, want)
	}
	if got, want := opsOf(t, shown.Result), opsOf(t, whole.Result); !slices.Equal(got, want) {
		t.Fatalf("the spooled plan's operations:\n%v\nwant\n%v", got, want)
	}
	path := filepath.Join(t.TempDir(), "plan.json")
	must(t, e.eng.SavePlan(ctx, shown, path))
	saved, err := engine.LoadPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.eng.Apply(ctx, saved)
	if err != nil || res.Counts.Created != 1 || len(res.Failures) != 0 {
		t.Fatalf("apply the saved plan: %v, %+v, %+v", err, res.Counts, res.Failures)
	}
	if got := members(e.group(big)); len(got) != 14 {
		t.Errorf("%s has %d members, want 14", big, len(got))
	}
	if _, writes := e.sync(engine.RunOptions{Full: true}); writes != 0 {
		t.Errorf("the next cycle wrote %d times", writes)
	}
}

// stageReads notes the most members or users a cycle read back from the
// stage at once.
type stageReads struct {
	*statusRecorder
	most int
}

func (s *stageReads) note(n int) { s.most = max(s.most, n) }

func (s *stageReads) StagedMembers(ctx context.Context, ids []string) (map[string]cloud.Refs, error) {
	got, err := s.statusRecorder.StagedMembers(ctx, ids)
	n := 0
	for _, set := range got {
		n += set.Len()
	}
	s.note(n)
	return got, err
}

func (s *stageReads) StagedMembersAfter(ctx context.Context, group, after string, n int) (cloud.Refs, error) {
	got, err := s.statusRecorder.StagedMembersAfter(ctx, group, after, n)
	s.note(got.Len())
	return got, err
}

func (s *stageReads) StagedUsers(ctx context.Context, ids []string) (map[string]*cloud.User, error) {
	got, err := s.statusRecorder.StagedUsers(ctx, ids)
	s.note(len(got))
	return got, err
}
