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
	"strings"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/store"
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
		{"Settings", testSettings},
		{"PendingPlan", testPendingPlan},
		{"LeaseHandsOverWithNewToken", testLease},
		{"FenceRefusesWritesOfALostLease", testFence},
		{"Instances", testInstances},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, open(t)) })
	}
	t.Run("ExportImport", func(t *testing.T) { testExportImport(t, open) })
	t.Run("ImportRefusesBadRows", func(t *testing.T) { testImportRefuses(t, open) })
}

// testImportRefuses: an export is untrusted input. A row the tool would
// never have written is refused, named, and nothing of the export is
// written; the secrets never travel in an export.
func testImportRefuses(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	good := func() *state.Export {
		return &state.Export{Version: state.ExportVersion, Kind: "state", Meta: map[string]string{},
			Groups:     map[string]json.RawMessage{"g1": json.RawMessage(`{"id":"g1"}`)},
			Statuses:   []state.GroupStatus{{CloudID: "g1", Name: "One", State: state.InStep, DN: "CN=One,OU=Cloud,DC=x"}},
			Runs:       []state.Run{{ID: 1, Started: time.Now().Add(-time.Minute), Finished: time.Now(), Mode: "full", Outcome: "ok"}},
			Operations: []state.Operation{{RunID: 1, CloudID: "g1", Action: "create", DN: "CN=One,OU=Cloud,DC=x", Outcome: "applied", At: time.Now()}}}
	}
	for _, tc := range []struct {
		name, row string
		edit      func(e *state.Export)
	}{
		{"an unknown state", "statuses[0]", func(e *state.Export) { e.Statuses[0].State = "owned-by-me" }},
		{"an unparsable DN", "statuses[0]", func(e *state.Export) { e.Statuses[0].DN = "CN=One,,=x" }},
		{"an HTML name", "statuses[0]", func(e *state.Export) { e.Statuses[0].Name = `<img src=x onerror="alert(1)">` }},
		{"a control character", "statuses[0]", func(e *state.Export) { e.Statuses[0].Name = "One\x1b[31m" }},
		{"a secret", "meta secret.plan", func(e *state.Export) { e.Meta["secret.plan"] = "00" }},
		{"a delta link elsewhere", "deltaLinks.groups", func(e *state.Export) { e.Links.Groups = "http://graph.example/delta" }},
		{"a group that is another", "groups[g1]", func(e *state.Export) { e.Groups["g1"] = json.RawMessage(`{"id":"g2"}`) }},
		{"an operation of no run", "operations[0]", func(e *state.Export) { e.Operations[0].RunID = 9 }},
		{"an unknown action", "operations[0]", func(e *state.Export) { e.Operations[0].Action = "grant" }},
		{"a run that ends first", "runs[0]", func(e *state.Export) { e.Runs[0].Finished = e.Runs[0].Started.Add(-time.Hour) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			e := good()
			tc.edit(e)
			err := s.Import(ctx, e)
			var bad *state.BadRowError
			if !errors.As(err, &bad) || !errors.Is(err, state.ErrBadExport) || !strings.HasPrefix(bad.Row, tc.row) {
				t.Fatalf("err = %v, want a *BadRowError naming %s", err, tc.row)
			}
			if sts, _ := s.Statuses(ctx); len(sts) != 0 {
				t.Fatalf("a refused import wrote %d statuses", len(sts))
			}
		})
	}
	if err := open(t).Import(ctx, good()); err != nil {
		t.Fatalf("the good export: %v", err)
	}
	a := open(t)
	if exp, err := a.Export(ctx); err != nil || len(exp.Meta) != 0 {
		t.Fatalf("a new state's export: %v, meta %v (its secrets must not be in it)", err, exp.Meta)
	}
}

