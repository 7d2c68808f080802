package engine_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// events records, in order, the member lookups a cycle makes and the
// writes it sends, and counts the values it looks up by key.
type events struct {
	directorytest.Directory
	mu     sync.Mutex
	log    []string
	looked map[reconcile.KeyKind]int
}

func (ev *events) add(s string) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	ev.log = append(ev.log, s)
}

func (ev *events) Lookup(ctx context.Context, kind reconcile.KeyKind, base string, values []string) (map[string]reconcile.ADObject, error) {
	if kind != reconcile.BySAM {
		ev.add("lookup")
	}
	ev.mu.Lock()
	if ev.looked == nil {
		ev.looked = map[reconcile.KeyKind]int{}
	}
	ev.looked[kind] += len(values)
	ev.mu.Unlock()
	return ev.Directory.Lookup(ctx, kind, base, values)
}

func (ev *events) Write(ctx context.Context, a *gate.Approved) error {
	ev.add("write")
	return ev.Directory.Write(ctx, a)
}

// slicedTenant is n groups of 4 members each, no two sharing a user, so
// that each slice of 4 members (engine.SetResolveSlice(4)) is one group
// whose members no earlier slice looked up.
func slicedTenant(t *testing.T, n int) *env {
	var groups []map[string]any
	for g := range n {
		var ms []any
		for j := range 4 {
			ms = append(ms, userID(g*4+j))
		}
		groups = append(groups, map[string]any{"id": groupID(1100 + g), "displayName": fmt.Sprintf("Slice %d", g), "mailNickname": fmt.Sprintf("slice%d", g), "members": ms})
	}
	return newGroupsEnv(t, n*4, groups, nil)
}

// A cycle writes each slice of its plan as soon as it is planned: the
// first group is in AD before the last group's members are looked up.
// It keeps of each operation written what its result needs (no member
// values), while a plan lists them whole.
func TestCycleWritesSliceBySlice(t *testing.T) {
	defer engine.SetResolveSlice(4)()
	const n = 5
	e := slicedTenant(t, n)
	planned, err := e.eng.Run(context.Background(), engine.RunOptions{DryRun: true})
	if err != nil || len(planned.Plan.Ops) != n || len(planned.Plan.Ops[0].Members) != 4 {
		t.Fatalf("plan: %v, %+v", err, planned)
	}
	ev := &events{Directory: e.dir}
	cfg := e.cfg
	var progress [][2]int
	cfg.Progress = func(phase string, done, total int) {
		if phase == "writing to AD" {
			progress = append(progress, [2]int{done, total})
		}
	}
	res, err := engine.New(e.cloud, ev, ev, e.store, cfg, nil).Run(context.Background(), engine.RunOptions{})
	if err != nil || res.Counts.Created != n || res.Writes != n || len(res.Failures) != 0 {
		t.Fatalf("sync: %v, %+v, %+v", err, res.Counts, res.Failures)
	}
	firstWrite, lastLookup := slices.Index(ev.log, "write"), -1
	for i, l := range ev.log {
		if l == "lookup" {
			lastLookup = i
		}
	}
	if firstWrite < 0 || firstWrite > lastLookup {
		t.Errorf("events %v: the first group was written after every slice was looked up", ev.log)
	}
	// The progress line counts on with no total (the slices to come are
	// not planned yet), and ends once, with the total.
	for i, pr := range progress {
		last := i == len(progress)-1
		if (last && pr != [2]int{n, n}) || (!last && (pr[1] != 0 || (i > 0 && pr[0] < progress[i-1][0]))) {
			t.Errorf("progress %v", progress)
			break
		}
	}
	if lookups := countOf(ev.log, "lookup"); lookups < n {
		t.Errorf("%d lookups for %d slices", lookups, n)
	}
	for _, op := range kept(res) {
		if op.Members != nil || op.MemberCount != 4 || len(op.Changes) != 1 || op.Changes[0].Name != "sAMAccountName" {
			t.Errorf("the result keeps %+v of an operation written", op)
		}
	}
	for g := range n {
		if got := members(e.group(groupID(1100 + g))); len(got) != 4 {
			t.Errorf("group %d has %d members", g, len(got))
		}
	}
	if _, w := e.sync(engine.RunOptions{Full: true}); w != 0 {
		t.Errorf("a full cycle after it wrote %d times", w)
	}
}

