//go:build linux

package testdc

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/secret"
)

// showDeleted is the LDAP control that makes tombstones visible.
const showDeleted = "1.2.840.113556.1.4.417"

// OnSamba is the directory suite's fixture on a DC of the schema o: the
// test binary's shared DC, or, with own, one of the test's own (tests
// that stop or freeze it). The tool's directory client binds as the
// delegated account, as in production; the admin's hand as
// Administrator.
func OnSamba(t testing.TB, o directorytest.Options, own bool) directorytest.Fixture {
	t.Helper()
	opts := Options{Exchange: o.Exchange, Anchor: o.Anchor}
	var dc *DC
	if own {
		Need(t, Available)
		var err error
		if dc, err = Start(context.Background(), opts); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dc.Close() })
	} else {
		dc = Shared(t, opts)
	}
	cfg := directory.Config{URL: dc.URL, BindDN: DelegatedDN, Password: secret.New(DelegatedPassword), CAFile: dc.CAFile, BaseDN: BaseDN}
	c, err := cfg.Open(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return dc.FixtureOf(c)
}

// FixtureOf is the directory suite's fixture for a client of dc.
func (dc *DC) FixtureOf(c *directory.Client) directorytest.Fixture {
	return directorytest.Fixture{Kind: directorytest.Samba, Dir: c, BaseDN: BaseDN, Admin: sambaAdmin{dc}, Faults: sambaFaults{dc},
		Schema: c.Schema(), Writes: func() int64 { return c.Counters().Writes() },
		Reads: func() (int64, int64) { n := c.Counters(); return n.MemberValues, n.LookedUp }}
}

// sambaAdmin is the admin's hand on a DC: an LDAP connection bound as
// Administrator.
type sambaAdmin struct{ dc *DC }

func (a sambaAdmin) conn(t testing.TB) *ldap.Conn {
	t.Helper()
	conn, err := a.dc.Admin()
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func (a sambaAdmin) NewOU(t testing.TB, name string) string { t.Helper(); return a.dc.NewOU(t, name) }

func (a sambaAdmin) Users(t testing.TB, n int) []directorytest.User {
	t.Helper()
	fx := a.dc.Fixtures(t)
	if n > len(fx) {
		t.Fatalf("testdc: %d users asked, the DC has %d", n, len(fx))
	}
	out := make([]directorytest.User, n)
	for i, u := range fx[:n] {
		out[i] = directorytest.User{Name: u.Name, DN: u.DN, SID: u.SID, GUID: u.GUID}
	}
	return out
}

func (a sambaAdmin) AddUsers(t testing.TB, ou string, names []string) []directorytest.User {
	t.Helper()
	var out []directorytest.User
	for _, u := range a.dc.AddUsers(t, ou, names) {
		out = append(out, directorytest.User{Name: u.Name, DN: u.DN, SID: u.SID, GUID: u.GUID})
	}
	return out
}

func (a sambaAdmin) AddGroup(t testing.TB, ou, name string) (string, string) {
	t.Helper()
	return a.dc.AddGroup(t, ou, name)
}

func (a sambaAdmin) Add(t testing.TB, dn string, attrs map[string][]string) {
	t.Helper()
	conn := a.conn(t)
	defer conn.Close()
	req := ldap.NewAddRequest(dn, nil)
	for name, values := range attrs {
		req.Attribute(name, values)
	}
	if err := conn.Add(req); err != nil {
		t.Fatalf("testdc: add %s: %v", dn, err)
	}
}

func (a sambaAdmin) Nest(t testing.TB, group, member string) { t.Helper(); a.dc.Nest(t, group, member) }

func (a sambaAdmin) Unnest(t testing.TB, group, member string) {
	t.Helper()
	a.dc.modify(t, group, func(m *ldap.ModifyRequest) { m.Delete("member", []string{member}) })
}

func (a sambaAdmin) SetAttribute(t testing.TB, dn, name string, values []string) {
	t.Helper()
	a.dc.SetAttribute(t, dn, name, values)
}

func (a sambaAdmin) ModifyDN(t testing.TB, dn, newRDN, newParent string) string {
	t.Helper()
	conn := a.conn(t)
	defer conn.Close()
	if err := conn.ModifyDN(ldap.NewModifyDNRequest(dn, newRDN, true, newParent)); err != nil {
		t.Fatalf("testdc: rename %s: %v", dn, err)
	}
	if newParent == "" {
		_, newParent = policy.SplitDN(dn)
	}
	return newRDN + "," + newParent
}

func (a sambaAdmin) Delete(t testing.TB, dn string) {
	t.Helper()
	conn := a.conn(t)
	defer conn.Close()
	if err := conn.Del(ldap.NewDelRequest(dn, nil)); err != nil {
		t.Fatalf("testdc: delete %s: %v", dn, err)
	}
}

// tombstone finds the tombstone of the object guid under CN=Deleted Objects.
func (a sambaAdmin) tombstone(t testing.TB, conn *ldap.Conn, guid string) *ldap.Entry {
	t.Helper()
	res, err := conn.Search(ldap.NewSearchRequest("CN=Deleted Objects,"+BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		guidFilter(t, guid), []string{"*"}, []ldap.Control{ldap.NewControlString(showDeleted, true, "")}))
	if err != nil {
		t.Fatalf("testdc: tombstone of %s: %v", guid, err)
	}
	if len(res.Entries) == 0 {
		return nil
	}
	return res.Entries[0]
}

func (a sambaAdmin) Tombstone(t testing.TB, guid string) *directorytest.Entry {
	t.Helper()
	conn := a.conn(t)
	defer conn.Close()
	if e := a.tombstone(t, conn, guid); e != nil {
		return entryOf(e)
	}
	return nil
}

// Reanimate restores a tombstone as measured on Samba 4.17
// (facts-2026.md): one modify with the Show Deleted control that deletes
// isDeleted and replaces distinguishedName.
func (a sambaAdmin) Reanimate(t testing.TB, guid, dn string) {
	t.Helper()
	conn := a.conn(t)
	defer conn.Close()
	tomb := a.tombstone(t, conn, guid)
	if tomb == nil {
		t.Fatalf("testdc: no tombstone of %s", guid)
	}
	mod := ldap.NewModifyRequest(tomb.DN, []ldap.Control{ldap.NewControlString(showDeleted, true, "")})
	mod.Delete("isDeleted", nil)
	mod.Replace("distinguishedName", []string{dn})
	if err := conn.Modify(mod); err != nil {
		t.Fatalf("testdc: reanimate %s: %v", guid, err)
	}
}

func (a sambaAdmin) Read(t testing.TB, dn string) *directorytest.Entry {
	t.Helper()
	conn := a.conn(t)
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)",
		[]string{"*", "member;range=0-*"}, nil))
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return nil
	}
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("testdc: read %s: %v", dn, err)
	}
	return entryOf(res.Entries[0])
}

