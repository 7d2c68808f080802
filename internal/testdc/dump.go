//go:build linux

package testdc

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// Entry is one object of a dump: attribute name (lower case) to raw values.
type Entry map[string][]string

// Dump is every object under the domain naming context, by lower-cased DN.
type Dump map[string]Entry

// derived are attributes the DC changes by itself: memberOf is the back-link
// of other groups' member values; the logon ones track the test's own binds;
// the RID ones are the DC's SID allocation, advanced by every object created
// with a SID. They are left out of dumps.
var derived = []string{"memberof", "lastlogon", "lastlogontimestamp", "logoncount", "badpwdcount", "badpasswordtime",
	"ridnextrid", "ridallocationpool", "ridpreviousallocationpool", "ridusedpool"}

// Dump reads every object under the domain, with all its attributes and its
// security descriptor.
func (dc *DC) Dump() (Dump, error) {
	conn, err := dc.Admin()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	req := ldap.NewSearchRequest(BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", []string{"*", "nTSecurityDescriptor"}, nil)
	res, err := conn.SearchWithPaging(req, 500)
	if err != nil {
		return nil, fmt.Errorf("testdc: dump: %w", err)
	}
	d := Dump{}
	for _, e := range res.Entries {
		entry := Entry{}
		for _, a := range e.Attributes {
			name := strings.ToLower(a.Name)
			if slices.Contains(derived, name) {
				continue
			}
			vals := make([]string, len(a.ByteValues))
			for i, v := range a.ByteValues {
				vals[i] = string(v)
			}
			sort.Strings(vals)
			entry[name] = vals
		}
		d[strings.ToLower(e.DN)] = entry
	}
	return d, nil
}

// Changed lists every difference between two dumps, skipping objects for
// which skip returns true in either dump (the ones a test allows to change).
func Changed(before, after Dump, skip func(dn string, e Entry) bool) []string {
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
