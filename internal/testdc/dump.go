//go:build linux

package testdc

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/directory/directorytest"
)

// derived are attributes the DC changes by itself: memberOf is the back-link
// of other groups' member values; the logon ones track the test's own binds;
// the RID ones are the DC's SID allocation, advanced by every object created
// with a SID. They are left out of dumps.
var derived = []string{"memberof", "lastlogon", "lastlogontimestamp", "logoncount", "badpwdcount", "badpasswordtime",
	"ridnextrid", "ridallocationpool", "ridpreviousallocationpool", "ridusedpool"}

// Dump reads every object under the domain, with all its attributes and its
// security descriptor.
func (dc *DC) Dump() (directorytest.Dump, error) {
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
	d := directorytest.Dump{}
	for _, e := range res.Entries {
		entry := directorytest.DumpEntry{}
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
