package engine

import (
	"context"
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// samKey is a 64-bit hash of a lower-cased sAMAccountName: the names a
// plan's slices claimed are kept by it, not as a copy of every name of the
// tenant. Two names of one key (a chance in tens of millions at a million
// groups) would at worst report the later group's name as taken.
func samKey(lower string) uint64 { return maphash.String(samSeed, lower) }

// samSeed seeds samKey: one for the process.
var samSeed = maphash.MakeSeed()

// checkSAMs keeps a slice of the plan from writing a sAMAccountName
// another object of the domain holds: Windows AD keeps it unique across
// every user, group and computer of the domain, not only the target OU.
// Such a group's operations leave the slice, and a problem names the
// holder and what to do; so does the later of two groups the plan would
// give one name. claimed are the names the plan's slices so far write,
// with their groups, by samKey.
func (e *Engine) checkSAMs(ctx context.Context, ops []reconcile.Op, claimed map[uint64]string) ([]reconcile.Op, []reconcile.Problem, error) {
	wanted := map[string]string{} // lower-cased name → cloud id
	dnOf := map[string]string{}
	var names []string
	conflict := map[string]string{} // cloud id → why
	for _, op := range ops {
		ch, ok := op.Change("sAMAccountName")
		if !op.Creates() && op.Action != reconcile.Update || !ok || len(ch.New) == 0 {
			continue
		}
		name := ch.New[0]
		key := strings.ToLower(name)
		other, seen := wanted[key]
		if !seen {
			other, seen = claimed[samKey(key)]
		}
		switch {
		case seen && other != op.CloudID:
			conflict[op.CloudID] = fmt.Sprintf("sAMAccountName %q is also the name of cloud group %s in this plan; Windows AD keeps it unique across the domain: "+
				"choose other names with writeback.naming (object_id)", name, other)
		case !seen:
			wanted[key] = op.CloudID
			dnOf[op.CloudID] = op.DN
			names = append(names, name)
		}
	}
	if len(names) > 0 {
		held, err := e.reader.Lookup(ctx, reconcile.BySAM, e.cfg.BaseDN, names)
		if err != nil {
			return nil, nil, fmt.Errorf("engine: look up sAMAccountNames: %w", err)
		}
		for name, obj := range held {
			id := wanted[strings.ToLower(name)]
			if policy.SameDN(obj.DN, dnOf[id]) {
				continue // the group's own AD copy
			}
			conflict[id] = fmt.Sprintf("sAMAccountName %q is already held by %s (a %s); Windows AD keeps it unique across the domain's users, groups and computers, "+
				"so the group is not written: rename that object's sAMAccountName, or choose other names with writeback.naming (object_id)", name, obj.DN, lastClass(obj.Class))
		}
	}
	for key, id := range wanted {
		if conflict[id] == "" {
			claimed[samKey(key)] = id
		}
	}
	if len(conflict) == 0 {
		return ops, nil, nil
	}
	kept := ops[:0]
	for _, op := range ops {
		if conflict[op.CloudID] == "" {
			kept = append(kept, op)
		}
	}
	var problems []reconcile.Problem
	for _, id := range slices.Sorted(maps.Keys(conflict)) {
		problems = append(problems, reconcile.Problem{CloudID: id, DN: dnOf[id], Message: conflict[id]})
		e.logger.Warn("sAMAccountName taken: group not written", "cloud_id", id, "dn", dnOf[id], "why", conflict[id])
	}
	return kept, problems, nil
}

func lastClass(classes []string) string {
	if len(classes) == 0 {
		return "object"
	}
	return classes[len(classes)-1]
}

// checkProtected takes out of a slice of the plan every member add to a
// protected group (and every change that would make one a security
// group), and names the group as a problem with why: the gate would
// refuse them, and the plan, status and show say so before. A group the
// tool wrote that an admin nested in Domain Admins is one; so is a group
// written in place that AD marks adminCount=1.
func (e *Engine) checkProtected(ctx context.Context, ops []reconcile.Op) ([]reconcile.Op, []reconcile.Problem, error) {
	why := map[string]string{} // by lower-case DN
	for _, op := range ops {
		if _, holders, _ := gate.Needs(op); !holders {
			continue
		}
		dn := strings.ToLower(op.DN)
		if _, done := why[dn]; done {
			continue
		}
		w, err := e.gate.Protected(ctx, op.DN)
		if err != nil {
			return nil, nil, fmt.Errorf("engine: read %s and the groups holding it: %w", op.DN, err)
		}
		why[dn] = w
	}
	kept, taken := takeOut(ops, func(op reconcile.Op) bool {
		_, holders, _ := gate.Needs(op)
		return holders && why[strings.ToLower(op.DN)] != ""
	})
	var problems []reconcile.Problem
	for _, op := range taken {
		id := op.CloudID
		msg := fmt.Sprintf("protected group: %s. No member is ever added to it (nor is it made a security group): whoever controls the cloud group "+
			"would control a privileged AD group. Take it out of the privileged group (or clear a stale adminCount), or stop writing this cloud group back",
			why[strings.ToLower(op.DN)])
		problems = append(problems, reconcile.Problem{CloudID: id, DN: op.DN, Err: gate.ErrRefused, Message: msg})
		e.logger.Warn("a protected group: members are not added to it", "cloud_id", id, "dn", op.DN, "why", why[strings.ToLower(op.DN)])
	}
	return kept, problems, nil
}

// enforcementReader says what Microsoft's AD object enforcement means for
// the bind account's writes (directory.Client; an in-memory directory has
// no such policy).
type enforcementReader interface {
	Enforcement(ctx context.Context, bases []string) (*gate.Enforcement, error)
}

// enforcement reads it once a cycle, where the tool writes (nil: no
// policy, or a directory that has none).
func (e *Engine) enforcement(ctx context.Context, p *planning) (*gate.Enforcement, error) {
	if p.enforcementRead {
		return p.enforcement, nil
	}
	p.enforcementRead = true
	r, ok := e.reader.(enforcementReader)
	if !ok {
		return nil, nil
	}
	bases := slices.Clone(e.ous)
	if e.cfg.QuarantineOU != "" {
		bases = append(bases, e.cfg.QuarantineOU)
	}
	enf, err := r.Enforcement(ctx, bases)
	if err != nil {
		return nil, fmt.Errorf("engine: read the domain's AD object enforcement policy: %w", err)
	}
	p.enforcement = enf
	return enf, nil
}

// checkEnforced takes out of ops the writes a DC with Microsoft's AD object
// enforcement on refuses: a modify, rename or move of a group marked
// msDS-ObjectSoa = Cloud, by an account the policy does not list (adds,
// and in the preview deletes, stay allowed). The plan, status and show
// say why and what to do, before the DC answers with an access error that
// names neither. In Audit mode the writes go on, and the log says each is
// recorded as unauthorized.
func (e *Engine) checkEnforced(ctx context.Context, p *planning, ops []reconcile.Op) ([]reconcile.Op, []reconcile.Problem, error) {
	enf, err := e.enforcement(ctx, p)
	if err != nil || enf == nil || enf.Allowed || len(enf.Marked) == 0 {
		return ops, nil, err
	}
	kept, taken := takeOut(ops, func(op reconcile.Op) bool {
		dn := strings.ToLower(op.DN)
		switch {
		case op.Action == reconcile.Create || op.Action == reconcile.Delete:
		case enf.Blocks(dn):
			return true
		case enf.Audits(dn):
			e.logger.Warn("AD object enforcement (Audit) will log this write as unauthorized: the group is marked msDS-ObjectSoa=Cloud and the policy does not list the bind account",
				"cloud_id", op.CloudID, "dn", op.DN, "action", op.Action, "policy", enf.Policy, "account", enf.Account, "sid", enf.SID)
		}
		return false
	})
	var problems []reconcile.Problem
	for _, op := range taken {
		id := op.CloudID
		msg := fmt.Sprintf("AD object enforcement refuses this write: the group is marked msDS-ObjectSoa=Cloud, and the domain's policy %s (Enforced) does not "+
			"allow %s (%s) to change it. Add that SID to the policy's msDS-Settings, or keep Cloud Sync from marking the groups this tool writes",
			enf.Policy, enf.Account, enf.SID)
		problems = append(problems, reconcile.Problem{CloudID: id, DN: op.DN, Err: gate.ErrEnforced, Message: msg})
		e.logger.Warn("AD object enforcement refuses the writes to a group: not planned", "cloud_id", id, "dn", op.DN, "policy", enf.Policy, "account", enf.Account)
	}
	return kept, problems, nil
}

// takeOut takes out of ops, in place, those out says to: it returns the
// ops kept, in their order, and one taken op a group (its last), in
// cloud id order, for the problems that say why.
func takeOut(ops []reconcile.Op, out func(reconcile.Op) bool) (kept, taken []reconcile.Op) {
	byGroup := map[string]reconcile.Op{}
	kept = ops[:0]
	for _, op := range ops {
		if out(op) {
			byGroup[op.CloudID] = op
			continue
		}
		kept = append(kept, op)
	}
	for _, id := range slices.Sorted(maps.Keys(byGroup)) {
		taken = append(taken, byGroup[id])
	}
	return kept, taken
}
