package directory

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/go-ldap/ldap/v3"

	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// Lookup finds objects by one kind of key, in batches of OR filters, and
// returns them by the key value as given. Values that match nothing are
// absent from the result; malformed values are skipped.
//
// With engine.ForestBase as base, the search goes to the global catalog
// (directory.global_catalog) and covers every domain of the forest.
func (c *Client) Lookup(ctx context.Context, kind reconcile.KeyKind, base string, values []string) (map[string]reconcile.ADObject, error) {
	search := c.search
	if base == engine.ForestBase {
		if kind != reconcile.BySID && kind != reconcile.ByDN {
			return nil, fmt.Errorf("directory: the forest is searched by objectSid and distinguishedName only, not %s", kind)
		}
		search = c.searchGC
	}
	c.lookedUp.Add(int64(len(values)))
	out := map[string]reconcile.ADObject{}
	type term struct{ filter, value string }
	// The filters are made a batch at a time: a list of a large group's
	// members would otherwise hold one filter string per member.
	batch := make([]term, 0, lookupBatch)
	attrs := []string{"objectGUID", "objectSid", "objectClass", "groupType", "mS-DS-ConsistencyGuid", "adminDescription", "isCriticalSystemObject", "sAMAccountName"}
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		var f strings.Builder
		f.WriteString("(|")
		for _, t := range batch {
			f.WriteString(t.filter)
		}
		f.WriteString(")")
		entries, err := search(ctx, base, ldap.ScopeWholeSubtree, f.String(), attrs)
		if err != nil {
			return err
		}
		for _, e := range entries {
			o := reconcile.ADObject{DN: e.DN, GUID: GUIDString(e.GetRawAttributeValue("objectGUID")), SID: SIDString(e.GetRawAttributeValue("objectSid")),
				Class: classes(e.GetAttributeValues("objectClass")), Critical: strings.EqualFold(e.GetAttributeValue("isCriticalSystemObject"), "TRUE")}
			o.GroupType, _ = strconv.ParseInt(e.GetAttributeValue("groupType"), 10, 64)
			// Map the entry back to the values it answers.
			var keys []string
			switch kind {
			case reconcile.ByGUID:
				keys = []string{o.GUID}
			case reconcile.BySID:
				keys = []string{o.SID}
			case reconcile.ByImmutableID:
				keys = []string{base64.StdEncoding.EncodeToString(e.GetRawAttributeValue("objectGUID")),
					base64.StdEncoding.EncodeToString(e.GetRawAttributeValue("mS-DS-ConsistencyGuid"))}
			case reconcile.ByAnchor:
				keys = []string{e.GetAttributeValue("adminDescription")}
			case reconcile.BySAM:
				keys = []string{e.GetAttributeValue("sAMAccountName")}
			case reconcile.ByDN:
				keys = []string{e.DN}
			}
			for _, t := range batch {
				for _, k := range keys {
					if k != "" && (t.value == k || (kind != reconcile.ByImmutableID && strings.EqualFold(t.value, k)) || (kind == reconcile.ByDN && policy.SameDN(t.value, k))) {
						out[t.value] = o
					}
				}
			}
		}
		batch = batch[:0]
		return nil
	}
	for _, v := range values {
		var filter string
		switch kind {
		case reconcile.ByGUID:
			b, err := GUIDBytes(v)
			if err != nil {
				continue
			}
			filter = "(objectGUID=" + escapeBytes(b) + ")"
		case reconcile.BySID:
			b, err := SIDBytes(v)
			if err != nil {
				continue
			}
			filter = "(objectSid=" + escapeBytes(b) + ")"
		case reconcile.ByImmutableID:
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil || len(b) != 16 {
				continue
			}
			filter = "(|(mS-DS-ConsistencyGuid=" + escapeBytes(b) + ")(objectGUID=" + escapeBytes(b) + "))"
		case reconcile.ByDN:
			filter = "(distinguishedName=" + ldap.EscapeFilter(v) + ")"
		case reconcile.ByAnchor:
			filter = "(adminDescription=" + ldap.EscapeFilter(v) + ")"
		case reconcile.BySAM:
			filter = "(sAMAccountName=" + ldap.EscapeFilter(v) + ")"
		default:
			continue
		}
		if batch = append(batch, term{filter, v}); len(batch) == lookupBatch {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// lookupBatch is how many values one search of Lookup ORs together.
const lookupBatch = 50

// classSets are the objectClass lists Lookup has returned, one copy of
// each: every user of a domain has the same four.
var classSets sync.Map // joined with NUL → []string

// classes returns vs, or the equal list returned before. The list is
// shared: it is never changed.
func classes(vs []string) []string {
	key := strings.Join(vs, "\x00")
	if c, ok := classSets.Load(key); ok {
		return c.([]string)
	}
	c, _ := classSets.LoadOrStore(key, slices.Clip(vs))
	return c.([]string)
}

// GCURL is the global catalog the client searches the forest through:
// directory.global_catalog, or with "auto" the DC in use on the global
// catalog's port.
func (c *Client) GCURL() (string, error) {
	g := c.cfg.GlobalCatalog
	switch g {
	case "":
		return "", errors.New("directory: no global catalog configured (directory.global_catalog)")
	case "auto":
		u, err := url.Parse(c.url)
		if err != nil {
			return "", err
		}
		port := "3269"
		if u.Scheme == "ldap" {
			port = "3268"
		}
		u.Host = net.JoinHostPort(u.Hostname(), port)
		return u.String(), nil
	}
	return g, nil
}

// searchGC runs a paged search of the whole forest on the global catalog
// (base ignored: the root of every domain), on a connection of its own,
// bound as the client is; a lost connection is made again once.
func (c *Client) searchGC(ctx context.Context, _ string, scope int, filter string, attrs []string) ([]*ldap.Entry, error) {
	u, err := c.GCURL()
	if err != nil {
		return nil, err
	}
	c.searches.Add(1)
	req := ldap.NewSearchRequest("", scope, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil)
	for attempt := 0; ; attempt++ {
		if c.gc == nil {
			if c.gc, _, err = c.cfg.dialURL(ctx, u, c.id); err != nil {
				return nil, fmt.Errorf("directory: global catalog %s: %w", u, err)
			}
		}
		res, err := c.gc.SearchWithPaging(req, 500)
		if err == nil {
			return res.Entries, nil
		}
		if attempt > 0 || ctx.Err() != nil || (!lostConnection(err) && !c.gc.IsClosing()) {
			return nil, wrap("search the global catalog", u, err)
		}
		c.gc.Close()
		c.gc = nil
	}
}

// ForestDomainSIDs are the SIDs of the forest's domains, read from the
// global catalog (each domain's root object).
func (c *Client) ForestDomainSIDs(ctx context.Context) ([]string, error) {
	entries, err := c.searchGC(ctx, "", ldap.ScopeWholeSubtree, "(objectClass=domainDNS)", []string{"objectSid"})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if sid := SIDString(e.GetRawAttributeValue("objectSid")); sid != "" {
			out = append(out, sid)
		}
	}
	return out, nil
}

// MatchUsers finds, under each of bases, the user accounts (not computers)
// whose attribute attr equals one of values (as AD compares it, case
// aside), for writeback.match_unsynced's rules: all of them, enabled or
// not, so that the caller tells one match from many; by the value as
// given, lower-cased. Each object once, however many bases hold it.
func (c *Client) MatchUsers(ctx context.Context, attr string, bases, values []string) (map[string][]reconcile.ADObject, error) {
	out := map[string][]reconcile.ADObject{}
	c.lookedUp.Add(int64(len(values)))
	attrs := []string{attr, "objectGUID", "objectSid", "objectClass", "isCriticalSystemObject", "userAccountControl", "adminCount", "mS-DS-ConsistencyGuid"}
	seen := map[string]map[string]bool{} // value → GUIDs
	for start := 0; start < len(values); start += lookupBatch {
		var or strings.Builder
		for _, v := range values[start:min(start+lookupBatch, len(values))] {
			or.WriteString("(" + attr + "=" + ldap.EscapeFilter(v) + ")")
		}
		filter := "(&(objectCategory=person)(objectClass=user)(!(objectClass=computer))(|" + or.String() + "))"
		for _, base := range bases {
			entries, err := c.search(ctx, base, ldap.ScopeWholeSubtree, filter, attrs)
			if err != nil {
				return nil, err
			}
			for _, e := range entries {
				uac, _ := strconv.ParseInt(e.GetAttributeValue("userAccountControl"), 10, 64)
				o := reconcile.ADObject{DN: e.DN, GUID: GUIDString(e.GetRawAttributeValue("objectGUID")), SID: SIDString(e.GetRawAttributeValue("objectSid")),
					Class: classes(e.GetAttributeValues("objectClass")), Critical: strings.EqualFold(e.GetAttributeValue("isCriticalSystemObject"), "TRUE"),
					Disabled: uac&accountDisable != 0, AdminCount: e.GetAttributeValue("adminCount") == "1",
					Synced: len(e.GetRawAttributeValue("mS-DS-ConsistencyGuid")) > 0}
				for _, v := range e.GetAttributeValues(attr) {
					k := strings.ToLower(v)
					if seen[k] == nil {
						seen[k] = map[string]bool{}
					}
					if !seen[k][o.GUID] {
						seen[k][o.GUID] = true
						out[k] = append(out[k], o)
					}
				}
			}
		}
	}
	return out, nil
}

// accountDisable is userAccountControl's ACCOUNTDISABLE bit.
const accountDisable = 0x2
