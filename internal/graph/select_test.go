package graph

import (
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/graphsim"
)

// TestSelectsAreGraphsProperties: every property the client selects exists
// in Graph's published metadata for the endpoint it reads (graphsim holds
// the table), and every property it decodes is one it selects: nothing is
// parsed that Graph is never asked for.
func TestSelectsAreGraphsProperties(t *testing.T) {
	for _, c := range []struct {
		api, collection string
		sel             []string
		fields          map[string]fieldDest
	}{
		{"beta", "groups", groupSelect, groupFields(&cloud.Group{})},
		{"v1.0", "users", userSelect, userFields(&cloud.User{})},
	} {
		for _, p := range c.sel {
			if !graphsim.KnownProperty(c.api, c.collection, p) {
				t.Errorf("%s %s: $select=%s names no property in Graph's metadata", c.api, c.collection, p)
			}
		}
		for p := range c.fields {
			found := false
			for _, s := range c.sel {
				found = found || s == p
			}
			if !found {
				t.Errorf("%s %s: %s is decoded but never selected", c.api, c.collection, p)
			}
		}
	}
	if graphsim.KnownProperty("v1.0", "users", "onPremisesObjectIdentifier") || graphsim.KnownProperty("v1.0", "groups", "writebackConfiguration") {
		t.Error("the metadata table has properties Graph does not")
	}
}
