package engine

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// SavePlan signs the plan with the state's plan key and writes it to
// path, readable by its owner only. The plan is written as it is signed,
// an operation at a time (writeCanonical): however many groups it holds,
// it is never marshalled whole.
func (e *Engine) SavePlan(ctx context.Context, p *Plan, path string) error {
	key, err := e.planKey(ctx)
	if err != nil {
		return err
	}
	// Written aside and renamed, so that a reader (an operator copying a
	// staging service's plan) never sees half a plan.
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	out := bufio.NewWriterSize(f, 1<<16)
	// The file is the signed form with the MAC added as its last field.
	err = writeCanonical(io.MultiWriter(mac, out), p)
	if err == nil {
		mac.Write([]byte("}"))
		p.MAC = hex.EncodeToString(mac.Sum(nil))
		_, err = fmt.Fprintf(out, ",%q:%q}\n", "mac", p.MAC)
	}
	if err == nil {
		err = out.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("engine: save the plan to %s: %w", path, err)
	}
	return nil
}

// planKey is the key plans are signed with: writeback.plan_key_file's,
// else the state's.
func (e *Engine) planKey(ctx context.Context) ([]byte, error) {
	if len(e.cfg.PlanKey) > 0 {
		return e.cfg.PlanKey, nil
	}
	return e.store.Secret(ctx, state.PlanKey)
}

// writeCanonical writes what a plan's MAC is computed over, but for its
// closing brace: its top-level object without "mac", keys in order,
// compacted (canonicalJSON of the plan's JSON). The result's operations
// are marshalled one at a time.
func writeCanonical(w io.Writer, p *Plan) error {
	shallow := *p
	shallow.Result, shallow.MAC = nil, ""
	b, err := json.Marshal(&shallow)
	if err != nil {
		return err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	delete(fields, "mac")
	keys := slices.Sorted(maps.Keys(fields))
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			bw.WriteByte(',')
		}
		kb, _ := json.Marshal(k) // a string: cannot fail
		bw.Write(kb)
		bw.WriteByte(':')
		if k == "result" {
			if err := writeResult(bw, p.Result); err != nil {
				return err
			}
			continue
		}
		bw.Write(fields[k]) // compact: json.Marshal's
	}
	return bw.Flush()
}

// opsNull is how a result marshalled without its operations says so.
var opsNull = []byte(`"operations":null`)

// writeResult writes r's JSON as json.Marshal would, its operations one at
// a time: the result without them, with the list spliced in where it says
// null (the first such key: a string's quotes are escaped, so no value
// can hold it).
func writeResult(w *bufio.Writer, r *Result) error {
	if r == nil || (r.Plan.Ops == nil && r.log == nil) {
		b, err := json.Marshal(r)
		w.Write(b)
		return err
	}
	rest := *r
	rest.Plan.Ops = nil
	b, err := json.Marshal(&rest)
	if err != nil {
		return err
	}
	at := bytes.Index(b, opsNull)
	if at < 0 {
		return fmt.Errorf("engine: a plan's result without its operations does not say so (%.80s…)", b)
	}
	w.Write(b[:at+len(`"operations":`)])
	w.WriteByte('[')
	first := true
	err = r.eachOpJSON(func(ob []byte) error {
		if !first {
			w.WriteByte(',')
		}
		first = false
		_, err := w.Write(ob)
		return err
	})
	if err != nil {
		return err
	}
	w.WriteByte(']')
	_, err = w.Write(b[at+len(opsNull):])
	return err
}

// canonicalJSON is a plan file's top-level object without "mac", keys in
// order, compacted (the values as written, whitespace outside strings
// aside).
func canonicalJSON(b []byte) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	delete(fields, "mac")
	return json.Marshal(fields)
}

func planMAC(key, canon []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(canon)
	return hex.EncodeToString(m.Sum(nil))
}

// LoadPlan reads a plan that plan --out (or a staging service) saved. It
// is untrusted until CheckSaved verified it.
func LoadPlan(path string) (*Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("engine: plan: %w", err)
	}
	return ReadPlan(b, path)
}

// ReadPlan reads a saved plan's bytes (name says where they came from, for
// the errors). It is untrusted until CheckSaved verified it.
func ReadPlan(b []byte, name string) (*Plan, error) {
	var p Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("engine: plan %s: %w", name, err)
	}
	if p.Version != PlanVersion || p.Result == nil {
		return nil, fmt.Errorf("engine: plan %s: version %d is not %d: %w", name, p.Version, PlanVersion, ErrPlanRefused)
	}
	var err error
	if p.signed, err = canonicalJSON(b); err != nil {
		return nil, fmt.Errorf("engine: plan %s: %w", name, err)
	}
	return &p, nil
}

// ID names a saved plan in the audit trail and the console: the start of
// its MAC.
func (p *Plan) ID() string {
	if len(p.MAC) < 16 {
		return p.MAC
	}
	return p.MAC[:16]
}

