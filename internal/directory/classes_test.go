package directory

import (
	"slices"
	"testing"
)

// Every object Lookup finds carries its objectClass list; equal lists
// are kept once (a domain's users all have the same four).
func TestClassListsKeptOnce(t *testing.T) {
	a := classes([]string{"top", "person", "organizationalPerson", "user"})
	b := classes([]string{"top", "person", "organizationalPerson", "user"})
	c := classes([]string{"top", "group"})
	if &a[0] != &b[0] {
		t.Error("two equal class lists are kept twice")
	}
	if !slices.Equal(c, []string{"top", "group"}) || &c[0] == &a[0] {
		t.Errorf("another list: %v", c)
	}
	// "top","x" and "top\x00x" joined would be one key only if NUL could
	// appear in a class name, which LDAP's attribute syntax forbids.
	if d := classes([]string{"top", "person"}); slices.Equal(d, a) || len(d) != 2 {
		t.Errorf("a prefix of a list: %v", d)
	}
}
