package engine_test

import (
	"context"
	"fmt"

	"slices"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/store"
)

// TestSlicesRecordedAsWritten: a cycle that writes its slices as it plans
// them records each group whose writes are over as soon as its slice is
// written, and lets its decision go; a group refused, or whose member
// values wait for a group a later slice creates, is recorded at the end.
// Every group ends with the state a cycle recording them all at its end
// gives it.
func TestSlicesRecordedAsWritten(t *testing.T) {
	defer engine.SetResolveSlice(3)() // a slice a group
	var groups []map[string]any
	for g := range 6 {
		var ms []any
		for j := range 4 {
			ms = append(ms, userID((g+j)%8))
		}
		groups = append(groups, map[string]any{"id": groupID(g + 1), "displayName": fmt.Sprintf("G%d", g+1), "mailNickname": fmt.Sprintf("g%d", g+1), "members": ms})
	}
	refused, held, partial, early := groupID(1), groupID(2), groupID(4), groupID(3)
	groups[1]["members"] = append(groups[1]["members"].([]any), groupID(5)) // created by a later slice
	groups[3]["members"] = append(groups[3]["members"].([]any), cloudOnly)
	e := newGroupsEnv(t, 8, groups, nil)
	holder := e.ad.AddUsers(t, "CN=Users,"+e.ad.BaseDN, []string{"G1_2c1a0b000001"})[0]
	rec := &statusRecorder{Store: e.store, writes: e.ad.Writes, at: map[string][]int64{}}
	e.eng = engine.New(e.cloud, e.dir, e.dir, rec, e.cfg, nil)

	res, writes := e.sync(engine.RunOptions{})
	total := e.ad.Writes()
	if writes != 5+1 { // five creates, and the member value held back
		t.Errorf("%d writes, want 6", writes)
	}
	for _, id := range []string{refused, held} {
		if got := rec.at[id]; !slices.Equal(got, []int64{total}) {
			t.Errorf("%s recorded after %v writes, want once, at the end (%d)", id, got, total)
		}
	}
	if got := rec.at[early]; len(got) != 1 || got[0] >= total {
		t.Errorf("%s recorded after %v writes, want once, as its slice was written (before the last of %d)", early, got, total)
	}
	sts := e.statuses()
	if st := sts[refused]; st.State != state.Failed || !strings.Contains(st.Message, holder.DN) {
		t.Errorf("the refused group: %+v", st)
	}
	for _, id := range []string{groupID(2), groupID(3), groupID(4), groupID(5), groupID(6)} {
		g, st := e.group(id), sts[id]
		if g == nil || st.State != state.InStep || !strings.EqualFold(st.DN, g.DN) || st.SAM != attr(g, "sAMAccountName") || st.Name == "" || st.Kind == "" {
			t.Errorf("%s: status %+v, AD %v", id, st, g)
		}
	}
	if got := sts[partial].MembersNotWritten; len(got) != 1 || got["cloud_only_user"] != 1 {
		t.Errorf("%s: members not written %v", partial, got)
	}
	if !slices.Contains(members(e.group(held)), strings.ToLower(e.group(groupID(5)).DN)) {
		t.Errorf("%s: members %v, want %s's DN among them", held, members(e.group(held)), groupID(5))
	}
	if len(res.Failures) != 1 || res.Failures[0].CloudID != refused || res.Counts.Created != 5 {
		t.Errorf("result: %+v %+v", res.Failures, res.Counts)
	}
	// The result lists every operation written, in the order written,
	// those of the groups recorded early as well (from the cycle's log).
	var got []string
	for _, op := range kept(res) {
		got = append(got, string(op.Action)+" "+op.CloudID)
		if op.Action == reconcile.Create {
			if ch, ok := op.Change("sAMAccountName"); !ok || len(ch.New) != 1 || op.MemberCount == 0 || op.Members != nil {
				t.Errorf("the result keeps %+v of a create written", op)
			}
		}
	}
	want := []string{"create " + groupID(2), "create " + groupID(3), "create " + groupID(4), "create " + groupID(5), "create " + groupID(6), "add-members " + groupID(2)}
	if !slices.Equal(got, want) {
		t.Errorf("the result's operations: %v, want %v", got, want)
	}
	var each []string
	if err := res.EachOp(func(op reconcile.Op) error { each = append(each, string(op.Action)+" "+op.CloudID); return nil }); err != nil || !slices.Equal(each, want) {
		t.Errorf("EachOp: %v (%v), want %v", each, err, want)
	}
}

// statusRecorder notes, for each group, how many AD writes were done when
// each of its states was recorded.
type statusRecorder struct {
	*store.Store
	writes func() int64
	at     map[string][]int64
}

func (s *statusRecorder) SetStatus(ctx context.Context, sts []state.GroupStatus) error {
	for _, st := range sts {
		s.at[st.CloudID] = append(s.at[st.CloudID], s.writes())
	}
	return s.Store.SetStatus(ctx, sts)
}
