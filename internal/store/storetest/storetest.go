// Package storetest is the conformance suite every state store passes, as
// dex's storage conformance suite is for its storages: the SQLite store
// today, the PostgreSQL store that several instances will share tomorrow.
// It tests what the engine and the commands rely on, through the store's
// methods only.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// Store is the whole contract of a state store: what the engine uses, and
// what the commands and the service add (enable forgets the delta links,
// a staging service records its plan, status shows the tenant default).
type Store interface {
	engine.Store
	ForgetLinks(ctx context.Context) error
	SetPendingPlan(ctx context.Context, ops any) error
	PendingPlan(ctx context.Context) (json.RawMessage, time.Time, error)
	TenantWritebackDefault(ctx context.Context) (value, ok bool, err error)
	// AddReleases records admins' releases of held deletes.
	AddReleases(ctx context.Context, rs []state.Release) error
	// Inventory is a page of the groups a query chooses (the console).
	Inventory(ctx context.Context, q state.InventoryQuery) ([]state.GroupStatus, int, error)
	RunOperations(ctx context.Context, runID int64, n int) ([]state.Operation, error)
	// Export and Import move a whole state between machines and stores.
	Export(ctx context.Context) (*state.Export, error)
	Import(ctx context.Context, e *state.Export) error
	// The writer lease, the fence on writes, and the instances that share
	// a state (internal/ha elects a writer with them).
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (state.Lease, error)
	RenewLease(ctx context.Context, l state.Lease, ttl time.Duration) (state.Lease, error)
	ReleaseLease(ctx context.Context, l state.Lease) error
	ReadLease(ctx context.Context, name string) (state.LeaseState, error)
	Fence(holder string, token int64)
	Takeovers(ctx context.Context, n int) ([]state.Takeover, error)
	Heartbeat(ctx context.Context, in state.Instance) error
	Instances(ctx context.Context, since time.Duration) ([]state.Instance, error)
	// Nudge and Nudged pass a change notification a standby received to
	// the active instance.
	Nudge(ctx context.Context) error
	Nudged(ctx context.Context) (string, error)
	SetNotifyStatus(ctx context.Context, doc []byte) error
	NotifyStatus(ctx context.Context) ([]byte, error)
}

// Run runs the suite; open returns a new, empty store for each test.
func Run(t *testing.T, open func(t *testing.T) Store) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, s Store)
	}{
		{"EmptyStore", testEmpty},
		{"CloudFullThenIncremental", testCloud},
		{"ForgetLinks", testForgetLinks},
		{"StatusUpsertAndFilter", testStatus},
		{"ManyStatusesAtOnce", testManyStatuses},
		{"CountWritten", testCountWritten},
		{"RunsAndDiedRuns", testRuns},
		{"OperationLog", testOperations},
		{"HistoryPruned", testPruneHistory},
		{"Settings", testSettings},
		{"PendingPlan", testPendingPlan},
		{"ReleasesStandUntilTheyExpire", testReleases},
		{"InventorySearchesAndPages", testInventory},
		{"InventoryFindsAMembersGroups", testMemberSearch},
		{"LoadPartLoadsWhatChangesConcern", testLoadPart},
		{"MemberChangesSavedAsRows", testMemberRows},
		{"StagedMembersSavedWithTheSnapshot", testStagedMembers},
		{"StagedUsersFoldedAndSaved", testStagedUsers},
		{"LeaseHandsOverWithNewToken", testLease},
		{"FenceRefusesWritesOfALostLease", testFence},
		{"Instances", testInstances},
		{"StandbyNudgesTheActive", testNudge},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, open(t)) })
	}
	t.Run("ExportImport", func(t *testing.T) { testExportImport(t, open) })
	t.Run("ImportRefusesBadRows", func(t *testing.T) { testImportRefuses(t, open) })
}

func testEmpty(t *testing.T, s Store) {
	ctx := context.Background()
	snap, links, err := s.LoadCloud(ctx)
	if err != nil || len(snap.Groups) != 0 || len(snap.Users) != 0 || links != (state.Links{}) || !snap.UnifiedWritebackDefault {
		t.Fatalf("LoadCloud on an empty store: %+v %+v %v", snap, links, err)
	}
	if en, err := s.Enablement(ctx); err != nil || en.Enabled {
		t.Errorf("a new store must be disabled: %+v %v", en, err)
	}
	if _, ok, err := s.Binding(ctx); ok || err != nil {
		t.Errorf("a new store has a binding: %v %v", ok, err)
	}
	if v, err := s.Meta(ctx, "config"); v != "" || err != nil {
		t.Errorf("Meta on a new store = %q, %v", v, err)
	}
	if n, err := s.CountWritten(ctx); n != 0 || err != nil {
		t.Errorf("CountWritten = %d, %v", n, err)
	}
	if runs, err := s.Runs(ctx, 5); len(runs) != 0 || err != nil {
		t.Errorf("Runs = %+v, %v", runs, err)
	}
	if _, known, err := s.TenantWritebackDefault(ctx); known || err != nil {
		t.Errorf("TenantWritebackDefault known before any cycle: %v", err)
	}
	if raw, at, err := s.PendingPlan(ctx); len(raw) != 0 || !at.IsZero() || err != nil {
		t.Errorf("PendingPlan = %s %v %v", raw, at, err)
	}
}

