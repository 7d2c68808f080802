package engine_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/audit"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// Deletes the threshold holds back are held, not failed; an admin
// releases them group by group, and the audit trail records who released
// each, why, and who ran the cycle (issue 24, item 7).
func TestHeldDeletesReleasedOneByOne(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	trail, err := audit.Open(path, audit.Options{Key: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	defer trail.Close()
	var groups []map[string]any
	for i := range 6 {
		groups = append(groups, map[string]any{"id": groupID(i + 1), "displayName": "Team " + string(rune('A'+i)), "mailNickname": "team" + string(rune('a'+i)),
			"members": []any{userID(0)}})
	}
	e := newGroupsEnv(t, 1, groups, func(c *engine.Config) {
		c.Audit = trail
		c.Fates.HardDelete = reconcile.DeleteIt
		c.DeleteThreshold, c.DeleteThresholdPercent = 5, 0
	})
	e.sync(engine.RunOptions{})
	for i := range 6 {
		for _, do := range []func(string) error{e.tenant.DeleteGroup, e.tenant.PurgeDeleted} {
			must(t, do(groupID(i+1)))
		}
	}
	ctx := engine.WithActor(context.Background(), "cli:alice")
	// --allow-deletes 5 lets none of 6 through; each group is held, and
	// says how to release it.
	res, err := e.eng.Run(ctx, engine.RunOptions{AllowDeletes: 5})
	if err != nil {
		t.Fatal(err)
	}
	if res.Counts.Deleted != 0 || len(res.Plan.HeldBack) != 6 {
		t.Fatalf("deleted %d, held %d", res.Counts.Deleted, len(res.Plan.HeldBack))
	}
	sts := e.statuses()
	for i := range 6 {
		st := sts[groupID(i+1)]
		if st.State != state.Held || !strings.Contains(st.Message, "groupwriteback release") || st.DN == "" {
			t.Fatalf("group %d: %+v, want held with the release command", i+1, st)
		}
	}
	if held, _ := e.store.Statuses(ctx, state.Failed); len(held) != 0 {
		t.Fatalf("held deletes recorded as failed: %+v", held)
	}
	// Two released: those two go, the four others stay held: 4 is under
	// the threshold of 5, but a group held back stays held until it is
	// released (or an --allow-deletes covers it).
	now := time.Now().UTC()
	var rs []state.Release
	for _, id := range []string{groupID(1), groupID(2)} {
		st := sts[id]
		rs = append(rs, state.Release{CloudID: id, Name: st.Name, DN: st.DN, Action: "delete", By: "cli:bob", Reason: "project ended", At: now, Expires: now.Add(time.Hour)})
	}
	// A release of an object other than the held one lets nothing through.
	rs = append(rs, state.Release{CloudID: groupID(3), DN: "CN=Elsewhere," + e.ou, Action: "delete", By: "cli:mallory", Reason: "x", At: now, Expires: now.Add(time.Hour)})
	must(t, e.store.AddReleases(ctx, rs))
	res, err = e.eng.Run(ctx, engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Counts.Deleted != 2 || len(res.Plan.HeldBack) != 4 {
		t.Fatalf("deleted %d, held %d; want the two released", res.Counts.Deleted, len(res.Plan.HeldBack))
	}
	sts = e.statuses()
	for i := range 6 {
		want := state.Held
		if i < 2 {
			want = state.Deleted
		}
		if sts[groupID(i+1)].State != want {
			t.Errorf("group %d: %s, want %s", i+1, sts[groupID(i+1)].State, want)
		}
		if (e.group(groupID(i+1)) == nil) != (i < 2) {
			t.Errorf("group %d in AD: %v", i+1, e.group(groupID(i+1)) != nil)
		}
	}
	left, _ := e.store.Releases(ctx)
	if len(left) != 1 || left[0].CloudID != groupID(3) {
		t.Errorf("releases left: %+v; want the used ones consumed", left)
	}
	entries, err := audit.Read(path, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	decided := map[string]string{}
	for _, en := range entries {
		if en.Action == "release" && en.Outcome == "approved" && en.Release != nil {
			decided[en.CloudID] = en.Actor + ": " + en.Release.Reason
		}
	}
	if decided[groupID(1)] != "cli:bob: project ended" || decided[groupID(2)] != "cli:bob: project ended" || decided[groupID(3)] != "cli:mallory: x" {
		t.Errorf("the releases as decided, in the audit trail: %v", decided)
	}
	deletes := 0
	for _, en := range entries {
		if en.Action != string(reconcile.Delete) || en.Outcome != "applied" {
			continue
		}
		deletes++
		if en.Actor != "cli:alice" || en.Release == nil || en.Release.By != "cli:bob" || en.Release.Reason != "project ended" ||
			!slices.Contains([]string{groupID(1), groupID(2)}, en.CloudID) {
			t.Errorf("delete entry: %+v (release %+v)", en, en.Release)
		}
	}
	if deletes != 2 {
		t.Errorf("%d applied deletes audited", deletes)
	}
	// A quiet cycle keeps them held; --allow-deletes 4 lets the four go.
	if res, _ = e.sync(engine.RunOptions{}); res.Counts.Deleted != 0 || len(res.Plan.HeldBack) != 4 {
		t.Fatalf("a cycle after: deleted %d, held %d", res.Counts.Deleted, len(res.Plan.HeldBack))
	}
	if res, _ = e.sync(engine.RunOptions{AllowDeletes: 4}); res.Counts.Deleted != 4 {
		t.Fatalf("--allow-deletes 4: deleted %d, held %d", res.Counts.Deleted, len(res.Plan.HeldBack))
	}
}
