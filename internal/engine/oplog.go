package engine

import (
	"iter"
	"slices"

	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// opLog is what a cycle that writes its slices as it plans them keeps of
// the operations it wrote, for its result, in the order written: a
// create, by far the most of a first writeback's, as its group, DN,
// anchor, sAMAccountName and member count (80 bytes, where the operation
// thinned took about 260); any other operation thinned (thin), whole.
// The statuses and the end of the cycle read the operations of the
// groups not recorded as their slice was written from the plan (settle).
type opLog struct {
	entries []loggedOp
}

// loggedOp is one operation written: a create kept as its fields, or op.
type loggedOp struct {
	cloudID, dn, anchor, sam string
	members                  int
	op                       *reconcile.Op
}

// add appends ops, thinned, to the log.
func (l *opLog) add(ops []reconcile.Op) {
	l.entries = slices.Grow(l.entries, len(ops))
	for i := range ops {
		op := &ops[i]
		if sam, ok := compactCreate(op); ok {
			l.entries = append(l.entries, loggedOp{cloudID: op.CloudID, dn: op.DN, anchor: op.Anchor, sam: sam, members: op.MemberCount})
			continue
		}
		whole := *op
		l.entries = append(l.entries, loggedOp{op: &whole})
	}
}

// compactCreate reports whether op is a create the log keeps as its
// fields (loggedOp), and its sAMAccountName: a thinned create with no
// values but that name, and nothing a create seldom carries.
func compactCreate(op *reconcile.Op) (sam string, ok bool) {
	if op.Action != reconcile.Create || op.Members != nil || op.NewRDN != "" || op.NewParent != "" || op.Reason != "" || op.SID != "" {
		return "", false
	}
	switch {
	case len(op.Changes) == 0:
		return "", true
	case len(op.Changes) == 1:
		c := op.Changes[0]
		if c.Name == "sAMAccountName" && c.Old == nil && len(c.New) == 1 && c.New[0] != "" {
			return c.New[0], true
		}
	}
	return "", false
}

// all yields the operations of the log, in order, as thin made them.
func (l *opLog) all() iter.Seq[reconcile.Op] {
	return func(yield func(reconcile.Op) bool) {
		if l == nil {
			return
		}
		for i := range l.entries {
			if !yield(l.entries[i].expand()) {
				return
			}
		}
	}
}

func (e *loggedOp) expand() reconcile.Op {
	if e.op != nil {
		return *e.op
	}
	op := reconcile.Op{Action: reconcile.Create, CloudID: e.cloudID, DN: e.dn, Anchor: e.anchor, MemberCount: e.members}
	if e.sam != "" {
		op.Changes = []reconcile.AttrChange{{Name: "sAMAccountName", New: []string{e.sam}}}
	}
	return op
}
