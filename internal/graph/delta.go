package graph

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

// The properties read. Groups come from the beta endpoint, the only one
// that has writebackConfiguration.
var (
	groupSelect = []string{"displayName", "description", "mail", "mailEnabled", "mailNickname", "securityEnabled",
		"groupTypes", "proxyAddresses", "onPremisesSyncEnabled", "onPremisesSecurityIdentifier",
		"writebackConfiguration", "members", "owners"}
	userSelect = []string{"displayName", "userPrincipalName", "onPremisesSyncEnabled", "onPremisesImmutableId",
		"onPremisesSecurityIdentifier", "onPremisesDistinguishedName", "onPremisesSamAccountName", "onPremisesDomainName",
		"mail", "employeeId", "userType"}
)

// maxResyncs bounds how often one round restarts on Graph's request.
const maxResyncs = 3

// maxSamePages is how many times in a row the same page may come, each
// with a new next link, before a round counts as looping. (Graph repeats a
// group's items across pages, but not whole pages.)
const maxSamePages = 5

// defaultMaxPages bounds one round: a million pages is far more than the
// largest tenant needs (100,000 groups of 1,000 members at 100 items a
// page is about 1,000,000 member chunks, but Graph packs many to an item).
const defaultMaxPages = 1_000_000

// pageBody is what identifies a page's content.
func pageBody(p deltaPage) []byte {
	b, _ := json.Marshal(p.Value) // raw messages Graph sent, already parsed: cannot fail
	return b
}

// deltaPage is one page of a delta response.
type deltaPage struct {
	Value     []map[string]json.RawMessage `json:"value"`
	NextLink  string                       `json:"@odata.nextLink"`
	DeltaLink string                       `json:"@odata.deltaLink"`
}

// readRound follows one delta round from link (or from initial when link is
// empty) to its delta link, feeding each item to add (which says whether
// it took it, or fails the round). On a resync it calls reset and starts
// again from initial.
func (c *Client) readRound(ctx context.Context, what, initial, link string, add func(map[string]json.RawMessage) (bool, error), reset func()) (full bool, deltaLink string, st cloud.RoundStats, err error) {
	full = link == ""
	next := link
	if full {
		next = initial
	}
	seen := map[string]int{}
	var lastPage [32]byte
	same := 0
	for {
		// A round that never ends must not hang a cycle: a next link seen
		// before, the same page again and again, or more pages than any
		// tenant needs end it with an error.
		if seen[next]++; seen[next] > maxSamePages {
			return false, "", st, fmt.Errorf("graph: %s delta round: Graph sent the same next link %d times (%s): it pages in a loop; stopping the round", what, seen[next], pathOf(next))
		}
		if st.Pages >= c.maxPages {
			return false, "", st, fmt.Errorf("graph: %s delta round: more than %d pages; stopping the round (Graph may be paging in a loop)", what, c.maxPages)
		}
		if err := c.checkLink(next); err != nil {
			return false, "", st, err
		}
		var page deltaPage
		err := c.get(ctx, next, nil, &page)
		if err != nil && !errors.Is(err, ErrResyncRequired) && next != initial && refusedLink(err) {
			// A link Graph no longer takes, with a code it does not
			// document (Directory_ExpiredPageToken, …): start again once.
			err = fmt.Errorf("%w: %w", ErrResyncRequired, err)
		}
		if errors.Is(err, ErrResyncRequired) {
			if st.Resyncs++; st.Resyncs > maxResyncs {
				return false, "", st, fmt.Errorf("graph: resync asked for %d times in one round: %w", st.Resyncs, err)
			}
			c.logger.Warn("graph asked for a full resync; reading everything again", "path", pathOf(next), "error", err)
			reset()
			full, next = true, initial
			seen, same = map[string]int{}, 0
			continue
		}
		if err != nil {
			return false, "", st, err
		}
		st.Pages++
		if h := sha256.Sum256(pageBody(page)); h == lastPage && len(page.Value) > 0 {
			if same++; same >= maxSamePages {
				return false, "", st, fmt.Errorf("graph: %s delta round: Graph sent the same page %d times in a row, each with a new next link; stopping the round", what, same+1)
			}
		} else {
			lastPage, same = h, 0
		}
		for _, item := range page.Value {
			st.Items++
			took, err := add(item)
			if err != nil {
				return false, "", st, err
			}
			if !took {
				st.Skipped++
			}
		}
		if c.progress != nil {
			c.progress(what, st.Items)
		}
		switch {
		case page.NextLink != "":
			next = page.NextLink
		case page.DeltaLink != "":
			if err := c.checkLink(page.DeltaLink); err != nil {
				return false, "", st, err
			}
			return full, page.DeltaLink, st, nil
		default:
			return false, "", st, fmt.Errorf("graph: GET %s: page has neither @odata.nextLink nor @odata.deltaLink", pathOf(next))
		}
	}
}

