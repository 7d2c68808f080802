package cloud

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestApplyGroups(t *testing.T) {
	yes := true
	base := func() *Snapshot {
		s := NewSnapshot()
		s.ApplyGroups(true, []GroupDelta{{ID: "g1", Values: &Group{DisplayName: "One", Description: "first"}, Present: GroupDisplayName | GroupDescription,
			MembersAdded: []ObjectRef{{"u1", TypeUser}, {"u2", TypeUser}}, OwnersAdded: []ObjectRef{{"u1", TypeUser}}}})
		return s
	}
	cases := []struct {
		name  string
		full  bool
		delta []GroupDelta
		check func(t *testing.T, s *Snapshot)
	}{
		{"absent fields keep their values", false, []GroupDelta{{ID: "g1", Values: &Group{DisplayName: "Uno"}, Present: GroupDisplayName}},
			func(t *testing.T, s *Snapshot) {
				if g := s.Groups["g1"]; g.DisplayName != "Uno" || g.Description != "first" {
					t.Fatalf("%+v", g)
				}
			}},
		{"present empty field clears", false, []GroupDelta{{ID: "g1", Present: GroupDescription}},
			func(t *testing.T, s *Snapshot) {
				if g := s.Groups["g1"]; g.Description != "" || g.DisplayName != "One" {
					t.Fatalf("%+v", g)
				}
			}},
		{"members added and removed", false, []GroupDelta{{ID: "g1", MembersAdded: []ObjectRef{{"g9", TypeGroup}}, MembersRemoved: []ObjectRef{{"u1", TypeUser}, {"nobody", TypeUser}}}},
			func(t *testing.T, s *Snapshot) {
				if got := s.Groups["g1"].Members.List(); !slices.Equal(got, []ObjectRef{{"g9", TypeGroup}, {"u2", TypeUser}}) {
					t.Fatalf("%v", got)
				}
			}},
		{"owners added and removed; none left is no set", false, []GroupDelta{{ID: "g1", OwnersAdded: []ObjectRef{{"u2", TypeUser}}, OwnersRemoved: []ObjectRef{{"u1", TypeUser}}}},
			func(t *testing.T, s *Snapshot) {
				if got := s.Groups["g1"].OwnerRefs().List(); !slices.Equal(got, []ObjectRef{{"u2", TypeUser}}) {
					t.Fatalf("owners %v", got)
				}
				s.ApplyGroups(false, []GroupDelta{{ID: "g1", OwnersRemoved: []ObjectRef{{"u2", TypeUser}}}})
				if g := s.Groups["g1"]; g.Owners != nil {
					t.Fatalf("no owners left, yet a set: %v", g.Owners.List())
				}
			}},
		{"soft delete keeps a tombstone", false, []GroupDelta{{ID: "g1", Removed: SoftDeleted}},
			func(t *testing.T, s *Snapshot) {
				if g := s.Groups["g1"]; g == nil || g.Removed != SoftDeleted || g.DisplayName != "One" {
					t.Fatalf("%+v", g)
				}
			}},
		{"restore after soft delete starts afresh", false, []GroupDelta{{ID: "g1", Removed: SoftDeleted}, {ID: "g1", Values: &Group{DisplayName: "One"}, Present: GroupDisplayName, MembersAdded: []ObjectRef{{"u2", TypeUser}}}},
			func(t *testing.T, s *Snapshot) {
				g := s.Groups["g1"]
				if g.Removed != NotRemoved || g.Description != "" || g.Members.Len() != 1 || g.OwnerRefs().Len() != 0 {
					t.Fatalf("%+v", g)
				}
			}},
		{"hard delete removes", false, []GroupDelta{{ID: "g1", Removed: HardDeleted}},
			func(t *testing.T, s *Snapshot) {
				if _, ok := s.Groups["g1"]; ok {
					t.Fatal("still there")
				}
			}},
		{"full round replaces everything", true, []GroupDelta{{ID: "g2", Values: &Group{Writeback: WritebackConfiguration{IsEnabled: &yes}}, Present: GroupWriteback}},
			func(t *testing.T, s *Snapshot) {
				if len(s.Groups) != 1 || s.Groups["g2"] == nil || !*s.Groups["g2"].Writeback.IsEnabled {
					t.Fatalf("%v", s.Groups)
				}
			}},
		{"removal of an unknown group is harmless", false, []GroupDelta{{ID: "gx", Removed: HardDeleted}},
			func(t *testing.T, s *Snapshot) {
				if len(s.Groups) != 1 {
					t.Fatalf("%v", s.Groups)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := base()
			s.ApplyGroups(tc.full, tc.delta)
			tc.check(t, s)
		})
		// TakeGroups: the same snapshot, and the round's lists let go.
		t.Run(tc.name+", taken", func(t *testing.T) {
			s := base()
			s.TakeGroups(tc.full, tc.delta)
			tc.check(t, s)
			for _, d := range tc.delta {
				if d.MembersAdded != nil || d.MembersRemoved != nil || d.OwnersAdded != nil || d.OwnersRemoved != nil {
					t.Errorf("%s: the round's lists are kept: %+v", d.ID, d)
				}
			}
		})
	}
}

func TestApplyUsers(t *testing.T) {
	s := NewSnapshot()
	s.ApplyUsers(true, []UserDelta{{ID: "u1", Values: &User{DisplayName: "A", OnPremisesSecurityIdentifier: "S-1-5-21-1"}, Present: UserDisplayName | UserOnPremisesSecurityIdentifier}, {ID: "u2"}})
	s.ApplyUsers(false, []UserDelta{{ID: "u1", Values: &User{DisplayName: "B"}, Present: UserDisplayName}, {ID: "u2", Removed: SoftDeleted}})
	if u := s.Users["u1"]; u.DisplayName != "B" || u.OnPremisesSecurityIdentifier != "S-1-5-21-1" {
		t.Fatalf("u1 = %+v", u)
	}
	// Soft-deleted: kept, with its keys, so that it stays a member.
	if u := s.Users["u2"]; u == nil || u.Removed != SoftDeleted {
		t.Fatalf("a soft-deleted user = %+v, want kept and marked", u)
	}
	// Restored: described in full again.
	s.ApplyUsers(false, []UserDelta{{ID: "u2", Values: &User{DisplayName: "back"}, Present: UserDisplayName}})
	if u := s.Users["u2"]; u.Removed != NotRemoved || u.DisplayName != "back" {
		t.Fatalf("restored user = %+v", u)
	}
	s.ApplyUsers(false, []UserDelta{{ID: "u2", Removed: HardDeleted}})
	if _, ok := s.Users["u2"]; ok {
		t.Fatal("a user deleted for good stays in the snapshot")
	}
}

// TestTakeTakesValues: Take makes the round's values of an object it
// describes anew the snapshot's object, with only the fields Graph sent,
// and lets the round's go; Apply copies them, and an object the snapshot
// held takes the fields sent, not the round's object.
func TestTakeTakesValues(t *testing.T) {
	groups := func() []GroupDelta {
		return []GroupDelta{
			{ID: "g1", Values: &Group{DisplayName: "One", Description: "not sent", Mail: "one@contoso.com"}, Present: GroupDisplayName | GroupMail},
			{ID: "g2", Values: &Group{DisplayName: "Two"}, Present: GroupDisplayName},
		}
	}
	users := func() []UserDelta {
		return []UserDelta{{ID: "u1", Values: &User{DisplayName: "A", UserPrincipalName: "not sent"}, Present: UserDisplayName}}
	}
	t.Run("take", func(t *testing.T) {
		s := NewSnapshot()
		s.Groups["g2"] = &Group{ID: "g2", DisplayName: "Old", Description: "kept"}
		gd, ud := groups(), users()
		sent, sentUser := gd[0].Values, ud[0].Values
		s.TakeGroups(false, gd)
		s.TakeUsers(false, ud)
		if g := s.Groups["g1"]; g != sent || g.ID != "g1" || g.DisplayName != "One" || g.Mail != "one@contoso.com" || g.Description != "" {
			t.Errorf("a new group = %p %+v, want the round's %p with the fields sent", g, g, sent)
		}
		if g := s.Groups["g2"]; g.DisplayName != "Two" || g.Description != "kept" {
			t.Errorf("a group held = %+v, want its fields updated", g)
		}
		if u := s.Users["u1"]; u != sentUser || u.ID != "u1" || u.DisplayName != "A" || u.UserPrincipalName != "" {
			t.Errorf("a new user = %p %+v, want the round's %p with the fields sent", u, u, sentUser)
		}
		if gd[0].Values != nil || ud[0].Values != nil {
			t.Errorf("the round keeps the values taken: %+v, %+v", gd[0].Values, ud[0].Values)
		}
	})
	t.Run("apply", func(t *testing.T) {
		s := NewSnapshot()
		gd, ud := groups(), users()
		s.ApplyGroups(false, gd)
		s.ApplyUsers(false, ud)
		if s.Groups["g1"] == gd[0].Values || s.Users["u1"] == ud[0].Values {
			t.Fatal("Apply shares the round's values with the snapshot")
		}
		if gd[0].Values.Description != "not sent" || s.Groups["g1"].Description != "" || s.Users["u1"].UserPrincipalName != "" {
			t.Errorf("Apply changed the round, or took a field not sent: %+v, %+v, %+v", gd[0].Values, s.Groups["g1"], s.Users["u1"])
		}
	})
}

func TestTypeFromOData(t *testing.T) {
	for in, want := range map[string]ObjectType{"#microsoft.graph.user": TypeUser, "#microsoft.graph.group": TypeGroup,
		"#microsoft.graph.orgContact": TypeOrgContact, "#microsoft.graph.application": TypeUnknown, "": TypeUnknown, "user": TypeUnknown} {
		if got := TypeFromOData(in); got != want {
			t.Errorf("TypeFromOData(%q) = %q, want %q", in, got, want)
		}
	}
}

// An ObjectType is one byte in memory and Graph's name on disk: a state
// file written when it was a string reads the same.
func TestObjectTypeText(t *testing.T) {
	g := Group{ID: "g", Members: RefsFrom(map[string]ObjectType{"u": TypeUser, "s": TypeServicePrincipal, "x": TypeUnknown})}
	b, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"u":"user"`) || !strings.Contains(string(b), `"s":"servicePrincipal"`) {
		t.Fatalf("%s", b)
	}
	var back Group
	if err := json.Unmarshal([]byte(`{"id":"g","members":{"u":"user","g":"group","c":"orgContact","d":"device","n":"somethingNew"}}`), &back); err != nil {
		t.Fatal(err)
	}
	want := map[string]ObjectType{"u": TypeUser, "g": TypeGroup, "c": TypeOrgContact, "d": TypeDevice, "n": TypeUnknown}
	if !maps.Equal(maps.Collect(back.Members.All()), want) {
		t.Fatalf("%v", back.Members)
	}
	for s, want := range map[string]ObjectType{"#microsoft.graph.user": TypeUser, "#microsoft.graph.device": TypeDevice, "#microsoft.graph.": TypeUnknown,
		"user": TypeUnknown, "": TypeUnknown, "#microsoft.graph.application": TypeUnknown} {
		if got := TypeFromOData(s); got != want {
			t.Errorf("TypeFromOData(%q) = %v, want %v", s, got, want)
		}
	}
}

// TakeGroups returns the member changes of every group the snapshot held
// before a round that is not full and still holds, as one change however
// often the round names it; not those of a group the round made anew (new
// or restored: a state compares its members whole).
func TestTakeGroupsReturnsMemberDeltas(t *testing.T) {
	u := func(id string) ObjectRef { return ObjectRef{ID: id, Type: TypeUser} }
	base := func() *Snapshot {
		s := NewSnapshot()
		s.ApplyGroups(true, []GroupDelta{{ID: "held", MembersAdded: []ObjectRef{u("u1"), u("u2")}}, {ID: "soft"}, {ID: "twice"}, {ID: "gone"}, {ID: "quiet"}})
		s.ApplyGroups(false, []GroupDelta{{ID: "soft", Removed: SoftDeleted}})
		return s
	}
	round := []GroupDelta{
		{ID: "held", MembersAdded: []ObjectRef{u("u3")}, MembersRemoved: []ObjectRef{u("u1")}},
		{ID: "new", MembersAdded: []ObjectRef{u("u1")}},
		{ID: "new", MembersAdded: []ObjectRef{u("u2")}},
		{ID: "soft", MembersAdded: []ObjectRef{u("u2")}},
		{ID: "twice", MembersAdded: []ObjectRef{u("u1"), u("u2")}},
		{ID: "twice", MembersAdded: []ObjectRef{u("u3")}, MembersRemoved: []ObjectRef{u("u1")}},
		{ID: "gone", Removed: HardDeleted},
		{ID: "quiet", Values: &Group{DisplayName: "Quiet"}, Present: GroupDisplayName},
	}
	got := base().TakeGroups(false, slices.Clone(round))
	want := map[string]MemberDelta{
		"held":  {Added: []ObjectRef{u("u3")}, Removed: []ObjectRef{u("u1")}},
		"twice": {Added: []ObjectRef{u("u2"), u("u3")}, Removed: []ObjectRef{u("u1")}},
		"quiet": {},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("a delta round's member changes: %+v, want %+v", got, want)
	}
	// Applied to what the snapshot held, each change gives the members
	// the round gave.
	s := base()
	s.ApplyGroups(false, slices.Clone(round))
	for id, d := range got {
		held := base().Groups[id].Members
		held.Apply(d.Added, d.Removed)
		if !reflect.DeepEqual(held.List(), s.Groups[id].Members.List()) {
			t.Errorf("%s: its change gives %v, the round %v", id, held.List(), s.Groups[id].Members.List())
		}
	}
	if got := base().TakeGroups(true, slices.Clone(round)); got != nil {
		t.Errorf("a full round's member changes: %+v, want none", got)
	}
}

// A group's members given whole (Members, as Graph's reader gives those
// of a full round) are its set: TakeGroups takes the set itself and lets
// the round's copy go; ApplyGroups keeps the round's own. A whole set on
// a group the snapshot held replaces its members, with no member change
// to save from (the state compares the set with its rows instead).
func TestMembersGivenWhole(t *testing.T) {
	u := func(id string) ObjectRef { return ObjectRef{ID: id, Type: TypeUser} }
	set := RefsOf(u("u2"), u("u1"))
	round := []GroupDelta{{ID: "g1", Values: &Group{DisplayName: "One"}, Present: GroupDisplayName, Members: set}}
	s := NewSnapshot()
	if got := s.TakeGroups(true, round); got != nil {
		t.Errorf("a full round's member changes: %+v", got)
	}
	if got := s.Groups["g1"].Members.List(); !slices.Equal(got, []ObjectRef{u("u1"), u("u2")}) {
		t.Errorf("members %v", got)
	}
	if !round[0].Members.IsZero() {
		t.Error("TakeGroups kept the round's set")
	}

	round = []GroupDelta{{ID: "g1", Members: RefsOf(u("u3"))}, {ID: "g2", Members: RefsOf(u("u4"))}}
	kept := NewSnapshot()
	kept.ApplyGroups(true, []GroupDelta{{ID: "g1", MembersAdded: []ObjectRef{u("u1")}}})
	kept.ApplyGroups(false, round)
	if got := kept.Groups["g1"].Members.List(); !slices.Equal(got, []ObjectRef{u("u3")}) || kept.Groups["g2"].Members.Len() != 1 {
		t.Errorf("members given whole: %v, %v", got, kept.Groups["g2"].Members.List())
	}
	if round[0].Members.Len() != 1 {
		t.Error("ApplyGroups took the round's set")
	}
	kept.Groups["g1"].Members.Set("u9", TypeUser)
	if round[0].Members.Has("u9") {
		t.Error("the snapshot's set shares the round's")
	}
	taken := NewSnapshot()
	taken.ApplyGroups(true, []GroupDelta{{ID: "g1", MembersAdded: []ObjectRef{u("u1")}}})
	if got := taken.TakeGroups(false, []GroupDelta{{ID: "g1", Members: RefsOf(u("u3"))}}); len(got) != 0 {
		t.Errorf("member changes of a group given whole: %+v, want none", got)
	}
}
