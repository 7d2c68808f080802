package memdir

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/policy"
)

// AddGroup makes a group called name under parent, with groupType gt
// ("-2147483640": universal security), as an admin would.
func (d *Directory) AddGroup(parent, name, gt string) (dn, sid string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dn = "CN=" + policy.EscapeRDNValue(name) + "," + parent
	e, err := d.addChecked(dn, []string{"top", "group"})
	if err != nil {
		return "", "", err
	}
	e.set("sAMAccountName", []string{name})
	e.set("groupType", []string{gt})
	return dn, e.sid, nil
}

// AddMember adds member to group as an admin would, with no gate: what an
// AD admin does outside the tool (nesting a group in Domain Admins, say).
func (d *Directory) AddMember(group, member string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	g, m := d.lookupDN(group), d.lookupDN(member)
	if g == nil || m == nil || !g.isGroup() {
		return d.fail("add members to", group, ldap.LDAPResultNoSuchObject, "no such group or member")
	}
	g.addMember(m.guid)
	return nil
}

// SetAttribute sets an attribute as an admin would (adminCount, say).
func (d *Directory) SetAttribute(dn, name string, values []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.lookupDN(dn)
	if e == nil {
		return d.fail("modify", dn, ldap.LDAPResultNoSuchObject, "no such object")
	}
	if strings.EqualFold(name, "member") {
		return fmt.Errorf("memdir: member is written with AddMember and RemoveMember")
	}
	if err := d.checkSchema("modify", dn, []string{name}); err != nil {
		return err
	}
	e.set(name, values)
	return nil
}

// AddOU makes an organizational unit called name under parent.
func (d *Directory) AddOU(parent, name string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dn := "OU=" + policy.EscapeRDNValue(name) + "," + parent
	_, err := d.addChecked(dn, []string{"top", "organizationalUnit"})
	return dn, err
}

// AddUser makes a user account called name under parent.
func (d *Directory) AddUser(parent, name string) (User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dn := "CN=" + policy.EscapeRDNValue(name) + "," + parent
	e, err := d.addChecked(dn, []string{"top", "person", "organizationalPerson", "user"})
	if err != nil {
		return User{}, err
	}
	e.set("sAMAccountName", []string{name})
	e.set("userAccountControl", []string{"514"}) // disabled, as AD makes an account added without a password (the test DC's are)
	b, _ := directory.GUIDBytes(e.guid)
	return User{DN: dn, SID: e.sid, GUID: e.guid, ImmutableID: base64.StdEncoding.EncodeToString(b)}, nil
}

// AddCritical makes an object AD marks isCriticalSystemObject (as it does
// krbtgt or a domain controller's computer account) at dn.
func (d *Directory) AddCritical(dn string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, err := d.addChecked(dn, []string{"top", "person", "organizationalPerson", "user", "computer"})
	if err == nil {
		e.critical = true
	}
	return err
}

// The rest of this file is the admin's hand beyond those: the changes
// made outside the tool (no gate, no ownership) that the tool must meet,
// and the reads a test checks AD with, as an admin's LDAP connection does
// them on Samba. The directory suite (directorytest) holds both to the
// same results.

// Object is an object as an admin reads it.
type Object struct {
	DN, GUID, SID string
	Class         []string
	// Attrs are the other attributes, by lower-case name.
	Attrs map[string][]string
	// Members are the DNs in member.
	Members []string
}

func (d *Directory) object(e *entry) Object {
	o := Object{DN: e.dn, GUID: e.guid, SID: e.sid, Class: slices.Clone(e.class), Attrs: map[string][]string{}}
	for k, v := range e.attrs {
		o.Attrs[k] = slices.Clone(v)
	}
	for _, g := range e.members {
		if m := d.byGUID[g]; m != nil {
			o.Members = append(o.Members, m.dn)
		}
	}
	return o
}

// Read reads the object at dn; ok is false when there is none.
func (d *Directory) Read(dn string) (o Object, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.lookupDN(dn)
	if e == nil {
		return Object{}, false
	}
	return d.object(e), true
}

// Find reads the objects under base whose attribute attr has the value
// (compared without regard to case), in DN order. objectClass, objectSid
// and objectGUID are found as an LDAP filter finds them.
func (d *Directory) Find(base, attr, value string) []Object {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Object
	for _, e := range d.underWhere(base, func(e *entry) bool { return e.has(attr, value) }) {
		out = append(out, d.object(e))
	}
	return out
}

