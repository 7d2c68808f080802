package reconcile

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/policy"
)

const (
	ou  = "OU=Cloud Groups,DC=contoso,DC=test"
	id1 = "6a1e0c55-0001-4f0e-9d3b-2c1a0b9f8e7d"
	id2 = "6a1e0c55-0002-4f0e-9d3b-2c1a0b9f8e7d"
	id3 = "6a1e0c55-0003-4f0e-9d3b-2c1a0b9f8e7d"
)

const qou = "OU=Quarantine,DC=contoso,DC=test"

// errAny stands for "some problem, whatever its error".
var errAny = errors.New("any")

// inQuarantine is d as it is after a quarantine.
func inQuarantine(d Desired) ADGroup {
	a := inAD(d)
	a.DN = "CN=" + policy.EscapeRDNValue(d.Group.CN) + "," + qou
	return a
}

var managed = []string{"sAMAccountName", "groupType", "displayName", "description", "adminDescription"}

func desired(id, name string, members ...*Member) Desired {
	cn := policy.CommonName(policy.NamingDisplayName, id, name)
	return Desired{Group: &policy.DesiredGroup{CloudID: id, Anchor: policy.Anchor(id), CN: cn, DN: policy.GroupDN(cn, ou),
		Attrs: map[string][]string{"sAMAccountName": {policy.SAMAccountName(cn)}, "groupType": {"-2147483640"},
			"displayName": {name}, "description": nil, "adminDescription": {policy.Anchor(id)}}}, Members: members}
}

// inAD is the AD group that d would be once written.
func inAD(d Desired, members ...string) ADGroup {
	attrs := map[string][]string{}
	for k, v := range d.Group.Attrs {
		if len(v) > 0 {
			attrs[k] = v
		}
	}
	return ADGroup{DN: d.Group.DN, Anchor: d.Group.Anchor, Attrs: attrs, Members: members}
}

// changed is d planned from its member changes: its Members are those
// added, removed those removed.
func changed(d Desired, removed ...*Member) Desired {
	d.Changes = &MemberChanges{Removed: removed}
	return d
}

// unread is d's AD group read without its members.
func unread(d Desired) ADGroup {
	a := inAD(d)
	a.MembersUnread = true
	return a
}

func user(n int) *Member { return &Member{DN: fmt.Sprintf("CN=user%d,CN=Users,DC=contoso,DC=test", n)} }

func users(n int) []*Member {
	var out []*Member
	for i := range n {
		out = append(out, user(i))
	}
	return out
}

func dns(ms []*Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.DN)
	}
	return out
}