// CheckSaved refuses a saved plan that is not as the tool saved it (its
// MAC, keyed by this state's plan key), made for another tenant, domain or
// OUs, dated in the future, older than maxAge, or of a kind that is never
// saved (disable).
func (e *Engine) CheckSaved(ctx context.Context, p *Plan, maxAge time.Duration) error {
	key, err := e.planKey(ctx)
	if err != nil {
		return err
	}
	if p.MAC == "" || p.signed == nil {
		return fmt.Errorf("engine: %w: it carries no MAC", ErrPlanAltered)
	}
	if !hmac.Equal([]byte(planMAC(key, p.signed)), []byte(p.MAC)) {
		return fmt.Errorf("engine: %w", ErrPlanAltered)
	}
	if want := e.binding(); !sameBinding(p.Binding, want) {
		return fmt.Errorf("engine: %w: it was made for another tenant or directory: %v", ErrPlanRefused, &StateMismatchError{State: p.Binding, Config: want})
	}
	switch p.Mode {
	case "delta", "full", "group":
	default:
		return fmt.Errorf("engine: %w: a %q plan is never saved (only sync's: delta, full or group)", ErrPlanRefused, p.Mode)
	}
	age := e.now().Sub(p.Created)
	if age < -planSkew {
		return fmt.Errorf("engine: %w: it is dated %s, %s in the future (clocks differ by more than %s?)", ErrPlanRefused,
			p.Created.UTC().Format(time.RFC3339), (-age).Round(time.Second), planSkew)
	}
	if maxAge > 0 && age > maxAge {
		return fmt.Errorf("engine: %w: it was made %s ago, more than writeback.plan_max_age (%s): make a new one", ErrPlanRefused,
			age.Round(time.Second), maxAge)
	}
	return nil
}

// approve compares a saved plan with the plan made now and says, for each
// group either touches, why its operations are not applied: the group is
// applied only when the engine plans now exactly the operations the saved
// plan holds for it (as sets; old values aside, since they only show what
// is overwritten). Everything else is refused, named, and left to the next
// sync.
func approve(saved, now *Plan) map[string]string {
	byGroup := func(ops []reconcile.Op) map[string][]reconcile.Op {
		out := map[string][]reconcile.Op{}
		for _, op := range ops {
			id := strings.ToLower(op.CloudID)
			out[id] = append(out[id], op)
		}
		return out
	}
	was, is := byGroup(saved.Result.Plan.Ops), byGroup(now.Result.Plan.Ops)
	refused := map[string]string{}
	for id, ops := range was {
		if why := differs(ops, is[id]); why != "" {
			refused[id] = why
		}
	}
	for id, ops := range is {
		if _, inSaved := was[id]; !inSaved {
			refused[id] = fmt.Sprintf("the engine now plans %s, which the saved plan does not hold", describeOp(ops[0]))
		}
	}
	return refused
}

// differs says how a group's saved operations differ from those planned
// now ("" when they are the same).
func differs(saved, now []reconcile.Op) string {
	if len(now) == 0 {
		return fmt.Sprintf("the engine plans nothing for this group now, not %s (it changed since the plan was made)", describeOp(saved[0]))
	}
	keys := map[string]int{}
	for _, op := range now {
		keys[opKey(op)]++
	}
	for _, op := range saved {
		k := opKey(op)
		if keys[k] == 0 {
			return fmt.Sprintf("the engine would not plan %s now (the group changed since the plan was made)", describeOp(op))
		}
		keys[k]--
	}
	for _, op := range now {
		if keys[opKey(op)] > 0 {
			return fmt.Sprintf("the engine now also plans %s, which the saved plan does not hold", describeOp(op))
		}
	}
	return ""
}

// opKey is what makes two operations the same: action, group, object,
// where it goes (and, for a restore, the deleted object it comes from),
// what it must carry, and what it writes.
func opKey(op reconcile.Op) string {
	var b strings.Builder
	norm := func(dn string) string {
		if dn == "" {
			return ""
		}
		if d, err := policy.ParseDN(dn); err == nil {
			return strings.ToLower(d.String())
		}
		return "unparsable:" + dn
	}
	fmt.Fprintf(&b, "%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s", op.Action, strings.ToLower(op.CloudID), norm(op.DN), strings.ToLower(op.NewRDN),
		norm(op.NewParent), norm(op.From), op.Anchor, strings.ToUpper(op.SID))
	changes := make([]string, 0, len(op.Changes))
	for _, ch := range op.Changes {
		vs := slices.Clone(ch.New)
		sort.Strings(vs)
		changes = append(changes, strings.ToLower(ch.Name)+"="+strings.Join(vs, "\x01"))
	}
	sort.Strings(changes)
	members := make([]string, len(op.Members))
	for i, m := range op.Members {
		members[i] = norm(m)
	}
	sort.Strings(members)
	fmt.Fprintf(&b, "\x00%s\x00%s", strings.Join(changes, "\x02"), strings.Join(members, "\x02"))
	return b.String()
}

func describeOp(op reconcile.Op) string {
	return fmt.Sprintf("%s of %s", op.Action, op.DN)
}
