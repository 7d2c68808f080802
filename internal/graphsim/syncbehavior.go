package graphsim

import (
	"encoding/json"
	"net/http"
)

// Converting a group synced from AD to cloud management: Entra's "source of
// authority" switch, PATCH /groups/{id}/onPremisesSyncBehavior with
// {"isCloudManaged": true}. The group stays with its on-premises SID, and
// onPremisesSyncEnabled becomes false: Connect no longer syncs it, and
// the cloud may change it.

// SetCloudManaged switches a group's source of authority, as the PATCH does.
func (t *Tenant) SetCloudManaged(id string, managed bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.live[id]
	if o == nil || o.kind != kindGroup {
		return notFound(id)
	}
	o.props["onPremisesSyncBehavior"] = map[string]any{"isCloudManaged": managed}
	if managed {
		o.props["onPremisesSyncEnabled"] = false
	} else {
		o.props["onPremisesSyncEnabled"] = true
	}
	t.emitLocked(kindGroup, id, opUpdate, []string{"onPremisesSyncEnabled"}, "")
	return nil
}

// cloudManaged reads a group's switch.
func (t *Tenant) cloudManaged(id string) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.live[id]
	if o == nil || o.kind != kindGroup {
		return false, notFound(id)
	}
	b, _ := o.props["onPremisesSyncBehavior"].(map[string]any)
	v, _ := b["isCloudManaged"].(bool)
	return v, nil
}

func (s *Server) handleSyncBehaviorGet(w http.ResponseWriter, r *http.Request, c caller) {
	if !c.has(permReadGroups...) {
		writeError(w, errDenied)
		return
	}
	v, err := s.tenant.cloudManaged(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, map[string]any{"@odata.context": s.base(r) + "/" + r.PathValue("api") + "/$metadata#groups('" + r.PathValue("id") + "')/onPremisesSyncBehavior/$entity",
		"isCloudManaged": v})
}

func (s *Server) handleSyncBehaviorPatch(w http.ResponseWriter, r *http.Request, c caller) {
	if !c.has(permWriteGroups...) {
		writeError(w, errDenied)
		return
	}
	var body struct {
		IsCloudManaged *bool `json:"isCloudManaged"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.IsCloudManaged == nil {
		writeError(w, badRequest("Invalid value specified for property 'isCloudManaged' of resource 'onPremisesSyncBehavior'."))
		return
	}
	if err := s.tenant.SetCloudManaged(r.PathValue("id"), *body.IsCloudManaged); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