// DeltaProbe is one of the first delta requests a sync makes, asked with
// $deltatoken=latest so that Graph answers at once with an empty round: if
// Graph no longer takes the URL (a property dropped from $select, the beta
// endpoint changed), doctor says so as one failed check.
type DeltaProbe struct {
	// Name says what is read: "groups (beta)" or "users".
	Name string
	// URL is the sync's own first request; the probe adds $deltatoken=latest.
	URL string
}

// DeltaProbes are the sync's first delta requests, as it makes them.
func (c *Client) DeltaProbes() []DeltaProbe {
	return []DeltaProbe{{"groups (beta)", c.deltaURL("beta", "groups", c.groupSelect())}, {"users", c.deltaURL("v1.0", "users", userSelect)}}
}

// ProbeDelta makes the request of p with $deltatoken=latest.
func (c *Client) ProbeDelta(ctx context.Context, p DeltaProbe) error {
	var page deltaPage
	if err := c.get(ctx, p.URL+"&$deltatoken=latest", nil, &page); err != nil {
		return err
	}
	if page.DeltaLink == "" && page.NextLink == "" {
		return fmt.Errorf("graph: GET %s: the answer has neither @odata.deltaLink nor @odata.nextLink", pathOf(p.URL))
	}
	return nil
}

func (c *Client) deltaURL(api, collection string, sel []string) string {
	return c.endpoint("/"+api+"/"+collection+"/delta", url.Values{"$select": {strings.Join(sel, ",")}})
}

// groupSelect is groupSelect with the extension properties asked for.
func (c *Client) groupSelect() []string {
	sel := slices.Clone(groupSelect)
	for _, name := range c.groupExtensions {
		prop := name
		if isExtensionAttribute(name) {
			prop = "onPremisesExtensionAttributes"
		}
		if !slices.Contains(sel, prop) {
			sel = append(sel, prop)
		}
	}
	return sel
}

// isExtensionAttribute reports whether name is one of the fifteen
// extensionAttributeN of onPremisesExtensionAttributes.
func isExtensionAttribute(name string) bool {
	n, ok := strings.CutPrefix(name, "extensionAttribute")
	i, err := strconv.Atoi(n)
	return ok && err == nil && i >= 1 && i <= 15 && n == strconv.Itoa(i)
}

// decodeExtensions reads the asked-for extension properties item carries
// into g.Extensions, and reports whether it carried any. A null (or, in
// an onPremisesExtensionAttributes object, an absent one) is a cleared
// property: no values.
func (c *Client) decodeExtensions(item map[string]json.RawMessage, g *cloud.Group) (bool, error) {
	found := false
	var attrs map[string]json.RawMessage
	if raw, ok := item["onPremisesExtensionAttributes"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &attrs); err != nil {
			return false, fmt.Errorf("onPremisesExtensionAttributes: %w", err)
		}
	}
	for _, name := range c.groupExtensions {
		var raw json.RawMessage
		if isExtensionAttribute(name) {
			if _, ok := item["onPremisesExtensionAttributes"]; !ok {
				continue
			}
			raw = attrs[name]
		} else {
			var ok bool
			if raw, ok = item[name]; !ok {
				continue
			}
		}
		vals, err := extensionValues(raw)
		if err != nil {
			return found, fmt.Errorf("%s: %w", name, err)
		}
		if g.Extensions == nil {
			g.Extensions = map[string][]string{}
		}
		g.Extensions[name] = vals
		found = true
	}
	return found, nil
}

