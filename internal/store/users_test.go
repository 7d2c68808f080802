package store

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// TestStagedUsersSavedInBatches: the save folds the stage a few rows at a
// time, and a user whose rows straddle two batches, or fill one alone,
// is folded whole.
func TestStagedUsersSavedInBatches(t *testing.T) {
	defer func(n int) { unstageRows = n }(unstageRows)
	unstageRows = 3
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	ctx := context.Background()
	var all []cloud.UserDelta
	add := func(id string, f cloud.Field, u cloud.User) {
		u.ID = id
		all = append(all, cloud.UserDelta{ID: id, Present: f, Values: &u})
	}
	// a: 1 row; b: 2 rows (straddles the first batch); c: 5 rows (more
	// than a batch alone); d: 1 row, then removed; e: 1 row.
	add("a", cloud.UserDisplayName, cloud.User{DisplayName: "A"})
	add("b", cloud.UserDisplayName, cloud.User{DisplayName: "B"})
	add("b", cloud.UserPrincipalName, cloud.User{UserPrincipalName: "b@contoso.com"})
	for i := range 5 {
		add("c", cloud.UserDisplayName, cloud.User{DisplayName: fmt.Sprintf("C%d", i)})
	}
	add("d", cloud.UserDisplayName, cloud.User{DisplayName: "D"})
	all = append(all, cloud.UserDelta{ID: "d", Removed: cloud.HardDeleted})
	add("e", cloud.UserOnPremisesSecurityIdentifier, cloud.User{OnPremisesSecurityIdentifier: "S-1-5-21-5"})
	for start := 0; start < len(all); start += 4 {
		if err := s.StageUsers(ctx, start, all[start:min(start+4, len(all))]); err != nil {
			t.Fatal(err)
		}
	}
	want := cloud.NewSnapshot()
	want.ApplyUsers(true, all)
	if err := s.SaveCloud(ctx, state.CloudUpdate{Snapshot: cloud.NewSnapshot(), FullUsers: true, UsersStaged: true}); err != nil {
		t.Fatal(err)
	}
	got, _, err := s.LoadCloud(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Users) != 4 || want.Users["c"].DisplayName != "C4" || !reflect.DeepEqual(got.Users, want.Users) {
		t.Errorf("saved: %+v; want %+v", got.Users, want.Users)
	}
	var upn string
	if err := s.db.raw.QueryRow("SELECT upn FROM cloud_users WHERE id = 'b'").Scan(&upn); err != nil || upn != "b@contoso.com" {
		t.Errorf("b's upn column: %q, %v", upn, err)
	}
}
