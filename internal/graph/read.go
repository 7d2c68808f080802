package graph

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/gate"
)

// unifiedTemplateID is the template id of the Group.Unified directory setting.
const unifiedTemplateID = "62375ab9-6b52-47ed-826b-58e47e0e304b"

// UnifiedWritebackDefault reads NewUnifiedGroupWritebackDefault from the
// tenant's Group.Unified directory setting. set is false when the tenant has
// no such setting (or leaves its value empty), in which case Microsoft's
// default (true) applies. Reading settings needs GroupSettings.Read.All (or
// Group.Read.All); without it the error is an *Error with StatusCode 403.
func (c *Client) UnifiedWritebackDefault(ctx context.Context) (value, set bool, err error) {
	type setting struct {
		DisplayName string `json:"displayName"`
		TemplateID  string `json:"templateId"`
		Values      []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"values"`
	}
	value = true // Microsoft's default, unless the setting says
	err = eachPage(ctx, c, c.endpoint("/v1.0/groupSettings", nil), func(page []setting) (bool, error) {
		for _, s := range page {
			if s.TemplateID != unifiedTemplateID && !strings.EqualFold(s.DisplayName, "Group.Unified") {
				continue
			}
			for _, v := range s.Values {
				if strings.EqualFold(v.Name, "NewUnifiedGroupWritebackDefault") {
					if strings.TrimSpace(v.Value) == "" {
						return true, nil // present but empty: unset
					}
					b, err := strconv.ParseBool(strings.TrimSpace(v.Value))
					if err != nil {
						return true, fmt.Errorf("graph: Group.Unified setting NewUnifiedGroupWritebackDefault: %q is not true or false", v.Value)
					}
					value, set = b, true
					return true, nil
				}
			}
		}
		return false, nil
	})
	if err != nil {
		return true, false, err
	}
	return value, set, nil
}

// GroupMembers lists a group's direct members, following every page.
func (c *Client) GroupMembers(ctx context.Context, groupID string) ([]cloud.ObjectRef, error) {
	type member struct {
		Type string `json:"@odata.type"`
		ID   string `json:"id"`
	}
	var out []cloud.ObjectRef
	err := eachPage(ctx, c, c.endpoint("/v1.0/groups/"+url.PathEscape(groupID)+"/members", url.Values{"$select": {"id"}, "$top": {"999"}}),
		func(page []member) (bool, error) {
			for _, v := range page {
				out = append(out, cloud.ObjectRef{ID: v.ID, Type: cloud.TypeFromOData(v.Type)})
			}
			return false, nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachPage reads a collection from link, page by page, following next
// links on Graph's own host only, and hands each page's items to each
// until it says stop.
func eachPage[T any](ctx context.Context, c *Client, link string, each func(page []T) (stop bool, err error)) error {
	for link != "" {
		var page struct {
			Value    []T    `json:"value"`
			NextLink string `json:"@odata.nextLink"`
		}
		if err := c.get(ctx, link, nil, &page); err != nil {
			return err
		}
		if stop, err := each(page.Value); stop || err != nil {
			return err
		}
		if link = page.NextLink; link != "" {
			if err := c.checkLink(link); err != nil {
				return err
			}
		}
	}
	return nil
}

// IsSoftDeleted reports whether the object is in the tenant's deleted items,
// that is deleted but restorable: an initial delta round does not mention
// such groups, so a group the snapshot does not know may be merely
// soft-deleted.
func (c *Client) IsSoftDeleted(ctx context.Context, id string) (bool, error) {
	var out struct {
		ID string `json:"id"`
	}
	found, err := c.getFound(ctx, c.endpoint("/v1.0/directory/deletedItems/"+url.PathEscape(id), nil), &out)
	return found && out.ID != "", err
}

// CloudManaged reads a group's onPremisesSyncBehavior.isCloudManaged:
// whether an admin moved its source of authority from AD to the cloud. A
// group with no such setting (404) is not cloud-managed.
func (c *Client) CloudManaged(ctx context.Context, id string) (bool, error) {
	var out struct {
		IsCloudManaged bool `json:"isCloudManaged"`
	}
	found, err := c.getFound(ctx, c.endpoint("/beta/groups/"+url.PathEscape(id)+"/onPremisesSyncBehavior", nil), &out)
	return found && out.IsCloudManaged, err
}

// SourceOfAuthority reads, now, a group's onPremisesSecurityIdentifier
// and onPremisesSyncBehavior.isCloudManaged: what the write gate checks a
// write in place against, never taken from a file or the state.
func (c *Client) SourceOfAuthority(ctx context.Context, id string) (gate.CloudGroup, error) {
	var g struct {
		ID  string `json:"id"`
		SID string `json:"onPremisesSecurityIdentifier"`
	}
	q := url.Values{"$select": {"id,onPremisesSecurityIdentifier"}}
	found, err := c.getFound(ctx, c.endpoint("/v1.0/groups/"+url.PathEscape(id), q), &g)
	if err != nil || !found {
		return gate.CloudGroup{}, err
	}
	managed, err := c.CloudManaged(ctx, id)
	if err != nil {
		return gate.CloudGroup{}, err
	}
	return gate.CloudGroup{SID: g.SID, CloudManaged: managed}, nil
}

// getFound is get, with 404 meaning "not found" rather than an error.
func (c *Client) getFound(ctx context.Context, link string, out any) (bool, error) {
	err := c.get(ctx, link, nil, out)
	var gerr *Error
	switch {
	case errors.As(err, &gerr) && gerr.StatusCode == 404:
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// Probe makes one GET of path (under the Graph base URL, e.g.
// "/v1.0/groups") and returns its error, for prerequisite checks.
func (c *Client) Probe(ctx context.Context, path string, query url.Values) error {
	var out map[string]any
	return c.get(ctx, c.endpoint(path, query), nil, &out)
}

// ReadProbe is one read that checks a permission of the app: doctor makes
// each, and `cloud record` records each, so that a replay answers doctor
// as Graph did.
type ReadProbe struct {
	Name, Path, Permission string
	Query                  url.Values
}

// ReadProbes are the reads doctor checks the app's permissions with.
func ReadProbes() []ReadProbe {
	one := url.Values{"$top": {"1"}, "$select": {"id"}}
	return []ReadProbe{
		{"graph: read groups", "/v1.0/groups", "Group.Read.All", one},
		{"graph: read users", "/v1.0/users", "User.Read.All", one},
		{"graph: read writebackConfiguration (beta)", "/beta/groups", "Group.Read.All", url.Values{"$top": {"1"}, "$select": {"id,writebackConfiguration"}}},
	}
}