func (a sambaAdmin) Find(t testing.TB, base, attr, value string) []directorytest.Entry {
	t.Helper()
	conn := a.conn(t)
	defer conn.Close()
	filter := "(" + ldap.EscapeFilter(attr) + "=" + ldap.EscapeFilter(value) + ")"
	if strings.EqualFold(attr, "objectGUID") {
		filter = guidFilter(t, value)
	}
	res, err := conn.SearchWithPaging(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, filter,
		[]string{"*", "member;range=0-*"}, nil), 500)
	if err != nil {
		t.Fatalf("testdc: search %s %s: %v", base, filter, err)
	}
	var out []directorytest.Entry
	for _, e := range res.Entries {
		out = append(out, *entryOf(e))
	}
	return out
}

func (a sambaAdmin) Dump(t testing.TB) directorytest.Dump {
	t.Helper()
	d, err := a.dc.Dump()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// guidFilter is an LDAP filter on objectGUID (escaped bytes).
func guidFilter(t testing.TB, guid string) string {
	b, err := directory.GUIDBytes(guid)
	if err != nil {
		t.Fatalf("testdc: GUID %q: %v", guid, err)
	}
	var f strings.Builder
	f.WriteString("(objectGUID=")
	for _, c := range b {
		fmt.Fprintf(&f, `\%02x`, c)
	}
	f.WriteString(")")
	return f.String()
}

// entryOf is an LDAP entry as the suite reads entries.
func entryOf(e *ldap.Entry) *directorytest.Entry {
	out := &directorytest.Entry{DN: e.DN, Attrs: map[string][]string{}}
	for _, a := range e.Attributes {
		name, _, _ := strings.Cut(strings.ToLower(a.Name), ";")
		switch name {
		case "objectclass":
			out.Class = a.Values
		case "objectguid":
			out.GUID = directory.GUIDString(a.ByteValues[0])
		case "objectsid":
			out.SID = directory.SIDString(a.ByteValues[0])
		case "member":
			out.Members = append(out.Members, a.Values...)
		default:
			out.Attrs[name] = append(out.Attrs[name], a.Values...)
		}
	}
	return out
}

// sambaFaults stop and freeze a DC of the test's own.
type sambaFaults struct{ dc *DC }

func (f sambaFaults) Stop(testing.TB) { f.dc.Kill() }

func (f sambaFaults) Start(t testing.TB) {
	t.Helper()
	if err := f.dc.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (f sambaFaults) Freeze() { f.dc.Freeze() }
func (f sambaFaults) Thaw()   { f.dc.Thaw() }
