//go:build linux

package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/state"

	"github.com/groupwriteback/groupwriteback/internal/store"
	"github.com/groupwriteback/groupwriteback/internal/store/storetest"
	"github.com/groupwriteback/groupwriteback/internal/testpg"
)

func TestMain(m *testing.M) { os.Exit(testpg.Main(m)) }

// The PostgreSQL store passes the suite the SQLite store passes, on a
// real server from Debian's packages.
func TestConformancePostgres(t *testing.T) {
	srv := testpg.Shared(t)
	storetest.Run(t, func(t *testing.T) storetest.Store {
		s, err := store.OpenPostgres(context.Background(), srv.NewDB(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestMigrateThereAndBack moves a state from SQLite to PostgreSQL and
// back, checked each way, and finds it whole at the end; a destination
// with data is refused.
func TestMigrateThereAndBack(t *testing.T) {
	ctx := context.Background()
	srv := testpg.Shared(t)
	dir := t.TempDir()
	a, err := store.Open(ctx, filepath.Join(dir, "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	fill(t, a)
	pg, err := store.OpenPostgres(ctx, srv.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	res, err := store.Migrate(ctx, a, pg)
	if err != nil || !strings.Contains(res.Checked, "2 groups, 1 users, 2 statuses, 2 runs and 1 operations") {
		t.Fatalf("to PostgreSQL: %+v, %v", res, err)
	}
	b, err := store.Open(ctx, filepath.Join(dir, "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := store.Migrate(ctx, pg, b); err != nil {
		t.Fatalf("back to SQLite: %v", err)
	}
	ea, _ := a.Export(ctx)
	eb, _ := b.Export(ctx)
	ea.Exported, eb.Exported = time.Time{}, time.Time{}
	ja, _ := json.Marshal(ea)
	jb, _ := json.Marshal(eb)
	if string(ja) != string(jb) {
		t.Fatalf("the state after SQLite → PostgreSQL → SQLite differs:\n%s\n%s", ja, jb)
	}
	// The run ids go on from the history, in PostgreSQL too.
	id, _, err := pg.StartRun(ctx, "delta")
	if err != nil || id != 3 {
		t.Fatalf("the next run in the migrated PostgreSQL state: id %d, %v; want 3", id, err)
	}
	if _, err := store.Migrate(ctx, a, b); !errors.Is(err, store.ErrNotEmpty) {
		t.Fatalf("a migration into a state with data: %v, want ErrNotEmpty", err)
	}
}

// fill gives a state a little of everything an export holds.
func fill(t *testing.T, s *store.Store) {
	t.Helper()
	ctx := context.Background()
	snap := cloud.NewSnapshot()
	snap.Groups["g1"] = &cloud.Group{ID: "g1", DisplayName: "One", Members: cloud.RefsFrom(map[string]cloud.ObjectType{"u1": cloud.TypeUser})}
	snap.Groups["g2"] = &cloud.Group{ID: "g2", DisplayName: "Two"}
	snap.Users["u1"] = &cloud.User{ID: "u1", OnPremisesSecurityIdentifier: "S-1-5-21-1"}
	steps := []error{
		s.SaveCloud(ctx, state.CloudUpdate{Snapshot: snap, FullGroups: true, FullUsers: true, Links: state.Links{Groups: "https://graph.test/gl", Users: "https://graph.test/ul"}}),
		s.SetStatus(ctx, []state.GroupStatus{{CloudID: "g1", Name: "One", State: state.InStep, DN: "CN=One"},
			{CloudID: "g2", Name: "Two", State: state.Failed, Message: "LDAP 50", MembersNotWritten: map[string]int{"not_found_in_ad": 1}}}),
		s.SetEnablement(ctx, state.Enablement{Enabled: true}),
		s.SetBinding(ctx, state.Binding{TenantID: "t", Domain: "DC=x", TargetOU: "OU=y,DC=x"}),
		s.SetMeta(ctx, "config", "abc"),
		s.RecordOperations(ctx, []state.Operation{{RunID: 1, CloudID: "g1", Action: "create", DN: "CN=One", Outcome: "applied", At: time.Now()}}),
	}
	for i := range 2 {
		id, _, err := s.StartRun(ctx, "full")
		steps = append(steps, err, s.FinishRun(ctx, id, "", "ok", map[string]int{"created": i}))
	}
	for _, err := range steps {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// A database that accepts and never answers does not hold a write: the
// transaction is abandoned at its deadline, and the write fails, named.
func TestWriteToASilentDatabaseEnds(t *testing.T) {
	defer store.SetWriteTimeout(time.Second)()
	srv := testpg.Shared(t)
	url := srv.NewDB(t)
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	silent := false
	target := u.Host
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			pipe := func(dst, src net.Conn) {
				buf := make([]byte, 32*1024)
				for {
					n, err := src.Read(buf)
					mu.Lock()
					quiet := silent
					mu.Unlock()
					if n > 0 && !quiet {
						if _, werr := dst.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}
			go pipe(up, c)
			go pipe(c, up)
		}
	}()
	u.Host = ln.Addr().String()
	s, err := store.OpenPostgres(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetMeta(context.Background(), "k", "before"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	silent = true
	mu.Unlock()
	start := time.Now()
	err = s.SetMeta(context.Background(), "k", "while silent")
	if err == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("a write to a silent database: %v after %s", err, time.Since(start))
	}
	t.Logf("a write to a silent database failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
}
