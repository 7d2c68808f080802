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
			},
			AddGroup: func(t *testing.T, ou, name string) (string, string) {
				dn, sid, err := d.AddGroup(ou, name, "-2147483640")
				if err != nil {
					t.Fatal(err)
				}
				return dn, sid
			},
			Nest: func(t *testing.T, group, member string) {
				if err := d.AddMember(group, member); err != nil {
					t.Fatal(err)
				}
			},
			SetAttribute: func(t *testing.T, dn, name string, values []string) {
				if err := d.SetAttribute(dn, name, values); err != nil {
					t.Fatal(err)
				}
			}}
	})
}
