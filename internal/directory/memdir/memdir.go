// Package memdir is an Active Directory held in memory, for engine tests
// that need no domain controller. It keeps the rules of AD that the engine
// meets (a parent must exist, names are unique in their container and
// sAMAccountName in the domain, members must exist and follow renames,
// deleted objects leave every group) and the contract of directory.Client
// (ownership checked before every write, retries that find their work done
// succeed). It passes the same conformance suite as directory.Client
// against Samba (directorytest); what it does not model, it refuses.
package memdir

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// The engine reads and writes AD through this directory as through
// directory.Client.
var (
	_ engine.DirectoryReader = (*Directory)(nil)
	_ gate.Target            = (*Directory)(nil)
	_ engine.ForestReader    = (*Directory)(nil)
)

// domainSID is the SID of the domain New makes.
const domainSID = "S-1-5-21-3623811015-3361044348-30300820"

// Directory is one domain in memory. It is safe for concurrent use.
type Directory struct {
	mu     sync.Mutex
	base   string
	byKey  map[string]*entry // by normalised DN
	byGUID map[string]*entry
	bySID  map[string]*entry // by upper-case SID
	bySAM  map[string]*entry // by lower-case sAMAccountName
	// holders are, by member GUID, the GUIDs of the groups holding it:
	// memberOf, as AD keeps it beside member.
	holders map[string]map[string]bool
	nextRID int
	writes  atomic.Int64
	// read counts the member values read, looked the values looked up.
	read, looked atomic.Int64
	// domains are the forest's domains: naming context → domain SID.
	domains map[string]string
	opts    Options
	// tombstones are the objects deleted by hand, by GUID, as AD keeps
	// them under CN=Deleted Objects (faults.go, admin.go).
	tombstones map[string]*entry
	// listDeleted and reanimate are the bind account's rights on deleted
	// objects (SetRestoreRights): none by default, as on Windows.
	listDeleted, reanimate bool
	faults                 faults
}

type entry struct {
	dn       string
	guid     string // as directory.GUIDString writes it
	sid      string
	class    []string
	critical bool
	attrs    map[string][]string // by lower-case name; names kept as first written
	names    map[string]string   // lower-case name → name as written
	members  []string            // GUIDs of member objects, in order added
	isMember map[string]bool     // the same, as a set (addMember builds it)
	dir      *Directory          // whose indexes set keeps
	// lastKnownParent is where a deleted object was deleted from.
	lastKnownParent string
}

// New returns a domain whose root is base, with the containers every
// domain has (CN=Users, CN=Builtin, CN=Computers, CN=System and
// OU=Domain Controllers, all critical) and its built-in privileged accounts and groups, as AD marks
// them (critical, adminCount=1): Administrator, a member of Domain Admins,
// itself a member of Administrators; Enterprise Admins and Schema Admins;
// krbtgt; and the domain controller's computer account (critical).
func New(base string) *Directory { return NewWith(base, Options{}) }

// NewWith is New with the schema o chooses.
func NewWith(base string, o Options) *Directory {
	d := &Directory{base: base, opts: o, tombstones: map[string]*entry{}, byKey: map[string]*entry{}, byGUID: map[string]*entry{}, bySID: map[string]*entry{}, bySAM: map[string]*entry{},
		holders: map[string]map[string]bool{}, nextRID: 1100, domains: map[string]string{base: domainSID}}
	d.add(base, []string{"top", "domain", "domainDNS"}, true)
	d.add("CN=Users,"+base, []string{"top", "container"}, true)
	d.add("CN=Builtin,"+base, []string{"top", "builtinDomain"}, true)
	d.add("CN=Computers,"+base, []string{"top", "container"}, true)
	d.add("CN=System,"+base, []string{"top", "container"}, true)
	d.add("OU=Domain Controllers,"+base, []string{"top", "organizationalUnit"}, true)
	builtin := func(dn, sam, sid string, class []string) *entry {
		e := d.add(dn, class, true)
		delete(d.bySID, strings.ToUpper(e.sid))
		e.sid = sid
		d.bySID[strings.ToUpper(sid)] = e
		e.set("sAMAccountName", []string{sam})
		e.set("adminCount", []string{"1"})
		return e
	}
	group := []string{"top", "group"}
	admins := builtin("CN=Administrators,CN=Builtin,"+base, "Administrators", "S-1-5-32-544", group)
	domainAdmins := builtin("CN=Domain Admins,CN=Users,"+base, "Domain Admins", domainSID+"-512", group)
	builtin("CN=Enterprise Admins,CN=Users,"+base, "Enterprise Admins", domainSID+"-519", group)
	builtin("CN=Schema Admins,CN=Users,"+base, "Schema Admins", domainSID+"-518", group)
	user := []string{"top", "person", "organizationalPerson", "user"}
	administrator := builtin("CN=Administrator,CN=Users,"+base, "Administrator", domainSID+"-500", user)
	builtin("CN=krbtgt,CN=Users,"+base, "krbtgt", domainSID+"-502", user)
	dc := builtin("CN=DC1,OU=Domain Controllers,"+base, "DC1$", domainSID+"-1000", append(slices.Clone(user), "computer"))
	dc.set("adminCount", nil) // a DC's account is critical, and in no protected group
	admins.addMember(domainAdmins.guid)
	domainAdmins.addMember(administrator.guid)
	return d
}

