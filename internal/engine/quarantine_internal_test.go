package engine

import (
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// A move into the quarantine OU is one whatever the case or spacing of
// its DN (AD's own compare): counted, and recorded, as a quarantine. It
// used to be compared with ==, so a plan made under writeback.quarantine_ou
// written in another case counted its quarantines as updates.
func TestQuarantineComparedAsDN(t *testing.T) {
	const q = "OU=Quarantine,DC=contoso,DC=test"
	for _, parent := range []string{q, "ou=quarantine,dc=contoso,dc=test", "OU=Quarantine, DC=contoso, DC=test"} {
		ops := []reconcile.Op{{Action: reconcile.Move, CloudID: "g1", DN: "CN=G,OU=Cloud,DC=contoso,DC=test", NewParent: parent}}
		var c Counts
		c.planned(ops, q)
		if c.Quarantined != 1 || c.Updated != 0 {
			t.Errorf("a move to %q: %+v", parent, c)
		}
		sts := decideStatuses(cycleOutcome{Plan: reconcile.Plan{Ops: ops}, QuarantineOU: q})
		if len(sts) != 1 || sts[0].State != "quarantined" {
			t.Errorf("a move to %q is recorded as %+v", parent, sts)
		}
	}
	if (reconcile.Op{Action: reconcile.Move, NewParent: "OU=Elsewhere,DC=contoso,DC=test"}).Quarantines(q) {
		t.Error("a move elsewhere counted as a quarantine")
	}
}
