package directorytest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
)

// Options choose a test directory's schema, as testdc.Options choose a
// test DC's: the plain schema has neither.
type Options struct {
	// Exchange adds the Exchange attributes a mail-enabled group needs.
	Exchange bool
	// Anchor adds msDS-ExternalDirectoryObjectId (Windows Server 2016
	// schema), which Samba 4.17 lacks.
	Anchor bool
}

// Entry is an object as an admin reads it, behind the tool's back.
type Entry struct {
	DN, GUID, SID string
	Class         []string
	// Attrs are the other attributes, by lower-case name (neither
	// objectClass, objectGUID, objectSid nor member).
	Attrs map[string][]string
	// Members are the DNs in member, all of them.
	Members []string
}

// Get is the first value of the attribute name, or "".
func (e *Entry) Get(name string) string {
	if v := e.Attrs[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Values are the values of the attribute name.
func (e *Entry) Values(name string) []string { return e.Attrs[strings.ToLower(name)] }

// Admin is an AD admin's hand on a test directory: the changes made
// outside the tool (no gate, no ownership) that the tool must meet, and
// the reads a test checks AD with. On Samba it is an LDAP connection bound
// as Administrator; on memdir, memdir's own admin methods. The suite's
// AdminAgrees test holds both to the same results. Each method fails the
// test on an error.
type Admin interface {
	// NewOU makes a fresh, empty OU and returns its DN.
	NewOU(t testing.TB, name string) string
	// Users are n user accounts that exist before the test (on Samba, the
	// DC's fixture users), with their names.
	Users(t testing.TB, n int) []User
	// AddUsers makes user accounts in ou.
	AddUsers(t testing.TB, ou string, names []string) []User
	// AddGroup makes a universal security group with no anchor in ou,
	// and returns its DN and SID.
	AddGroup(t testing.TB, ou, name string) (dn, sid string)
	// Add adds an object of any class: attrs holds objectClass and the
	// other attributes.
	Add(t testing.TB, dn string, attrs map[string][]string)
	// Nest makes member a member of group, for the length of the test.
	Nest(t testing.TB, group, member string)
	// Unnest takes member out of group.
	Unnest(t testing.TB, group, member string)
	// SetAttribute replaces an attribute's values (none: removes it).
	SetAttribute(t testing.TB, dn, name string, values []string)
	// ModifyDN renames dn to newRDN under newParent (its own parent when
	// empty) and returns the new DN.
	ModifyDN(t testing.TB, dn, newRDN, newParent string) string
	// Delete deletes the object at dn, leaving its tombstone.
	Delete(t testing.TB, dn string)
	// Tombstone reads the tombstone of the object guid, or nil.
	Tombstone(t testing.TB, guid string) *Entry
	// Reanimate brings the tombstone of the object guid back at dn.
	Reanimate(t testing.TB, guid, dn string)
	// DelegateRestore gives the tool's account, for the length of the
	// test, the rights docs/permissions.md gives for restoring deleted
	// groups: list and read CN=Deleted Objects, and, with reanimate, the
	// Reanimate Tombstones right on the domain. Without them it finds no
	// deleted object, as on Windows.
	DelegateRestore(t testing.TB, reanimate bool)
	// Read reads the object at dn, or nil.
	Read(t testing.TB, dn string) *Entry
	// Find reads the objects under base whose attribute attr has value.
	Find(t testing.TB, base, attr, value string) []Entry
	// Dump reads every object of the domain.
	Dump(t testing.TB) Dump
}

// Faults are what a test does to the DC itself.
type Faults interface {
	// Stop stops the DC, as a crash or a pulled cable does; Start
	// brings it back with its data.
	Stop(t testing.TB)
	Start(t testing.TB)
	// Freeze makes the DC hang (connections stay open, nothing answers);
	// Thaw makes it answer again.
	Freeze()
	Thaw()
}

// Dump is every object of a domain, by lower-cased DN: attribute name
// (lower case) to values, sorted.
type Dump map[string]DumpEntry

// DumpEntry is one object of a dump.
type DumpEntry map[string][]string

// Changed lists every difference between two dumps, skipping objects for
// which skip returns true in either dump (the ones a test allows to
// change).
func Changed(before, after Dump, skip func(dn string, e DumpEntry) bool) []string {
	var out []string
	for dn, b := range before {
		if skip(dn, b) {
			continue
		}
		a, ok := after[dn]
		if !ok {
			out = append(out, "removed: "+dn)
			continue
		}
		if skip(dn, a) {
			out = append(out, "became skippable (e.g. gained an anchor): "+dn)
			continue
		}
		for name, bv := range b {
			if av, ok := a[name]; !ok || !slices.Equal(av, bv) {
				out = append(out, fmt.Sprintf("changed: %s: %s", dn, name))
			}
		}
		for name := range a {
			if _, ok := b[name]; !ok {
				out = append(out, fmt.Sprintf("changed: %s: %s added", dn, name))
			}
		}
	}
	for dn, a := range after {
		if _, ok := before[dn]; !ok && !skip(dn, a) {
			out = append(out, "added: "+dn)
		}
	}
	sort.Strings(out)
	return out
}

// Kind names a test directory.
type Kind string

// The test directories.
const (
	Memdir Kind = "memdir"
	Samba  Kind = "samba"
)

// EnvKind is the environment variable that chooses the directory engine
// tests run on: memdir (the default) or samba (CI runs both).
const EnvKind = "GROUPWRITEBACK_TEST_DIRECTORY"
