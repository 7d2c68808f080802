package graph

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/graphsim"
	"github.com/groupwriteback/groupwriteback/internal/secret"
)

func TestFullReadMatchesTenant(t *testing.T) {
	s := startSim(t, testTenant(), graphsim.Faults{})
	r := newReader()
	r.sync(t, s.client)
	if !r.lastGroup.Full || !r.lastUsers.Full {
		t.Fatalf("first round Full = %v/%v, want true", r.lastGroup.Full, r.lastUsers.Full)
	}
	assertMatches(t, r.snap, s.inst.Server.Tenant().State())
	g := r.snap.Groups[groupSec]
	if k, _ := g.Members.Get(groupM365); k != cloud.TypeGroup {
		t.Errorf("member kinds of %s = %v, want %s group", groupSec, g.Members.List(), groupM365)
	}
	if k, _ := g.Members.Get(userCarol); k != cloud.TypeUser {
		t.Errorf("member kinds of %s = %v, want %s group and %s user", groupSec, g.Members, groupM365, userCarol)
	}
	if ad := r.snap.Groups[groupAD]; ad.OnPremisesSyncEnabled == nil || !*ad.OnPremisesSyncEnabled || ad.OnPremisesSecurityIdentifier == "" {
		t.Errorf("group synced from AD lost its on-premises properties: %+v", ad)
	}
	if u := r.snap.Users[userAlice]; u.OnPremisesImmutableID == "" || u.OnPremisesDistinguishedName == "" || u.OnPremisesSamAccountName != "alice" {
		t.Errorf("user alice lost on-premises identifiers: %+v", u)
	}
}

// change is one edit made through Graph's own calls, with the delta a
// client must see for it.
type change struct {
	name  string
	apply func(t *testing.T, tn *graphsim.Tenant) string // returns the id it touched
	check func(t *testing.T, d cloud.GroupDelta)
	// also lists groups the change touches besides its own.
	also []string
}

