package graph

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

// staticToken is a credential for servers that do not check tokens.
type staticToken struct{}

func (staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "test", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// step is one scripted answer: the query the request must carry, and the
// documented sample to answer with.
type step struct {
	// method and path, when set, are the request's.
	method, path string
	query        string
	file         string // "" answers with no body
	status       int
	header       map[string]string
}

// docServer answers requests with documentation samples in order. The
// samples' links point at graph.microsoft.com; they are pointed at the test
// server so that the client, which follows links only on its own host,
// follows them.
func docServer(t *testing.T, steps ...step) *Client {
	t.Helper()
	var mu sync.Mutex
	n := 0
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if n >= len(steps) {
			t.Errorf("unexpected request %s", r.URL)
			http.Error(w, "no more steps", 500)
			return
		}
		s := steps[n]
		n++
		if s.path != "" && (r.Method != s.method || r.URL.Path != s.path) {
			t.Errorf("request %d: %s %s, want %s %s", n, r.Method, r.URL.Path, s.method, s.path)
		}
		if q := r.URL.RawQuery; !strings.Contains(q, s.query) {
			t.Errorf("request %d: %s, want its query to contain %q", n, q, s.query)
		}
		var b []byte
		if s.file != "" {
			var err error
			path := s.file
			if !filepath.IsAbs(path) {
				path = filepath.Join("testdata", "docs", s.file)
			}
			if b, err = os.ReadFile(path); err != nil {
				t.Fatal(err)
			}
		}
		body := strings.ReplaceAll(string(b), "https://graph.microsoft.com", srv.URL)
		for k, v := range s.header {
			w.Header().Set(k, strings.ReplaceAll(v, "https://graph.microsoft.com", srv.URL))
		}
		w.Header().Set("Content-Type", "application/json")
		if s.status == 0 {
			s.status = 200
		}
		w.WriteHeader(s.status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(func() {
		srv.Close()
		if n != len(steps) {
			t.Errorf("served %d of %d scripted answers", n, len(steps))
		}
	})
	c, err := New(Options{GraphURL: srv.URL, Credential: staticToken{}, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDocsGroupDeltaSequence(t *testing.T) {
	c := docServer(t,
		step{query: "$select=", file: "groups-initial.json"},
		step{query: "$skiptoken=pqwSUjGYvb3jQpbwVAwEL7yuI3dU1LecfkkfLPtnIjvB7XnF_yllFsCrZJ", file: "groups-next.json"},
		step{query: "$skiptoken=pqwSUjGYvb3jQpbwVAwEL7yuI3dU1LecfkkfLPtnIjtQ5LOhVoS7qQG_wdVCHHlbQpga7", file: "groups-final.json"},
		step{query: "$deltatoken=sZwAFZibx", file: "groups-deltalink-changes.json"},
		step{query: "$deltatoken=sZwAFZibx", file: "groups-deltalink-empty.json"},
	)
	ctx := context.Background()
	snap := cloud.NewSnapshot()
	r, err := c.GroupsDelta(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Full || r.Stats.Pages != 3 || len(r.Changes) != 6 || !strings.Contains(r.DeltaLink, "$deltatoken=sZwAFZibx") {
		t.Fatalf("round = full %v, %+v, %d changes, link %s", r.Full, r.Stats, len(r.Changes), r.DeltaLink)
	}
	snap.ApplyGroups(r.Full, r.Changes)
	g4 := snap.Groups["421e797f-9406-4934-b778-4908421e3505"]
	if g4.DisplayName != "TestGroup4" || g4.Description != "Employees in test group 4" ||
		!slices.Equal(refIDs(g4.Members), []string{"3c8ac7c4-d365-4df9-abfa-356a9dd7763c", "49320844-be99-4164-8167-87ff5d047ace"}) {
		t.Errorf("TestGroup4 = %+v", g4)
	}
	if g2 := snap.Groups["ec22655c-8eb2-432a-b4ea-8b8a254bffff"]; g2.Members.Len() != 0 {
		t.Errorf("TestGroup2 has no members@delta, yet members %v", g2.Members)
	}

	r, err = c.GroupsDelta(ctx, r.DeltaLink)
	if err != nil {
		t.Fatal(err)
	}
	if r.Full || len(r.Changes) != 1 {
		t.Fatalf("delta round = full %v, %d changes", r.Full, len(r.Changes))
	}
	d := r.Changes[0]
	if d.Values.Description != "A test group for change tracking" ||
		len(d.MembersRemoved) != 1 || d.MembersRemoved[0].ID != "632f6bb2-3ec8-4c1f-9073-0027a8c6859" ||
		len(d.MembersAdded) != 1 || d.MembersAdded[0] != (cloud.ObjectRef{ID: "37de1ae3-408f-4702-8636-20824abda004", Type: cloud.TypeUser}) {
		t.Fatalf("change = %+v", d)
	}
	snap.ApplyGroups(r.Full, r.Changes)
	// The sample removes "…c6859", an id one digit shorter than the member
	// "…c68593" the initial round gave: removing an unknown member is a no-op.
	g3 := snap.Groups["2e5807ce-58f3-4a94-9b37-ffff2e085957"]
	if want := []string{"37de1ae3-408f-4702-8636-20824abda004", "632f6bb2-3ec8-4c1f-9073-0027a8c68593"}; !slices.Equal(refIDs(g3.Members), want) {
		t.Errorf("TestGroup3 members %v, want %v", refIDs(g3.Members), want)
	}

	r, err = c.GroupsDelta(ctx, r.DeltaLink)
	if err != nil || len(r.Changes) != 0 || r.DeltaLink == "" {
		t.Fatalf("empty delta round = %+v, %v", r, err)
	}
}

// A group's members@delta spread over two pages (the docs' sample of a
// large group) make one change: in a delta round, the members added and
// removed; in a full round, the member set they leave.
func TestDocsLargeGroupPagesMerge(t *testing.T) {
	pages := []step{
		{file: "groups-large-page1.json"},
		{query: "$skiptoken=<...>", file: "groups-large-page2.json"},
		{query: "$skiptoken=<...>", file: "groups-deltalink-empty.json"},
	}
	added := []string{"37de1ae3-408f-4702-8636-20824abda004", "23423fa6-821e-44b2-aae4-d039d33884c2"}
	for _, full := range []bool{false, true} {
		steps := slices.Clone(pages)
		if !full {
			steps[0].query = "$deltatoken=sample"
		}
		c := docServer(t, steps...)
		link := ""
		if !full {
			link = c.deltaURL("beta", "groups", c.groupSelect()) + "&$deltatoken=sample"
		}
		r, err := c.GroupsDelta(context.Background(), link)
		if err != nil {
			t.Fatal(err)
		}
		if r.Full != full || len(r.Changes) != 1 {
			t.Fatalf("full %v: %d changes, want the group's two pages merged into one", r.Full, len(r.Changes))
		}
		d := r.Changes[0]
		if full {
			if got := refIDs(d.Members); !slices.Equal(got, slices.Sorted(slices.Values(added))) || len(d.MembersAdded)+len(d.MembersRemoved) > 0 {
				t.Errorf("full round: members %v, added %v, removed %v; want the set of those added", got, d.MembersAdded, d.MembersRemoved)
			}
			continue
		}
		if got := refsOf(d.MembersAdded); !slices.Equal(got, added) || !d.Members.IsZero() {
			t.Errorf("added %v (a set %v)", got, refIDs(d.Members))
		}
		if got := refsOf(d.MembersRemoved); !slices.Equal(got, []string{"632f6bb2-3ec8-4c1f-9073-0027a8c6859", "c08a463b-7b8a-40a4-aa31-f9bf690b9551"}) {
			t.Errorf("removed %v", got)
		}
	}
}

func refsOf(rs []cloud.ObjectRef) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestDocsDeltaPages(t *testing.T) {
	cases := []struct {
		file    string
		users   bool
		changes int
		skipped int
		check   func(t *testing.T, g []cloud.GroupDelta, u []cloud.UserDelta)
	}{
		{file: "group-delta-response1.json", skipped: 1},
		{file: "group-delta-response2.json", skipped: 1},
		{file: "group-delta-response3.json", skipped: 1},
		{file: "user-delta-example1.json", users: true, changes: 1, check: func(t *testing.T, _ []cloud.GroupDelta, u []cloud.UserDelta) {
			if u[0].ID != "id-value" || u[0].Values.DisplayName != "displayName-value" || u[0].Values.UserPrincipalName != "userPrincipalName-value" ||
				u[0].Values.Mail != "mail-value" || u[0].Present != cloud.UserDisplayName|cloud.UserPrincipalName|cloud.UserMail {
				t.Errorf("user = %+v", u[0])
			}
		}},
		{file: "user-delta-example2.json", users: true, skipped: 1},
		{file: "user-delta-example3.json", users: true, skipped: 1},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			c := docServer(t, step{file: tc.file}, step{query: "$skiptoken=pqwSUjGYvb3jQpbwVAwEL7yuI3dU1Lecfkkf", file: "groups-deltalink-empty.json"})
			var g []cloud.GroupDelta
			var u []cloud.UserDelta
			var st cloud.RoundStats
			if tc.users {
				r, err := c.UsersDelta(context.Background(), "", nil)
				if err != nil {
					t.Fatal(err)
				}
				u, st = r.Changes, r.Stats
			} else {
				r, err := c.GroupsDelta(context.Background(), "")
				if err != nil {
					t.Fatal(err)
				}
				g, st = r.Changes, r.Stats
			}
			if len(g)+len(u) != tc.changes || st.Skipped != tc.skipped {
				t.Fatalf("%d changes, %d skipped; want %d and %d", len(g)+len(u), st.Skipped, tc.changes, tc.skipped)
			}
			if tc.check != nil {
				tc.check(t, g, u)
			}
		})
	}
}

func TestDocsMembersAndSettings(t *testing.T) {
	c := docServer(t, step{query: "$select=id", file: "group-list-members.json"}, step{file: "groupsettings-list.json"})
	members, err := c.GroupMembers(context.Background(), "g")
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 1 || members[0] != (cloud.ObjectRef{ID: "id-value", Type: cloud.TypeUnknown}) {
		t.Fatalf("members = %+v", members)
	}
	v, set, err := c.UnifiedWritebackDefault(context.Background())
	if err != nil || set || !v {
		t.Fatalf("settings without Group.Unified = (%v, %v, %v), want (true, false, nil)", v, set, err)
	}
}

// TestDocsErrorBody: errors.md's example error body, in the form an
// older revision printed (the code at the top) and the form it prints now
// (badRequest, the specific code inside innerError).
func TestDocsErrorBody(t *testing.T) {
	for _, tc := range []struct{ file, code string }{
		{"error-invalidrange.json", "invalidRange"},
		{"error-invalidrange-current.json", "badRequest"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			c := docServer(t, step{file: tc.file, status: 416})
			_, err := c.GroupMembers(context.Background(), "g")
			var gerr *Error
			if !errors.As(err, &gerr) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if gerr.StatusCode != 416 || gerr.Code != tc.code || !gerr.HasCode("invalidRange") || gerr.Message != "Uploaded fragment overlaps with existing data." ||
				gerr.RequestID != "request-id" || gerr.Date != "date-time" {
				t.Fatalf("error = %+v", gerr)
			}
			if errors.Is(err, ErrResyncRequired) {
				t.Fatal("invalidRange is not a resync")
			}
		})
	}
}

// TestDocsGroupWithWritebackConfiguration: group-post-groups.md's beta
// responses, groups carrying writebackConfiguration with null values:
// unset, so the tenant's defaults decide.
func TestDocsGroupWithWritebackConfiguration(t *testing.T) {
	for _, tc := range []struct {
		file, id, name string
		unified        bool
	}{
		{"group-post-beta-security.json", "1226170d-83d5-49b8-99ab-d1ab3d91333e", "Operations group", false},
		{"group-post-beta-unified.json", "1afc3ca3-b14d-43af-9c70-8ae3a5065454", "Role assignable group", true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			sample, err := os.ReadFile(filepath.Join("testdata", "docs", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			page := filepath.Join(t.TempDir(), "page.json")
			body := `{"@odata.context":"https://graph.microsoft.com/beta/$metadata#groups","value":[` + string(sample) +
				`],"@odata.deltaLink":"https://graph.microsoft.com/beta/groups/delta?$deltatoken=next"}`
			if err := os.WriteFile(page, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			c := docServer(t, step{query: "$select=", file: page})
			r, err := c.GroupsDelta(context.Background(), "")
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Changes) != 1 || r.Stats.Skipped != 0 {
				t.Fatalf("changes %+v, stats %+v", r.Changes, r.Stats)
			}
			g := r.Changes[0].Values
			if r.Changes[0].ID != tc.id || g.DisplayName != tc.name || g.Writeback.IsEnabled != nil || g.Writeback.OnPremisesGroupType != "" ||
				!g.SecurityEnabled || g.IsUnified() != tc.unified || g.OnPremisesSyncEnabled != nil {
				t.Fatalf("group = %+v", g)
			}
			if tc.unified && (g.Mail != "contosohelpdeskadministrators@Contoso.com" || len(g.ProxyAddresses) != 1) {
				t.Fatalf("mail = %q, proxyAddresses = %v", g.Mail, g.ProxyAddresses)
			}
		})
	}
}

// TestDocsUsersRounds: delta-query-users' samples: a first page that
// already carries an @removed item, and a deltaLink answer with a user
// @removed "changed" (soft-deleted, restorable).
func TestDocsUsersRounds(t *testing.T) {
	c := docServer(t, step{query: "$select=", file: "users-delta-initial-page1.json"}, step{query: "skiptoken", file: "users-delta-final.json"},
		step{query: "deltatoken", file: "users-delta-deltalink-changes.json"})
	r, err := c.UsersDelta(context.Background(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	removed := map[string]cloud.Removal{}
	for _, d := range r.Changes {
		removed[d.ID] = d.Removed
	}
	if len(r.Changes) != 6 || removed["86462606-fde0-4fc4-9e0c-a20eb73e54c6"] != cloud.HardDeleted || !r.Full {
		t.Fatalf("first round: %d changes, removals %v", len(r.Changes), removed)
	}
	r, err = c.UsersDelta(context.Background(), r.DeltaLink, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Changes) != 2 || r.Changes[1].Removed != cloud.SoftDeleted || r.Changes[0].Values.DisplayName != "MOD Administrator" {
		t.Fatalf("deltaLink round: %+v", r.Changes)
	}
}

// TestDocs410WithLocation: the overview's "Synchronization reset": 410 Gone
// with a Location header holding a fresh initial request; the client
// starts again with a full read.
func TestDocs410WithLocation(t *testing.T) {
	c := docServer(t,
		step{query: "deltatoken=stale", status: 410, header: map[string]string{"Location": "https://graph.microsoft.com/v1.0/users/delta?$deltatoken="}},
		step{query: "$select=", file: "users-delta-final.json"})
	r, err := c.UsersDelta(context.Background(), c.endpoint("/v1.0/users/delta", nil)+"?$deltatoken=stale", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Full || r.Stats.Resyncs != 1 || len(r.Changes) != 2 {
		t.Fatalf("after 410: full %v, resyncs %d, %d changes", r.Full, r.Stats.Resyncs, len(r.Changes))
	}
}

// TestDocsBetaGroupUnified: the beta settings sample, a Group.Unified
// setting without NewUnifiedGroupWritebackDefault: unset, Microsoft's
// default (true) applies.
func TestDocsBetaGroupUnified(t *testing.T) {
	c := docServer(t, step{file: "groupsettings-beta-unified.json"})
	v, set, err := c.UnifiedWritebackDefault(context.Background())
	if err != nil || set || !v {
		t.Fatalf("Group.Unified without the value = (%v, %v, %v), want (true, false, nil)", v, set, err)
	}
}

// TestDocsBetaWritebackDefaultFalse: directorysetting-list.md's beta
// sample, where the tenant turned NewUnifiedGroupWritebackDefault off.
func TestDocsBetaWritebackDefaultFalse(t *testing.T) {
	c := docServer(t, step{file: "directorysetting-list-beta-writeback.json"})
	v, set, err := c.UnifiedWritebackDefault(context.Background())
	if err != nil || !set || v {
		t.Fatalf("Group.Unified with the value false = (%v, %v, %v), want (false, true, nil)", v, set, err)
	}
}