// A cycle whose writes stop in the middle of its slices (the DC lost)
// plans no more slices: the groups it never reached are recorded pending
// with those it did not finish, and the next cycle, the DC back, writes
// them.
func TestCycleStoppedBetweenSlices(t *testing.T) {
	defer engine.SetResolveSlice(4)()
	const n = 5
	e := slicedTenant(t, n)
	gone := &faultAfter{Target: e.dir, n: 2, fault: func() { e.ad.Faults.Stop(t) }}
	_, err := engine.New(e.cloud, e.dir, gone, e.store, e.cfg, nil).Run(context.Background(), engine.RunOptions{})
	var unavailable *directory.UnavailableError
	if !errors.As(err, &unavailable) {
		t.Fatalf("err = %v, want the DC named as unreachable", err)
	}
	pending, _ := e.store.Statuses(context.Background(), state.Pending)
	if len(pending) != n-2 {
		t.Fatalf("%d groups pending, want the %d not written: %+v", len(pending), n-2, pending)
	}
	e.ad.Faults.Start(t)
	res, _ := e.sync(engine.RunOptions{})
	if res.Counts.Created != n-2 || len(res.Failures) != 0 {
		t.Fatalf("after the DC came back: %+v, %+v", res.Counts, res.Failures)
	}
	if _, w := e.sync(engine.RunOptions{Full: true}); w != 0 {
		t.Errorf("a full cycle after it wrote %d times", w)
	}
}

// A cycle killed in the middle of its slices moved no delta link: the
// next cycle reads the same changes and writes what is left.
func TestCycleKilledBetweenSlices(t *testing.T) {
	defer engine.SetResolveSlice(4)()
	const n = 5
	e := slicedTenant(t, n)
	e.sync(engine.RunOptions{})
	for g := range n {
		if err := e.tenant.UpdateGroup(groupID(1100+g), map[string]any{"description": "changed"}); err != nil {
			t.Fatal(err)
		}
	}
	runKilledAfter(t, e, 2)
	res, _ := e.sync(engine.RunOptions{})
	if res.Counts.Updated < n-2 || len(res.Failures) != 0 {
		t.Fatalf("after the kill: %+v, %+v", res.Counts, res.Failures)
	}
	for g := range n {
		if d := attr(e.group(groupID(1100+g)), "description"); d != "changed" {
			t.Errorf("group %d: description %q", g, d)
		}
	}
}

func countOf(log []string, s string) int {
	n := 0
	for _, l := range log {
		if l == s {
			n++
		}
	}
	return n
}

// A group whose member is a group of a later slice gets that member once
// the later slice has created it (or renamed it: its new DN exists only
// then): one cycle brings both in step.
func TestNestedGroupOfALaterSlice(t *testing.T) {
	defer engine.SetResolveSlice(4)()
	outer, mid, inner := groupID(1200), groupID(1201), groupID(1202)
	e := newGroupsEnv(t, 12, []map[string]any{
		{"id": outer, "displayName": "Outer", "mailNickname": "outer", "members": []any{userID(0), userID(1), userID(2), userID(3), inner}},
		{"id": mid, "displayName": "Mid", "mailNickname": "mid", "members": []any{userID(4), userID(5), userID(6), userID(7)}},
		{"id": inner, "displayName": "Inner", "mailNickname": "inner", "members": []any{userID(8), userID(9), userID(10), userID(11)}},
	}, nil)
	res, _ := e.sync(engine.RunOptions{})
	if res.Counts.Created != 3 || len(res.Failures) != 0 {
		t.Fatalf("first sync: %+v, %+v", res.Counts, res.Failures)
	}
	if got := members(e.group(outer)); !slices.Contains(got, strings.ToLower(e.group(inner).DN)) || len(got) != 5 {
		t.Fatalf("outer's members %v: inner missing", got)
	}
	// Inner renamed, and added to mid, in one delta cycle: mid's slice
	// comes first, and names inner by its new DN.
	must(t, e.tenant.UpdateGroup(inner, map[string]any{"displayName": "Inner renamed"}))
	must(t, e.tenant.AddMember(mid, inner))
	res, _ = e.sync(engine.RunOptions{})
	if len(res.Failures) != 0 {
		t.Fatalf("delta: %+v", res.Failures)
	}
	innerDN := strings.ToLower(e.group(inner).DN)
	if got := members(e.group(mid)); !slices.Contains(got, innerDN) {
		t.Fatalf("mid's members %v: want the renamed inner %s", got, innerDN)
	}
	if _, w := e.sync(engine.RunOptions{Full: true}); w != 0 {
		t.Errorf("a full cycle after it wrote %d times", w)
	}
}

