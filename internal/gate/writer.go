package gate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// Target is a directory the gate stands in front of (directory.Client,
// memdir.Directory): it reads objects for the gate, and writes only what
// the gate approved.
type Target interface {
	// Inspect reads the object at dn as AD holds it now, a deleted one
	// too (Object.Deleted; nil, nil when there is none); with holders,
	// every group that holds it, at any depth.
	Inspect(ctx context.Context, dn string, holders bool) (*Object, error)
	// Write sends an approved operation. It calls a.Permit before each
	// request it sends, retries included, and sends nothing when Permit
	// refuses.
	Write(ctx context.Context, a *Approved) error
}

// Cloud reads, from Graph now, what an operation in place is checked
// against (graph.Client).
type Cloud interface {
	SourceOfAuthority(ctx context.Context, id string) (CloudGroup, error)
}

// Lease names the instance and the writer lease's fencing token a write
// was sent under (zero without a shared state).
type Lease struct {
	Instance string
	Token    int64
}

// Fence is the HA fence (ha.Elector, through the session): it permits a
// write now under the lease this instance holds, and says until when the
// lease holds here (zero: no limit): no other instance can hold it before
// then, so a request sent now and answered, or abandoned, by then cannot
// reach AD after another instance wrote. Its refusal wraps state.ErrFenced.
type Fence interface {
	Permit() (l Lease, until time.Time, err error)
}

// cloudTTL is how long what Graph said of a group written in place is
// used: the writes of one group's batches, not a cycle's worth.
const cloudTTL = time.Minute

// Gate is the write gate in front of one directory writer.
type Gate struct {
	target Target
	cloud  Cloud
	rules  Rules
	fence  Fence
	now    func() time.Time

	mu     sync.Mutex
	clouds map[string]cloudRead
}

type cloudRead struct {
	g  CloudGroup
	at time.Time
}

// New returns the gate in front of t, with the rules r, asking c for
// groups written in place and f before every write (c and f may be nil:
// then nothing is written in place, and there is no fence).
func New(t Target, c Cloud, r Rules, f Fence) *Gate {
	return &Gate{target: t, cloud: c, rules: r, fence: f, now: time.Now, clouds: map[string]cloudRead{}}
}

// Rules are the gate's rules.
func (g *Gate) Rules() Rules { return g.rules }

// Approved is an operation the gate approved, the only thing a directory
// writer writes. Only the gate makes one.
type Approved struct {
	op    reconcile.Op
	lease Lease
	gate  *Gate
}

// ErrNotApproved: a writer was handed an operation the gate did not
// approve.
var ErrNotApproved = errors.New("the operation was not approved by the write gate")

// Op is the approved operation, or ErrNotApproved.
func (a *Approved) Op() (reconcile.Op, error) {
	if a == nil || a.gate == nil {
		return reconcile.Op{}, ErrNotApproved
	}
	return a.op, nil
}

// Lease is the lease the write was last permitted under.
func (a *Approved) Lease() Lease {
	if a == nil {
		return Lease{}
	}
	return a.lease
}

// Permit is the fence's word immediately before a request of the write is
// sent (each retry too): nil while this instance may write, and until when
// the request must be answered or abandoned (zero: no limit). The lease
// it was permitted under is kept for the audit trail.
func (a *Approved) Permit() (until time.Time, err error) {
	if a == nil || a.gate == nil {
		return time.Time{}, ErrNotApproved
	}
	l, until, err := a.gate.permit()
	if err != nil {
		return time.Time{}, err
	}
	a.lease = l
	return until, nil
}

// Approve reads what op needs (the object at its DN, the groups holding
// it, the cloud group in Graph), checks the rules, and asks the fence. It
// returns the approval, a *RefusedError, the fence's refusal, or the
// error of a read.
func (g *Gate) Approve(ctx context.Context, op reconcile.Op) (*Approved, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	object, holders, cloud := Needs(op)
	var obj *Object
	if object {
		var err error
		if obj, err = g.target.Inspect(ctx, Subject(op), holders); err != nil {
			return nil, err
		}
	}
	var cg *CloudGroup
	if cloud && g.rules.InPlace && g.cloud != nil {
		c, err := g.cloudGroup(ctx, op.CloudID)
		if err != nil {
			return nil, fmt.Errorf("gate: read cloud group %s from Graph: %w", op.CloudID, err)
		}
		cg = &c
	}
	if err := g.rules.Check(op, obj, cg); err != nil {
		return nil, err
	}
	a := &Approved{op: op, gate: g}
	if _, err := a.Permit(); err != nil {
		return nil, err
	}
	return a, nil
}

// Protected reads the object at dn and the groups holding it, and says why
// it is a protected group ("" when it is not): what the engine reports in
// a plan before the gate would refuse its member adds.
func (g *Gate) Protected(ctx context.Context, dn string) (string, error) {
	obj, err := g.target.Inspect(ctx, dn, true)
	if err != nil {
		return "", err
	}
	return Protection(obj), nil
}

// Write sends an approved operation through the writer.
func (g *Gate) Write(ctx context.Context, a *Approved) error {
	if a == nil || a.gate != g {
		return ErrNotApproved
	}
	return g.target.Write(ctx, a)
}

// Apply approves op and writes it.
func (g *Gate) Apply(ctx context.Context, op reconcile.Op) error {
	a, err := g.Approve(ctx, op)
	if err != nil {
		return err
	}
	return g.Write(ctx, a)
}

func (g *Gate) permit() (Lease, time.Time, error) {
	if g.fence == nil {
		return Lease{}, time.Time{}, nil
	}
	return g.fence.Permit()
}

// cloudGroup is what Graph says of the group, read at most cloudTTL ago.
func (g *Gate) cloudGroup(ctx context.Context, id string) (CloudGroup, error) {
	g.mu.Lock()
	c, ok := g.clouds[id]
	g.mu.Unlock()
	if ok && g.now().Sub(c.at) < cloudTTL {
		return c.g, nil
	}
	cg, err := g.cloud.SourceOfAuthority(ctx, id)
	if err != nil {
		return CloudGroup{}, err
	}
	g.mu.Lock()
	g.clouds[id] = cloudRead{g: cg, at: g.now()}
	g.mu.Unlock()
	return cg, nil
}
