package engine_test

import (
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// A cloud rename renames the AD group (cn, displayName); its
// sAMAccountName, which sssd, scripts and applications key on, keeps the
// value it was created with unless writeback.sam_on_rename is follow, and
// then the plan says it changes (issue 24, item 10).
func TestRenameAndTheSAMAccountName(t *testing.T) {
	for _, follow := range []bool{false, true} {
		t.Run(map[bool]string{false: "keep (default)", true: "follow"}[follow], func(t *testing.T) {
			id := groupID(1)
			e := newGroupsEnv(t, 1, []map[string]any{{"id": id, "displayName": "Finance", "mailNickname": "finance", "members": []any{userID(0)}}},
				func(c *engine.Config) { c.SAMFollowsName = follow })
			e.sync(engine.RunOptions{})
			sam0 := attr(e.group(id), "sAMAccountName")
			if got := e.statuses()[id].SAM; got != sam0 {
				t.Errorf("the status's sAMAccountName %q, AD's %q", got, sam0)
			}
			must(t, e.tenant.UpdateGroup(id, map[string]any{"displayName": "Finance EMEA"}))
			res, _ := e.sync(engine.RunOptions{})
			g := e.group(id)
			if !strings.HasPrefix(g.DN, "CN=Finance EMEA_") || attr(g, "displayName") != "Finance EMEA" {
				t.Fatalf("not renamed: %s %q", g.DN, attr(g, "displayName"))
			}
			samChanged := false
			for _, op := range kept(res) {
				for _, ch := range op.Changes {
					samChanged = samChanged || (op.Action == reconcile.Update && ch.Name == "sAMAccountName")
				}
			}
			switch sam := attr(g, "sAMAccountName"); {
			case !follow && (sam != sam0 || samChanged):
				t.Errorf("keep: sAMAccountName %q, was %q; planned a change: %v", sam, sam0, samChanged)
			case follow && (sam != "Finance EMEA_2c1a0b000001" || !samChanged):
				t.Errorf("follow: sAMAccountName %q; planned a change: %v", sam, samChanged)
			}
			// The console finds the group by the sAMAccountName AD holds.
			if got := e.statuses()[id].SAM; got != attr(g, "sAMAccountName") {
				t.Errorf("the status's sAMAccountName %q, AD's %q", got, attr(g, "sAMAccountName"))
			}
		})
	}
}