// AddDomain adds another domain of the forest, with its root nc, its SID
// and a CN=Users container: its objects are found only through the
// forest (engine.ForestBase), as through the global catalog.
func (d *Directory) AddDomain(nc, sid string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.domains[nc] = sid
	d.add(nc, []string{"top", "domain", "domainDNS"}, true)
	d.add("CN=Users,"+nc, []string{"top", "container"}, true)
}

// domainOf is the naming context of the domain dn lies in: the deepest
// domain root above it (or at it).
func (d *Directory) domainOf(dn string) string {
	nc := ""
	for root := range d.domains {
		if policy.Within(dn, root) && (nc == "" || policy.Within(root, nc)) {
			nc = root
		}
	}
	return nc
}

// ForestDomainSIDs are the SIDs of the forest's domains.
func (d *Directory) ForestDomainSIDs(ctx context.Context) ([]string, error) {
	if err := d.answer(ctx); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, sid := range d.domains {
		out = append(out, sid)
	}
	slices.Sort(out)
	return out, nil
}

// BaseDN is the domain's root.
func (d *Directory) BaseDN() string { return d.base }

// Writes counts the writes applied, as directory.Client's counters do.
func (d *Directory) Writes() int64 { return d.writes.Load() }

// User is a seeded user.
type User struct {
	DN, SID, GUID string
	// ImmutableID is Entra's onPremisesImmutableId for the user: its
	// objectGUID in base64.
	ImmutableID string
}

func (d *Directory) addChecked(dn string, class []string) (*entry, error) {
	k, err := key(dn)
	if err != nil {
		return nil, d.fail("add", dn, ldap.LDAPResultInvalidDNSyntax, err.Error())
	}
	if d.byKey[k] != nil {
		return nil, d.fail("add", dn, ldap.LDAPResultEntryAlreadyExists, "an object of that name exists")
	}
	if _, parent := policy.SplitDN(dn); d.lookupDN(parent) == nil {
		return nil, d.fail("add", dn, ldap.LDAPResultNoSuchObject, "the parent does not exist")
	}
	return d.add(dn, class, false), nil
}

func (d *Directory) add(dn string, class []string, critical bool) *entry {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	d.nextRID++
	e := &entry{dn: dn, guid: directory.GUIDString(b), class: class, critical: critical, attrs: map[string][]string{}, names: map[string]string{}, dir: d}
	if slices.Contains(class, "user") || slices.Contains(class, "group") {
		e.sid = fmt.Sprintf("%s-%d", d.domains[d.domainOf(dn)], d.nextRID)
		d.bySID[strings.ToUpper(e.sid)] = e
	}
	k, _ := key(dn)
	d.byKey[k] = e
	d.byGUID[e.guid] = e
	return e
}

func (e *entry) set(name string, values []string) {
	l := strings.ToLower(name)
	if l == "samaccountname" && e.dir != nil {
		delete(e.dir.bySAM, strings.ToLower(e.get(name)))
		if len(values) > 0 {
			e.dir.bySAM[strings.ToLower(values[0])] = e
		}
	}
	if len(values) == 0 {
		delete(e.attrs, l)
		delete(e.names, l)
		return
	}
	e.attrs[l] = slices.Clone(values)
	if e.names[l] == "" {
		e.names[l] = name
	}
}

