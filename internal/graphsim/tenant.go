// Package graphsim emulates the part of Microsoft Graph and the Microsoft
// identity platform that groupwriteback uses: the token endpoint and its
// discovery documents, groups and users with their members and owners, delta
// queries with next and delta links, deleted items, and the faults a real
// tenant produces (throttling, 5xx, dropped connections, resync, expired
// tokens). Tests use it in process; people use it through cmd/graphsim.
package graphsim

import (
	"crypto/rand"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

type kind string

const (
	kindUser  kind = "users"
	kindGroup kind = "groups"
)

type op int

const (
	opCreate op = iota
	opUpdate
	opSoftDelete
	opRestore
	opHardDelete
	opMemberAdd
	opMemberRemove
	opOwnerAdd
	opOwnerRemove
)

// event is one entry of the change log that delta queries read.
type event struct {
	v     uint64
	kind  kind
	id    string
	op    op
	props []string
	ref   string
}

type object struct {
	kind      kind
	props     map[string]any
	members   map[string]bool
	owners    map[string]bool
	deletedAt time.Time
	// memberOf remembers a soft-deleted object's groups, to restore them.
	memberOf []string
}

func (o *object) id() string { s, _ := o.props["id"].(string); return s }

// softDeleteRetention is how long a soft-deleted object stays restorable.
const softDeleteRetention = 30 * 24 * time.Hour

// Tenant is the emulated directory: objects, the change log, and the
// emulator clock. All methods are safe for concurrent use.
type Tenant struct {
	mu         sync.Mutex
	id         string
	domain     string
	apps       map[string]*Application
	identities []ManagedIdentity
	live       map[string]*object
	deleted    map[string]*object
	log        []event
	version    uint64
	generation string
	unifiedWB  *bool
	offset     time.Duration
	realNow    func() time.Time
	// upns are the live users' userPrincipalNames, lower-cased, to their
	// ids: the uniqueness check of a tenant of a million users.
	upns map[string]string
	// extensions are the directory extension properties the apps define,
	// by the kind that carries them; fixed once the tenant is built.
	extensions map[kind]map[string]bool
}

// NewTenant builds a tenant from its file.
func NewTenant(tf *TenantFile) (*Tenant, error) {
	if tf.TenantID == "" {
		return nil, fmt.Errorf("graphsim: tenant file: tenantId is required")
	}
	t := &Tenant{
		id: tf.TenantID, domain: tf.DefaultDomain,
		apps: map[string]*Application{}, live: map[string]*object{}, deleted: map[string]*object{}, upns: map[string]string{},
		generation: newID()[:8], unifiedWB: tf.Settings.NewUnifiedGroupWritebackDefault,
		realNow: time.Now, identities: tf.ManagedIdentities,
	}
	if t.domain == "" {
		t.domain = "contoso.onmicrosoft.com"
	}
	for i := range tf.Applications {
		a := tf.Applications[i]
		if a.AppID == "" {
			return nil, fmt.Errorf("graphsim: tenant file: applications[%d].appId is required", i)
		}
		t.apps[a.AppID] = &a
		for _, x := range a.ExtensionProperties {
			for _, target := range x.TargetObjects {
				k := kindUser
				switch strings.ToLower(target) {
				case "user":
				case "group":
					k = kindGroup
				default:
					return nil, fmt.Errorf("graphsim: tenant file: applications[%d].extensionProperties %s: target %q is not User or Group", i, x.Name, target)
				}
				if t.extensions == nil {
					t.extensions = map[kind]map[string]bool{}
				}
				if t.extensions[k] == nil {
					t.extensions[k] = map[string]bool{}
				}
				t.extensions[k][ExtensionName(a.AppID, x.Name)] = true
			}
		}
	}
	for i, u := range tf.Users {
		if _, err := t.createLocked(kindUser, u); err != nil {
			return nil, fmt.Errorf("graphsim: tenant file: users[%d]: %w", i, err)
		}
	}
	// Groups first, members second: a group may list a group defined later.
	type pending struct {
		id              string
		members, owners []string
	}
	var refs []pending
	for i, g := range tf.Groups {
		members, err := idList(g["members"])
		if err != nil {
			return nil, fmt.Errorf("graphsim: tenant file: groups[%d].members: %w", i, err)
		}
		owners, err := idList(g["owners"])
		if err != nil {
			return nil, fmt.Errorf("graphsim: tenant file: groups[%d].owners: %w", i, err)
		}
		props := map[string]any{}
		for k, v := range g {
			if k != "members" && k != "owners" {
				props[k] = v
			}
		}
		obj, err := t.createLocked(kindGroup, props)
		if err != nil {
			return nil, fmt.Errorf("graphsim: tenant file: groups[%d]: %w", i, err)
		}
		refs = append(refs, pending{obj.id(), members, owners})
	}
	for _, p := range refs {
		for _, m := range p.members {
			if err := t.addRefLocked(p.id, m, false); err != nil {
				return nil, fmt.Errorf("graphsim: tenant file: group %s: member %s: %w", p.id, m, err)
			}
		}
		for _, m := range p.owners {
			if err := t.addRefLocked(p.id, m, true); err != nil {
				return nil, fmt.Errorf("graphsim: tenant file: group %s: owner %s: %w", p.id, m, err)
			}
		}
	}
	return t, nil
}

func idList(v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("want a list of object ids")
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("want a list of object ids")
		}
		out = append(out, s)
	}
	return out, nil
}

// ID returns the tenant id.
func (t *Tenant) ID() string { return t.id }

// Now is the emulator clock: real time plus whatever Advance added.
func (t *Tenant) Now() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nowLocked()
}

func (t *Tenant) nowLocked() time.Time { return t.realNow().Add(t.offset).UTC() }

// Advance moves the emulator clock forward, so soft-deleted objects expire
// and delta tokens age without waiting.
func (t *Tenant) Advance(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.offset += d
	t.purgeLocked()
}

// InvalidateDeltaTokens makes every delta and skip token issued so far answer
// 410 Gone: what Graph does after internal maintenance of a tenant.
func (t *Tenant) InvalidateDeltaTokens() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.generation = newID()[:8]
}

// purgeLocked hard-deletes soft-deleted objects past their retention.
func (t *Tenant) purgeLocked() {
	now := t.nowLocked()
	for id, o := range t.deleted {
		if now.Sub(o.deletedAt) >= softDeleteRetention {
			delete(t.deleted, id)
			if o.kind == kindUser {
				t.dropMembershipsLocked(id)
			}
			t.emitLocked(o.kind, id, opHardDelete, nil, "")
		}
	}
}

func (t *Tenant) emitLocked(k kind, id string, o op, props []string, ref string) {
	t.version++
	t.log = append(t.log, event{v: t.version, kind: k, id: id, op: o, props: props, ref: ref})
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// readOnlyProps are set by the service and cannot be written by a client.
var readOnlyProps = map[string]bool{"id": true, "createdDateTime": true, "deletedDateTime": true}

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

func badRequest(msg string) *apiError {
	return &apiError{status: 400, code: "Request_BadRequest", msg: msg}
}

func notFound(id string) *apiError {
	return &apiError{status: 404, code: "Request_ResourceNotFound", msg: fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id)}
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

// SetUnifiedWritebackDefault sets the Group.Unified setting
// NewUnifiedGroupWritebackDefault.
func (t *Tenant) SetUnifiedWritebackDefault(v bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.unifiedWB = &v
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