// A member's keys are looked up in the order they are tried, each only
// for the members no key before it found: users synced from the domain,
// carrying their objectSid, immutable id and DN, are found by their
// objectSid alone; one whose objectSid is stale by its immutable id; one
// whose immutable id is stale too by its DN.
func TestMembersLookedUpKeyByKey(t *testing.T) {
	ad := openDir(t, directorytest.Options{})
	tf := baseTenant(t, ad, 5)
	us := ad.Users(t, 5)
	var ms []any
	for i, u := range us {
		b, err := directory.GUIDBytes(u.GUID)
		must(t, err)
		tf.Users[i]["onPremisesImmutableId"] = base64.StdEncoding.EncodeToString(b)
		tf.Users[i]["onPremisesDistinguishedName"] = u.DN
		ms = append(ms, userID(i))
	}
	tf.Users[3]["onPremisesSecurityIdentifier"] = "S-1-5-21-1-2-3-99999"
	tf.Users[4]["onPremisesSecurityIdentifier"] = "S-1-5-21-1-2-3-99998"
	tf.Users[4]["onPremisesImmutableId"] = base64.StdEncoding.EncodeToString([]byte("sixteen bytes!!!"))
	tf.Groups = append(tf.Groups, map[string]any{"id": groupID(1300), "displayName": "Keys", "mailNickname": "keys", "mailEnabled": false,
		"securityEnabled": true, "writebackConfiguration": map[string]any{"isEnabled": true}, "members": ms})
	e := newEnvOn(t, ad, tf, nil)
	ev := &events{Directory: e.dir}
	res, err := engine.New(e.cloud, ev, e.dir, e.store, e.cfg, nil).Run(context.Background(), engine.RunOptions{})
	if err != nil || res.Counts.Created != 1 || len(res.Failures) != 0 {
		t.Fatalf("sync: %v, %+v, %+v", err, res.Counts, res.Failures)
	}
	want := map[reconcile.KeyKind]int{reconcile.BySID: 5, reconcile.ByImmutableID: 2, reconcile.ByDN: 1}
	for _, kind := range []reconcile.KeyKind{reconcile.ByGUID, reconcile.BySID, reconcile.ByImmutableID, reconcile.ByDN} {
		if ev.looked[kind] != want[kind] {
			t.Errorf("looked up %d values by %s, want %d (all: %v)", ev.looked[kind], kind, want[kind], ev.looked)
		}
	}
	var dns []string
	for _, u := range us {
		dns = append(dns, strings.ToLower(u.DN))
	}
	slices.Sort(dns)
	if got := members(e.group(groupID(1300))); !slices.Equal(got, dns) {
		t.Errorf("members %v, want %v", got, dns)
	}
}

// Two groups whose names differ only where AD's sAMAccountName rules
// replace characters ("Twin+" and "Twin=", of ids with the same last
// twelve digits) would hold one sAMAccountName. In slices of their own,
// the later slice finds the name claimed by the earlier one: its group is
// not written, and says which group holds the name.
func TestSAMClaimedByAnEarlierSlice(t *testing.T) {
	defer engine.SetResolveSlice(4)()
	first, second := "6a1e0c55-0001-4f0e-9d3b-2c1a0b000001", "6a1e0c55-0002-4f0e-9d3b-2c1a0b000001"
	var groups []map[string]any
	for g, name := range map[int]string{0: "Twin+", 1: "Twin="} {
		var ms []any
		for j := range 4 {
			ms = append(ms, userID(g*4+j))
		}
		groups = append(groups, map[string]any{"id": []string{first, second}[g], "displayName": name, "mailNickname": fmt.Sprintf("twin%d", g), "members": ms})
	}
	e := newGroupsEnv(t, 8, groups, nil)
	res, _ := e.sync(engine.RunOptions{})
	if res.Counts.Created != 1 {
		t.Fatalf("created %d, want the first only: %+v", res.Counts.Created, res.Failures)
	}
	sts := e.statuses()
	if st := sts[first]; st.State != state.InStep || st.SAM != "Twin__2c1a0b000001" {
		t.Errorf("the first group: %+v", st)
	}
	if st := sts[second]; st.State != state.Failed || !strings.Contains(st.Message, `sAMAccountName "Twin__2c1a0b000001" is also the name of cloud group `+first) {
		t.Errorf("the second group: %+v", st)
	}
}
