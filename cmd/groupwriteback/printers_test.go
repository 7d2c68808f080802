package main

import (
	"bytes"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// heldBackResult is a plan whose deletes the threshold holds back, with a
// group written in place and a field written cleaned.
func heldBackResult() *engine.Result {
	return &engine.Result{Mode: "delta", Counts: engine.Counts{Unchanged: 3},
		Plan: reconcile.Plan{
			Ops: []reconcile.Op{{Action: reconcile.AddMembers, CloudID: "g-inplace", DN: "CN=Finance,OU=Groups,DC=contoso,DC=com",
				Members: []string{"CN=Ann,OU=Users,DC=contoso,DC=com"}, SID: "S-1-5-21-1-2-3-2201"}},
			Problems: []reconcile.Problem{{Err: reconcile.ErrThresholdExceeded,
				Message: "this run would delete or quarantine 2 groups, more than the threshold of 1: it deletes and quarantines none; run sync --allow-deletes 2 to let them through"}},
			HeldBack: []reconcile.Op{
				{Action: reconcile.Delete, CloudID: "g1", DN: "CN=Team 1_000000000001,OU=Cloud,DC=contoso,DC=com", Reason: "the cloud group no longer exists"},
				{Action: reconcile.Delete, CloudID: "g2", DN: "CN=Team 2_000000000002,OU=Cloud,DC=contoso,DC=com", Reason: "the cloud group no longer exists"},
			}},
		Notes: []policy.Problem{{CloudID: "g3", Name: "Sales", Field: "mail", Message: `"not a mail" has no @: the group is written without mail attributes`}},
	}
}

// TestPlanPrinter: the text plan names every group the threshold holds
// back, and the command that lets them through (golden file).
func TestPlanPrinter(t *testing.T) {
	var b bytes.Buffer
	printPlan(&b, heldBackResult())
	golden(t, "plan-held-back.txt", b.String())
}

// TestSyncPrinter: the text sync report says the same (golden file).
func TestSyncPrinter(t *testing.T) {
	var b bytes.Buffer
	printSync(&b, heldBackResult())
	golden(t, "sync-held-back.txt", b.String())
}