func TestIncrementalRoundsCarryExactlyTheChanges(t *testing.T) {
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	cases := []change{
		{"rename", func(t *testing.T, tn *graphsim.Tenant) string {
			must(t, tn.UpdateGroup(groupM365, map[string]any{"displayName": "Marketing EMEA"}))
			return groupM365
		}, func(t *testing.T, d cloud.GroupDelta) {
			if d.Present&cloud.GroupDisplayName == 0 || d.Values.DisplayName != "Marketing EMEA" {
				t.Errorf("rename delta = %+v", d)
			}
		}, nil},
		{"description cleared", func(t *testing.T, tn *graphsim.Tenant) string {
			must(t, tn.UpdateGroup(groupM365, map[string]any{"description": nil}))
			return groupM365
		}, func(t *testing.T, d cloud.GroupDelta) {
			if d.Present&cloud.GroupDescription == 0 || d.Values.Description != "" {
				t.Errorf("description delta = %+v", d)
			}
		}, nil},
		{"member added", func(t *testing.T, tn *graphsim.Tenant) string {
			must(t, tn.AddMember(groupSec, userBob))
			return groupSec
		}, func(t *testing.T, d cloud.GroupDelta) {
			if len(d.MembersAdded) != 1 || d.MembersAdded[0] != (cloud.ObjectRef{ID: userBob, Type: cloud.TypeUser}) || len(d.MembersRemoved) != 0 {
				t.Errorf("member add delta = %+v", d)
			}
		}, nil},
		{"member removed", func(t *testing.T, tn *graphsim.Tenant) string {
			must(t, tn.RemoveMember(groupSec, userCarol))
			return groupSec
		}, func(t *testing.T, d cloud.GroupDelta) {
			if len(d.MembersRemoved) != 1 || d.MembersRemoved[0].ID != userCarol || len(d.MembersAdded) != 0 {
				t.Errorf("member remove delta = %+v", d)
			}
		}, nil},
		{"writeback turned off", func(t *testing.T, tn *graphsim.Tenant) string {
			must(t, tn.UpdateGroup(groupSec, map[string]any{"writebackConfiguration": map[string]any{"isEnabled": false}}))
			return groupSec
		}, func(t *testing.T, d cloud.GroupDelta) {
			wb := d.Values.Writeback
			if d.Present&cloud.GroupWriteback == 0 || wb.IsEnabled == nil || *wb.IsEnabled || wb.OnPremisesGroupType != "universalSecurityGroup" {
				t.Errorf("writeback delta = %+v (isEnabled %v)", wb, wb.IsEnabled)
			}
		}, nil},
		{"soft delete", func(t *testing.T, tn *graphsim.Tenant) string {
			must(t, tn.DeleteGroup(groupM365))
			return groupM365
		}, func(t *testing.T, d cloud.GroupDelta) {
			if d.Removed != cloud.SoftDeleted {
				t.Errorf("soft delete delta = %+v", d)
			}
		}, []string{groupSec}}, // the deleted group leaves the groups it was a member of
		{"a security group is soft-deleted too", func(t *testing.T, tn *graphsim.Tenant) string {
			must(t, tn.DeleteGroup(groupOff))
			return groupOff
		}, func(t *testing.T, d cloud.GroupDelta) {
			if d.Removed != cloud.SoftDeleted {
				t.Errorf("security group delete delta = %+v", d)
			}
		}, nil},
		{"hard delete (purged from deleted items)", func(t *testing.T, tn *graphsim.Tenant) string {
			must(t, tn.DeleteGroup(groupOff))
			must(t, tn.PurgeDeleted(groupOff))
			return groupOff
		}, func(t *testing.T, d cloud.GroupDelta) {
			if d.Removed != cloud.HardDeleted {
				t.Errorf("hard delete delta = %+v", d)
			}
		}, nil},
		{"new group", func(t *testing.T, tn *graphsim.Tenant) string {
			id, err := tn.CreateGroup(map[string]any{"displayName": "New team", "mailEnabled": true, "mailNickname": "newteam",
				"securityEnabled": false, "groupTypes": []any{"Unified"}, "members@odata.bind": []any{
					"https://graph.microsoft.com/v1.0/directoryObjects/" + userAlice}})
			must(t, err)
			return id
		}, func(t *testing.T, d cloud.GroupDelta) {
			if d.Values.DisplayName != "New team" || d.Values.Mail != "newteam@contoso.onmicrosoft.com" || len(d.MembersAdded) != 1 {
				t.Errorf("new group delta = %+v", d)
			}
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startSim(t, testTenant(), graphsim.Faults{})
			r := newReader()
			r.sync(t, s.client)
			tn := s.inst.Server.Tenant()
			id := tc.apply(t, tn)
			r.sync(t, s.client)
			if r.lastGroup.Full {
				t.Fatal("incremental round came back Full")
			}
			want := append([]string{id}, tc.also...)
			var got []string
			var own *cloud.GroupDelta
			for i, d := range r.lastGroup.Changes {
				got = append(got, d.ID)
				if d.ID == id {
					own = &r.lastGroup.Changes[i]
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) || own == nil {
				t.Fatalf("round changed %v, want exactly %v", ids(r.lastGroup.Changes), want)
			}
			tc.check(t, *own)
			assertMatches(t, r.snap, tn.State())
			// A round with nothing new is empty.
			r.sync(t, s.client)
			if len(r.lastGroup.Changes) != 0 || len(r.lastUsers.Changes) != 0 {
				t.Fatalf("quiet round carried %v / %d users", ids(r.lastGroup.Changes), len(r.lastUsers.Changes))
			}
		})
	}
}

func ids(ds []cloud.GroupDelta) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ID+"/"+string(d.Removed))
	}
	return out
}

func TestRestoreAndUserDeletion(t *testing.T) {
	s := startSim(t, testTenant(), graphsim.Faults{})
	tn := s.inst.Server.Tenant()
	r := newReader()
	r.sync(t, s.client)
	if err := tn.DeleteGroup(groupM365); err != nil {
		t.Fatal(err)
	}
	r.sync(t, s.client)
	if g := r.snap.Groups[groupM365]; g == nil || g.Removed != cloud.SoftDeleted {
		t.Fatalf("soft-deleted group in snapshot = %+v", g)
	}
	if err := tn.Restore(groupM365); err != nil {
		t.Fatal(err)
	}
	if err := tn.DeleteUser(userBob); err != nil {
		t.Fatal(err)
	}
	r.sync(t, s.client)
	assertMatches(t, r.snap, tn.State())
	// A soft-deleted user keeps its memberships, and Graph says nothing
	// of it in group delta: it is still a member, known as soft-deleted.
	if ok := r.snap.Groups[groupM365].Members.Has(userBob); !ok || r.snap.Users[userBob] == nil || r.snap.Users[userBob].Removed != cloud.SoftDeleted {
		t.Errorf("soft-deleted user: member %v, user %+v", ok, r.snap.Users[userBob])
	}
	// Restoring the user: its memberships were never gone.
	if err := tn.Restore(userBob); err != nil {
		t.Fatal(err)
	}
	r.sync(t, s.client)
	assertMatches(t, r.snap, tn.State())
	if !r.snap.Groups[groupM365].Members.Has(userBob) {
		t.Error("restored user's membership did not come back")
	}
}

