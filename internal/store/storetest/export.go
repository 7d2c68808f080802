package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/store"
)

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
		{"a member that is no object id", "groups[g1]", func(e *state.Export) {
			e.Groups["g1"] = json.RawMessage(`{"id":"g1","members":{"u1":"user","CN=Admin,DC=x":"user"}}`)
		}},
		{"an operation of no run", "operations[0]", func(e *state.Export) { e.Operations[0].RunID = 9 }},
		{"an unknown action", "operations[0]", func(e *state.Export) { e.Operations[0].Action = "grant" }},
		{"a run that ends first", "runs[0]", func(e *state.Export) { e.Runs[0].Finished = e.Runs[0].Started.Add(-time.Hour) }},
		{"an unknown run outcome", "runs[0]", func(e *state.Export) { e.Runs[0].Outcome = "ok<script>" }},
		{"a run outcome no cycle ends in", "runs[0]", func(e *state.Export) { e.Runs[0].Outcome = "approved" }},
		{"quiet cycles that failed", "runs[0]", func(e *state.Export) { e.Runs[0].Quiet, e.Runs[0].Outcome = 3, state.OutcomeFailed }},
		{"a negative count of quiet cycles", "runs[0]", func(e *state.Export) { e.Runs[0].Quiet = -1 }},
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
	// A group's members are in its object, as exports have always
	// carried them, wherever the state keeps them.
	if g := string(exp.Groups["g1"]); !strings.Contains(g, `"members":{"u1":"user"}`) {
		t.Errorf("the exported g1 is %s; want its member u1 in it", g)
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
