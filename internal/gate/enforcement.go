package gate

import "errors"

// ErrEnforced: Microsoft's AD object enforcement refuses the write (the
// plan leaves it out, and says why).
var ErrEnforced = errors.New("AD object enforcement refuses it")

// Enforcement is what Microsoft's AD object enforcement (Cloud Sync, 2026)
// means for this tool's writes, as the DC says it: the domain's policy,
// whether the bind account may change the objects it marks, and the
// groups where the tool writes that carry the mark (msDS-ObjectSoa =
// Cloud). Samba does not enforce it; a Windows DC with the policy on
// refuses every modify, rename and move of a marked object by an account
// the policy does not list, with an access error that names neither.
type Enforcement struct {
	// Policy is the policy object's DN; Mode is Enforced or Audit.
	Policy, Mode string
	// Account and SID are the bind account's; Allowed says whether the
	// policy lists it (or a group it is in).
	Account, SID string
	Allowed      bool
	// Listed is how many SIDs the policy allows.
	Listed int
	// Unread are the policy's values that are neither a mode nor a SID
	// (one the DC cannot read stops the whole policy from loading).
	Unread []string
	// Marked are the marked groups' DNs, by their lower-cased DN.
	Marked map[string]string
}

// Blocks reports whether the DC refuses a modify, rename or move of the
// group at dn (lower-cased): it is marked, the policy is enforced, and
// the account is not allowed.
func (e *Enforcement) Blocks(dn string) bool {
	return e != nil && e.Mode == "Enforced" && !e.Allowed && e.marked(dn)
}

func (e *Enforcement) marked(dn string) bool {
	_, ok := e.Marked[dn]
	return ok
}

// Audits reports whether such a change is let through and logged as
// unauthorized (Audit mode).
func (e *Enforcement) Audits(dn string) bool {
	return e != nil && e.Mode == "Audit" && !e.Allowed && e.marked(dn)
}
