package graph

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/graphsim"
)

// The app that defines the tenant's directory extensions.
const hrApp = "33333333-3333-4333-8333-333333333333"

// Placement rules read extension properties: extensionAttributeN from a
// group's onPremisesExtensionAttributes, and directory extensions by
// name. Both come with the first round, their changes with the next, and
// a cleared one leaves the snapshot.
func TestGroupExtensions(t *testing.T) {
	dept := graphsim.ExtensionName(hrApp, "department")
	tags := graphsim.ExtensionName(hrApp, "tags")
	tf := testTenant()
	tf.Applications = append(tf.Applications, graphsim.Application{AppID: hrApp, ExtensionProperties: []graphsim.ExtensionProperty{
		{Name: "department", TargetObjects: []string{"Group", "User"}}, {Name: "tags", TargetObjects: []string{"Group"}}}})
	tf.Groups[1][dept] = "Sales"
	tf.Groups[1][tags] = []any{"emea", "vpn"}
	tf.Groups[1]["onPremisesExtensionAttributes"] = map[string]any{"extensionAttribute1": "CC-100", "extensionAttribute2": nil}
	s := startSim(t, tf, graphsim.Faults{})
	s.client.SelectGroupExtensions([]string{"extensionAttribute1", "extensionAttribute2", dept, tags})
	sel := s.client.groupSelect()
	if strings.Count(strings.Join(sel, ","), "onPremisesExtensionAttributes") != 1 || !slices.Contains(sel, dept) {
		t.Fatalf("$select %v", sel)
	}
	ctx := context.Background()
	r, err := s.client.GroupsDelta(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	snap := cloud.NewSnapshot()
	snap.ApplyGroups(r.Full, r.Changes)
	got := snap.Groups[groupSec].Extensions
	if !slices.Equal(got["extensionAttribute1"], []string{"CC-100"}) || !slices.Equal(got[dept], []string{"Sales"}) ||
		!slices.Equal(got[tags], []string{"emea", "vpn"}) || len(got["extensionAttribute2"]) != 0 {
		t.Fatalf("extensions %v", got)
	}
	if len(snap.Groups[groupM365].Extensions) != 0 {
		t.Fatalf("a group without extensions: %v", snap.Groups[groupM365].Extensions)
	}

	tn := s.inst.Server.Tenant()
	if err := tn.UpdateGroup(groupSec, map[string]any{dept: "Finance", "onPremisesExtensionAttributes": map[string]any{"extensionAttribute1": nil}}); err != nil {
		t.Fatal(err)
	}
	r2, err := s.client.GroupsDelta(ctx, r.DeltaLink)
	if err != nil {
		t.Fatal(err)
	}
	snap.ApplyGroups(r2.Full, r2.Changes)
	got = snap.Groups[groupSec].Extensions
	if !slices.Equal(got[dept], []string{"Finance"}) || got["extensionAttribute1"] != nil || !slices.Equal(got[tags], []string{"emea", "vpn"}) {
		t.Fatalf("after the change: %v", got)
	}

	// An extension the tenant does not define for groups: Graph answers
	// 400, as it does for any unknown property of $select.
	s.client.SelectGroupExtensions([]string{graphsim.ExtensionName(hrApp, "costCenter")})
	if _, err := s.client.GroupsDelta(ctx, ""); err == nil || !strings.Contains(err.Error(), "Could not find a property named 'extension_") {
		t.Fatalf("an undefined extension: %v", err)
	}
	if err := tn.UpdateGroup(groupSec, map[string]any{graphsim.ExtensionName(hrApp, "costCenter"): "x"}); err == nil {
		t.Fatal("graphsim took a value for an undefined extension")
	}
}

func TestExtensionValues(t *testing.T) {
	for raw, want := range map[string][]string{
		`"Sales"`: {"Sales"}, `null`: nil, `42`: {"42"}, `true`: {"true"}, `["a","b"]`: {"a", "b"}, `[]`: nil, `["a",null]`: {"a"},
	} {
		got, err := extensionValues([]byte(raw))
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: %q, %v; want %q", raw, got, err, want)
		}
	}
	if _, err := extensionValues([]byte(`{"a":1`)); err == nil {
		t.Error("malformed JSON taken")
	}
	for name, want := range map[string]bool{"extensionAttribute1": true, "extensionAttribute15": true, "extensionAttribute16": false,
		"extensionAttribute01": false, "extensionAttribute": false, "extension_abc_x": false} {
		if isExtensionAttribute(name) != want {
			t.Errorf("isExtensionAttribute(%s) != %v", name, want)
		}
	}
}
