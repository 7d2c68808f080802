package store_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/store"
	"github.com/groupwriteback/groupwriteback/internal/store/storetest"
)

// The engine keeps its state in this store.
var _ engine.Store = (*store.Store)(nil)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		s, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
