package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// TestWriteJSONIsTheEncoders: writeJSON, which writes a struct's slices
// element by element, writes the very bytes json.Encoder does, whatever
// the fields: empty, nil and omitted ones, bytes, maps, times, nesting,
// HTML-escaped text, and values it hands to the encoder whole.
func TestWriteJSONIsTheEncoders(t *testing.T) {
	type inner struct {
		A []string          `json:"a"`
		M map[string]int    `json:"m,omitempty"`
		T time.Time         `json:"t,omitempty"`
		P *int              `json:"p,omitempty"`
		R json.RawMessage   `json:"r,omitempty"`
		X map[string][]bool `json:"x"`
	}
	type outer struct {
		Version int     `json:"version"`
		Name    string  `json:"name,omitempty"`
		List    []inner `json:"list"`
		Nil     []inner `json:"nil"`
		Empty   []inner `json:"empty"`
		Omitted []inner `json:"omitted,omitempty"`
		Bytes   []byte  `json:"bytes"`
		Any     any     `json:"any,omitempty"`
		Inner   inner   `json:"inner,omitempty"`
		Ops     []reconcile.Op
		skipped int
		Dash    int `json:"-"`
		Raw     json.RawMessage
		Nums    []int `json:"nums"`
	}
	seven := 7
	cases := map[string]any{
		"full": outer{Version: 1, Name: "<a & b>", List: []inner{{A: []string{"x", "y"}, M: map[string]int{"k": 1}, T: time.Unix(0, 0).UTC(), P: &seven,
			R: json.RawMessage(`{"z":1}`)}, {}}, Empty: []inner{}, Bytes: []byte("hi"), Any: []int{1},
			Ops: []reconcile.Op{{Action: reconcile.AddMembers, DN: "CN=a", Members: []string{"CN=u1", "CN=u2"}}}, skipped: 1, Raw: json.RawMessage(`[1, 2]`), Nums: []int{3, 4}},
		"zero":    outer{},
		"pointer": &outer{Version: 2, Nums: []int{}},
		"empty":   struct{}{},
		"all omitted": struct {
			A []int `json:"a,omitempty"`
		}{},
		"not a struct": []int{1, 2},
		"a map":        map[string]any{"b": []int{1}, "a": nil},
		"engine type":  engine.Counts{Created: 3, MembersNotWritten: map[string]int{"x": 1}},
		// The operations of plan's document are read from the result one
		// at a time (opList), not held as a list.
		"plan document": jsonResult(&engine.Result{Mode: "full", Plan: reconcile.Plan{Ops: []reconcile.Op{
			{Action: reconcile.Create, DN: "CN=a", Members: []string{"CN=u1"}, Changes: []reconcile.AttrChange{{Name: "description", New: []string{"<x>"}}}},
			{Action: reconcile.Delete, DN: "CN=b"}}}}, true),
		"plan document, nothing to do": jsonResult(&engine.Result{Mode: "delta"}, true),
	}
	for name, v := range cases {
		var want, got bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		if err := writeJSON(&got, v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.String() != want.String() {
			t.Errorf("%s:\ngot\n%s\nwant\n%s", name, got.String(), want.String())
		}
	}
}