// extensionValues are an extension property's values as text: a string,
// number or boolean is one, a collection its items, null none.
func extensionValues(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var items []json.RawMessage
	if raw[0] != '[' {
		items = []json.RawMessage{raw}
	} else if err := json.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	var out []string
	for _, it := range items {
		if string(it) == "null" {
			continue
		}
		var s string
		if err := json.Unmarshal(it, &s); err == nil {
			out = append(out, s)
			continue
		}
		var v any
		if err := json.Unmarshal(it, &v); err != nil {
			return nil, err
		}
		out = append(out, strings.TrimSpace(string(it)))
	}
	return out, nil
}

// GroupsDelta reads one round of group changes: all groups when link is
// empty, else the changes since the round that returned link.
func (c *Client) GroupsDelta(ctx context.Context, link string) (*cloud.GroupRound, error) {
	m := newGroupMerger()
	full, dl, st, err := c.readRound(ctx, "groups", c.deltaURL("beta", "groups", c.groupSelect()), link,
		func(item map[string]json.RawMessage) (bool, error) { return mergeGroupItem(m, item, c), nil }, m.reset)
	if err != nil {
		return nil, err
	}
	r := &cloud.GroupRound{Full: full, DeltaLink: dl, Stats: st, Changes: make([]cloud.GroupDelta, 0, len(m.order))}
	for _, id := range m.order {
		r.Changes = append(r.Changes, m.finish(id, full)) // which lets its logs go
		delete(m.items, id)
	}
	return r, nil
}

// spillBatch is how many users a full round spilled (UsersDelta) holds
// before it hands them over.
var spillBatch = 5000

// UsersDelta reads one round of user changes, as GroupsDelta does for
// groups. A full round (no link, or a resync) is handed to spill, when
// set, spillBatch users at a time as it is read, and the round returned
// holds none of them (UserRound.Spilled).
func (c *Client) UsersDelta(ctx context.Context, link string, spill cloud.UserSpill) (*cloud.UserRound, error) {
	m := newMerger[cloud.UserDelta]()
	spilling, spilled := link == "" && spill != nil, 0
	flush := func() error {
		batch := make([]cloud.UserDelta, len(m.order))
		for i, id := range m.order {
			batch[i] = *m.items[id]
		}
		// The first batch (none, for a tenant without users) voids what
		// was spilled before.
		if len(batch) == 0 && spilled > 0 {
			return nil
		}
		if err := spill.Spill(ctx, spilled, batch); err != nil {
			return fmt.Errorf("graph: users delta round: hand over the users read: %w", err)
		}
		spilled += len(batch)
		m.reset()
		return nil
	}
	full, dl, st, err := c.readRound(ctx, "users", c.deltaURL("v1.0", "users", userSelect), link,
		func(item map[string]json.RawMessage) (bool, error) {
			took := mergeUserItem(m, item, c)
			if spilling && len(m.order) >= spillBatch {
				return took, flush()
			}
			return took, nil
		},
		func() { m.reset(); spilling, spilled = spill != nil, 0 })
	if err == nil && spilling {
		err = flush()
	}
	if err != nil {
		return nil, err
	}
	r := &cloud.UserRound{Full: full, DeltaLink: dl, Stats: st}
	if spilling {
		r.Spilled = true
		return r, nil
	}
	for _, id := range m.order {
		r.Changes = append(r.Changes, *m.items[id])
	}
	return r, nil
}
