package memdir_test

import (
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
)

// The in-memory directory passes the suite directory.Client passes
// against Samba, or it does not exist.
func TestConformance(t *testing.T) {
	directorytest.Run(t, directorytest.OnMemdir)
}
