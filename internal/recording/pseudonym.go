package recording

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// pseudonymiser replaces names, addresses and identifiers with stand-ins,
// each distinct value by its own stand-in, always the same one: a
// recording stays consistent (a member id is a user's id; a group's mail
// is in its proxyAddresses) without naming anyone. Ids are replaced by
// GUIDs derived with a key made for this recording and then forgotten.
type pseudonymiser struct {
	key   []byte
	names map[string]map[string]string // by kind of value
}

func newPseudonymiser() *pseudonymiser {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &pseudonymiser{key: key, names: map[string]map[string]string{}}
}

var guidPattern = regexp.MustCompile(`(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// id is the stand-in GUID of a GUID.
func (p *pseudonymiser) id(guid string) string {
	h := sha256.Sum256(append(append([]byte{}, p.key...), strings.ToLower(guid)...))
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// text replaces every GUID in s.
func (p *pseudonymiser) text(s string) string {
	return guidPattern.ReplaceAllStringFunc(s, p.id)
}

// stand is the stand-in of value among values of a kind, made by mk from
// the value's number.
func (p *pseudonymiser) stand(kind, value string, mk func(n int) string) string {
	m := p.names[kind]
	if m == nil {
		m = map[string]string{}
		p.names[kind] = m
	}
	k := strings.ToLower(value)
	if v, ok := m[k]; ok {
		return v
	}
	v := mk(len(m) + 1)
	m[k] = v
	return v
}

func (p *pseudonymiser) address(a string) string {
	return p.stand("address", a, func(n int) string { return fmt.Sprintf("address%d@contoso.example", n) })
}

// value is the stand-in of a property's string value.
func (p *pseudonymiser) value(key, v string) string {
	switch key {
	case "displayName", "description", "onPremisesSamAccountName", "mailNickname":
		return p.stand(key, v, func(n int) string { return fmt.Sprintf("%s-%d", key, n) })
	case "mail", "userPrincipalName", "onPremisesUserPrincipalName":
		return p.address(v)
	case "onPremisesSecurityIdentifier", "securityIdentifier":
		return p.stand("sid", v, func(n int) string { return fmt.Sprintf("S-1-5-21-1000000000-2000000000-3000000000-%d", 1000+n) })
	case "onPremisesImmutableId":
		return p.stand("immutable", v, func(n int) string {
			h := sha256.Sum256(append(append([]byte{}, p.key...), v...))
			return base64.StdEncoding.EncodeToString(h[:16])
		})
	case "onPremisesDistinguishedName":
		return p.stand("dn", v, func(n int) string { return fmt.Sprintf("CN=object-%d,OU=Users,DC=contoso,DC=example", n) })
	case "onPremisesDomainName":
		return "contoso.example"
	case "onPremisesNetBiosName":
		return "CONTOSO"
	}
	return p.text(v)
}

// body pseudonymises a JSON body; one that is not JSON only has its
// GUIDs replaced.
func (p *pseudonymiser) body(b []byte) []byte {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return []byte(p.text(string(b)))
	}
	out, err := json.Marshal(p.walk("", v))
	if err != nil {
		return []byte(p.text(string(b)))
	}
	return out
}

func (p *pseudonymiser) walk(key string, v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = p.walk(k, e)
		}
		return x
	case []any:
		for i, e := range x {
			if s, ok := e.(string); ok && key == "proxyAddresses" {
				if scheme, addr, ok := strings.Cut(s, ":"); ok && strings.EqualFold(scheme, "smtp") {
					x[i] = scheme + ":" + p.address(addr)
					continue
				}
				x[i] = p.stand("proxy", s, func(n int) string { return fmt.Sprintf("X500:/o=Example/cn=proxy-%d", n) })
				continue
			}
			x[i] = p.walk(key, e)
		}
		return x
	case string:
		return p.value(key, x)
	}
	return v
}
