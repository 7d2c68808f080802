package graphsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Application permissions that allow each kind of call.
var (
	permReadGroups   = []string{"Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	permReadUsers    = []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	permReadMembers  = append([]string{"GroupMember.Read.All", "GroupMember.ReadWrite.All"}, permReadGroups...)
	permWriteGroups  = []string{"Group.ReadWrite.All", "Directory.ReadWrite.All"}
	permWriteMembers = []string{"GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"}
	permWriteUsers   = []string{"User.ReadWrite.All", "Directory.ReadWrite.All"}
	// Reading directory settings: GroupSettings.Read.All is least
	// privileged; Group.Read.All and the Directory permissions also do
	// (https://learn.microsoft.com/graph/api/group-list-settings).
	permSettings = []string{"GroupSettings.Read.All", "GroupSettings.ReadWrite.All", "Group.Read.All", "Group.ReadWrite.All",
		"Directory.Read.All", "Directory.ReadWrite.All"}
)

var errDenied = &apiError{status: 403, code: "Authorization_RequestDenied", msg: "Insufficient privileges to complete the operation."}

func readPerms(k kind) []string {
	if k == kindGroup {
		return permReadGroups
	}
	return permReadUsers
}

func writePerms(k kind) []string {
	if k == kindGroup {
		return permWriteGroups
	}
	return permWriteUsers
}

// render returns an object's properties as a GET returns them.
func render(o *object, sel []string, api string) map[string]any {
	out := map[string]any{}
	if len(sel) == 0 {
		for k, v := range o.props {
			if k == "writebackConfiguration" && api != "beta" {
				continue
			}
			out[k] = v
		}
		return out
	}
	out["id"] = o.props["id"]
	for _, p := range sel {
		if v, ok := o.props[p]; ok {
			out[p] = v
		} else if p != "members" && p != "owners" {
			out[p] = nil
		}
	}
	return out
}

func isDeltaSegment(id string) bool {
	switch id {
	case "delta", "delta()", "microsoft.graph.delta", "microsoft.graph.delta()":
		return true
	}
	return false
}

// page writes one page of a plain (non-delta) collection.
func (s *Server) page(w http.ResponseWriter, r *http.Request, context string, items []map[string]any) {
	q := r.URL.Query()
	top := 100
	if f := s.Faults().PageSize; f > 0 {
		top = f
	}
	if v := q.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 999 {
			writeError(w, badRequest("Invalid page size specified: '"+v+"'. Must be between 1 and 999 inclusive."))
			return
		}
		top = n
	}
	offset := 0
	if v := q.Get("$skiptoken"); v != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(v, "X"))
		if err != nil || n < 0 {
			writeError(w, badRequest("Invalid skip token."))
			return
		}
		offset = n
	}
	body := map[string]any{"@odata.context": s.base(r) + "/" + r.PathValue("api") + "/$metadata#" + context}
	end := min(offset+top, len(items))
	if offset > len(items) {
		offset = len(items)
	}
	body["value"] = items[offset:end]
	if end < len(items) {
		next := *r.URL
		nq := next.Query()
		nq.Set("$skiptoken", "X"+strconv.Itoa(end))
		nq.Set("$top", strconv.Itoa(top))
		next.RawQuery = nq.Encode()
		body["@odata.nextLink"] = s.base(r) + next.Path + "?" + next.RawQuery
	}
	writeJSON(w, 200, body)
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request, c caller, k kind) {
	if !c.has(readPerms(k)...) {
		writeError(w, errDenied)
		return
	}
	api := r.PathValue("api")
	sel, err := s.tenant.validateSelect(k, api, r.URL.Query().Get("$select"))
	if err != nil {
		writeError(w, err)
		return
	}
	if r.URL.Query().Get("$filter") != "" {
		writeError(w, badRequest("graphsim: $filter is not emulated on lists; read the collection or use delta."))
		return
	}
	t := s.tenant
	t.mu.Lock()
	var items []map[string]any
	for _, o := range t.live {
		if o.kind == k {
			items = append(items, render(o, sel, api))
		}
	}
	t.mu.Unlock()
	sort.Slice(items, func(i, j int) bool { return items[i]["id"].(string) < items[j]["id"].(string) })
	s.page(w, r, string(k), items)
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, c caller, k kind) {
	if isDeltaSegment(r.PathValue("id")) {
		s.handleDelta(w, r, c, k)
		return
	}
	if !c.has(readPerms(k)...) {
		writeError(w, errDenied)
		return
	}
	api := r.PathValue("api")
	sel, err := s.tenant.validateSelect(k, api, r.URL.Query().Get("$select"))
	if err != nil {
		writeError(w, err)
		return
	}
	t := s.tenant
	t.mu.Lock()
	o := t.live[r.PathValue("id")]
	var body map[string]any
	if o != nil && o.kind == k {
		body = render(o, sel, api)
	}
	t.mu.Unlock()
	if body == nil {
		writeError(w, notFound(r.PathValue("id")))
		return
	}
	body["@odata.context"] = s.base(r) + "/" + api + "/$metadata#" + string(k) + "/$entity"
	writeJSON(w, 200, body)
}

