package graph

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/graphsim"
	"github.com/groupwriteback/groupwriteback/internal/secret"
)

const (
	testTenantID = "7a1c3f9e-2b4d-4e8a-9c61-0d5e8f2a1b3c"
	readerApp    = "11111111-1111-4111-8111-111111111111"
	readerSecret = "reader-secret-value"
	adminApp     = "22222222-2222-4222-8222-222222222222"
)

// Fixed ids so that failures read well.
const (
	userAlice = "a0000000-0000-4000-8000-000000000001"
	userBob   = "a0000000-0000-4000-8000-000000000002"
	userCarol = "a0000000-0000-4000-8000-000000000003"
	userCloud = "a0000000-0000-4000-8000-000000000004"
	groupM365 = "b0000000-0000-4000-8000-000000000001"
	groupSec  = "b0000000-0000-4000-8000-000000000002"
	groupOff  = "b0000000-0000-4000-8000-000000000003"
	groupAD   = "b0000000-0000-4000-8000-000000000004"
)

func user(id, name string, onPrem bool) map[string]any {
	u := map[string]any{"id": id, "displayName": name, "userPrincipalName": name + "@contoso.com"}
	if onPrem {
		u["onPremisesSyncEnabled"] = true
		u["onPremisesSecurityIdentifier"] = "S-1-5-21-1-2-3-" + id[len(id)-4:]
		u["onPremisesImmutableId"] = "base64" + id[len(id)-4:]
		u["onPremisesDistinguishedName"] = "CN=" + name + ",OU=Users,DC=contoso,DC=com"
		u["onPremisesSamAccountName"] = name
		u["onPremisesDomainName"] = "contoso.com"
	}
	return u
}

// testTenant is a small tenant with every kind of group writeback meets.
func testTenant() *graphsim.TenantFile {
	return &graphsim.TenantFile{
		TenantID: testTenantID,
		Applications: []graphsim.Application{
			{AppID: readerApp, PasswordCredentials: []graphsim.PasswordCredential{{SecretText: readerSecret}},
				GrantedApplicationPermissions: []string{"Group.Read.All", "User.Read.All"}},
			{AppID: adminApp, PasswordCredentials: []graphsim.PasswordCredential{{SecretText: "admin"}}},
		},
		Users: []map[string]any{user(userAlice, "alice", true), user(userBob, "bob", true), user(userCarol, "carol", true), user(userCloud, "cloudonly", false)},
		Groups: []map[string]any{
			{"id": groupM365, "displayName": "Marketing", "description": "All of marketing", "mailEnabled": true, "mailNickname": "marketing",
				"securityEnabled": false, "groupTypes": []any{"Unified"}, "members": []any{userAlice, userBob, userCloud}, "owners": []any{userAlice}},
			{"id": groupSec, "displayName": "VPN users", "mailEnabled": false, "mailNickname": "vpn", "securityEnabled": true,
				"writebackConfiguration": map[string]any{"isEnabled": true, "onPremisesGroupType": "universalSecurityGroup"},
				"members":                []any{userCarol, groupM365}},
			{"id": groupOff, "displayName": "Cloud only team", "mailEnabled": false, "mailNickname": "cot", "securityEnabled": true,
				"writebackConfiguration": map[string]any{"isEnabled": false}},
			{"id": groupAD, "displayName": "Synced from AD", "mailEnabled": false, "mailNickname": "sfa", "securityEnabled": true,
				"onPremisesSyncEnabled": true, "onPremisesSecurityIdentifier": "S-1-5-21-1-2-3-9999"},
		},
	}
}

// sim is a running emulator and a client of it.
type sim struct {
	inst   *graphsim.Instance
	client *Client
	mu     sync.Mutex
	waits  []time.Duration
}

func (s *sim) sleeps() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.waits)
}