func testCloud(t *testing.T, s Store) {
	ctx := context.Background()
	snap := cloud.NewSnapshot()
	yes := true
	owners := cloud.RefsFrom(map[string]cloud.ObjectType{"u1": cloud.TypeUser})
	snap.Groups["g1"] = &cloud.Group{ID: "g1", DisplayName: "One", Writeback: cloud.WritebackConfiguration{IsEnabled: &yes},
		Members: cloud.RefsFrom(map[string]cloud.ObjectType{"u1": cloud.TypeUser}), Owners: &owners}
	snap.Groups["g2"] = &cloud.Group{ID: "g2", DisplayName: "Two", Removed: cloud.SoftDeleted}
	snap.Users["u1"] = &cloud.User{ID: "u1", OnPremisesSecurityIdentifier: "S-1-5-21-1"}
	snap.UnifiedWritebackDefault = false
	if err := s.SaveCloud(ctx, state.CloudUpdate{Snapshot: snap, FullGroups: true, FullUsers: true,
		Links: state.Links{Groups: "https://graph.test/gl1", Users: "https://graph.test/ul1"}, Pending: map[string]string{"g1": "One"}}); err != nil {
		t.Fatal(err)
	}
	got, links, err := s.LoadCloud(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if links != (state.Links{Groups: "https://graph.test/gl1", Users: "https://graph.test/ul1"}) || got.UnifiedWritebackDefault || !hasKind(got.Groups["g1"].Members, "u1", cloud.TypeUser) ||
		!*got.Groups["g1"].Writeback.IsEnabled || got.Groups["g2"].Removed != cloud.SoftDeleted || got.Users["u1"].OnPremisesSecurityIdentifier != "S-1-5-21-1" ||
		!hasKind(got.Groups["g1"].OwnerRefs(), "u1", cloud.TypeUser) || got.Groups["g2"].Owners != nil {
		t.Fatalf("loaded %+v %+v", got, links)
	}
	head, headLinks, err := s.LoadHead(ctx)
	if err != nil || headLinks != links || head.UnifiedWritebackDefault || len(head.Groups) != 0 || len(head.Users) != 0 {
		t.Fatalf("LoadHead = %+v %+v %v; want the links and default, no objects", head, headLinks, err)
	}
	if v, known, err := s.TenantWritebackDefault(ctx); !known || v || err != nil {
		t.Errorf("TenantWritebackDefault = %v %v %v, want false, known", v, known, err)
	}
	// Incremental: g1 changes, g2 goes, g3 comes; a group not named (none
	// here) would be left as it is.
	delete(got.Groups, "g2")
	got.Groups["g1"].DisplayName = "Uno"
	got.Groups["g3"] = &cloud.Group{ID: "g3"}
	got.Groups["g4"] = &cloud.Group{ID: "g4", DisplayName: "not named, so not saved"}
	if err := s.SaveCloud(ctx, state.CloudUpdate{Snapshot: got, ChangedGroups: []string{"g1", "g2", "g3"},
		Links: state.Links{Groups: "https://graph.test/gl2", Users: "https://graph.test/ul2"}}); err != nil {
		t.Fatal(err)
	}
	again, links, err := s.LoadCloud(ctx)
	if err != nil || len(again.Groups) != 2 || again.Groups["g1"].DisplayName != "Uno" || again.Groups["g3"] == nil || again.Users["u1"] == nil || links.Groups != "https://graph.test/gl2" {
		t.Fatalf("after an incremental save: %v %+v %v", again.Groups, links, err)
	}
	// Many rows (decoded in batches, by several workers): none lost.
	for i := range 3000 {
		id := fmt.Sprintf("u%d", i)
		again.Users[id] = &cloud.User{ID: id, DisplayName: id}
	}
	if err := s.SaveCloud(ctx, state.CloudUpdate{Snapshot: again, FullUsers: true, Links: links}); err != nil {
		t.Fatal(err)
	}
	many, _, err := s.LoadCloud(ctx)
	if err != nil || len(many.Users) != 3000 || many.Users["u2999"].DisplayName != "u2999" || len(many.Groups) != 2 {
		t.Fatalf("after 3,000 users: %d users, %d groups, %v", len(many.Users), len(many.Groups), err)
	}
	pending, err := s.Statuses(ctx, state.Pending)
	if err != nil || len(pending) != 1 || pending[0].CloudID != "g1" || pending[0].Name != "One" {
		t.Fatalf("pending = %+v, %v", pending, err)
	}
}

func testForgetLinks(t *testing.T, s Store) {
	ctx := context.Background()
	snap := cloud.NewSnapshot()
	snap.Groups["g1"] = &cloud.Group{ID: "g1"}
	if err := s.SaveCloud(ctx, state.CloudUpdate{Snapshot: snap, FullGroups: true, FullUsers: true, Links: state.Links{Groups: "https://graph.test/gl", Users: "https://graph.test/ul"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.ForgetLinks(ctx); err != nil {
		t.Fatal(err)
	}
	got, links, err := s.LoadCloud(ctx)
	if err != nil || links != (state.Links{}) || got.Groups["g1"] == nil {
		t.Fatalf("after ForgetLinks: links %+v, groups %v, %v (the snapshot stays, the links go)", links, got.Groups, err)
	}
}

func testStatus(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.SetStatus(ctx, []state.GroupStatus{
		{CloudID: "g2", Name: "Two", State: state.Failed, Message: "LDAP 50"},
		{CloudID: "g1", Name: "One", State: state.InStep, DN: "CN=One", MembersNotWritten: map[string]int{"cloud_only_user": 2}},
	}); err != nil {
		t.Fatal(err)
	}
	failed, err := s.Statuses(ctx, state.Failed, state.NotWritable)
	if err != nil || len(failed) != 1 || failed[0].Message != "LDAP 50" {
		t.Fatalf("failed = %+v, %v", failed, err)
	}
	all, err := s.Statuses(ctx)
	if err != nil || len(all) != 2 || all[0].CloudID != "g1" || all[0].MembersNotWritten["cloud_only_user"] != 2 || all[0].Updated.IsZero() {
		t.Fatalf("all (by cloud id) = %+v, %v", all, err)
	}
	of, err := s.StatusesOf(ctx, []string{"g2", "nope", "g1"})
	if err != nil || len(of) != 2 || of[0].CloudID != "g1" || of[0].MembersNotWritten["cloud_only_user"] != 2 || of[1].State != state.Failed {
		t.Fatalf("StatusesOf(g2, nope, g1) = %+v, %v", of, err)
	}
	if of, err := s.StatusesOf(ctx, nil); err != nil || len(of) != 0 {
		t.Fatalf("StatusesOf() = %+v, %v", of, err)
	}
	// A second status of a group replaces the first.
	if err := s.SetStatus(ctx, []state.GroupStatus{{CloudID: "g2", Name: "Two", State: state.InStep, DN: "CN=Two"}}); err != nil {
		t.Fatal(err)
	}
	all, _ = s.Statuses(ctx)
	if len(all) != 2 || all[1].State != state.InStep || all[1].Message != "" || all[1].DN != "CN=Two" {
		t.Fatalf("after an update: %+v", all)
	}
}

// testManyStatuses: statuses are written in batches; a group given twice
// in one call ends with the last status given.
func testManyStatuses(t *testing.T, s Store) {
	ctx := context.Background()
	// Many statuses at once, and one group given twice: the last stands.
	var many []state.GroupStatus
	for i := range 1200 {
		many = append(many, state.GroupStatus{CloudID: fmt.Sprintf("m%04d", i), Name: "M", State: state.Pending})
	}
	many = append(many, state.GroupStatus{CloudID: "m0007", Name: "M", State: state.InStep, DN: "CN=M7"})
	if err := s.SetStatus(ctx, many); err != nil {
		t.Fatal(err)
	}
	if got, err := s.StatusesOf(ctx, []string{"m0007", "m1199"}); err != nil || len(got) != 2 || got[0].State != state.InStep || got[0].DN != "CN=M7" || got[1].State != state.Pending {
		t.Fatalf("after 1,200 statuses with m0007 twice: %+v, %v", got, err)
	}
	if pending, err := s.Statuses(ctx, state.Pending); err != nil || len(pending) != 1199 {
		t.Fatalf("pending after 1,200 statuses: %d, %v", len(pending), err)
	}
	if err := s.SetStatus(ctx, nil); err != nil {
		t.Fatalf("no statuses: %v", err)
	}
}

func testCountWritten(t *testing.T, s Store) {
	ctx := context.Background()
	// Written: an AD copy recorded and a state that keeps it.
	if err := s.SetStatus(ctx, []state.GroupStatus{
		{CloudID: "a", State: state.InStep, DN: "CN=a"},
		{CloudID: "b", State: state.Failed, DN: "CN=b"},
		{CloudID: "c", State: state.Pending, DN: "CN=c"},
		{CloudID: "d", State: state.Quarantined, DN: "CN=d"},
		{CloudID: "e", State: state.Deleted, DN: "CN=e"},
		{CloudID: "f", State: state.OutOfScope},
		{CloudID: "g", State: state.Pending},
		{CloudID: "h", State: state.NotWritable, DN: "CN=h"},
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountWritten(ctx); n != 4 || err != nil {
		t.Fatalf("CountWritten = %d, %v; want 4 (in step, failed, pending and quarantined, with a DN)", n, err)
	}
}

func testRuns(t *testing.T, s Store) {
	ctx := context.Background()
	first, died, err := s.StartRun(ctx, "full") // then killed: never finished
	if err != nil || len(died) != 0 {
		t.Fatal(died, err)
	}
	second, died, err := s.StartRun(ctx, "delta")
	if err != nil || len(died) != 1 || died[0] != first || second == first {
		t.Fatalf("died = %v, %v; want [%d]", died, err, first)
	}
	if err := s.FinishRun(ctx, second, "full", "ok", map[string]int{"created": 3}); err != nil {
		t.Fatal(err)
	}
	runs, err := s.Runs(ctx, 5)
	if err != nil || len(runs) != 2 {
		t.Fatalf("runs = %+v, %v", runs, err)
	}
	if r := runs[0]; r.ID != second || r.Outcome != "ok" || r.Mode != "full" || string(r.Summary) != `{"created":3}` || r.Finished.IsZero() || r.Started.IsZero() {
		t.Errorf("newest run = %+v", r)
	}
	if r := runs[1]; r.ID != first || r.Outcome != state.OutcomeDied || r.Mode != "full" {
		t.Errorf("killed run = %+v, want outcome %s", r, state.OutcomeDied)
	}
	if runs, _ := s.Runs(ctx, 1); len(runs) != 1 || runs[0].ID != second {
		t.Errorf("Runs(1) = %+v", runs)
	}
	testQuietRuns(t, s, second)
}

// testQuietRuns: a stretch of quiet cycles of one actor is one row, whose
// count grows and whose finished time moves on; a cycle that did
// something, or another actor's, starts a new one.
func testQuietRuns(t *testing.T, s Store, last int64) {
	ctx := context.Background()
	service := map[string]string{"actor": "service"}
	quiet := func(summary any) (id, kept int64) {
		t.Helper()
		id, _, err := s.StartRun(ctx, "delta")
		if err != nil {
			t.Fatal(err)
		}
		if kept, err = s.FinishQuietRun(ctx, id, "delta", summary); err != nil {
			t.Fatal(err)
		}
		return id, kept
	}
	top := func() state.Run {
		t.Helper()
		runs, err := s.Runs(ctx, 1)
		if err != nil || len(runs) != 1 {
			t.Fatalf("runs = %+v, %v", runs, err)
		}
		return runs[0]
	}
	q1, kept := quiet(service)
	if kept != q1 || q1 <= last {
		t.Fatalf("the first quiet cycle after a run that wrote is kept in %d, want its own row %d", kept, q1)
	}
	first := top()
	if first.Quiet != 1 || first.Outcome != state.OutcomeOK || first.Finished.IsZero() {
		t.Fatalf("a quiet cycle's row = %+v, want quiet 1, ok, finished", first)
	}
	time.Sleep(2 * time.Millisecond)
	for i := range 3 {
		q, kept := quiet(service)
		if kept != q1 || q == q1 {
			t.Fatalf("quiet cycle %d (run %d) kept in %d, want the stretch's row %d", i+2, q, kept, q1)
		}
	}
	r := top()
	if r.ID != q1 || r.Quiet != 4 || !r.Started.Equal(first.Started) || !r.Finished.After(first.Finished) {
		t.Errorf("after four quiet cycles the newest row = %+v, want run %d standing for 4 from %v, finished after %v", r, q1, first.Started, first.Finished)
	}
	if runs, _ := s.Runs(ctx, 10); len(runs) != 3 {
		t.Errorf("the history holds %d rows, want 3 (the died run, the one that wrote, the quiet stretch): %+v", len(runs), runs)
	}
	// Another actor's quiet cycle is its own row.
	q5, kept := quiet(map[string]string{"actor": "console:otto@contoso.test"})
	if kept != q5 || top().Quiet != 1 {
		t.Errorf("another actor's quiet cycle kept in %d, want its own row %d", kept, q5)
	}
	// A cycle that did something ends the stretch: the next quiet one
	// starts another.
	w, _, err := s.StartRun(ctx, "delta")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, w, "delta", state.OutcomeOK, map[string]int{"updated": 1}); err != nil {
		t.Fatal(err)
	}
	if q, kept := quiet(service); kept != q {
		t.Errorf("the quiet cycle after one that wrote was kept in %d, want its own row %d", kept, q)
	}
	// A failed run is no quiet one to fold into.
	f, _, err := s.StartRun(ctx, "delta")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, f, "delta", state.OutcomeFailed, service); err != nil {
		t.Fatal(err)
	}
	if q, kept := quiet(service); kept != q {
		t.Errorf("the quiet cycle after a failed one was kept in %d, want its own row %d", kept, q)
	}
}

func testOperations(t *testing.T, s Store) {
	ctx := context.Background()
	now := time.Now()
	if err := s.RecordOperations(ctx, []state.Operation{
		{RunID: 1, CloudID: "g1", Action: "create", DN: "CN=a", Outcome: "applied", At: now},
		{RunID: 2, CloudID: "g1", Action: "update", DN: "CN=a", Outcome: "failed", Error: "LDAP 50", At: now},
		{RunID: 2, CloudID: "g2", Action: "create", DN: "CN=b", Outcome: "applied", At: now},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordOperations(ctx, nil); err != nil {
		t.Fatal(err)
	}
	ops, err := s.Operations(ctx, "g1", 10)
	if err != nil || len(ops) != 2 || ops[0].Action != "update" || ops[0].Error != "LDAP 50" || ops[1].RunID != 1 || ops[0].At.Sub(now).Abs() > time.Millisecond {
		t.Fatalf("ops of g1 (newest first) = %+v, %v", ops, err)
	}
	if ops, _ := s.Operations(ctx, "g1", 1); len(ops) != 1 || ops[0].Action != "update" {
		t.Fatalf("the last operation of g1 = %+v", ops)
	}
	if ops, err := s.RunOperations(ctx, 2, 10); err != nil || len(ops) != 2 || ops[0].CloudID != "g1" || ops[1].CloudID != "g2" {
		t.Fatalf("the operations of run 2 (in order) = %+v, %v", ops, err)
	}
	if ops, _ := s.RunOperations(ctx, 3, 10); len(ops) != 0 {
		t.Fatalf("the operations of a run with none = %+v", ops)
	}
}

// testPruneHistory: runs that ended, and operations written, before the
// cut go, but the last runs kept and their operations, and never a run
// still running.
func testPruneHistory(t *testing.T, s Store) {
	ctx := context.Background()
	if runs, ops, err := s.PruneHistory(ctx, time.Now().Add(time.Hour), 2); err != nil || runs != 0 || ops != 0 {
		t.Fatalf("an empty history: %d runs, %d operations dropped, %v", runs, ops, err)
	}
	var ids []int64
	for i := 0; i < 5; i++ {
		id, _, err := s.StartRun(ctx, "delta")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.FinishRun(ctx, id, "delta", state.OutcomeOK, map[string]int{"updated": 1}); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordOperations(ctx, []state.Operation{{RunID: id, CloudID: "g", Action: "update", DN: "CN=a", Outcome: "applied", At: time.Now().Add(-time.Minute)}}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	running, _, err := s.StartRun(ctx, "full")
	if err != nil {
		t.Fatal(err)
	}
	if runs, ops, err := s.PruneHistory(ctx, time.Now().Add(-time.Hour), 2); err != nil || runs != 0 || ops != 0 {
		t.Fatalf("nothing older than an hour: %d runs, %d operations dropped, %v", runs, ops, err)
	}
	runs, ops, err := s.PruneHistory(ctx, time.Now().Add(time.Hour), 2)
	if err != nil || runs != 4 || ops != 4 {
		t.Fatalf("all older than the cut, the last 2 runs kept: %d runs, %d operations dropped, %v", runs, ops, err)
	}
	left, err := s.Runs(ctx, 10)
	if err != nil || len(left) != 2 || left[0].ID != running || left[1].ID != ids[4] || left[0].Outcome != state.OutcomeRunning {
		t.Fatalf("runs left: %+v, %v", left, err)
	}
	if o, err := s.Operations(ctx, "g", 10); err != nil || len(o) != 1 || o[0].RunID != ids[4] {
		t.Fatalf("operations left: %+v, %v", o, err)
	}
}

func testSettings(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.SetEnablement(ctx, state.Enablement{Enabled: true, WithoutExchange: true}); err != nil {
		t.Fatal(err)
	}
	if en, err := s.Enablement(ctx); err != nil || !en.Enabled || !en.WithoutExchange || en.Changed.IsZero() {
		t.Errorf("Enablement = %+v, %v (Changed is set by the store)", en, err)
	}
	b := state.Binding{TenantID: "t", Domain: "DC=contoso,DC=test", TargetOU: "OU=Cloud,DC=contoso,DC=test"}
	if err := s.SetBinding(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := s.Binding(ctx); !ok || err != nil || got != b {
		t.Errorf("Binding = %+v %v %v", got, ok, err)
	}
	// The engine's keys are its own: none of them reads another setting.
	for _, key := range []string{"config", "binding", "enablement"} {
		if err := s.SetMeta(ctx, key, "v-"+key); err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range []string{"config", "binding", "enablement"} {
		if v, err := s.Meta(ctx, key); v != "v-"+key || err != nil {
			t.Errorf("Meta(%s) = %q, %v", key, v, err)
		}
	}
	if got, ok, _ := s.Binding(ctx); !ok || got != b {
		t.Errorf("SetMeta(binding) overwrote the binding: %+v", got)
	}
	if en, _ := s.Enablement(ctx); !en.Enabled {
		t.Errorf("SetMeta(enablement) overwrote the enablement: %+v", en)
	}
}

func testPendingPlan(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.SetPendingPlan(ctx, []map[string]string{{"action": "create", "dn": "CN=a"}}); err != nil {
		t.Fatal(err)
	}
	raw, at, err := s.PendingPlan(ctx)
	if err != nil || string(raw) != `[{"action":"create","dn":"CN=a"}]` || at.IsZero() {
		t.Fatalf("PendingPlan = %s %v %v", raw, at, err)
	}
	if err := s.SetPendingPlan(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if raw, _, _ := s.PendingPlan(ctx); string(raw) != "null" && len(raw) != 0 {
		t.Fatalf("a cleared pending plan = %s", raw)
	}
}

func testReleases(t *testing.T, s Store) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	a := state.Release{CloudID: "6a1e0c55-0001-4f0e-9d3b-2c1a0b000001", Name: "Team 1", DN: "CN=Team 1,OU=G,DC=x", Action: "delete",
		By: "cli:alice", Reason: "project ended", At: now, Expires: now.Add(time.Hour)}
	b := a
	b.CloudID, b.Name, b.DN, b.Expires = "6a1e0c55-0002-4f0e-9d3b-2c1a0b000002", "Team 2", "CN=Team 2,OU=G,DC=x", now.Add(-time.Second)
	if err := s.AddReleases(ctx, []state.Release{a, b}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Releases(ctx)
	if err != nil || len(got) != 1 || got[0] != a {
		t.Fatalf("releases = %+v, %v; want Team 1's alone (Team 2's expired)", got, err)
	}
	a2 := a
	a2.By, a2.Reason = "cli:bob", "approved by the owner"
	if err := s.AddReleases(ctx, []state.Release{a2}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Releases(ctx); len(got) != 1 || got[0].By != "cli:bob" {
		t.Fatalf("a second release of a group replaces the first: %+v", got)
	}
	if err := s.DropReleases(ctx, []string{a.CloudID}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Releases(ctx); len(got) != 0 {
		t.Fatalf("after drop: %+v", got)
	}
	if e, err := s.Export(ctx); err != nil {
		t.Fatal(err)
	} else if b, _ := json.Marshal(e); strings.Contains(string(b), "project ended") {
		t.Fatal("a release is exported")
	}
}

// testLoadPart: a part of the snapshot holds the groups asked for, the
// groups that have a changed object as a member, the users and groups
// those name, and the objects named.
func testLoadPart(t *testing.T, s Store) {
	ctx := context.Background()
	snap := cloud.NewSnapshot()
	for _, u := range []string{"u1", "u2", "u3", "u4"} {
		snap.Users[u] = &cloud.User{ID: u, UserPrincipalName: u + "@contoso.com"}
	}
	group := func(id string, members ...string) {
		g := &cloud.Group{ID: id, DisplayName: id, Members: cloud.RefsFrom(map[string]cloud.ObjectType{})}
		for _, m := range members {
			g.Members.Set(m, cloud.TypeUser)
		}
		snap.Groups[id] = g
	}
	group("A", "u1")
	group("B", "u2", "C")
	snap.Groups["B"].Members.Set("C", cloud.TypeGroup)
	group("C", "u3")
	group("D", "u4")
	if err := s.SaveCloud(ctx, state.CloudUpdate{Snapshot: snap, FullGroups: true, FullUsers: true, Links: state.Links{Groups: "g-link"}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ids, members, named, bare []string
		groups, users             string
	}{
		{ids: []string{"A"}, groups: "A", users: "u1"},
		{members: []string{"u3"}, groups: "C", users: "u3"},
		// C changed: its parent B, and what B names (C's own members
		// are not needed: C is only B's member).
		{members: []string{"C"}, groups: "B C", users: "u2"},
		{ids: []string{"A"}, named: []string{"u4", "gone"}, groups: "A", users: "u1 u4"},
		{named: []string{"D"}, groups: "D", users: ""},
		// A bare group: its member users are left out, but for those
		// named; its member groups are loaded.
		{ids: []string{"B"}, bare: []string{"B"}, groups: "B C", users: ""},
		{ids: []string{"B"}, bare: []string{"B"}, named: []string{"u2"}, groups: "B C", users: "u2"},
		// A bare group that is also the parent of a changed object is
		// loaded whole.
		{ids: []string{"B"}, bare: []string{"B"}, members: []string{"C"}, groups: "B C", users: "u2"},
	} {
		part, links, err := s.LoadPart(ctx, state.Part{Groups: tc.ids, Members: tc.members, Named: tc.named, Bare: tc.bare})
		if err != nil {
			t.Fatal(err)
		}
		groups := slices.Sorted(maps.Keys(part.Groups))
		users := slices.Sorted(maps.Keys(part.Users))
		if strings.Join(groups, " ") != tc.groups || strings.Join(users, " ") != tc.users || links.Groups != "g-link" {
			t.Errorf("LoadPart(%v, %v, %v) = groups %v, users %v, %+v; want %s and %s", tc.ids, tc.members, tc.named, groups, users, links, tc.groups, tc.users)
		}
	}
	// A bare group's members are loaded in part: its member groups and
	// the members named, the rest counted.
	part, _, err := s.LoadPart(ctx, state.Part{Groups: []string{"B"}, Bare: []string{"B"}})
	if err != nil {
		t.Fatal(err)
	}
	if b := part.Groups["B"].Members; !b.Partial() || b.Len() != 2 || !b.Has("C") || b.Has("u2") {
		t.Errorf("a bare group's members: partial %v, %d, %v; want C held, u2 counted", b.Partial(), b.Len(), b.List())
	}
	part, _, err = s.LoadPart(ctx, state.Part{Groups: []string{"B"}, Bare: []string{"B"}, Named: []string{"u2"}})
	if err != nil {
		t.Fatal(err)
	}
	if b := part.Groups["B"].Members; b.Partial() || b.Len() != 2 || !hasKind(b, "u2", cloud.TypeUser) {
		t.Errorf("a bare group with its members named: partial %v, %v; want both held", b.Partial(), b.List())
	}
	// Loaded in part, saved without member changes: its members stay.
	if err := s.SaveCloud(ctx, state.CloudUpdate{Snapshot: part, ChangedGroups: []string{"B"}}); err != nil {
		t.Fatal(err)
	}
	bare, _, _ := s.LoadPart(ctx, state.Part{Groups: []string{"B"}, Bare: []string{"B"}})
	if err := s.SaveCloud(ctx, state.CloudUpdate{Snapshot: bare, ChangedGroups: []string{"B"}}); err != nil {
		t.Fatal(err)
	}
	if whole, _, err := s.LoadCloud(ctx); err != nil || whole.Groups["B"].Members.Len() != 2 || !whole.Groups["B"].Members.Has("u2") {
		t.Errorf("after saving B loaded in part: %v, %v; want its two members", whole.Groups["B"].Members.List(), err)
	}
	if err := s.SaveCloud(ctx, state.CloudUpdate{Snapshot: bare, FullGroups: true}); !errors.Is(err, cloud.ErrPartial) {
		t.Errorf("a full save of a group loaded in part: %v, want ErrPartial", err)
	}
}

// testMemberRows: a changed group's members are saved from its member
// changes when the update carries them (the rows they name, whatever the
// snapshot's list says), else compared with what the state holds (kinds
// too); a group removed takes its members with it.
func testMemberRows(t *testing.T, s Store) {
	ctx := context.Background()
	refs := func(kinds map[string]cloud.ObjectType) cloud.Refs { return cloud.RefsFrom(kinds) }
	u, g := cloud.TypeUser, cloud.TypeGroup
	snap := cloud.NewSnapshot()
	snap.Groups["A"] = &cloud.Group{ID: "A", DisplayName: "A", Members: refs(map[string]cloud.ObjectType{"u1": u, "u2": u, "u3": u, "C": g})}
	snap.Groups["B"] = &cloud.Group{ID: "B", DisplayName: "B", Members: refs(map[string]cloud.ObjectType{"u1": u, "u2": u})}
	snap.Groups["C"] = &cloud.Group{ID: "C", DisplayName: "C", Members: refs(map[string]cloud.ObjectType{"u3": u})}
	if err := s.SaveCloud(ctx, state.CloudUpdate{Snapshot: snap, FullGroups: true, FullUsers: true}); err != nil {
		t.Fatal(err)
	}
	members := func() map[string]string {
		t.Helper()
		return memberLists(t, s, func(id string, k cloud.ObjectType) string { return id + ":" + k.String() })
	}
	check := func(what string, want map[string]string) {
		t.Helper()
		if got := members(); !maps.Equal(got, want) {
			t.Errorf("%s: members %v, want %v", what, got, want)
		}
	}
	check("saved in full", map[string]string{"A": "C:group u1:user u2:user u3:user", "B": "u1:user u2:user", "C": "u3:user"})

	// A's changes: u2 out, u4 in, u1 both out and in (a member). The
	// snapshot's list is left as it was: the rows come from the changes.
	// B's list changed with no changes given: compared, u2 now a group.
	snap.Groups["B"].Members = refs(map[string]cloud.ObjectType{"u2": g, "u5": u})
	if err := s.SaveCloud(ctx, state.CloudUpdate{Snapshot: snap, ChangedGroups: []string{"A", "B"},
		Members: map[string]cloud.MemberDelta{"A": {
			Added:   []cloud.ObjectRef{{ID: "u4", Type: u}, {ID: "u1", Type: u}},
			Removed: []cloud.ObjectRef{{ID: "u2", Type: u}, {ID: "u1", Type: u}, {ID: "nobody", Type: u}},
		}}}); err != nil {
		t.Fatal(err)
	}
	check("after the changes", map[string]string{"A": "C:group u1:user u3:user u4:user", "B": "u2:group u5:user", "C": "u3:user"})

	// C removed: its rows go with it; a member added to A twice in one
	// list is one row, with its last kind.
	delete(snap.Groups, "C")
	if err := s.SaveCloud(ctx, state.CloudUpdate{Snapshot: snap, ChangedGroups: []string{"A", "C"},
		Members: map[string]cloud.MemberDelta{"A": {Added: []cloud.ObjectRef{{ID: "u6", Type: u}, {ID: "u6", Type: g}}}}}); err != nil {
		t.Fatal(err)
	}
	check("after C went", map[string]string{"A": "C:group u1:user u3:user u4:user u6:group", "B": "u2:group u5:user"})
	part, _, err := s.LoadPart(ctx, state.Part{Members: []string{"u3"}})
	if err != nil || len(part.Groups) != 1 || part.Groups["A"] == nil || part.Groups["A"].Members.Len() != 5 {
		t.Errorf("the groups of u3: %v, %v; want A alone, with its 5 members", slices.Sorted(maps.Keys(part.Groups)), err)
	}
}

// testStagedMembers: a full save takes the members of the groups let go
// (cloud.InPart) from what was staged since the first stage of the cycle,
// and refuses to save a group the stage does not hold whole; a group
// staged and since held whole, or gone, is saved as the snapshot says.
func testStagedMembers(t *testing.T, s Store) {
	ctx := context.Background()
	u := cloud.TypeUser
	list := func(ids ...string) cloud.Refs {
		m := map[string]cloud.ObjectType{}
		for _, id := range ids {
			m[id] = u
		}
		return cloud.RefsFrom(m)
	}
	snap := cloud.NewSnapshot()
	for _, id := range []string{"A", "B", "C", "D"} {
		snap.Groups[id] = &cloud.Group{ID: id, DisplayName: id, Members: list("u0")}
	}
	if err := s.SaveCloud(ctx, state.CloudUpdate{Snapshot: snap, FullGroups: true}); err != nil {
		t.Fatal(err)
	}
	load := func() map[string]string {
		t.Helper()
		return memberLists(t, s, func(id string, _ cloud.ObjectType) string { return id })
	}
	// What a cycle that died left staged is cleared by the next one's
	// first stage.
	if err := s.StageMembers(ctx, true, map[string]cloud.Refs{"D": list("stale")}); err != nil {
		t.Fatal(err)
	}
	if err := s.StageMembers(ctx, true, map[string]cloud.Refs{"A": list("u1", "u2")}); err != nil {
		t.Fatal(err)
	}
	if err := s.StageMembers(ctx, false, map[string]cloud.Refs{"B": list("u3"), "C": list("u4")}); err != nil {
		t.Fatal(err)
	}
	// What is staged reads back, a group at a time, whole: what a cycle
	// that let its lists go plans each slice from.
	back, err := s.StagedMembers(ctx, []string{"A", "C", "D", "E"})
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	for id, set := range back {
		if set.Partial() {
			t.Errorf("group %s read back in part", id)
		}
		var ids []string
		for m := range set.All() {
			ids = append(ids, m)
		}
		listed[id] = strings.Join(ids, " ")
	}
	if want := map[string]string{"A": "u1 u2", "C": "u4"}; !maps.Equal(listed, want) {
		t.Errorf("read back from the stage: %v, want %v (D's stale stage cleared, E never staged, B not asked for)", listed, want)
	}
	// Or a part at a time, each after the last one's last member.
	var parts []string
	for after := ""; ; {
		part, err := s.StagedMembersAfter(ctx, "A", after, 1)
		if err != nil {
			t.Fatal(err)
		}
		if part.Len() == 0 {
			break
		}
		for m := range part.All() {
			parts, after = append(parts, m), m
		}
	}
	if none, err := s.StagedMembersAfter(ctx, "E", "", 10); err != nil || none.Len() != 0 || !slices.Equal(parts, []string{"u1", "u2"}) {
		t.Errorf("read back a member at a time: %v; E's %d, %v", parts, none.Len(), err)
	}
	next := cloud.NewSnapshot()
	next.Groups["A"] = &cloud.Group{ID: "A", Members: cloud.InPart(cloud.Refs{}, 2)}
	next.Groups["B"] = &cloud.Group{ID: "B", Members: cloud.InPart(cloud.Refs{}, 2)} // one more than staged
	next.Groups["C"] = &cloud.Group{ID: "C", Members: list("u5")}                    // staged, then held whole
	next.Groups["D"] = &cloud.Group{ID: "D", Members: list("u6")}
	before := load()
	if err := s.SaveCloud(ctx, state.CloudUpdate{Snapshot: next, FullGroups: true}); !errors.Is(err, cloud.ErrPartial) {
		t.Fatalf("a group let go with members the stage lacks: %v, want ErrPartial", err)
	}
	if after := load(); !maps.Equal(before, after) {
		t.Fatalf("a refused save changed the state: %v, was %v", after, before)
	}
	next.Groups["B"].Members = cloud.InPart(cloud.Refs{}, 1)
	if err := s.SaveCloud(ctx, state.CloudUpdate{Snapshot: next, FullGroups: true}); err != nil {
		t.Fatal(err)
	}
	if got, want := load(), map[string]string{"A": "u1 u2", "B": "u3", "C": "u5", "D": "u6"}; !maps.Equal(got, want) {
		t.Errorf("saved with its stage: %v, want %v", got, want)
	}
	// The stage is emptied by the save: a later full save of whole lists
	// is the snapshot alone, and letting a group go with nothing staged
	// is refused.
	next.Groups["A"].Members = cloud.InPart(cloud.Refs{}, 2)
	if err := s.SaveCloud(ctx, state.CloudUpdate{Snapshot: next, FullGroups: true}); !errors.Is(err, cloud.ErrPartial) {
		t.Errorf("a group let go after the stage was saved: %v, want ErrPartial", err)
	}
}

func testStagedUsers(t *testing.T, s Store) {
	ctx := context.Background()
	yes := true
	snap := cloud.NewSnapshot()
	snap.Users["old"] = &cloud.User{ID: "old", DisplayName: "Old"}
	if err := s.SaveCloud(ctx, state.CloudUpdate{Snapshot: snap, FullUsers: true}); err != nil {
		t.Fatal(err)
	}
	user := func(id string, present cloud.Field, u cloud.User) cloud.UserDelta {
		u.ID = id
		return cloud.UserDelta{ID: id, Present: present, Values: &u}
	}
	removed := func(id string, r cloud.Removal) cloud.UserDelta { return cloud.UserDelta{ID: id, Removed: r} }
	// A round (in three batches) that names ann twice, bob then removes
	// him for good, soft-deletes cy after naming her, and names dee
	// again after a removal; what a cycle that died staged goes first.
	round := [][]cloud.UserDelta{
		{user("ann", cloud.UserDisplayName|cloud.UserPrincipalName, cloud.User{DisplayName: "Ann", UserPrincipalName: "Ann@Contoso.com"}),
			user("bob", cloud.UserDisplayName, cloud.User{DisplayName: "Bob"}),
			user("cy", cloud.UserDisplayName|cloud.UserOnPremisesSecurityIdentifier, cloud.User{DisplayName: "Cy", OnPremisesSecurityIdentifier: "S-1-5-21-9"})},
		{user("ann", cloud.UserOnPremisesSecurityIdentifier|cloud.UserOnPremisesSyncEnabled, cloud.User{OnPremisesSecurityIdentifier: "S-1-5-21-1", OnPremisesSyncEnabled: &yes}),
			removed("bob", cloud.HardDeleted), removed("cy", cloud.SoftDeleted), removed("dee", cloud.HardDeleted)},
		{user("dee", cloud.UserDisplayName, cloud.User{DisplayName: "Dee"})},
	}
	if err := s.StageUsers(ctx, 0, []cloud.UserDelta{user("stale", cloud.UserDisplayName, cloud.User{DisplayName: "Stale"})}); err != nil {
		t.Fatal(err)
	}
	var all []cloud.UserDelta
	for _, b := range round {
		if err := s.StageUsers(ctx, len(all), b); err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	want := cloud.NewSnapshot()
	want.ApplyUsers(true, all)
	if len(want.Users) != 3 || want.Users["cy"].Removed != cloud.SoftDeleted || want.Users["ann"].OnPremisesSecurityIdentifier != "S-1-5-21-1" {
		t.Fatalf("the round applied whole: %+v", want.Users)
	}
	// Read back, any users at a time, as the round applied whole leaves them.
	got, err := s.StagedUsers(ctx, []string{"cy", "ann", "bob", "stale", "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !reflect.DeepEqual(got["ann"], want.Users["ann"]) || !reflect.DeepEqual(got["cy"], want.Users["cy"]) {
		t.Errorf("read back: %+v; want ann and cy as %+v (bob removed, the stale round's user cleared)", got, want.Users)
	}
	// The save moves the staged users into the state, in place of the
	// stored ones, whatever the snapshot holds.
	held := cloud.NewSnapshot()
	held.Users["ann"] = &cloud.User{ID: "ann", DisplayName: "a slice's"}
	if err := s.SaveCloud(ctx, state.CloudUpdate{Snapshot: held, FullUsers: true, UsersStaged: true}); err != nil {
		t.Fatal(err)
	}
	loaded, _, err := s.LoadCloud(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(loaded.Users, want.Users) {
		t.Errorf("saved from the stage: %+v; want %+v", loaded.Users, want.Users)
	}
	groups, _, err := s.LoadGroups(ctx)
	if err != nil || len(groups.Users) != 0 {
		t.Errorf("LoadGroups: %v, %d users; want none", err, len(groups.Users))
	}
	// The save emptied the stage; so does a save of users held, after a
	// round staged and never saved.
	if got, err := s.StagedUsers(ctx, []string{"ann"}); err != nil || len(got) != 0 {
		t.Errorf("after the save, staged: %+v, %v; want none", got, err)
	}
	if err := s.StageUsers(ctx, 0, round[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveCloud(ctx, state.CloudUpdate{Snapshot: loaded, FullUsers: true}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.StagedUsers(ctx, []string{"ann"}); err != nil || len(got) != 0 {
		t.Errorf("after a save of users held, staged: %+v, %v; want none", got, err)
	}
}

// memberLists loads the snapshot and lists each group's members, each as
// show writes it, in id order, space-separated.
func memberLists(t *testing.T, s Store, show func(id string, kind cloud.ObjectType) string) map[string]string {
	t.Helper()
	got, _, err := s.LoadCloud(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for id, g := range got.Groups {
		var list []string
		for m, k := range g.Members.All() {
			list = append(list, show(m, k))
		}
		out[id] = strings.Join(list, " ")
	}
	return out
}

// testMemberSearch: a member's UPN, whole and in any case, finds the
// groups it is a member of, as the snapshot saved last says (a full save,
// then a delta that takes it out of one group and deletes another).
func testMemberSearch(t *testing.T, s Store) {
	ctx := context.Background()
	gid := func(i int) string { return fmt.Sprintf("6a1e0c55-%04d-4f0e-9d3b-2c1a0b00abcd", i) }
	const ann, bob = "0a000000-0000-4000-8000-0000000000a1", "0a000000-0000-4000-8000-0000000000b2"
	snap := cloud.NewSnapshot()
	snap.Users[ann] = &cloud.User{ID: ann, UserPrincipalName: "Ann@Contoso.com"}
	snap.Users[bob] = &cloud.User{ID: bob, UserPrincipalName: "bob@contoso.com"}
	var sts []state.GroupStatus
	for i := range 30 {
		g := &cloud.Group{ID: gid(i), DisplayName: fmt.Sprintf("Group %02d", i), Members: cloud.RefsFrom(map[string]cloud.ObjectType{bob: cloud.TypeUser})}
		if i%3 == 0 {
			g.Members.Set(ann, cloud.TypeUser)
		}
		snap.Groups[g.ID] = g
		sts = append(sts, state.GroupStatus{CloudID: g.ID, Name: g.DisplayName, State: state.InStep})
	}
	if err := s.SaveCloud(ctx, state.CloudUpdate{Snapshot: snap, FullGroups: true, FullUsers: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetStatus(ctx, sts); err != nil {
		t.Fatal(err)
	}
	search := func(text string) (int, string) {
		t.Helper()
		rows, total, err := s.Inventory(ctx, state.InventoryQuery{Text: text, Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 0 {
			return total, ""
		}
		return total, rows[0].Name
	}
	if n, first := search("ann@contoso.COM"); n != 10 || first != "Group 00" {
		t.Errorf("ann's groups: %d, first %q", n, first)
	}
	if n, _ := search("bob@contoso.com"); n != 30 {
		t.Errorf("bob's groups: %d", n)
	}
	if n, _ := search("nn@contoso.com"); n != 0 {
		t.Errorf("a part of a UPN finds %d groups", n)
	}
	snap.Groups[gid(0)].Members.Delete(ann)
	delete(snap.Groups, gid(3))
	if err := s.SaveCloud(ctx, state.CloudUpdate{Snapshot: snap, ChangedGroups: []string{gid(0), gid(3)}}); err != nil {
		t.Fatal(err)
	}
	if n, first := search("ann@contoso.com"); n != 8 || first != "Group 06" {
		t.Errorf("ann's groups after the delta: %d, first %q", n, first)
	}
}

func testInventory(t *testing.T, s Store) {
	ctx := context.Background()
	var sts []state.GroupStatus
	for i := range 250 {
		st := state.InStep
		if i%10 == 0 {
			st = state.Failed
		}
		sts = append(sts, state.GroupStatus{CloudID: fmt.Sprintf("6a1e0c55-%04d-4f0e-9d3b-2c1a0b000000", i), Name: fmt.Sprintf("Team %03d", i),
			DN: fmt.Sprintf("CN=Team %03d,OU=Cloud,DC=contoso,DC=com", i), State: st, Kind: []string{"security", "microsoft365"}[i%2]})
	}
	sts = append(sts,
		state.GroupStatus{CloudID: "6a1e0c55-9999-4f0e-9d3b-2c1a0b000001", Name: "100% Sales_EU", DN: "CN=Sales,OU=Cloud,DC=contoso,DC=com", State: state.InStep},
		state.GroupStatus{CloudID: "6a1e0c55-9999-4f0e-9d3b-2c1a0b000002", Name: "100 Sales EU", DN: "CN=Sales EU,OU=Cloud,DC=contoso,DC=com", State: state.Held,
			MembersNotWritten: map[string]int{"cloud_only_user": 3, "not_found_in_ad": 1}, SAM: "SalesLegacy"},
		// Names, OUs and sAMAccountNames outside ASCII are found whatever
		// their case (SQLite's LOWER folds ASCII alone).
		state.GroupStatus{CloudID: "6a1e0c55-9999-4f0e-9d3b-2c1a0b000003", Name: "Отдел Продаж", DN: "CN=Отдел Продаж,OU=Группы,DC=contoso,DC=com", State: state.InStep,
			SAM: "ÉQUIPE-Ventes"})
	if err := s.SetStatus(ctx, sts); err != nil {
		t.Fatal(err)
	}
	// A status that does not know the sAMAccountName keeps the one
	// recorded.
	again := sts[len(sts)-1]
	again.SAM = ""
	if err := s.SetStatus(ctx, []state.GroupStatus{again}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		q         state.InventoryQuery
		total     int
		first     string
		pageCount int
	}{
		{state.InventoryQuery{Limit: 100}, 253, "100 Sales EU", 100},
		{state.InventoryQuery{Limit: 100, Offset: 200}, 253, "Team 198", 53},
		{state.InventoryQuery{Text: "ОТДЕЛ продаж", Limit: 10}, 1, "Отдел Продаж", 1},
		{state.InventoryQuery{Text: "équipe-v", Limit: 10}, 1, "Отдел Продаж", 1},
		{state.InventoryQuery{OU: "ou=ГРУППЫ,dc=contoso,dc=com", Limit: 10}, 1, "Отдел Продаж", 1},
		{state.InventoryQuery{Text: "team 12", Limit: 100}, 10, "Team 120", 10},
		{state.InventoryQuery{Text: "TEAM", State: state.Failed, Limit: 10}, 25, "Team 000", 10},
		{state.InventoryQuery{Text: "100%", Limit: 10}, 1, "100% Sales_EU", 1}, // % and _ are matched as themselves
		{state.InventoryQuery{Text: "s_e", Limit: 10}, 1, "100% Sales_EU", 1},
		{state.InventoryQuery{Text: "ou=cloud,dc=contoso", State: state.Held, Limit: 10}, 1, "100 Sales EU", 1},
		{state.InventoryQuery{Text: "6a1e0c55-0042-4f0e-9d3b-2c1a0b000000", Limit: 10}, 1, "Team 042", 1},
		{state.InventoryQuery{Text: "nothing like it", Limit: 10}, 0, "", 0},
		{state.InventoryQuery{Reason: "cloud_only_user", Limit: 10}, 1, "100 Sales EU", 1},
		{state.InventoryQuery{Reason: "cloud_only", Limit: 10}, 0, "", 0}, // a whole code, not a prefix
		{state.InventoryQuery{OU: "ou=cloud,DC=contoso,dc=com", Limit: 300}, 252, "100 Sales EU", 252},
		{state.InventoryQuery{Limit: 10, Offset: 252}, 253, "Отдел Продаж", 1}, // ordered by the folded name
		{state.InventoryQuery{OU: "OU=Elsewhere,DC=contoso,DC=com", Limit: 10}, 0, "", 0},
		{state.InventoryQuery{Kind: "microsoft365", State: state.Failed, Limit: 100}, 0, "", 0}, // the failed ones are even
		{state.InventoryQuery{Kind: "microsoft365", Text: "team 00", Limit: 100}, 5, "Team 001", 5},
		{state.InventoryQuery{Text: "salesleg", Limit: 10}, 1, "100 Sales EU", 1}, // its sAMAccountName
	} {
		rows, total, err := s.Inventory(ctx, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		first := ""
		if len(rows) > 0 {
			first = rows[0].Name
		}
		if total != tc.total || first != tc.first || len(rows) != tc.pageCount {
			t.Errorf("%+v: %d rows of %d, first %q; want %d of %d, first %q", tc.q, len(rows), total, first, tc.pageCount, tc.total, tc.first)
		}
	}
}

func hasKind(s cloud.Refs, id string, want cloud.ObjectType) bool {
	got, ok := s.Get(id)
	return ok && got == want
}
