//go:build linux

package testdc

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/directory"
)

// The rights that restoring a deleted group needs (docs/permissions.md),
// as ACEs: list the Deleted Objects container and read the objects in
// it; the Reanimate Tombstones extended right on the domain. Writing the
// restored group's attributes is the right it carried when deleted (the
// OU's delegation, inherited), and creating it in the OU the OU's.
const (
	reanimateTombstones = "45ec5156-db7e-47bb-b53f-dbeb2d03c40f"
	deletedObjectsACE   = "(A;;LCRP;;;%s)"
	reanimateACE        = "(OA;;CR;" + reanimateTombstones + ";;%s)"
)

// DelegateRestore gives the account sid the rights to restore deleted
// groups, for the length of the test: with reanimate, all of them; without,
// only to find them (list and read CN=Deleted Objects), as an admin who
// delegated half of it. samba-tool dsacl cannot see CN=Deleted Objects (it
// asserts on the missing object), so Samba's Python bindings set it, with
// the Show Deleted control, as docs/permissions.md tells Samba admins.
func (dc *DC) DelegateRestore(t testing.TB, sid string, reanimate bool) {
	t.Helper()
	aces := map[string]string{"CN=Deleted Objects," + BaseDN: fmt.Sprintf(deletedObjectsACE, sid)}
	if reanimate {
		aces[BaseDN] = fmt.Sprintf(reanimateACE, sid)
	}
	for dn, ace := range aces {
		old := dc.sd(t, dn, "")
		dc.sd(t, dn, ace)
		t.Cleanup(func() { dc.sd(t, dn, old) })
	}
}

// sd edits the security descriptor of dn on the DC's database with Samba's
// Python bindings (samba.sd_utils), the Show Deleted control on: set, an
// ACE in SDDL, is added to the DACL; set, a whole descriptor in SDDL
// (from "O:"), replaces it. It returns the descriptor as it was, in SDDL.
// (SDUtils.dacl_delete_aces of Samba 4.17 finds no ACE to delete: the
// descriptor is put back whole instead.)
func (dc *DC) sd(t testing.TB, dn, set string) string {
	t.Helper()
	py := fmt.Sprintf(`import sys, samba.samdb as s, samba.param as p, samba.auth as a, samba.sd_utils as u
from samba.dcerpc import security
lp = p.LoadParm(); lp.load(%q)
db = s.SamDB(url=lp.samdb_url(), lp=lp, session_info=a.system_session())
sd = u.SDUtils(db)
dn, set = %q, %q
sys.stdout.write(sd.get_sd_as_sddl(dn))
if set.startswith("O:"):
    sd.modify_sd_on_dn(dn, security.descriptor.from_sddl(set, security.dom_sid(db.get_domain_sid())), controls=["show_deleted:1"])
elif set:
    sd.dacl_add_ace(dn, set)
`, filepath.Join(dc.Dir, "smb.conf"), dn, set)
	out, err := exec.Command("/usr/bin/python3", "-c", py).CombinedOutput()
	if err != nil {
		t.Fatalf("testdc: the security descriptor of %s: %v: %s", dn, err, out)
	}
	return string(out)
}

// DelegatedSID is the delegated account's objectSid.
func (dc *DC) DelegatedSID(t testing.TB) string {
	t.Helper()
	e := dc.Search(t, DelegatedDN, ldap.ScopeBaseObject, "(objectClass=*)", "objectSid")
	if len(e) != 1 {
		t.Fatalf("testdc: no %s", DelegatedDN)
	}
	return directory.SIDString(e[0].GetRawAttributeValue("objectSid"))
}

func (a sambaAdmin) DelegateRestore(t testing.TB, reanimate bool) {
	t.Helper()
	a.dc.DelegateRestore(t, a.dc.DelegatedSID(t), reanimate)
}
