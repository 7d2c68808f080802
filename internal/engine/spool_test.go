package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// opsOf returns the result's operations whole (EachOp), each as JSON,
// sorted: the same operations, whatever order they were listed in.
func opsOf(t *testing.T, res *engine.Result) []string {
	t.Helper()
	var out []string
	err := res.EachOp(func(op reconcile.Op) error {
		b, err := json.Marshal(op)
		out = append(out, string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// A plan made to be shown (plan, plan --out) spools each slice's
// operations to a temporary file as it is planned and keeps them thinned:
// read back, they are the operations a plan held in memory holds, and
// its counts are the same. Such a plan is applied only from the file it
// is saved to; Close removes what it spooled.
func TestPlanToShowSpoolsItsOperations(t *testing.T) {
	defer engine.SetResolveSlice(4)()
	outer, inner := groupID(1300), groupID(1302)
	e := newGroupsEnv(t, 16, []map[string]any{
		// outer's slice comes first, and names inner, created by a later
		// slice: that member value is held back to the end of the plan.
		{"id": outer, "displayName": "Outer", "mailNickname": "outer", "members": []any{userID(0), userID(1), userID(2), userID(3), inner}},
		{"id": groupID(1301), "displayName": "Mid", "mailNickname": "mid", "members": []any{userID(4), userID(5), userID(6), userID(7)}},
		{"id": inner, "displayName": "Inner", "mailNickname": "inner", "members": []any{userID(8), userID(9), userID(10), userID(11)}},
		{"id": groupID(1303), "displayName": "Last", "mailNickname": "last", "members": []any{userID(12), userID(13), userID(14), userID(15)}},
	}, nil)
	ctx := context.Background()
	whole, shown, tmp := plansBothWays(t, e)
	if len(whole.Result.Plan.HeldBack) != 0 || whole.Result.Counts.Created != 4 {
		t.Fatalf("the plan in memory: %+v", whole.Result.Counts)
	}
	want, got := opsOf(t, whole.Result), opsOf(t, shown.Result)
	if !slices.Equal(got, want) {
		t.Fatalf("the spooled plan's operations:\n%v\nwant\n%v", got, want)
	}
	if shown.Result.Counts.Created != whole.Result.Counts.Created || shown.Result.Counts.InScope != whole.Result.Counts.InScope ||
		len(shown.Result.Plan.Ops) != len(whole.Result.Plan.Ops) {
		t.Errorf("counts %+v (%d operations), want %+v (%d)", shown.Result.Counts, len(shown.Result.Plan.Ops), whole.Result.Counts, len(whole.Result.Plan.Ops))
	}
	held := false // outer's member inner, last, whole
	for i, op := range shown.Result.Plan.Ops {
		last := i == len(shown.Result.Plan.Ops)-1
		switch {
		case last && op.CloudID == outer && op.Action == reconcile.AddMembers && len(op.Members) == 1:
			held = true
		case !last && (op.Members != nil || op.Changes != nil):
			t.Errorf("the plan keeps %+v of an operation spooled", op)
		}
	}
	if !held {
		t.Errorf("outer's member inner is not held back to the end: %+v", shown.Result.Plan.Ops)
	}

	if _, err := e.eng.Apply(ctx, shown); !errors.Is(err, engine.ErrPlanRefused) {
		t.Fatalf("Apply of a plan made to be shown: %v, want refused", err)
	}
	if g := e.group(outer); g != nil {
		t.Fatalf("a refused plan wrote %s", g.DN)
	}

	path := filepath.Join(t.TempDir(), "plan.json")
	must(t, e.eng.SavePlan(ctx, shown, path))
	saved, err := engine.LoadPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := opsOf(t, saved.Result); !slices.Equal(got, want) {
		t.Fatalf("the saved plan's operations:\n%v\nwant\n%v", got, want)
	}
	res, err := e.eng.Apply(ctx, saved)
	if err != nil || res.Counts.Created != 4 || len(res.Failures) != 0 {
		t.Fatalf("apply the saved plan: %v, %+v, %+v", err, res.Counts, res.Failures)
	}
	if got := members(e.group(outer)); len(got) != 5 {
		t.Errorf("outer has members %v", got)
	}

	must(t, shown.Result.Close())
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("left in the temporary directory: %v", left)
	}
	if err := shown.Result.EachOp(func(reconcile.Op) error { return nil }); err == nil {
		t.Error("a closed result's operations read back")
	}
}

// plansBothWays plans e's next cycle twice: held whole, and spooled to be
// shown (ShowOnly) into tmp, a TMPDIR of the test's own (set once the DC,
// which uses TMPDIR too, is up).
func plansBothWays(t *testing.T, e *env) (whole, shown *engine.Plan, tmp string) {
	t.Helper()
	tmp = t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var err error
	if whole, err = e.eng.Plan(context.Background(), engine.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if shown, err = e.eng.Plan(context.Background(), engine.RunOptions{ShowOnly: true}); err != nil {
		t.Fatal(err)
	}
	return whole, shown, tmp
}