// bigTenant adds a group with many members to the test tenant.
func bigTenant(members int) *graphsim.TenantFile {
	tf := testTenant()
	var refs []any
	for i := range members {
		id := fmt.Sprintf("c0000000-0000-4000-8000-%012d", i)
		tf.Users = append(tf.Users, user(id, fmt.Sprintf("user%d", i), i%2 == 0))
		refs = append(refs, id)
	}
	tf.Groups = append(tf.Groups, map[string]any{"id": "b0000000-0000-4000-8000-0000000000ff", "displayName": "Everyone",
		"mailEnabled": true, "mailNickname": "everyone", "securityEnabled": false, "groupTypes": []any{"Unified"}, "members": refs})
	return tf
}

func TestGroupSpreadOverPagesIsMerged(t *testing.T) {
	s := startSim(t, bigTenant(47), graphsim.Faults{PageSize: 2, MembersPerItem: 5})
	r := newReader()
	r.sync(t, s.client)
	// 47 members at 5 an item make 10 items for the big group, 14 in all,
	// 2 a page.
	if st := r.lastGroup.Stats; st.Items != 14 || st.Pages != 7 {
		t.Fatalf("read %d items on %d pages, want the big group split into 10 items, 14 items on 7 pages", st.Items, st.Pages)
	}
	assertMatches(t, r.snap, s.inst.Server.Tenant().State())
	if n := r.snap.Groups["b0000000-0000-4000-8000-0000000000ff"].Members.Len(); n != 47 {
		t.Fatalf("big group has %d members in snapshot, want 47", n)
	}
	// Incremental: 12 member changes spread over pages too.
	tn := s.inst.Server.Tenant()
	for i := range 6 {
		if err := tn.RemoveMember("b0000000-0000-4000-8000-0000000000ff", fmt.Sprintf("c0000000-0000-4000-8000-%012d", i)); err != nil {
			t.Fatal(err)
		}
		if err := tn.AddMember(groupSec, fmt.Sprintf("c0000000-0000-4000-8000-%012d", 40+i)); err != nil {
			t.Fatal(err)
		}
	}
	r.sync(t, s.client)
	assertMatches(t, r.snap, tn.State())
	if len(r.lastGroup.Changes) != 2 {
		t.Fatalf("incremental round merged into %d groups, want 2", len(r.lastGroup.Changes))
	}
}