func (e *entry) has(attr, value string) bool {
	switch strings.ToLower(attr) {
	case "objectclass":
		return slices.ContainsFunc(e.class, func(c string) bool { return strings.EqualFold(c, value) })
	case "objectsid":
		return strings.EqualFold(e.sid, value)
	case "objectguid":
		return strings.EqualFold(e.guid, value)
	}
	return slices.ContainsFunc(e.attrs[strings.ToLower(attr)], func(v string) bool { return strings.EqualFold(v, value) })
}

// Objects reads every object of the domain, in DN order (a dump).
func (d *Directory) Objects() []Object {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Object
	for _, e := range d.under(d.base) {
		out = append(out, d.object(e))
	}
	return out
}

// AddObject adds an object of any class, as an admin's LDAP add does:
// attrs holds objectClass and the other attributes; member values must
// name objects.
func (d *Directory) AddObject(dn string, attrs map[string][]string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var class, names []string
	for name, values := range attrs {
		if strings.EqualFold(name, "objectClass") {
			class = values
		}
		names = append(names, name)
	}
	if len(class) == 0 {
		return d.fail("add", dn, ldap.LDAPResultObjectClassViolation, "no objectClass")
	}
	if err := d.checkSchema("add", dn, names); err != nil {
		return err
	}
	for name, values := range attrs {
		if strings.EqualFold(name, "sAMAccountName") && len(values) > 0 && d.samTaken(values[0], nil) {
			return d.fail("add", dn, ldap.LDAPResultEntryAlreadyExists, "the sAMAccountName "+values[0]+" is in use in the domain")
		}
	}
	members, err := d.resolve("add", dn, attrs["member"])
	if err != nil {
		return err
	}
	e, err := d.addChecked(dn, expandClass(class))
	if err != nil {
		return err
	}
	for name, values := range attrs {
		if !strings.EqualFold(name, "objectClass") && !strings.EqualFold(name, "member") {
			e.set(name, values)
		}
	}
	for _, m := range members {
		e.addMember(m.guid)
	}
	return nil
}

// RemoveMember takes member out of group, as an admin would.
func (d *Directory) RemoveMember(group, member string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	g, m := d.lookupDN(group), d.lookupDN(member)
	if g == nil {
		return d.fail("modify", group, ldap.LDAPResultNoSuchObject, "no such object")
	}
	if m == nil || !slices.Contains(g.members, m.guid) {
		return d.fail("modify", group, ldap.LDAPResultUnwillingToPerform, member+" is no member")
	}
	g.removeMember(m.guid)
	return nil
}

// ModifyDN renames the object at dn to newRDN under newParent (its own
// parent when empty), as an admin's LDAP modrdn does, and returns its new
// DN; members follow, as AD's linked attributes do.
func (d *Directory) ModifyDN(dn, newRDN, newParent string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.lookupDN(dn)
	if e == nil {
		return "", d.fail("modrdn", dn, ldap.LDAPResultNoSuchObject, "no such object")
	}
	if newParent == "" {
		_, newParent = policy.SplitDN(e.dn)
	}
	newDN := newRDN + "," + newParent
	return newDN, d.moveTo(e, newDN)
}

// tombstoneKeeps are the attributes AD keeps in a tombstone (no Recycle
// Bin), of those the tool reads: measured on Samba 4.17,
// msDS-ExternalDirectoryObjectId stays and adminDescription goes; linked
// values (member) go.
var tombstoneKeeps = []string{"samaccountname", "grouptype", strings.ToLower(directory.AnchorAttribute)}

// Delete deletes the object at dn by hand: it leaves every group, and
// leaves a tombstone (same GUID and SID, most attributes stripped) that
// Reanimate, or the tool's restore, brings back.
func (d *Directory) Delete(dn string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.lookupDN(dn)
	if e == nil {
		return d.fail("delete", dn, ldap.LDAPResultNoSuchObject, "no such object")
	}
	if len(d.underWhere(dn, func(c *entry) bool { return c != e })) > 0 {
		return d.fail("delete", dn, ldap.LDAPResultNotAllowedOnNonLeaf, "the object has children")
	}
	d.bury(e)
	return nil
}

