package memdir

import (
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/directory"
)

// Options choose the schema of a Directory, as testdc.Options choose a
// test DC's: the plain schema has neither.
type Options struct {
	// Exchange adds the Exchange attributes a mail-enabled group needs.
	Exchange bool
	// Anchor adds msDS-ExternalDirectoryObjectId (Windows Server 2016
	// schema).
	Anchor bool
}

// exchangeOnly are the attributes only the Exchange schema has (the plain
// schema has mail and proxyAddresses, and a few msExch* ones the tool
// never writes).
var exchangeOnly = append(slices.Clone(directory.ExchangeAttributes), "msExchHideFromAddressLists")

// Schema is what directory.Client's schema probe would find.
func (d *Directory) Schema() directory.Schema {
	s := directory.Schema{Exchange: d.opts.Exchange, AnchorAttribute: d.opts.Anchor, NamingContext: d.base,
		SchemaContext: "CN=Schema,CN=Configuration," + d.base}
	if !d.opts.Exchange {
		s.Missing = slices.Clone(directory.ExchangeAttributes)
	}
	return s
}

// undefined reports whether the schema lacks the attribute name.
func (d *Directory) undefined(name string) bool {
	switch {
	case strings.EqualFold(name, directory.AnchorAttribute):
		return !d.opts.Anchor
	case slices.ContainsFunc(exchangeOnly, func(a string) bool { return strings.EqualFold(a, name) }):
		return !d.opts.Exchange
	}
	return false
}

// checkSchema refuses a write that names an attribute the schema lacks,
// as AD does, before anything of it is written.
func (d *Directory) checkSchema(op, dn string, names []string) error {
	for _, n := range names {
		if d.undefined(n) {
			return d.fail(op, dn, ldap.LDAPResultNoSuchAttribute, "attribute '"+n+"' was not found in the schema")
		}
	}
	return nil
}