// TestFaults reads the same tenant through each fault and checks that the
// client arrives at exactly the tenant's state, and how it got there.
func TestFaults(t *testing.T) {
	cases := []struct {
		name   string
		faults graphsim.Faults
		check  func(t *testing.T, s *sim, st graphsim.Stats)
	}{
		{"throttled every 3rd request", graphsim.Faults{PageSize: 3, ThrottleEvery: 3, RetryAfterSeconds: 7}, func(t *testing.T, s *sim, st graphsim.Stats) {
			if st.Throttled == 0 {
				t.Fatal("no request was throttled")
			}
			for _, w := range s.sleeps() {
				if w != 7*time.Second {
					t.Errorf("waited %v after a 429, want Retry-After 7s", w)
				}
			}
			if got := s.client.Counters().Throttled; got != int64(st.Throttled) {
				t.Errorf("client counted %d throttles, server sent %d", got, st.Throttled)
			}
		}},
		{"503 every 4th request", graphsim.Faults{PageSize: 3, UnavailableEvery: 4, RetryAfterSeconds: 2}, func(t *testing.T, s *sim, st graphsim.Stats) {
			if st.Unavailable == 0 || len(s.sleeps()) != st.Unavailable {
				t.Fatalf("503s %d, waits %v", st.Unavailable, s.sleeps())
			}
		}},
		{"504 every 4th request", graphsim.Faults{PageSize: 3, GatewayTimeoutEvery: 4}, func(t *testing.T, s *sim, st graphsim.Stats) {
			if st.GatewayTimeout == 0 || len(s.sleeps()) != st.GatewayTimeout {
				t.Fatalf("504s %d, waits %v", st.GatewayTimeout, s.sleeps())
			}
			for _, w := range s.sleeps() {
				if w <= 0 || w > 4*time.Millisecond {
					t.Errorf("backoff %v outside the policy's bounds", w)
				}
			}
		}},
		{"connection dropped every 5th request", graphsim.Faults{PageSize: 3, DropEvery: 5}, func(t *testing.T, s *sim, st graphsim.Stats) {
			if st.Dropped == 0 || len(s.sleeps()) < st.Dropped {
				t.Fatalf("dropped %d, waits %v", st.Dropped, s.sleeps())
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startSim(t, bigTenant(20), tc.faults)
			r := newReader()
			r.sync(t, s.client)
			tn := s.inst.Server.Tenant()
			if err := tn.UpdateGroup(groupSec, map[string]any{"displayName": "VPN"}); err != nil {
				t.Fatal(err)
			}
			r.sync(t, s.client)
			assertMatches(t, r.snap, tn.State())
			tc.check(t, s, s.inst.Server.Stats())
		})
	}
}

func TestGiveUpAfterMaxAttempts(t *testing.T) {
	s := startSim(t, testTenant(), graphsim.Faults{UnavailableEvery: 1})
	_, err := s.client.GroupsDelta(context.Background(), "")
	var gerr *Error
	if !errors.As(err, &gerr) || gerr.StatusCode != 503 || gerr.Code != "serviceNotAvailable" {
		t.Fatalf("err = %v, want the last 503 kept as *Error", err)
	}
	if n := len(s.sleeps()); n != 5 {
		t.Fatalf("waited %d times, want MaxAttempts-1 = 5", n)
	}
}

func TestResync(t *testing.T) {
	cases := []struct {
		name  string
		cause func(s *sim)
	}{
		{"410 Gone", func(s *sim) { s.inst.Server.Tenant().InvalidateDeltaTokens() }},
		{"delta token older than 7 days", func(s *sim) { s.inst.Server.Tenant().Advance(8 * 24 * time.Hour) }},
		{"fault: delta links answer 410", func(s *sim) { s.inst.Server.SetFaults(graphsim.Faults{ResyncEvery: 1}) }},
		{"a stored link refused with 400 Directory_ExpiredPageToken", func(s *sim) {
			s.inst.Server.SetFaults(graphsim.Faults{RefuseLinkEvery: 1, ExpiredLinkCode: "Directory_ExpiredPageToken"})
		}},
		{"a stored link refused with a code no one documents", func(s *sim) {
			s.inst.Server.SetFaults(graphsim.Faults{RefuseLinkEvery: 1, ExpiredLinkCode: "someNewExpiryCode"})
		}},
		{"an expired token answered with another code", func(s *sim) {
			s.inst.Server.SetFaults(graphsim.Faults{ExpiredLinkCode: "Directory_ExpiredPageToken"})
			s.inst.Server.Tenant().Advance(8 * 24 * time.Hour)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startSim(t, testTenant(), graphsim.Faults{})
			r := newReader()
			r.sync(t, s.client)
			tn := s.inst.Server.Tenant()
			if err := tn.DeleteGroup(groupOff); err != nil {
				t.Fatal(err)
			}
			tc.cause(s)
			r.sync(t, s.client)
			if !r.lastGroup.Full || r.lastGroup.Stats.Resyncs != 1 {
				t.Fatalf("round Full=%v resyncs=%d, want a full round after one resync", r.lastGroup.Full, r.lastGroup.Stats.Resyncs)
			}
			assertMatches(t, r.snap, tn.State())
			if _, ok := r.snap.Groups[groupOff]; ok {
				t.Error("group deleted before the resync survived it")
			}
		})
	}
}

func TestReplaysAreHarmless(t *testing.T) {
	s := startSim(t, testTenant(), graphsim.Faults{ReplayEvents: 50})
	tn := s.inst.Server.Tenant()
	r := newReader()
	r.sync(t, s.client)
	for i, step := range []func() error{
		func() error { return tn.AddMember(groupSec, userBob) },
		func() error { return tn.RemoveMember(groupSec, userBob) },
		func() error { return tn.UpdateGroup(groupM365, map[string]any{"displayName": "M1"}) },
		func() error { return tn.DeleteGroup(groupOff) },
		func() error { return tn.AddMember(groupM365, userCarol) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
		r.sync(t, s.client)
		assertMatches(t, r.snap, tn.State())
		if i > 0 && len(r.lastGroup.Changes) < 2 {
			t.Errorf("step %d: round had %d changes; the fault should replay earlier ones", i, len(r.lastGroup.Changes))
		}
	}
}

func TestExpiredAccessTokenIsReplaced(t *testing.T) {
	s := startSim(t, testTenant(), graphsim.Faults{})
	r := newReader()
	r.sync(t, s.client)
	before := s.inst.Server.Stats().TokensIssued
	s.inst.Server.ExpireTokens()
	r.sync(t, s.client)
	if got := s.inst.Server.Stats().TokensIssued; got != before+1 {
		t.Fatalf("tokens issued went from %d to %d, want exactly one new token", before, got)
	}
	assertMatches(t, r.snap, s.inst.Server.Tenant().State())
}

func TestCredentialErrors(t *testing.T) {
	s := startSim(t, testTenant(), graphsim.Faults{})
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"wrong secret", Config{TenantID: testTenantID, ClientID: readerApp, ClientSecret: secret.New("nope")}, "AADSTS7000215"},
		{"unknown app", Config{TenantID: testTenantID, ClientID: "99999999-9999-4999-8999-999999999999", ClientSecret: secret.New("x")}, "AADSTS700016"},
		{"unknown tenant", Config{TenantID: "00000000-0000-4000-8000-000000000000", ClientID: readerApp, ClientSecret: secret.New(readerSecret)}, "AADSTS90002"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newSimClient(t, s, tc.cfg)
			_, err := c.GroupsDelta(context.Background(), "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to carry %s", err, tc.want)
			}
			if strings.Contains(err.Error(), readerSecret) {
				t.Fatal("error message leaks the secret")
			}
		})
	}
}

