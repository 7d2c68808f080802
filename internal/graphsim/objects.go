package graphsim

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

func (t *Tenant) createLocked(k kind, props map[string]any) (*object, error) {
	id, _ := props["id"].(string)
	if id == "" {
		id = newID()
	}
	if t.live[id] != nil || t.deleted[id] != nil {
		return nil, &apiError{status: 400, code: "Request_BadRequest", msg: fmt.Sprintf("Another object with the same value for property id already exists: %s", id)}
	}
	p := map[string]any{}
	for key, v := range props {
		p[key] = v
	}
	p["id"] = id
	if _, ok := p["createdDateTime"]; !ok {
		p["createdDateTime"] = t.nowLocked().Format(time.RFC3339)
	}
	if err := t.completeLocked(k, p, true); err != nil {
		return nil, err
	}
	o := &object{kind: k, props: p}
	if k == kindGroup {
		o.members, o.owners = map[string]bool{}, map[string]bool{}
	}
	t.live[id] = o
	t.indexLocked(o, true)
	t.emitLocked(k, id, opCreate, nil, "")
	return o, nil
}

// completeLocked validates a new object and fills what Graph derives.
func (t *Tenant) completeLocked(k kind, p map[string]any, creating bool) error {
	str := func(key string) string { s, _ := p[key].(string); return s }
	for key := range p {
		if strings.HasPrefix(key, "extension_") && !t.extensions[k][key] {
			return badRequest(fmt.Sprintf("Property '%s' does not exist as a declared property or extension property.", key))
		}
	}
	switch k {
	case kindUser:
		if creating && str("displayName") == "" {
			return badRequest("Invalid value specified for property 'displayName' of resource 'User'.")
		}
		if creating && str("userPrincipalName") == "" {
			return badRequest("Invalid value specified for property 'userPrincipalName' of resource 'User'.")
		}
		if upn := str("userPrincipalName"); upn != "" {
			if owner, taken := t.upns[strings.ToLower(upn)]; taken && owner != p["id"] {
				return badRequest("Another object with the same value for property userPrincipalName already exists.")
			}
		}
	case kindGroup:
		if creating {
			for _, req := range []string{"displayName", "mailNickname"} {
				if str(req) == "" {
					return badRequest(fmt.Sprintf("Invalid value specified for property '%s' of resource 'Group'.", req))
				}
			}
			for _, req := range []string{"mailEnabled", "securityEnabled"} {
				if _, ok := p[req].(bool); !ok {
					return badRequest(fmt.Sprintf("Invalid value specified for property '%s' of resource 'Group'.", req))
				}
			}
			if _, ok := p["groupTypes"]; !ok {
				p["groupTypes"] = []any{}
			}
		}
		if nick := str("mailNickname"); nick != "" && p["mailEnabled"] == true {
			if _, ok := p["mail"]; !ok || creating {
				if str("mail") == "" {
					p["mail"] = nick + "@" + t.domain
				}
			}
			if _, ok := p["proxyAddresses"]; !ok {
				p["proxyAddresses"] = []any{"SMTP:" + str("mail")}
			}
		}
		if wb, ok := p["writebackConfiguration"]; ok && wb != nil {
			m, ok := wb.(map[string]any)
			if !ok {
				return badRequest("Invalid value specified for property 'writebackConfiguration' of resource 'Group'.")
			}
			// onPremisesGroupType is a free String in Graph's metadata
			// (groupWritebackConfiguration): any string is stored as given.
			if gt, ok := m["onPremisesGroupType"]; ok && gt != nil {
				if _, ok := gt.(string); !ok {
					return badRequest("Invalid value specified for property 'onPremisesGroupType' of resource 'Group'.")
				}
			}
		}
	}
	return nil
}

