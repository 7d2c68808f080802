package directorytest

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/groupwriteback/groupwriteback/internal/directory/memdir"
)

// MemdirBase is the root of the domains OnMemdir makes: the test DC's.
const MemdirBase = "DC=contoso,DC=test"

// OnMemdir is a fresh in-memory domain with the schema o chooses.
func OnMemdir(t testing.TB, o Options) Fixture {
	d := memdir.NewWith(MemdirBase, memdir.Options{Exchange: o.Exchange, Anchor: o.Anchor})
	return Fixture{Kind: Memdir, Dir: d, BaseDN: MemdirBase, Admin: &memAdmin{d: d}, Faults: memFaults{d}, Schema: d.Schema(), Writes: d.Writes, Reads: d.Reads}
}

// memAdmin is the admin's hand on a memdir domain.
type memAdmin struct {
	d     *memdir.Directory
	mu    sync.Mutex
	ous   int
	users []User
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (a *memAdmin) NewOU(t testing.TB, name string) string {
	t.Helper()
	a.mu.Lock()
	a.ous++
	n := a.ous
	a.mu.Unlock()
	dn, err := a.d.AddOU(MemdirBase, fmt.Sprintf("%s %d", name, n))
	must(t, err)
	return dn
}

// Users makes the users on first use, in OU=Fixture Users as the test
// DC's template holds them, named as it names them.
func (a *memAdmin) Users(t testing.TB, n int) []User {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.users) == 0 {
		_, err := a.d.AddOU(MemdirBase, "Fixture Users")
		must(t, err)
	}
	for i := len(a.users); i < n; i++ {
		name := fmt.Sprintf("fixture-%05d", i)
		u, err := a.d.AddUser("OU=Fixture Users,"+MemdirBase, name)
		must(t, err)
		a.users = append(a.users, User{Name: name, DN: u.DN, SID: u.SID, GUID: u.GUID})
	}
	return a.users[:n]
}

func (a *memAdmin) AddUsers(t testing.TB, ou string, names []string) []User {
	t.Helper()
	var out []User
	for _, n := range names {
		u, err := a.d.AddUser(ou, n)
		must(t, err)
		out = append(out, User{Name: n, DN: u.DN, SID: u.SID, GUID: u.GUID})
	}
	return out
}

func (a *memAdmin) AddGroup(t testing.TB, ou, name string) (string, string) {
	t.Helper()
	dn, sid, err := a.d.AddGroup(ou, name, "-2147483640")
	must(t, err)
	return dn, sid
}

func (a *memAdmin) Add(t testing.TB, dn string, attrs map[string][]string) {
	t.Helper()
	must(t, a.d.AddObject(dn, attrs))
}

func (a *memAdmin) Nest(t testing.TB, group, member string) {
	t.Helper()
	must(t, a.d.AddMember(group, member))
}

func (a *memAdmin) Unnest(t testing.TB, group, member string) {
	t.Helper()
	must(t, a.d.RemoveMember(group, member))
}

func (a *memAdmin) SetAttribute(t testing.TB, dn, name string, values []string) {
	t.Helper()
	must(t, a.d.SetAttribute(dn, name, values))
}

func (a *memAdmin) ModifyDN(t testing.TB, dn, newRDN, newParent string) string {
	t.Helper()
	out, err := a.d.ModifyDN(dn, newRDN, newParent)
	must(t, err)
	return out
}

func (a *memAdmin) Delete(t testing.TB, dn string) {
	t.Helper()
	must(t, a.d.Delete(dn))
}

func (a *memAdmin) Tombstone(t testing.TB, guid string) *Entry {
	o, ok := a.d.Tombstone(guid)
	if !ok {
		return nil
	}
	return entryOf(o)
}

func (a *memAdmin) DelegateRestore(t testing.TB, reanimate bool) {
	a.d.SetRestoreRights(true, reanimate)
	t.Cleanup(func() { a.d.SetRestoreRights(false, false) })
}

func (a *memAdmin) Reanimate(t testing.TB, guid, dn string) {
	t.Helper()
	must(t, a.d.Reanimate(guid, dn))
}

func (a *memAdmin) Read(t testing.TB, dn string) *Entry {
	o, ok := a.d.Read(dn)
	if !ok {
		return nil
	}
	return entryOf(o)
}

func (a *memAdmin) Find(t testing.TB, base, attr, value string) []Entry {
	var out []Entry
	for _, o := range a.d.Find(base, attr, value) {
		out = append(out, *entryOf(o))
	}
	return out
}

func (a *memAdmin) Dump(t testing.TB) Dump {
	d := Dump{}
	for _, o := range a.d.Objects() {
		e := DumpEntry{"objectclass": sorted(o.Class), "objectguid": {o.GUID}}
		if o.SID != "" {
			e["objectsid"] = []string{o.SID}
		}
		for k, v := range o.Attrs {
			e[k] = sorted(v)
		}
		if len(o.Members) > 0 {
			e["member"] = sorted(o.Members)
		}
		d[strings.ToLower(o.DN)] = e
	}
	return d
}

func entryOf(o memdir.Object) *Entry {
	return &Entry{DN: o.DN, GUID: o.GUID, SID: o.SID, Class: o.Class, Attrs: o.Attrs, Members: o.Members}
}

func sorted(v []string) []string {
	out := append([]string(nil), v...)
	sort.Strings(out)
	return out
}

// memFaults stop and freeze a memdir domain.
type memFaults struct{ d *memdir.Directory }

func (f memFaults) Stop(testing.TB)  { f.d.Stop() }
func (f memFaults) Start(testing.TB) { f.d.Start() }
func (f memFaults) Freeze()          { f.d.Freeze() }
func (f memFaults) Thaw()            { f.d.Thaw() }