func TestPermissions(t *testing.T) {
	s := startSim(t, testTenant(), graphsim.Faults{})
	// The reader app has Group.Read.All and User.Read.All: Group.Read.All
	// reads directory settings (GroupSettings.Read.All is the least
	// privilege); Directory.Read.All is not needed.
	v, set, err := s.client.UnifiedWritebackDefault(context.Background())
	if err != nil || set || !v {
		t.Fatalf("unset setting read as (%v, %v, %v), want (true, false, nil)", v, set, err)
	}
	admin := newSimClient(t, s, Config{TenantID: testTenantID, ClientID: adminApp, ClientSecret: secret.New("admin")})
	s.inst.Server.Tenant().SetUnifiedWritebackDefault(false)
	v, set, err = admin.UnifiedWritebackDefault(context.Background())
	if err != nil || !set || v {
		t.Fatalf("setting false read as (%v, %v, %v)", v, set, err)
	}
}

func TestGroupMembersPages(t *testing.T) {
	s := startSim(t, bigTenant(30), graphsim.Faults{})
	got, err := s.client.GroupMembers(context.Background(), "b0000000-0000-4000-8000-0000000000ff")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 30 || got[0].Type != cloud.TypeUser {
		t.Fatalf("got %d members (%v…), want 30 users", len(got), got[:min(2, len(got))])
	}
	_, err = s.client.GroupMembers(context.Background(), "b0000000-0000-4000-8000-00000000dead")
	var gerr *Error
	if !errors.As(err, &gerr) || gerr.StatusCode != 404 {
		t.Fatalf("missing group err = %v, want 404", err)
	}
}

func TestLinksToOtherHostsAreRefused(t *testing.T) {
	s := startSim(t, testTenant(), graphsim.Faults{})
	_, err := s.client.GroupsDelta(context.Background(), "https://evil.example.com/beta/groups/delta?$deltatoken=SECRET-TOKEN-VALUE")
	if err == nil || !strings.Contains(err.Error(), "refusing") || !strings.Contains(err.Error(), "https://evil.example.com/beta/groups/delta") {
		t.Fatalf("err = %v, want the link refused, naming its host and path", err)
	}
	if strings.Contains(err.Error(), "SECRET-TOKEN-VALUE") || strings.Contains(err.Error(), "deltatoken") {
		t.Fatalf("the refusal prints the delta token: %v", err)
	}
}

func TestIsSoftDeleted(t *testing.T) {
	s := startSim(t, testTenant(), graphsim.Faults{})
	tn := s.inst.Server.Tenant()
	for _, err := range []error{tn.DeleteGroup(groupM365), tn.DeleteGroup(groupOff)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := tn.PurgeDeleted(groupOff); err != nil { // deleted for good
		t.Fatal(err)
	}
	for id, want := range map[string]bool{groupM365: true, groupOff: false, groupSec: false} {
		got, err := s.client.IsSoftDeleted(context.Background(), id)
		if err != nil || got != want {
			t.Errorf("IsSoftDeleted(%s) = %v, %v; want %v", id, got, err, want)
		}
	}
}