func (e *entry) get(name string) string {
	if v := e.attrs[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (e *entry) isGroup() bool { return slices.Contains(e.class, "group") }

// key normalises a DN as AD compares them: attribute types and values
// without regard to case, escapes resolved.
func key(dn string) (string, error) {
	parsed, err := policy.ParseDN(dn)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, rdn := range parsed.RDNs {
		for _, a := range rdn.Attributes {
			b.WriteString(strings.ToLower(a.Type) + "=" + strings.ToLower(a.Value) + "\x00")
		}
		b.WriteString("\x01")
	}
	return b.String(), nil
}

func (d *Directory) lookupDN(dn string) *entry {
	k, err := key(dn)
	if err != nil {
		return nil
	}
	return d.byKey[k]
}

func (d *Directory) fail(op, dn string, code uint16, msg string) error {
	return &directory.Error{Op: op, DN: dn, Code: code, Message: msg}
}

// under lists the entries at or below base, in DN order.
func (d *Directory) under(base string) []*entry {
	return d.underWhere(base, func(*entry) bool { return true })
}

// underWhere is under, of the entries keep keeps (tried first: it is
// cheaper than comparing DNs).
func (d *Directory) underWhere(base string, keep func(*entry) bool) []*entry {
	var out []*entry
	for _, e := range d.byKey {
		if keep(e) && policy.Within(e.dn, base) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b *entry) int { return strings.Compare(strings.ToLower(a.dn), strings.ToLower(b.dn)) })
	return out
}

// OwnedGroups returns every group under base that carries a Group_ anchor.
func (d *Directory) OwnedGroups(ctx context.Context, base string, managed []string) ([]reconcile.ADGroup, error) {
	return d.groups(ctx, base, managed, true, func(e *entry) bool {
		return strings.HasPrefix(e.get("adminDescription"), "Group_") || strings.HasPrefix(e.get(directory.AnchorAttribute), "Group_")
	})
}

// GroupsByAnchor returns the groups under base whose anchor is one of
// anchors.
func (d *Directory) GroupsByAnchor(ctx context.Context, base string, anchors, managed []string) ([]reconcile.ADGroup, error) {
	return d.groups(ctx, base, managed, true, anchoredBy(anchors))
}

// anchoredBy matches an entry carrying one of anchors.
func anchoredBy(anchors []string) func(*entry) bool {
	return func(e *entry) bool {
		return slices.Contains(anchors, e.get("adminDescription")) || slices.Contains(anchors, e.get(directory.AnchorAttribute))
	}
}

// GroupAttrsByAnchor is GroupsByAnchor without the members.
func (d *Directory) GroupAttrsByAnchor(ctx context.Context, base string, anchors, managed []string) ([]reconcile.ADGroup, error) {
	return d.groups(ctx, base, managed, false, anchoredBy(anchors))
}

// Reads counts the member values read and the values looked up: what a
// directory.Client would fetch from AD.
func (d *Directory) Reads() (members, lookedUp int64) { return d.read.Load(), d.looked.Load() }

// ReadGroup returns the group at dn, or nil when there is none.
func (d *Directory) ReadGroup(ctx context.Context, dn string, attrs []string) (*reconcile.ADGroup, error) {
	gs, err := d.groups(ctx, dn, attrs, true, func(e *entry) bool { return policy.SameDN(e.dn, dn) })
	if err != nil || len(gs) == 0 {
		return nil, err
	}
	return &gs[0], nil
}

func (d *Directory) groups(ctx context.Context, base string, managed []string, members bool, match func(*entry) bool) ([]reconcile.ADGroup, error) {
	if err := d.answer(ctx); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	out := []reconcile.ADGroup{} // a base that does not exist holds nothing, as the client reads it
	for _, e := range d.underWhere(base, func(e *entry) bool { return e.isGroup() && match(e) }) {
		g := reconcile.ADGroup{DN: e.dn, GUID: e.guid, Attrs: map[string][]string{}}
		g.Anchor = directory.GroupAnchor(e.get("adminDescription"), e.get(directory.AnchorAttribute))
		for _, m := range managed {
			if v := e.attrs[strings.ToLower(m)]; len(v) > 0 {
				g.Attrs[m] = slices.Clone(v)
			}
		}
		g.MembersUnread = !members
		if members {
			for _, guid := range e.members {
				g.Members = append(g.Members, d.byGUID[guid].dn)
			}
		}
		d.read.Add(int64(len(g.Members)))
		out = append(out, g)
	}
	return out, nil
}

// Lookup finds objects under base by one kind of key and returns them by
// the value as given; values that match nothing, or are malformed, are
// absent.
func (d *Directory) Lookup(ctx context.Context, kind reconcile.KeyKind, base string, values []string) (map[string]reconcile.ADObject, error) {
	if err := d.answer(ctx); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]reconcile.ADObject{}
	d.looked.Add(int64(len(values)))
	for _, v := range values {
		e := d.find(kind, v)
		// A domain's search stops at its naming context: a child domain
		// below it in the DN tree is another partition.
		inBase := e != nil && policy.Within(e.dn, base) && d.domainOf(e.dn) == d.domainOf(base)
		inForest := e != nil && base == engine.ForestBase && (kind == reconcile.BySID || kind == reconcile.ByDN)
		if inBase || inForest {
			gt, _ := strconv.ParseInt(e.get("groupType"), 10, 64)
			out[v] = reconcile.ADObject{DN: e.dn, GUID: e.guid, SID: e.sid, Class: slices.Clone(e.class), GroupType: gt, Critical: e.critical}
		}
	}
	return out, nil
}

