package directory

import (
	"context"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/policy"
)

// ExchangeAttributes are the Exchange schema attributes a mail-enabled
// written-back group needs. "Some msExch* attribute exists" is no test for
// Exchange: the plain schema has a few.
var ExchangeAttributes = []string{"mailNickname", "msExchRecipientTypeDetails", "msExchRecipientDisplayType", "msExchRequireAuthToSendTo"}

// AnchorAttribute is the Windows Server 2016 attribute that holds the anchor.
const AnchorAttribute = policy.AnchorAttribute

// Schema is what the schema probe found.
type Schema struct {
	// Exchange is true when every attribute in ExchangeAttributes exists.
	Exchange bool
	// Missing lists the Exchange attributes that do not exist.
	Missing []string
	// ExchangeVersion is the rangeUpper of ms-Exch-Schema-Version-Pt, 0
	// when absent.
	ExchangeVersion int
	// AnchorAttribute is true when msDS-ExternalDirectoryObjectId exists.
	AnchorAttribute bool
	// ObjectSOA is true when msDS-ObjectSoa exists (Windows Server 2016
	// schema): the mark of Microsoft's AD object enforcement.
	ObjectSOA bool
	// NamingContext and SchemaContext are from the rootDSE.
	NamingContext, SchemaContext string
}

func (c *Client) probeSchema(ctx context.Context) (Schema, error) {
	var s Schema
	root, err := c.search(ctx, "", ldap.ScopeBaseObject, "(objectClass=*)", []string{"defaultNamingContext", "schemaNamingContext"})
	if err != nil {
		return s, err
	}
	if len(root) == 1 {
		s.NamingContext = root[0].GetAttributeValue("defaultNamingContext")
		s.SchemaContext = root[0].GetAttributeValue("schemaNamingContext")
	}
	if s.SchemaContext == "" {
		return s, &Error{Op: "read rootDSE", DN: "", Message: "no schemaNamingContext: is this Active Directory?"}
	}
	names := append(append([]string{}, ExchangeAttributes...), AnchorAttribute, SOAAttribute)
	var parts []string
	for _, n := range names {
		parts = append(parts, "(lDAPDisplayName="+ldap.EscapeFilter(n)+")")
	}
	parts = append(parts, "(cn=ms-Exch-Schema-Version-Pt)")
	entries, err := c.search(ctx, s.SchemaContext, ldap.ScopeSingleLevel, "(|"+strings.Join(parts, "")+")", []string{"lDAPDisplayName", "cn", "rangeUpper"})
	if err != nil {
		return s, err
	}
	found := map[string]bool{}
	for _, e := range entries {
		found[strings.ToLower(e.GetAttributeValue("lDAPDisplayName"))] = true
		if strings.EqualFold(e.GetAttributeValue("cn"), "ms-Exch-Schema-Version-Pt") {
			s.ExchangeVersion, _ = strconv.Atoi(e.GetAttributeValue("rangeUpper"))
		}
	}
	for _, n := range ExchangeAttributes {
		if !found[strings.ToLower(n)] {
			s.Missing = append(s.Missing, n)
		}
	}
	s.Exchange = len(s.Missing) == 0
	s.AnchorAttribute = found[strings.ToLower(AnchorAttribute)]
	s.ObjectSOA = found[strings.ToLower(SOAAttribute)]
	return s, nil
}
