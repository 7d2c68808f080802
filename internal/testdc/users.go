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

// User is a fixture user created in a test OU.
type User struct {
	Name string
	DN   string
	SID  string
	GUID string
}

// AddUsers creates disabled users (no password needed) named names in ou
// and returns them with the SID and GUID the DC gave them.
func (dc *DC) AddUsers(t testing.TB, ou string, names []string) []User {
	t.Helper()
	conn, err := dc.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, n := range names {
		req := ldap.NewAddRequest(fmt.Sprintf("CN=%s,%s", ldap.EscapeDN(n), ou), nil)
		req.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "user"})
		req.Attribute("sAMAccountName", []string{n})
		req.Attribute("userAccountControl", []string{"514"})
		if err := conn.Add(req); err != nil {
			t.Fatalf("testdc: add user %s: %v", n, err)
		}
	}
	res, err := conn.SearchWithPaging(ldap.NewSearchRequest(ou, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=user)", []string{"sAMAccountName", "objectSid", "objectGUID"}, nil), 500)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*ldap.Entry{}
	for _, e := range res.Entries {
		byName[e.GetAttributeValue("sAMAccountName")] = e
	}
	out := make([]User, len(names))
	for i, n := range names {
		e := byName[n]
		if e == nil {
			t.Fatalf("testdc: user %s not found after adding it", n)
		}
		out[i] = User{Name: n, DN: e.DN, SID: directory.SIDString(e.GetRawAttributeValue("objectSid")), GUID: directory.GUIDString(e.GetRawAttributeValue("objectGUID"))}
	}
	return out
}

// FixtureOU holds the users every test DC is provisioned with: creating
// users is slow and gets slower as a directory grows, so they are made
// once, in the template, and copied with it.
const FixtureOU = "OU=Fixture Users," + BaseDN

// FixtureUserCount is how many fixture users there are: enough for a group
// of 5,000 members, more than three ranged reads of 1,500 values.
const FixtureUserCount = 5000

// FixtureName is the name (cn and sAMAccountName) of fixture user i.
func FixtureName(i int) string { return fmt.Sprintf("fixture-%05d", i) }

// Fixtures returns the DC's fixture users, in order, with their SIDs and GUIDs.
func (dc *DC) Fixtures(t testing.TB) []User {
	t.Helper()
	users, err := dc.FixtureUsers()
	if err != nil {
		t.Fatal(err)
	}
	return users
}

// FixtureUsers is Fixtures for programs: the users, or why they cannot
// be read.
func (dc *DC) FixtureUsers() ([]User, error) {
	dc.fixturesOnce.Do(func() {
		conn, err := dc.Admin()
		if err != nil {
			dc.fixturesErr = err
			return
		}
		defer conn.Close()
		res, err := conn.SearchWithPaging(ldap.NewSearchRequest(FixtureOU, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=user)", []string{"sAMAccountName", "objectSid", "objectGUID"}, nil), 1000)
		if err != nil {
			dc.fixturesErr = err
			return
		}
		byName := map[string]User{}
		for _, e := range res.Entries {
			n := e.GetAttributeValue("sAMAccountName")
			byName[n] = User{Name: n, DN: e.DN, SID: directory.SIDString(e.GetRawAttributeValue("objectSid")), GUID: directory.GUIDString(e.GetRawAttributeValue("objectGUID"))}
		}
		for i := range dc.Options.users() {
			u, ok := byName[FixtureName(i)]
			if !ok {
				dc.fixturesErr = fmt.Errorf("testdc: fixture user %s missing", FixtureName(i))
				return
			}
			dc.fixtures = append(dc.fixtures, u)
		}
	})
	return dc.fixtures, dc.fixturesErr
}

// AddGroup creates, as an admin would, a universal security group named
// name in ou, carrying no anchor, and returns its DN and SID.
func (dc *DC) AddGroup(t testing.TB, ou, name string) (dn, sid string) {
	t.Helper()
	conn, err := dc.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dn = fmt.Sprintf("CN=%s,%s", ldap.EscapeDN(name), ou)
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"top", "group"})
	req.Attribute("sAMAccountName", []string{name})
	req.Attribute("groupType", []string{"-2147483640"})
	if err := conn.Add(req); err != nil {
		t.Fatalf("testdc: add group %s: %v", name, err)
	}
	res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"objectSid"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("testdc: read group %s: %v", name, err)
	}
	return dn, directory.SIDString(res.Entries[0].GetRawAttributeValue("objectSid"))
}

// Nest makes member a member of group, as an admin would, and takes it out
// again when the test ends: tests share a DC, and a group left in Domain
// Admins would outlive its test.
func (dc *DC) Nest(t testing.TB, group, member string) {
	t.Helper()
	dc.modify(t, group, func(m *ldap.ModifyRequest) { m.Add("member", []string{member}) })
	t.Cleanup(func() {
		conn, err := dc.Admin()
		if err != nil {
			return
		}
		defer conn.Close()
		m := ldap.NewModifyRequest(group, nil)
		m.Delete("member", []string{member})
		_ = conn.Modify(m) // gone with its OU, or already out: nothing to undo
	})
}

// SetAttribute replaces an attribute's values, as an admin would.
func (dc *DC) SetAttribute(t testing.TB, dn, name string, values []string) {
	t.Helper()
	dc.modify(t, dn, func(m *ldap.ModifyRequest) { m.Replace(name, values) })
}

func (dc *DC) modify(t testing.TB, dn string, edit func(*ldap.ModifyRequest)) {
	t.Helper()
	conn, err := dc.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m := ldap.NewModifyRequest(dn, nil)
	edit(m)
	if err := conn.Modify(m); err != nil {
		t.Fatalf("testdc: modify %s: %v", dn, err)
	}
}

// SambaTool runs samba-tool on the DC's own database, as an admin does on
// a Samba DC, with args (a command line, as the docs print it); it fails
// the test on an error.
func (dc *DC) SambaTool(t testing.TB, args string) string {
	t.Helper()
	out, err := exec.Command("sh", "-c", "samba-tool "+args+" -s '"+filepath.Join(dc.Dir, "smb.conf")+"'").CombinedOutput()
	if err != nil {
		t.Fatalf("testdc: samba-tool %s: %v: %s", args, err, out)
	}
	return string(out)
}