// testExportImport fills a store, exports it through JSON, imports it into
// an empty one, and finds the same state there.
func testExportImport(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()
	a := open(t)
	testCloud(t, a)
	testRuns(t, a)
	testOperations(t, a)
	testSettings(t, a)
	if err := a.SetStatus(ctx, []state.GroupStatus{{CloudID: "g9", Name: "Nine", State: state.Failed, DN: "CN=Nine",
		Message: "LDAP 50", MembersNotWritten: map[string]int{"not_found_in_ad": 2}}}); err != nil {
		t.Fatal(err)
	}
	exp, err := a.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(exp)
	if err != nil {
		t.Fatal(err)
	}
	var back state.Export
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	c := open(t)
	if err := c.Import(ctx, &back); err != nil {
		t.Fatal(err)
	}
	same := func(what string, get func(Store) (any, error)) {
		t.Helper()
		x, err1 := get(a)
		y, err2 := get(c)
		bx, _ := json.Marshal(x)
		by, _ := json.Marshal(y)
		if err1 != nil || err2 != nil || string(bx) != string(by) {
			t.Errorf("%s differs after import:\n%s\n%s (%v %v)", what, bx, by, err1, err2)
		}
	}
	same("cloud", func(s Store) (any, error) { snap, links, err := s.LoadCloud(ctx); return []any{snap, links}, err })
	same("statuses", func(s Store) (any, error) { return s.Statuses(ctx) })
	same("runs", func(s Store) (any, error) { return s.Runs(ctx, 100) })
	same("operations", func(s Store) (any, error) { return s.Operations(ctx, "g1", 100) })
	same("enablement", func(s Store) (any, error) { return s.Enablement(ctx) })
	same("binding", func(s Store) (any, error) { b, _, err := s.Binding(ctx); return b, err })
	same("meta", func(s Store) (any, error) { return s.Meta(ctx, "config") })
	same("tenant default", func(s Store) (any, error) { v, ok, err := s.TenantWritebackDefault(ctx); return []bool{v, ok}, err })
	// A run after the import continues the history.
	id, _, err := c.StartRun(ctx, "delta")
	if runs, _ := a.Runs(ctx, 1); err != nil || id <= runs[0].ID {
		t.Errorf("a new run after import has id %d, the history ends at %d (%v)", id, runs[0].ID, err)
	}
	if err := c.Import(ctx, &back); !errors.Is(err, store.ErrNotEmpty) {
		t.Errorf("an import into a state with data: %v, want ErrNotEmpty", err)
	}
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
	snap.Groups["g1"] = &cloud.Group{ID: "g1", DisplayName: "One", Writeback: cloud.WritebackConfiguration{IsEnabled: &yes},
		Members: map[string]cloud.ObjectType{"u1": cloud.TypeUser}}
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
	if links != (state.Links{Groups: "https://graph.test/gl1", Users: "https://graph.test/ul1"}) || got.UnifiedWritebackDefault || got.Groups["g1"].Members["u1"] != cloud.TypeUser ||
		!*got.Groups["g1"].Writeback.IsEnabled || got.Groups["g2"].Removed != cloud.SoftDeleted || got.Users["u1"].OnPremisesSecurityIdentifier != "S-1-5-21-1" {
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

// testLease: one holder at a time; renewal keeps the token; a lease that
// ran out goes to the next asker with a greater token, and its old holder
// can no longer renew it; a release hands it over at once.
func testLease(t *testing.T, s Store) {
	ctx := context.Background()
	const ttl = 400 * time.Millisecond
	a, err := s.AcquireLease(ctx, state.WriterLease, "a/1", ttl)
	if err != nil || a.Token < 1 || a.Holder != "a/1" || !a.Expires.After(a.Acquired) {
		t.Fatalf("first acquire: %+v, %v", a, err)
	}
	var held *state.LeaseHeldError
	if _, err := s.AcquireLease(ctx, state.WriterLease, "b/1", ttl); !errors.As(err, &held) || held.State.Holder != "a/1" {
		t.Fatalf("acquire of a held lease: %v, want a LeaseHeldError naming a/1", err)
	}
	again, err := s.AcquireLease(ctx, state.WriterLease, "a/1", ttl)
	if err != nil || again.Token != a.Token {
		t.Fatalf("acquire by its holder renews it with the same token: %+v, %v", again, err)
	}
	r, err := s.RenewLease(ctx, a, ttl)
	if err != nil || r.Token != a.Token || r.Expires.Before(a.Expires) {
		t.Fatalf("renew: %+v, %v", r, err)
	}
	if st, err := s.ReadLease(ctx, state.WriterLease); err != nil || !st.Held() || st.Holder != "a/1" {
		t.Fatalf("ReadLease: %+v, %v", st, err)
	}
	time.Sleep(ttl + 100*time.Millisecond)
	if st, _ := s.ReadLease(ctx, state.WriterLease); st.Held() {
		t.Fatalf("a lease past its expiry is held: %+v", st)
	}
	b, err := s.AcquireLease(ctx, state.WriterLease, "b/1", ttl)
	if err != nil || b.Token <= a.Token || b.Previous != "a/1" {
		t.Fatalf("take-over: %+v, %v; want a greater token than %d and a/1 as previous", b, err, a.Token)
	}
	if _, err := s.RenewLease(ctx, a, ttl); !errors.Is(err, state.ErrFenced) {
		t.Fatalf("the old holder renews a lease taken over: %v, want ErrFenced", err)
	}
	// Its holder's lease, run out and taken again, has a new token too.
	time.Sleep(ttl + 100*time.Millisecond)
	if _, err := s.RenewLease(ctx, b, ttl); !errors.Is(err, state.ErrFenced) {
		t.Fatalf("renewing a lease that ran out: %v, want ErrFenced", err)
	}
	b2, err := s.AcquireLease(ctx, state.WriterLease, "b/1", ttl)
	if err != nil || b2.Token <= b.Token || b2.Previous != "" {
		t.Fatalf("the same holder after expiry: %+v, %v; want a new token and no previous", b2, err)
	}
	if err := s.ReleaseLease(ctx, b2); err != nil {
		t.Fatal(err)
	}
	c, err := s.AcquireLease(ctx, state.WriterLease, "c/1", time.Minute)
	if err != nil || c.Token <= b2.Token {
		t.Fatalf("acquire after a release: %+v, %v", c, err)
	}
	tks, err := s.Takeovers(ctx, 10)
	if err != nil || len(tks) != 4 || tks[0].Holder != "c/1" || tks[0].Previous != "b/1" || tks[2].Previous != "a/1" || tks[0].Token != c.Token {
		t.Fatalf("take-overs, newest first: %+v, %v", tks, err)
	}
}

// testFence: writes under a fence carry its token; once the lease went
// to another holder they are refused, and write nothing.
func testFence(t *testing.T, s Store) {
	ctx := context.Background()
	const ttl = 400 * time.Millisecond
	a, err := s.AcquireLease(ctx, state.WriterLease, "a/1", ttl)
	if err != nil {
		t.Fatal(err)
	}
	s.Fence(a.Holder, a.Token)
	if err := s.SetMeta(ctx, "k", "by a"); err != nil {
		t.Fatalf("a write under a held lease: %v", err)
	}
	time.Sleep(ttl + 100*time.Millisecond)
	// Run out, nobody took it: still refused, the holder must acquire anew.
	if err := s.SetMeta(ctx, "k", "late"); !errors.Is(err, state.ErrFenced) {
		t.Fatalf("a write after the lease ran out: %v, want ErrFenced", err)
	}
	b, err := s.AcquireLease(ctx, state.WriterLease, "b/1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var fe *state.FencedError
	for name, write := range map[string]func() error{
		"SetMeta":   func() error { return s.SetMeta(ctx, "k", "stale") },
		"SetStatus": func() error { return s.SetStatus(ctx, []state.GroupStatus{{CloudID: "g", State: state.InStep}}) },
		"StartRun":  func() error { _, _, err := s.StartRun(ctx, "delta"); return err },
		"SaveCloud": func() error {
			return s.SaveCloud(ctx, state.CloudUpdate{Snapshot: cloud.NewSnapshot(), Links: state.Links{Groups: "x"}})
		},
		"RecordOperations": func() error {
			return s.RecordOperations(ctx, []state.Operation{{RunID: 1, CloudID: "g", Action: "create", At: time.Now()}})
		},
	} {
		if err := write(); !errors.As(err, &fe) || fe.Holder != "b/1" || fe.HolderToken != b.Token || fe.Token != a.Token {
			t.Errorf("%s by the old holder: %v, want a FencedError naming b/1 and token %d", name, err, b.Token)
		}
	}
	if v, _ := s.Meta(ctx, "k"); v != "by a" {
		t.Errorf("meta k = %q after refused writes, want %q", v, "by a")
	}
	if runs, _ := s.Runs(ctx, 5); len(runs) != 0 {
		t.Errorf("a refused StartRun left runs: %+v", runs)
	}
	if sts, _ := s.Statuses(ctx); len(sts) != 0 {
		t.Errorf("a refused SetStatus left statuses: %+v", sts)
	}
	s.Fence(b.Holder, b.Token)
	if err := s.SetMeta(ctx, "k", "by b"); err != nil {
		t.Fatalf("the new holder's write: %v", err)
	}
	s.Fence(b.Holder, 0) // no lease held: nothing is written
	if err := s.SetMeta(ctx, "k", "none"); !errors.Is(err, state.ErrFenced) {
		t.Fatalf("a write with no lease: %v, want ErrFenced", err)
	}
}

func testInstances(t *testing.T, s Store) {
	ctx := context.Background()
	start := time.Now().Truncate(time.Millisecond)
	for _, in := range []state.Instance{
		{ID: "b/2", Name: "b", Host: "hb", PID: 2, Version: "v", Role: "standby", Started: start},
		{ID: "a/1", Name: "a", Host: "ha", PID: 1, Version: "v", Role: "standby", Started: start},
		{ID: "a/1", Name: "a", Host: "ha", PID: 1, Version: "v", Role: "active", Started: start, Detail: "writing"},
	} {
		if err := s.Heartbeat(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	ins, err := s.Instances(ctx, time.Minute)
	if err != nil || len(ins) != 2 || ins[0].ID != "a/1" || ins[0].Role != "active" || ins[0].Detail != "writing" || !ins[0].Started.Equal(start) ||
		ins[1].Host != "hb" || ins[0].Seen.IsZero() {
		t.Fatalf("instances: %+v, %v", ins, err)
	}
	time.Sleep(50 * time.Millisecond)
	if ins, err := s.Instances(ctx, 10*time.Millisecond); err != nil || len(ins) != 0 {
		t.Fatalf("instances seen within 10ms: %+v, %v", ins, err)
	}
}
