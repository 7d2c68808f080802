//go:build linux

package store_test

import (
	"context"
	"os"
	"testing"

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