func decodeBody(r *http.Request) (map[string]any, error) {
	var m map[string]any
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&m); err != nil {
		return nil, badRequest("Unable to read JSON request payload: " + err.Error())
	}
	return m, nil
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request, c caller, k kind) {
	if !c.has(writePerms(k)...) {
		writeError(w, errDenied)
		return
	}
	body, err := decodeBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if _, ok := body["writebackConfiguration"]; ok && r.PathValue("api") != "beta" {
		writeError(w, badRequest("Could not find a property named 'writebackConfiguration' on type 'microsoft.graph.group'."))
		return
	}
	props, err := s.tenant.create(k, body)
	if err != nil {
		writeError(w, err)
		return
	}
	props["@odata.context"] = s.base(r) + "/" + r.PathValue("api") + "/$metadata#" + string(k) + "/$entity"
	writeJSON(w, 201, props)
}

func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request, c caller, k kind) {
	if !c.has(writePerms(k)...) {
		writeError(w, errDenied)
		return
	}
	body, err := decodeBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if _, ok := body["writebackConfiguration"]; ok && r.PathValue("api") != "beta" {
		writeError(w, badRequest("Could not find a property named 'writebackConfiguration' on type 'microsoft.graph.group'."))
		return
	}
	if err := s.tenant.update(k, r.PathValue("id"), body); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(204)
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request, c caller, k kind) {
	if !c.has(writePerms(k)...) {
		writeError(w, errDenied)
		return
	}
	if err := s.tenant.remove(k, r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(204)
}

func (s *Server) handleListRefs(w http.ResponseWriter, r *http.Request, c caller, owner bool) {
	if !c.has(permReadMembers...) {
		writeError(w, errDenied)
		return
	}
	t := s.tenant
	t.mu.Lock()
	g := t.live[r.PathValue("id")]
	var items []map[string]any
	if g != nil && g.kind == kindGroup {
		set := g.members
		if owner {
			set = g.owners
		}
		for id := range set {
			if o := t.live[id]; o != nil {
				item := render(o, nil, r.PathValue("api"))
				item["@odata.type"] = "#microsoft.graph." + t.typeOfLocked(id)
				items = append(items, item)
			}
		}
	}
	t.mu.Unlock()
	if g == nil || g.kind != kindGroup {
		writeError(w, notFound(r.PathValue("id")))
		return
	}
	sort.Slice(items, func(i, j int) bool { return items[i]["id"].(string) < items[j]["id"].(string) })
	s.page(w, r, "directoryObjects", items)
}

func (s *Server) handleAddRef(w http.ResponseWriter, r *http.Request, c caller, owner bool) {
	if !c.has(permWriteMembers...) {
		writeError(w, errDenied)
		return
	}
	body, err := decodeBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	ref, _ := body["@odata.id"].(string)
	if ref == "" {
		writeError(w, badRequest("The request body must contain '@odata.id'."))
		return
	}
	if err := s.tenant.addRef(r.PathValue("id"), refID(ref), owner); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(204)
}

func (s *Server) handleRemoveRef(w http.ResponseWriter, r *http.Request, c caller, owner bool) {
	if !c.has(permWriteMembers...) {
		writeError(w, errDenied)
		return
	}
	if err := s.tenant.removeRef(r.PathValue("id"), r.PathValue("ref"), owner); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(204)
}

func (s *Server) handleDeletedGet(w http.ResponseWriter, r *http.Request, c caller) {
	id := r.PathValue("id")
	api := r.PathValue("api")
	t := s.tenant
	if cast, ok := strings.CutPrefix(id, "microsoft.graph."); ok {
		k := kindGroup
		if cast == "user" {
			k = kindUser
		} else if cast != "group" {
			writeError(w, badRequest("Unsupported type cast: "+id))
			return
		}
		if !c.has(readPerms(k)...) {
			writeError(w, errDenied)
			return
		}
		t.mu.Lock()
		t.purgeLocked()
		var items []map[string]any
		for _, o := range t.deleted {
			if o.kind == k {
				items = append(items, render(o, nil, api))
			}
		}
		t.mu.Unlock()
		sort.Slice(items, func(i, j int) bool { return items[i]["id"].(string) < items[j]["id"].(string) })
		s.page(w, r, "directory/deletedItems/"+id, items)
		return
	}
	t.mu.Lock()
	t.purgeLocked()
	o := t.deleted[id]
	var body map[string]any
	if o != nil && c.has(readPerms(o.kind)...) {
		body = render(o, nil, api)
		body["@odata.type"] = "#microsoft.graph." + t.typeOfLocked(id)
	}
	t.mu.Unlock()
	switch {
	case o == nil:
		writeError(w, notFound(id))
	case body == nil:
		writeError(w, errDenied)
	default:
		writeJSON(w, 200, body)
	}
}

func (s *Server) deletedKind(id string) (kind, bool) {
	s.tenant.mu.Lock()
	defer s.tenant.mu.Unlock()
	o := s.tenant.deleted[id]
	if o == nil {
		return "", false
	}
	return o.kind, true
}

func (s *Server) handleDeletedRestore(w http.ResponseWriter, r *http.Request, c caller) {
	k, ok := s.deletedKind(r.PathValue("id"))
	if !ok {
		writeError(w, notFound(r.PathValue("id")))
		return
	}
	if !c.has(writePerms(k)...) {
		writeError(w, errDenied)
		return
	}
	props, err := s.tenant.restore(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	props["@odata.type"] = "#microsoft.graph." + strings.TrimSuffix(string(k), "s")
	writeJSON(w, 200, props)
}

func (s *Server) handleDeletedPurge(w http.ResponseWriter, r *http.Request, c caller) {
	k, ok := s.deletedKind(r.PathValue("id"))
	if !ok {
		writeError(w, notFound(r.PathValue("id")))
		return
	}
	if !c.has(writePerms(k)...) {
		writeError(w, errDenied)
		return
	}
	if err := s.tenant.purge(r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(204)
}

// unifiedTemplateID is the id of the Group.Unified directory setting template.
const unifiedTemplateID = "62375ab9-6b52-47ed-826b-58e47e0e304b"

func (s *Server) handleSettings(w http.ResponseWriter, r *http.Request, c caller) {
	if !c.has(permSettings...) {
		writeError(w, errDenied)
		return
	}
	s.tenant.mu.Lock()
	v := s.tenant.unifiedWB
	s.tenant.mu.Unlock()
	var items []map[string]any
	if v != nil {
		items = append(items, map[string]any{
			"id": "2b9ba4f2-0bc9-4f4a-8f1b-6f6d3a3b1c01", "displayName": "Group.Unified", "templateId": unifiedTemplateID,
			"values": []any{
				map[string]any{"name": "NewUnifiedGroupWritebackDefault", "value": strconv.FormatBool(*v)},
				map[string]any{"name": "EnableGroupCreation", "value": "true"},
			},
		})
	}
	s.page(w, r, "groupSettings", items)
}

// ForgetRounds drops the plans kept for rounds' next links: a page of one
// asked for after it is answered syncStateNotFound, as for a token too
// old. A benchmark that measures its client's memory apart from the
// emulator's calls it once the client has read its rounds.
func (s *Server) ForgetRounds() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.plans)
	s.planOrder = nil
}

// keepPlan stores a round's plan for its next links and returns its id; the
// 64 newest are kept, so a page can be asked for again after a failure.
func (s *Server) keepPlan(p *plan) string {
	id := fmt.Sprintf("%s%d", newID()[:8], p.next.Version)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plans[id] = p
	s.planOrder = append(s.planOrder, id)
	if len(s.planOrder) > 64 {
		delete(s.plans, s.planOrder[0])
		s.planOrder = s.planOrder[1:]
	}
	return id
}