// startSim starts graphsim and a client signed in with the reader app's
// secret through the real azidentity credential.
func startSim(t *testing.T, tf *graphsim.TenantFile, faults graphsim.Faults) *sim {
	t.Helper()
	inst, err := graphsim.Start(graphsim.Options{Tenant: tf, CertDir: t.TempDir(), Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	s := &sim{inst: inst}
	s.client = newSimClient(t, s, Config{TenantID: testTenantID, ClientID: readerApp, ClientSecret: secret.New(readerSecret)})
	return s
}

func newSimClient(t testing.TB, s *sim, cfg Config) *Client {
	t.Helper()
	cfg.GraphURL, cfg.AuthorityURL, cfg.CAFile = s.inst.URL, s.inst.URL, s.inst.CAFile
	if err := cfg.Complete("cloud."); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate("cloud."); err != nil {
		t.Fatal(err)
	}
	hc, err := cfg.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	cred, err := cfg.TokenCredential(hc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{GraphURL: cfg.GraphURL, Credential: cred, HTTPClient: hc,
		Retry: RetryPolicy{MaxAttempts: 6, BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond},
		Sleep: func(ctx context.Context, d time.Duration) error {
			s.mu.Lock()
			s.waits = append(s.waits, d)
			s.mu.Unlock()
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// reader keeps a snapshot and the links of the rounds read so far, as the
// engine will.
type reader struct {
	snap                *cloud.Snapshot
	groupLink, userLink string
	lastGroup           *cloud.GroupRound
	lastUsers           *cloud.UserRound
}

func newReader() *reader { return &reader{snap: cloud.NewSnapshot()} }

func (r *reader) sync(t *testing.T, c *Client) {
	t.Helper()
	ctx := context.Background()
	gr, err := c.GroupsDelta(ctx, r.groupLink)
	if err != nil {
		t.Fatalf("groups delta: %v", err)
	}
	r.snap.ApplyGroups(gr.Full, gr.Changes)
	r.groupLink, r.lastGroup = gr.DeltaLink, gr
	ur, err := c.UsersDelta(ctx, r.userLink, nil)
	if err != nil {
		t.Fatalf("users delta: %v", err)
	}
	r.snap.ApplyUsers(ur.Full, ur.Changes)
	r.userLink, r.lastUsers = ur.DeltaLink, ur
}

// assertMatches checks that the snapshot holds exactly the tenant's live
// groups and users, property by property and member by member.
func assertMatches(t *testing.T, snap *cloud.Snapshot, st graphsim.State) {
	t.Helper()
	var live []string
	for id, g := range snap.Groups {
		if g.Removed == cloud.NotRemoved {
			live = append(live, id)
		}
	}
	var want []string
	for id := range st.Groups {
		want = append(want, id)
	}
	sort.Strings(live)
	sort.Strings(want)
	if !slices.Equal(live, want) {
		t.Fatalf("groups in snapshot %v, in tenant %v", live, want)
	}
	for id, gs := range st.Groups {
		g := snap.Groups[id]
		p := gs.Props
		check := func(field string, got, want any) {
			t.Helper()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("group %s %s: snapshot %v, tenant %v", id, field, got, want)
			}
		}
		str := func(k string) string { s, _ := p[k].(string); return s }
		boolean := func(k string) bool { b, _ := p[k].(bool); return b }
		check("displayName", g.DisplayName, str("displayName"))
		check("description", g.Description, str("description"))
		check("mail", g.Mail, str("mail"))
		check("mailEnabled", g.MailEnabled, boolean("mailEnabled"))
		check("securityEnabled", g.SecurityEnabled, boolean("securityEnabled"))
		check("groupTypes", g.GroupTypes, anyStrings(p["groupTypes"]))
		check("proxyAddresses", g.ProxyAddresses, anyStrings(p["proxyAddresses"]))
		wb, _ := p["writebackConfiguration"].(map[string]any)
		var wantEnabled any = "<nil>"
		if v, ok := wb["isEnabled"].(bool); ok {
			wantEnabled = v
		}
		var gotEnabled any = "<nil>"
		if g.Writeback.IsEnabled != nil {
			gotEnabled = *g.Writeback.IsEnabled
		}
		check("writebackConfiguration.isEnabled", gotEnabled, wantEnabled)
		gt, _ := wb["onPremisesGroupType"].(string)
		check("writebackConfiguration.onPremisesGroupType", g.Writeback.OnPremisesGroupType, gt)
		check("members", refIDs(g.Members), gs.Members)
		check("owners", refIDs(g.OwnerRefs()), gs.Owners)
	}
	var users []string
	for id, u := range snap.Users {
		if u.Removed == cloud.NotRemoved {
			users = append(users, id)
		}
	}
	var wantUsers []string
	for id, p := range st.Users {
		wantUsers = append(wantUsers, id)
		u := snap.Users[id]
		if u == nil {
			continue
		}
		if sid, _ := p["onPremisesSecurityIdentifier"].(string); u.OnPremisesSecurityIdentifier != sid {
			t.Errorf("user %s onPremisesSecurityIdentifier: snapshot %q, tenant %q", id, u.OnPremisesSecurityIdentifier, sid)
		}
		if name, _ := p["displayName"].(string); u.DisplayName != name {
			t.Errorf("user %s displayName: snapshot %q, tenant %q", id, u.DisplayName, name)
		}
	}
	sort.Strings(users)
	sort.Strings(wantUsers)
	if !slices.Equal(users, wantUsers) {
		t.Errorf("users in snapshot %v, in tenant %v", users, wantUsers)
	}
}

func anyStrings(v any) []string {
	list, _ := v.([]any)
	out := []string{}
	for _, x := range list {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

func refIDs(m cloud.Refs) []string {
	out := []string{}
	for id := range m.All() {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}