// bury deletes e as AD does without the Recycle Bin: out of every group,
// its attributes stripped but for those a tombstone keeps, under
// CN=Deleted Objects with a name AD makes unique (CN=<name>\0ADEL:<guid>),
// remembering where it was.
func (d *Directory) bury(e *entry) {
	d.remove(e)
	for name := range e.attrs {
		if !slices.Contains(tombstoneKeeps, name) {
			delete(e.attrs, name)
			delete(e.names, name)
		}
	}
	e.members, e.isMember = nil, nil
	rdn, parent := policy.SplitDN(e.dn)
	e.dn, e.lastKnownParent = rdn+`\0ADEL:`+e.guid+",CN=Deleted Objects,"+d.base, parent
	d.tombstones[e.guid] = e
}

// SetRestoreRights gives the tool's account the rights on deleted objects
// an admin delegates (docs/permissions.md): list lists and reads CN=Deleted
// Objects, reanimate is the Reanimate Tombstones right. Without list the
// account finds no deleted object; without reanimate AD refuses the
// restore (insufficient access rights, as Samba answers).
func (d *Directory) SetRestoreRights(list, reanimate bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.listDeleted, d.reanimate = list, reanimate
}

// lookupDeleted is the deleted object at dn, as the tool's account sees it (under CN=Deleted Objects).
func (d *Directory) lookupDeleted(dn string) *entry {
	for _, e := range d.tombstones {
		if policy.SameDN(e.dn, dn) {
			return e
		}
	}
	return nil
}

// Tombstone reads the tombstone of the object guid (its attributes as
// the tombstone keeps them); ok is false when there is none.
func (d *Directory) Tombstone(guid string) (o Object, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.tombstones[strings.ToLower(guid)]
	if e == nil {
		return Object{}, false
	}
	return d.object(e), true
}

// Reanimate brings the tombstone of the object guid back at dn, as
// restoring from deleted objects does: the same GUID, SID,
// sAMAccountName and groupType, and no members.
func (d *Directory) Reanimate(guid, dn string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.tombstones[strings.ToLower(guid)]
	if e == nil {
		return d.fail("modify", dn, ldap.LDAPResultNoSuchObject, "no tombstone of "+guid)
	}
	return d.revive(e, dn, "")
}

// revive brings the deleted e back at dn, as AD's undelete does: refused
// when dn is taken, its parent missing, or the sAMAccountName it will
// have (sam, or the one it kept) held by another object.
func (d *Directory) revive(e *entry, dn, sam string) error {
	k, err := key(dn)
	if err != nil {
		return d.fail("modify", dn, ldap.LDAPResultInvalidDNSyntax, err.Error())
	}
	if d.byKey[k] != nil {
		return d.fail("modify", dn, ldap.LDAPResultEntryAlreadyExists, "an object of that name exists")
	}
	if _, parent := policy.SplitDN(dn); d.lookupDN(parent) == nil {
		return d.fail("modify", dn, ldap.LDAPResultNoSuchObject, "the parent does not exist")
	}
	if sam == "" {
		sam = e.get("sAMAccountName")
	}
	if sam != "" && d.samTaken(sam, nil) {
		return d.fail("modify", dn, ldap.LDAPResultEntryAlreadyExists, "the sAMAccountName "+sam+" is in use in the domain")
	}
	delete(d.tombstones, e.guid)
	e.dn, e.lastKnownParent = dn, ""
	d.byKey[k] = e
	d.byGUID[e.guid] = e
	if e.sid != "" {
		d.bySID[strings.ToUpper(e.sid)] = e
	}
	if sam := e.get("sAMAccountName"); sam != "" {
		d.bySAM[strings.ToLower(sam)] = e
	}
	return nil
}

// expandClass is the objectClass AD gives an object added with class:
// the chain of superclasses a user or a computer has.
func expandClass(class []string) []string {
	has := func(c string) bool {
		return slices.ContainsFunc(class, func(v string) bool { return strings.EqualFold(v, c) })
	}
	switch {
	case has("computer"):
		return []string{"top", "person", "organizationalPerson", "user", "computer"}
	case has("user"):
		return []string{"top", "person", "organizationalPerson", "user"}
	}
	out := slices.Clone(class)
	if !has("top") {
		out = append([]string{"top"}, out...)
	}
	return out
}