func summary(p Plan) string {
	var parts []string
	for _, op := range p.Ops {
		s := string(op.Action) + " " + op.CloudID[:13]
		if len(op.Members) > 0 {
			s += fmt.Sprintf(" %dm", len(op.Members))
		}
		for _, c := range op.Changes {
			if op.Action == Update {
				s += " " + c.Name
			}
		}
		if op.NewRDN != "" {
			s += " " + op.NewRDN
		}
		if op.NewParent != "" {
			s += " ->" + op.NewParent
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func TestMake(t *testing.T) {
	opts := Options{TargetOU: ou, Managed: managed, BatchSize: 1000, DeleteThreshold: 500}
	d1 := desired(id1, "Marketing", user(1), user(2))
	renamed := desired(id1, "Marketing EMEA", user(1), user(2))
	cases := []struct {
		name      string
		desired   []Desired
		actual    []ADGroup
		undesired map[string]Disposition
		opts      func(*Options)
		want      string
		problem   error
		unchanged int
	}{
		{name: "create with members", desired: []Desired{d1}, want: "create 6a1e0c55-0001 2m"},
		{name: "in step: nothing to do", desired: []Desired{d1}, actual: []ADGroup{inAD(d1, dns(d1.Members)...)}, unchanged: 1},
		{name: "member DNs compare case-insensitively", desired: []Desired{d1},
			actual: []ADGroup{inAD(d1, strings.ToUpper(user(1).DN), user(2).DN)}, unchanged: 1},
		{name: "rename", desired: []Desired{renamed}, actual: []ADGroup{inAD(d1, dns(d1.Members)...)},
			want: `rename 6a1e0c55-0001 CN=Marketing EMEA_2c1a0b9f8e7d; update 6a1e0c55-0001 sAMAccountName displayName`},
		{name: "case-only rename", desired: []Desired{desired(id1, "MARKETING", user(1), user(2))}, actual: []ADGroup{inAD(d1, dns(d1.Members)...)},
			want: `rename 6a1e0c55-0001 CN=MARKETING_2c1a0b9f8e7d; update 6a1e0c55-0001 sAMAccountName displayName`},
		{name: "one member more: one small modify", desired: []Desired{desired(id1, "Marketing", users(5001)...)},
			actual: []ADGroup{inAD(d1, dns(users(5000))...)}, want: "add-members 6a1e0c55-0001 1m"},
		{name: "members in batches", desired: []Desired{desired(id1, "Marketing", users(2500)...)}, actual: []ADGroup{inAD(d1)},
			want: "add-members 6a1e0c55-0001 1000m; add-members 6a1e0c55-0001 1000m; add-members 6a1e0c55-0001 500m"},
		{name: "hand-added member removed", desired: []Desired{d1}, actual: []ADGroup{inAD(d1, user(1).DN, user(2).DN, user(9).DN)},
			want: "remove-members 6a1e0c55-0001 1m"},
		{name: "description cleared", desired: []Desired{d1}, actual: []ADGroup{func() ADGroup {
			a := inAD(d1, dns(d1.Members)...)
			a.Attrs["description"] = []string{"old"}
			return a
		}()}, want: "update 6a1e0c55-0001 description"},
		{name: "groupType compared by value", desired: []Desired{d1}, actual: []ADGroup{func() ADGroup {
			a := inAD(d1, dns(d1.Members)...)
			a.Attrs["groupType"] = []string{"-02147483640"}
			return a
		}()}, unchanged: 1},
		{name: "nested group created in the same run is added after its creation",
			desired: []Desired{desired(id1, "Outer", &Member{Anchor: policy.Anchor(id2)}), desired(id2, "Inner", user(1))},
			want:    "create 6a1e0c55-0001; create 6a1e0c55-0002 1m; add-members 6a1e0c55-0001 1m"},
		{name: "admin moved it within the OU: renamed in place", desired: []Desired{renamed}, actual: []ADGroup{func() ADGroup {
			a := inAD(d1, dns(d1.Members)...)
			a.DN = "CN=Marketing_2c1a0b9f8e7d,OU=Sub," + ou
			return a
		}()}, want: `rename 6a1e0c55-0001 CN=Marketing EMEA_2c1a0b9f8e7d; update 6a1e0c55-0001 sAMAccountName displayName`},
		{name: "outside the target OU: left alone", desired: []Desired{d1}, actual: []ADGroup{func() ADGroup {
			a := inAD(d1)
			a.DN = "CN=Marketing_2c1a0b9f8e7d,OU=Elsewhere,DC=contoso,DC=test"
			return a
		}()}, problem: ErrNotOwned},
		{name: "two AD groups with one anchor: both left alone", desired: []Desired{d1},
			actual: []ADGroup{inAD(d1), func() ADGroup { a := inAD(d1); a.DN = "CN=copy," + ou; return a }()}, problem: ErrNotOwned},
		{name: "bad anchor", actual: []ADGroup{{DN: "CN=x," + ou, Anchor: "Group_nope"}}, problem: ErrNotOwned},
		{name: "a stranger's group outside the OU: ignored", actual: []ADGroup{func() ADGroup {
			a := inAD(desired(id2, "theirs"))
			a.DN = "CN=theirs,OU=Elsewhere,DC=contoso,DC=test"
			return a
		}()}},
		{name: "cloud group gone: deleted", actual: []ADGroup{inAD(d1)}, want: "delete 6a1e0c55-0001"},
		{name: "kept by disposition", actual: []ADGroup{inAD(d1)}, undesired: map[string]Disposition{id1: {Fate: Keep, Reason: "soft-deleted"}}},
		{name: "quarantined: moved, members cleared", actual: []ADGroup{inAD(d1, user(1).DN, user(2).DN)},
			undesired: map[string]Disposition{id1: {Fate: Quarantine, Reason: "soft-deleted"}}, opts: func(o *Options) { o.QuarantineOU = qou },
			want: "move 6a1e0c55-0001 ->" + qou + "; remove-members 6a1e0c55-0001 2m"},
		{name: "already quarantined: nothing", actual: []ADGroup{inQuarantine(d1)},
			undesired: map[string]Disposition{id1: {Fate: Quarantine}}, opts: func(o *Options) { o.QuarantineOU = qou }},
		{name: "quarantine without an OU: kept, reported", actual: []ADGroup{inAD(d1)},
			undesired: map[string]Disposition{id1: {Fate: Quarantine}}, problem: errAny},
		{name: "wanted again: back from quarantine, members restored", desired: []Desired{d1}, actual: []ADGroup{inQuarantine(d1)},
			opts: func(o *Options) { o.QuarantineOU = qou }, want: "move 6a1e0c55-0001 ->" + ou + "; add-members 6a1e0c55-0001 2m"},
		{name: "moved out by an admin, move_back on", desired: []Desired{d1}, actual: []ADGroup{func() ADGroup {
			a := inAD(d1, dns(d1.Members)...)
			a.DN = "CN=Marketing_2c1a0b9f8e7d,OU=Elsewhere,DC=contoso,DC=test"
			return a
		}()}, opts: func(o *Options) { o.MoveBack = true }, want: "move 6a1e0c55-0001 ->" + ou},
		// By changes: the AD group's members are not read, only the changed
		// members are planned.
		{name: "by changes: one added, one removed, each one value", desired: []Desired{changed(desired(id1, "Marketing", user(7)), user(3))},
			actual: []ADGroup{unread(d1)}, want: "remove-members 6a1e0c55-0001 1m; add-members 6a1e0c55-0001 1m"},
		{name: "by changes: removed and added back: only added", desired: []Desired{changed(desired(id1, "Marketing", user(3)), user(3))},
			actual: []ADGroup{unread(d1)}, want: "add-members 6a1e0c55-0001 1m"},
		{name: "by changes: renamed too", desired: []Desired{changed(desired(id1, "Marketing EMEA", user(7)))},
			actual: []ADGroup{unread(d1)}, want: `rename 6a1e0c55-0001 CN=Marketing EMEA_2c1a0b9f8e7d; update 6a1e0c55-0001 sAMAccountName displayName; add-members 6a1e0c55-0001 1m`},
		{name: "by changes: no member changed, attributes in step", desired: []Desired{changed(desired(id1, "Marketing"))},
			actual: []ADGroup{unread(d1)}, unchanged: 1},
		{name: "by changes: no AD group: not created with some members", desired: []Desired{changed(desired(id1, "Marketing", user(7)))}, problem: errAny},
		{name: "by changes: in quarantine: not moved back with some members", desired: []Desired{changed(desired(id1, "Marketing", user(7)))},
			actual: []ADGroup{inQuarantine(d1)}, opts: func(o *Options) { o.QuarantineOU = qou }, problem: errAny},
		{name: "percentage threshold", actual: []ADGroup{inAD(d1), inAD(desired(id2, "b")), inAD(desired(id3, "c"))},
			undesired: map[string]Disposition{id1: {Fate: Keep}}, opts: func(o *Options) { o.DeleteThresholdPercent = 50 }, problem: ErrThresholdExceeded},
		{name: "deleted by disposition", actual: []ADGroup{inAD(d1)}, undesired: map[string]Disposition{id1: {Fate: DeleteIt, Reason: "hard"}}, want: "delete 6a1e0c55-0001"},
		{name: "over the threshold: no deletes", actual: []ADGroup{inAD(d1), inAD(desired(id2, "b")), inAD(desired(id3, "c"))}, desired: []Desired{desired(id1, "Marketing")},
			opts: func(o *Options) { o.DeleteThreshold = 1 }, problem: ErrThresholdExceeded, unchanged: 1},
		{name: "allowed through", actual: []ADGroup{inAD(desired(id2, "b")), inAD(desired(id3, "c"))},
			opts: func(o *Options) { o.DeleteThreshold = 1; o.AllowDeletes = 2 }, want: "delete 6a1e0c55-0002; delete 6a1e0c55-0003"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := opts
			if tc.opts != nil {
				tc.opts(&o)
			}
			p := Make(tc.desired, tc.actual, tc.undesired, o)
			if got := summary(p); got != tc.want {
				t.Errorf("plan:\n got  %s\n want %s", got, tc.want)
			}
			var gotErr error
			if tc.problem == errAny && len(p.Problems) == 0 {
				t.Error("no problem reported")
			}
			for _, pr := range p.Problems {
				gotErr = pr.Err
				if tc.problem == nil {
					t.Errorf("unexpected problem: %s", pr.Message)
				}
			}
			if tc.problem != nil && tc.problem != errAny && !errors.Is(gotErr, tc.problem) {
				t.Errorf("problems %+v, want %v", p.Problems, tc.problem)
			}
			if p.Unchanged != tc.unchanged {
				t.Errorf("unchanged = %d, want %d", p.Unchanged, tc.unchanged)
			}
			// In slices of one group, in either order: the same plan (a
			// nested group planned before the group it names, or after).
			for _, backward := range []bool{false, true} {
				if sliced := makeSliced(tc.desired, tc.actual, tc.undesired, o, backward); !samePlan(sliced, p) {
					t.Errorf("planned one group at a time (backward %v):\n got  %s %v\n want %s %v", backward, summary(sliced), messages(sliced), summary(p), messages(p))
				}
			}
		})
	}
}

// makeSliced is Make, given one group at a time (last first when
// backward), each slice's operations held as Hold says.
func makeSliced(desired []Desired, actual []ADGroup, undesired map[string]Disposition, o Options, backward bool) Plan {
	var groups []*policy.DesiredGroup
	for _, d := range desired {
		groups = append(groups, d.Group)
	}
	if backward {
		desired = slices.Clone(desired)
		slices.Reverse(desired)
	}
	mk := NewMaker(groups, actual, undesired, o)
	var ops [][]Op
	for _, d := range desired {
		ops = append(ops, mk.Hold(mk.Converge([]Desired{d})))
	}
	return mk.Finish(ops...)
}

func messages(p Plan) []string {
	var out []string
	for _, pr := range p.Problems {
		out = append(out, pr.CloudID+": "+pr.Message)
	}
	slices.Sort(out)
	return out
}

// samePlan: the same operations in the same order, the same problems in
// any order, the same members not written and groups unchanged.
func samePlan(a, b Plan) bool {
	return reflect.DeepEqual(a.Ops, b.Ops) && slices.Equal(messages(a), messages(b)) && reflect.DeepEqual(a.NotWritten, b.NotWritten) &&
		a.Unchanged == b.Unchanged && reflect.DeepEqual(a.HeldBack, b.HeldBack)
}

// A Maker plans each group it was told of once: a group it was not told
// of, or given twice, is reported and not planned (its DN was not
// reserved for nested groups, or its operations would be doubled).
func TestMakerPlansEachAnnouncedGroupOnce(t *testing.T) {
	o := Options{TargetOU: ou, Managed: managed, DeleteThreshold: 500}
	d1, d2 := desired(id1, "Marketing", user(1)), desired(id2, "Sales", user(2))
	mk := NewMaker([]*policy.DesiredGroup{d1.Group}, nil, nil, o)
	p := mk.Finish(mk.Converge([]Desired{d1, d2}), mk.Converge([]Desired{d1}))
	if got, want := summary(p), "create 6a1e0c55-0001 1m"; got != want {
		t.Errorf("plan %s, want %s", got, want)
	}
	if got := messages(p); len(got) != 2 || !strings.HasPrefix(got[0], id1) || !strings.HasPrefix(got[1], id2) {
		t.Errorf("problems %q, want one for the group given twice and one for the group not announced", got)
	}
}

func ExampleMake() {
	cn := policy.CommonName(policy.NamingDisplayName, id1, "Marketing")
	want := Desired{Group: &policy.DesiredGroup{CloudID: id1, Anchor: policy.Anchor(id1), CN: cn, DN: policy.GroupDN(cn, ou),
		Attrs: map[string][]string{"displayName": {"Marketing"}}},
		Members: []*Member{{DN: "CN=Adele Vance,CN=Users,DC=contoso,DC=test"}}}
	have := ADGroup{DN: "CN=Marketing_2c1a0b9f8e7d," + ou, Anchor: policy.Anchor(id1),
		Attrs: map[string][]string{"displayName": {"Marketing (old)"}}}
	p := Make([]Desired{want}, []ADGroup{have}, nil, Options{TargetOU: ou, Managed: []string{"displayName"}})
	for _, op := range p.Ops {
		fmt.Println(op.Action, op.DN, op.Changes, op.Members)
	}
	// Output:
	// update CN=Marketing_2c1a0b9f8e7d,OU=Cloud Groups,DC=contoso,DC=test [{displayName [Marketing (old)] [Marketing]}] []
	// add-members CN=Marketing_2c1a0b9f8e7d,OU=Cloud Groups,DC=contoso,DC=test [] [CN=Adele Vance,CN=Users,DC=contoso,DC=test]
}

// Each operation knows where it leaves its group, and whether it puts it
// in quarantine (DNs compared as AD compares them).
func TestOpFinalDNAndQuarantine(t *testing.T) {
	const dn, q = `CN=Sales\, EMEA,OU=Cloud,DC=contoso,DC=test`, "OU=Quarantine,DC=contoso,DC=test"
	for _, tc := range []struct {
		op         Op
		final      string
		quarantine bool
	}{
		{Op{Action: Update, DN: dn}, dn, false},
		{Op{Action: Rename, DN: dn, NewRDN: "CN=Sales"}, "CN=Sales,OU=Cloud,DC=contoso,DC=test", false},
		{Op{Action: Move, DN: dn, NewParent: q}, `CN=Sales\, EMEA,` + q, true},
		{Op{Action: Move, DN: dn, NewParent: "ou=QUARANTINE, dc=contoso, dc=test"}, `CN=Sales\, EMEA,ou=QUARANTINE, dc=contoso, dc=test`, true},
		{Op{Action: Move, DN: dn, NewParent: "OU=Teams,DC=contoso,DC=test"}, `CN=Sales\, EMEA,OU=Teams,DC=contoso,DC=test`, false},
		{Op{Action: Delete, DN: dn}, "", false},
	} {
		if got := tc.op.FinalDN(); got != tc.final {
			t.Errorf("%s: FinalDN %q, want %q", tc.op.Action, got, tc.final)
		}
		if got := tc.op.Quarantines(q); got != tc.quarantine {
			t.Errorf("%s to %q: Quarantines %v", tc.op.Action, tc.op.NewParent, got)
		}
	}
}

// Hold keeps back, until Finish, a member value naming a group that a
// later slice renames or creates: written with its slice, it would name
// an object not there yet. Once that group's slice is planned, nothing
// naming it waits.
func TestHoldWaitsForGroupsOfLaterSlices(t *testing.T) {
	o := Options{TargetOU: ou, Managed: managed, DeleteThreshold: 500}
	innerOld := desired(id2, "Inner", user(2))
	inner := desired(id2, "Inner renamed", user(2))
	created := desired(id3, "Created", user(3))
	outer := desired(id1, "Outer", user(1), &Member{Anchor: inner.Group.Anchor}, &Member{Anchor: created.Group.Anchor})
	actual := []ADGroup{inAD(innerOld, user(2).DN)}
	mk := NewMaker([]*policy.DesiredGroup{outer.Group, inner.Group, created.Group}, actual, nil, o)

	first := mk.Hold(mk.Converge([]Desired{outer}))
	if got, want := summary(Plan{Ops: first}), "create 6a1e0c55-0001 1m"; got != want {
		t.Fatalf("first slice: %s, want %s (the renamed and the created group wait)", got, want)
	}
	if first[0].Members[0] != user(1).DN {
		t.Fatalf("first slice writes %v", first[0].Members)
	}
	second := mk.Hold(mk.Converge([]Desired{inner, created}))
	p := mk.Finish(first, second)
	want := "create 6a1e0c55-0001 1m; create 6a1e0c55-0003 1m; rename 6a1e0c55-0002 CN=Inner renamed_2c1a0b9f8e7d; " +
		"update 6a1e0c55-0002 sAMAccountName displayName; add-members 6a1e0c55-0001 1m; add-members 6a1e0c55-0001 1m"
	if got := summary(p); got != want {
		t.Fatalf("plan:\n got  %s\n want %s", got, want)
	}
	added := slices.Concat(p.Ops[len(p.Ops)-2].Members, p.Ops[len(p.Ops)-1].Members)
	slices.Sort(added)
	if wantMembers := []string{created.Group.DN, "CN=Inner renamed_2c1a0b9f8e7d," + ou}; !slices.Equal(added, wantMembers) {
		t.Errorf("held members %v, want the groups' final DNs %v", added, wantMembers)
	}
	// Planned after the groups it names, nothing of a slice waits.
	mk = NewMaker([]*policy.DesiredGroup{outer.Group, inner.Group, created.Group}, actual, nil, o)
	mk.Hold(mk.Converge([]Desired{inner, created}))
	if ops := mk.Hold(mk.Converge([]Desired{outer})); summary(Plan{Ops: ops}) != "create 6a1e0c55-0001 2m; add-members 6a1e0c55-0001 1m" {
		t.Errorf("outer planned last: %s (a group created by the plan is added after the creates, in its slice)", summary(Plan{Ops: ops}))
	}
	if rest := mk.Finish(); len(rest.Ops) != 0 {
		t.Errorf("held: %s", summary(rest))
	}
}

// appendLower lower-cases as strings.ToLower does, for the keys it looks
// up: ASCII, other scripts, and invalid UTF-8 alike.
func TestAppendLower(t *testing.T) {
	for _, s := range []string{"", "CN=Ärger,OU=Straße,DC=X", "ΣΊΣΥΦΟΣ", "İstanbul", "a\xffB\xc3", "CN=\\2C Mixed,DC=Test"} {
		if got := string(appendLower(nil, s)); got != strings.ToLower(s) {
			t.Errorf("appendLower(%q) = %q, want %q", s, got, strings.ToLower(s))
		}
	}
}

// A group the plan creates may be given in parts: the group with its
// first members, then more (Desired.More), each part added to it, and
// each part's members not written kept with the others. More members of
// a group found in AD, or given before the group, are refused; those of
// a group refused are dropped (its problem says why).
func TestMakerTakesMoreMembersOfAGroupItCreates(t *testing.T) {
	o := Options{TargetOU: ou, Managed: managed, DeleteThreshold: 500, BatchSize: 2}
	first := desired(id1, "Marketing", users(3)...)
	first.NotWritten = []MemberProblem{{CloudID: "cloud-only-1", Reason: policy.MemberCloudOnly}}
	more := func(d Desired, ms ...*Member) Desired {
		return Desired{Group: d.Group, Members: ms, More: true}
	}
	part2 := more(first, user(3), user(4))
	part2.NotWritten = []MemberProblem{{CloudID: "cloud-only-2", Reason: policy.MemberCloudOnly}}
	mk := NewMaker([]*policy.DesiredGroup{first.Group}, nil, nil, o)
	if !mk.Creates(id1) || mk.Creates(id2) {
		t.Fatalf("creates %s: %v, %s: %v", id1, mk.Creates(id1), id2, mk.Creates(id2))
	}
	p := mk.Finish(mk.Converge([]Desired{first}), mk.Converge([]Desired{part2}), mk.Converge([]Desired{more(first, user(5))}))
	if got, want := summary(p), "create 6a1e0c55-0001 2m; add-members 6a1e0c55-0001 1m; add-members 6a1e0c55-0001 2m; add-members 6a1e0c55-0001 1m"; got != want {
		t.Errorf("plan %s, want %s", got, want)
	}
	var added []string
	for _, op := range p.Ops {
		added = append(added, op.Members...)
		if op.DN != first.Group.DN {
			t.Errorf("%s written to %s, want %s", op.Action, op.DN, first.Group.DN)
		}
	}
	if want := dns(users(6)); !slices.Equal(added, want) {
		t.Errorf("members written %v, want %v", added, want)
	}
	if got := p.NotWritten[id1]; len(got) != 2 || got[0].CloudID != "cloud-only-1" || got[1].CloudID != "cloud-only-2" {
		t.Errorf("members not written %v, want both parts'", got)
	}
	if len(p.Problems) != 0 {
		t.Errorf("problems %v", messages(p))
	}

	// More members of a group found in AD (compared in full, never in
	// parts), or before the group: refused, and nothing written by them.
	second := desired(id2, "Sales", user(1))
	mk = NewMaker([]*policy.DesiredGroup{first.Group, second.Group}, []ADGroup{inAD(second, user(1).DN)}, nil, o)
	if mk.Creates(id2) {
		t.Errorf("creates %s, found in AD", id2)
	}
	early := mk.Converge([]Desired{more(first, user(4))})
	p = mk.Finish(early, mk.Converge([]Desired{second}), mk.Converge([]Desired{more(second, user(2))}))
	if got := summary(p); got != "" {
		t.Errorf("plan %s, want nothing", got)
	}
	if got := messages(p); len(got) != 2 || !strings.HasPrefix(got[0], id1) || !strings.HasPrefix(got[1], id2) {
		t.Errorf("problems %q, want one for each part refused", got)
	}

	// A group refused (created outside the OUs): its parts are dropped.
	outside := desired(id1, "Marketing", user(1))
	outside.Group.DN = "CN=Marketing,OU=Elsewhere,DC=contoso,DC=test"
	mk = NewMaker([]*policy.DesiredGroup{outside.Group}, nil, nil, o)
	p = mk.Finish(mk.Converge([]Desired{outside}), mk.Converge([]Desired{more(outside, user(2))}))
	if got := summary(p); got != "" || len(p.Problems) != 1 || mk.Creates(id1) {
		t.Errorf("plan %q, problems %q, creates %v", got, messages(p), mk.Creates(id1))
	}
}

// A change of scope is planned as AD allows it: after the member
// removals, before the adds, through universal between global and domain
// local; a member group the plan renames is compared, and removed, by the
// DN it will have then (removals are written after renames).
func TestScopeChangesAndMembersThatMove(t *testing.T) {
	g := desired(id1, "Share")
	g.Group.Attrs["groupType"] = []string{"-2147483644"} // domain local now wanted
	sub := desired(id2, "Sub renamed")
	subAD := inAD(desired(id2, "Sub"))
	user := "CN=u1,DC=contoso,DC=test"
	g.Members = []*Member{{DN: user}}
	ad := inAD(desired(id1, "Share"), subAD.DN) // global now, holding Sub under its old name
	ad.Attrs["groupType"] = []string{"-2147483646"}
	p := Make([]Desired{g, sub}, []ADGroup{ad, subAD}, nil, Options{TargetOU: ou, Managed: managed})
	var got []string
	for _, op := range p.Ops {
		s := string(op.Action) + " " + op.CloudID[9:13]
		if op.Action == ChangeScope {
			s += " " + op.Changes[0].Old[0] + ">" + op.Changes[0].New[0]
		}
		if op.Action == RemoveMembers || op.Action == AddMembers {
			s += " " + strings.Join(op.Members, ";")
		}
		got = append(got, s)
	}
	want := []string{"rename 0002", "update 0002", "remove-members 0001 " + policy.GroupDN(sub.Group.CN, ou),
		"change-scope 0001 -2147483646>-2147483640", "change-scope 0001 -2147483640>-2147483644", "add-members 0001 " + user}
	if !slices.Equal(got, want) {
		t.Fatalf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