// stampWritebackLocked does what Entra does with the tenant setting
// NewUnifiedGroupWritebackDefault: a Microsoft 365 group created while it
// is set gets writebackConfiguration.isEnabled = the setting, unless the
// request gives one. Groups that existed before are never changed
// (https://learn.microsoft.com/graph/group-directory-settings).
func (t *Tenant) stampWritebackLocked(p map[string]any) {
	if t.unifiedWB == nil {
		return
	}
	unified := false
	if types, ok := p["groupTypes"].([]any); ok {
		for _, v := range types {
			if s, _ := v.(string); strings.EqualFold(s, "Unified") {
				unified = true
			}
		}
	}
	if !unified {
		return
	}
	wb, _ := p["writebackConfiguration"].(map[string]any)
	if wb == nil {
		wb = map[string]any{}
	}
	if _, given := wb["isEnabled"]; !given || wb["isEnabled"] == nil {
		wb["isEnabled"] = *t.unifiedWB
	}
	p["writebackConfiguration"] = wb
}

// Create adds a user or group, as POST /users or POST /groups does, and
// returns its properties.
func (t *Tenant) create(k kind, props map[string]any) (map[string]any, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for key := range props {
		if readOnlyProps[key] && key != "id" {
			return nil, badRequest(fmt.Sprintf("Property '%s' is read-only and cannot be set.", key))
		}
	}
	var binds []struct {
		ids   []string
		owner bool
	}
	clean := map[string]any{}
	for key, v := range props {
		switch key {
		case "members@odata.bind", "owners@odata.bind":
			refs, err := idList(v)
			if err != nil {
				return nil, badRequest("Invalid value for " + key)
			}
			ids := make([]string, len(refs))
			for i, r := range refs {
				ids[i] = refID(r)
			}
			binds = append(binds, struct {
				ids   []string
				owner bool
			}{ids, key == "owners@odata.bind"})
		default:
			clean[key] = v
		}
	}
	if k == kindGroup {
		t.stampWritebackLocked(clean)
	}
	o, err := t.createLocked(k, clean)
	if err != nil {
		return nil, err
	}
	for _, b := range binds {
		for _, id := range b.ids {
			if err := t.addRefLocked(o.id(), id, b.owner); err != nil {
				return nil, err
			}
		}
	}
	return copyProps(o.props), nil
}

// refID takes the object id from an "@odata.id" URL or returns s as it is.
func refID(s string) string {
	if i := strings.LastIndex(s, "/"); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimPrefix(s, "directoryObjects(")
	return strings.Trim(s, "')")
}

func copyProps(p map[string]any) map[string]any {
	out := make(map[string]any, len(p))
	for k, v := range p {
		out[k] = v
	}
	return out
}

// update changes properties, as PATCH does. A null value clears a property.
func (t *Tenant) update(k kind, id string, props map[string]any) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.live[id]
	if o == nil || o.kind != k {
		return notFound(id)
	}
	next := copyProps(o.props)
	var changed []string
	for key, v := range props {
		if readOnlyProps[key] {
			return badRequest(fmt.Sprintf("Property '%s' is read-only and cannot be set.", key))
		}
		if key == "writebackConfiguration" && v != nil {
			// PATCH of a complex property merges into the existing value.
			m, ok := v.(map[string]any)
			if !ok {
				return badRequest("Invalid value specified for property 'writebackConfiguration' of resource 'Group'.")
			}
			merged := map[string]any{}
			if old, ok := next[key].(map[string]any); ok {
				for a, b := range old {
					merged[a] = b
				}
			}
			for a, b := range m {
				merged[a] = b
			}
			v = merged
		}
		if v == nil {
			delete(next, key)
		} else {
			next[key] = v
		}
		changed = append(changed, key)
	}
	if err := t.completeLocked(k, next, false); err != nil {
		return err
	}
	t.indexLocked(o, false)
	o.props = next
	t.indexLocked(o, true)
	sort.Strings(changed)
	if len(changed) > 0 {
		t.emitLocked(k, id, opUpdate, changed, "")
	}
	return nil
}

// indexLocked adds a live object's userPrincipalName to the index, or
// takes it out.
func (t *Tenant) indexLocked(o *object, add bool) {
	upn, _ := o.props["userPrincipalName"].(string)
	if o.kind != kindUser || upn == "" {
		return
	}
	if add {
		t.upns[strings.ToLower(upn)] = o.id()
	} else if t.upns[strings.ToLower(upn)] == o.id() {
		delete(t.upns, strings.ToLower(upn))
	}
}
