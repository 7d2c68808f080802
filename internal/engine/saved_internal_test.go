package engine

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// The plan a save writes an operation at a time is, byte for byte, what
// its MAC has always been computed over and what ReadPlan computes it
// over: the plan marshalled whole, its top-level keys in order, without
// "mac". Strings that look like the spliced key, HTML characters (which
// encoding/json escapes), a plan without operations and one with an empty
// list are each written as json.Marshal writes them.
func TestPlanWrittenAsSigned(t *testing.T) {
	tricky := `x","operations":null,"<b>&é\u2028`
	op := func(id string) reconcile.Op {
		return reconcile.Op{Action: reconcile.Create, CloudID: id, DN: "CN=" + tricky + ",OU=Cloud,DC=contoso,DC=test", Anchor: "Group_" + id,
			Changes: []reconcile.AttrChange{{Name: "displayName", New: []string{tricky}}}, Members: []string{"CN=A,DC=contoso,DC=test", "CN=B\\, C,DC=contoso,DC=test"}}
	}
	whole := func(ops []reconcile.Op) *Plan {
		return &Plan{Version: PlanVersion, Created: time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC), Mode: tricky,
			Binding: state.Binding{TenantID: "t", Domain: "DC=contoso,DC=test", TargetOU: "OU=Cloud,DC=contoso,DC=test"},
			Result: &Result{RunID: 7, Mode: tricky, Plan: reconcile.Plan{Ops: ops, HeldBack: []reconcile.Op{op("held")}, Unchanged: 3},
				GroupNames: map[string]string{"g1": tricky}},
			Seen: map[string]string{"g1": absent}, Names: map[string]string{"g1": tricky}, Links: state.Links{Groups: "https://graph/delta?x=<1>&y"},
			MAC: "left out"}
	}
	for name, p := range map[string]*Plan{
		"operations":    whole([]reconcile.Op{op("g1"), op("g2"), {Action: reconcile.Delete, CloudID: "g3", DN: "CN=G3", Reason: tricky}}),
		"no operations": whole(nil),
		"an empty list": whole([]reconcile.Op{}),
		"no result":     {Version: PlanVersion, Mode: "disable"},
	} {
		t.Run(name, func(t *testing.T) {
			marshalled, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			want, err := canonicalJSON(marshalled)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := writeCanonical(&got, p); err != nil {
				t.Fatal(err)
			}
			got.WriteByte('}')
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("written:\n%s\nsigned whole:\n%s", got.Bytes(), want)
			}
		})
	}
}
