package store

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// BenchmarkLoadCloud is what a full cycle's snapshot, loaded from the
// state, holds: 40,000 groups of 20 members drawn from 5,000 users. It
// reports the heap live once it is loaded (above the heap before).
//
//	go test ./internal/store -run '^$' -bench LoadCloud -benchtime 1x
func BenchmarkLoadCloud(b *testing.B) {
	const groups, members, users = 40000, 20, 5000
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	snap := cloud.NewSnapshot()
	uid := func(i int) string { return fmt.Sprintf("3f2b1c4d-0000-4a5b-8c6d-%012x", i) }
	for i := range users {
		snap.Users[uid(i)] = &cloud.User{ID: uid(i), DisplayName: fmt.Sprintf("User %d", i), UserPrincipalName: fmt.Sprintf("u%d@contoso.com", i)}
	}
	for i := range groups {
		id := fmt.Sprintf("6a1e0c55-0000-4f0e-9d3b-%012d", i)
		refs := make([]cloud.ObjectRef, members)
		for j := range refs {
			refs[j] = cloud.ObjectRef{ID: uid((i*7 + j*13) % users), Type: cloud.TypeUser}
		}
		snap.Groups[id] = &cloud.Group{ID: id, DisplayName: fmt.Sprintf("Group %d", i), Members: cloud.RefsOf(refs...)}
	}
	if err := s.SaveCloud(ctx, state.CloudUpdate{Snapshot: snap, FullGroups: true, FullUsers: true}); err != nil {
		b.Fatal(err)
	}
	snap = nil
	for b.Loop() {
		before := live()
		loaded, _, err := s.LoadCloud(ctx)
		if err != nil || len(loaded.Groups) != groups {
			b.Fatalf("loaded %d groups: %v", len(loaded.Groups), err)
		}
		b.ReportMetric(float64(live()-before)/(1<<20), "MB-live")
		runtime.KeepAlive(loaded)
	}
}

func live() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
