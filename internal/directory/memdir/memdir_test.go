package memdir_test

import (
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
	"github.com/groupwriteback/groupwriteback/internal/directory/memdir"
)

const base = "DC=contoso,DC=test"

// The in-memory directory passes the suite directory.Client passes
// against Samba, or it does not exist.
func TestConformance(t *testing.T) {
	directorytest.Run(t, func(t *testing.T) directorytest.Fixture {
		d := memdir.New(base)
		return directorytest.Fixture{Dir: d, BaseDN: base,
			NewOU: func(t *testing.T, name string) string {
				dn, err := d.AddOU(base, name)
				if err != nil {
					t.Fatal(err)
				}
				return dn
			},
			AddUsers: func(t *testing.T, ou string, names []string) []directorytest.User {
				var out []directorytest.User
				for _, n := range names {
					u, err := d.AddUser(ou, n)
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, directorytest.User{DN: u.DN, SID: u.SID, GUID: u.GUID})
				}
				return out
			}}
	})
}
