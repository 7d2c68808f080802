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
	// assignments are the app role assignments, as the tenant file gave them.
	assignments []AppRoleAssignment
	// onChange is told of each change, under the tenant's lock (the
	// server's change notifications).
	onChange func(k kind, id string, o op, at time.Time)
}

// observe has f told of each change from now on, under the tenant's lock:
// f must not call back into the tenant.
func (t *Tenant) observe(f func(k kind, id string, o op, at time.Time)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.onChange = f
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
		realNow: time.Now, identities: tf.ManagedIdentities, assignments: tf.AppRoleAssignments,
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
	if t.onChange != nil {
		t.onChange(k, id, o, t.nowLocked())
	}
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

func badRequest(msg string) *apiError {
	return &apiError{status: 400, code: "Request_BadRequest", msg: msg}
}

func notFound(id string) *apiError {
	return &apiError{status: 404, code: "Request_ResourceNotFound", msg: fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id)}
}

// SetUnifiedWritebackDefault sets the Group.Unified setting
// NewUnifiedGroupWritebackDefault.
func (t *Tenant) SetUnifiedWritebackDefault(v bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.unifiedWB = &v
}