// MatchUsers finds the user accounts under bases whose attribute attr
// equals one of values, case aside, as directory.Client does (by the value
// lower-cased; every one, enabled or not).
func (d *Directory) MatchUsers(ctx context.Context, attr string, bases, values []string) (map[string][]reconcile.ADObject, error) {
	if err := d.answer(ctx); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.looked.Add(int64(len(values)))
	want := map[string]bool{}
	for _, v := range values {
		want[strings.ToLower(v)] = true
	}
	out := map[string][]reconcile.ADObject{}
	seen := map[*entry]bool{}
	for _, base := range bases {
		for _, e := range d.under(base) {
			if seen[e] || !slices.Contains(e.class, "user") || slices.Contains(e.class, "computer") {
				continue
			}
			seen[e] = true
			for _, v := range e.attrs[strings.ToLower(attr)] {
				if k := strings.ToLower(v); want[k] {
					uac, _ := strconv.ParseInt(e.get("userAccountControl"), 10, 64)
					out[k] = append(out[k], reconcile.ADObject{DN: e.dn, GUID: e.guid, SID: e.sid, Class: slices.Clone(e.class), Critical: e.critical,
						Disabled: uac&2 != 0, AdminCount: e.get("adminCount") == "1", Synced: e.get("mS-DS-ConsistencyGuid") != ""})
				}
			}
		}
	}
	return out, nil
}

func (d *Directory) find(kind reconcile.KeyKind, v string) *entry {
	switch kind {
	case reconcile.ByGUID:
		if b, err := directory.GUIDBytes(v); err == nil {
			return d.byGUID[directory.GUIDString(b)]
		}
	case reconcile.ByImmutableID:
		if b, err := base64.StdEncoding.DecodeString(v); err == nil && len(b) == 16 {
			return d.byGUID[directory.GUIDString(b)]
		}
	case reconcile.BySID:
		if _, err := directory.SIDBytes(v); err == nil {
			return d.bySID[strings.ToUpper(v)]
		}
	case reconcile.ByDN:
		return d.lookupDN(v)
	case reconcile.ByAnchor:
		for _, e := range d.byKey {
			if e.get("adminDescription") == v {
				return e
			}
		}
	case reconcile.BySAM:
		return d.bySAM[strings.ToLower(v)]
	}
	return nil
}

// CheckContainer refuses an OU that is no safe place for groups, by the
// rules directory.Client applies.
func (d *Directory) CheckContainer(ctx context.Context, dn string, deep bool) error {
	if err := d.answer(ctx); err != nil {
		return err
	}
	if err := directory.CheckOUName(dn, d.base); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.lookupDN(dn)
	switch {
	case e == nil:
		return &directory.Error{Op: "read", DN: dn, Code: ldap.LDAPResultNoSuchObject, Message: "the OU does not exist", Err: directory.ErrNoSuchOU}
	case !slices.Contains(e.class, "organizationalUnit"):
		return &directory.UnsafeContainerError{DN: dn, Why: "it is not an organizational unit (objectClass " + strings.Join(e.class, ", ") + ")"}
	case e.critical:
		return &directory.UnsafeContainerError{DN: dn, Why: "AD marks it a critical system object (isCriticalSystemObject), as it does Domain Controllers"}
	}
	if deep {
		// Only the critical entries' DNs are compared: parsing every
		// entry's, at a million users, took more memory than the tool.
		if cs := d.underWhere(dn, func(e *entry) bool { return e.critical }); len(cs) > 0 {
			return &directory.UnsafeContainerError{DN: dn, Why: "it holds " + cs[0].dn + ", a critical system object (a domain controller, krbtgt, a built-in account or group)"}
		}
	}
	return nil
}
