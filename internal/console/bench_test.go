package console

import (
	"context"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/store"
)

// BenchmarkInventory100k: the inventory's first page, and a search, on a
// state of 100,000 groups, measured server-side (the handler, its
// database query and its page). docs/performance.md has the figures.
func BenchmarkInventory100k(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const n, users, perGroup = 100000, 20000, 20
	// The snapshot: 100,000 groups of 20 members among 20,000 users, so
	// that each user is a member of 100 groups.
	snap := cloud.NewSnapshot()
	uid := func(u int) string { return fmt.Sprintf("0a000000-0000-4000-8000-%012d", u) }
	for u := range users {
		snap.Users[uid(u)] = &cloud.User{ID: uid(u), UserPrincipalName: fmt.Sprintf("user%05d@contoso.com", u)}
	}
	gid := func(i int) string { return fmt.Sprintf("6a1e0c55-%04x-4f0e-9d3b-2c1a0b%06d", i/65536, i) }
	for i := range n {
		g := &cloud.Group{ID: gid(i), DisplayName: fmt.Sprintf("Project team %06d", i), Members: cloud.RefsFrom(map[string]cloud.ObjectType{})}
		for k := range perGroup {
			g.Members.Set(uid((i*perGroup+k)%users), cloud.TypeUser)
		}
		snap.Groups[g.ID] = g
	}
	if err := st.SaveCloud(ctx, state.CloudUpdate{Snapshot: snap, FullGroups: true, FullUsers: true}); err != nil {
		b.Fatal(err)
	}
	batch := make([]state.GroupStatus, 0, 5000)
	for i := range n {
		s := state.InStep
		if i%97 == 0 {
			s = state.Failed
		}
		batch = append(batch, state.GroupStatus{CloudID: gid(i), Name: fmt.Sprintf("Project team %06d", i),
			DN: fmt.Sprintf("CN=Project team %06d,OU=Cloud,DC=contoso,DC=com", i), State: s, SAM: fmt.Sprintf("Project team %06d", i)})
		if len(batch) == cap(batch) {
			if err := st.SetStatus(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	pages, err := template.New("console").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		b.Fatal(err)
	}
	c := &Console{state: st, pages: pages, sessions: newSessions(time.Now, time.Hour), logger: slog.New(slog.DiscardHandler)}
	s := c.sessions.create(identity{Username: "bench@contoso.test", Roles: []string{RoleReader}})
	h := c.Handler()
	// The baseline: reading every status once, as the page did before it
	// asked the database for a page (and as /status does).
	b.Run("baseline: every status read", func(b *testing.B) {
		for b.Loop() {
			if sts, err := st.Statuses(ctx); err != nil || len(sts) != n {
				b.Fatal(len(sts), err)
			}
		}
	})
	for _, bc := range []struct{ name, url, want string }{
		{"first page", "/console/", "100000 groups"},
		{"search", "/console/?q=team+04242", "10 groups"},
		{"failed, page 5", "/console/?state=failed&page=5", "1031 groups"},
		{"a member's groups", "/console/?q=user04242%40contoso.com", "100 groups"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, bc.url, nil)
				req.AddCookie(&http.Cookie{Name: sessionCookie, Value: s.sid})
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), bc.want) {
					b.Fatalf("%s: %d\n%.500s", bc.url, rec.Code, rec.Body.String())
				}
			}
		})
	}
}
