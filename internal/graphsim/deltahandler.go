package graphsim

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The delta endpoints: /{api}/groups/delta and /{api}/users/delta.

// handleDelta serves /{api}/{users|groups}/delta.
func (s *Server) handleDelta(w http.ResponseWriter, r *http.Request, c caller, k kind) {
	if !c.has(readPerms(k)...) {
		writeError(w, errDenied)
		return
	}
	api := r.PathValue("api")
	q := r.URL.Query()
	minimal := strings.Contains(strings.ToLower(r.Header.Get("Prefer")), "return=minimal")
	t := s.tenant
	s.mu.Lock()
	s.stats.DeltaRequests++
	f := s.faults
	s.mu.Unlock()
	pageSize, perItem := f.PageSize, f.MembersPerItem
	if pageSize <= 0 {
		pageSize = 100
	}
	if perItem <= 0 {
		perItem = 500
	}

	var p *plan
	planID := ""
	pageNo := 0
	switch skip, delta := q.Get("$skiptoken"), q.Get("$deltatoken"); {
	case skip != "":
		var n string
		planID, n, _ = strings.Cut(skip, ".")
		pageNo, _ = strconv.Atoi(n)
		s.mu.Lock()
		p = s.plans[planID]
		s.mu.Unlock()
		if p == nil {
			writeError(w, &apiError{status: 400, code: "syncStateNotFound", msg: "The sync state generation is not found. The delta token is expired and data must be synchronized again."})
			return
		}
		t.mu.Lock()
		gen := t.generation
		t.mu.Unlock()
		if p.next.Generation != gen {
			s.gone(w, r, k, p.next.Select)
			return
		}
	case delta == "latest":
		sel, err := s.tenant.validateSelect(k, api, q.Get("$select"))
		if err != nil {
			writeError(w, err)
			return
		}
		t.mu.Lock()
		st := deltaState{Generation: t.generation, Kind: k, API: api, Version: t.version, Select: sel, Issued: t.nowLocked().Unix()}
		t.mu.Unlock()
		s.writeDeltaPage(w, r, k, nil, "", st)
		return
	case delta != "":
		st, err := decodeDeltaState(delta)
		if err != nil || st.Kind != k || st.API != api {
			writeError(w, &apiError{status: 400, code: "syncStateInvalid", msg: "The delta token is not valid for this request."})
			return
		}
		s.mu.Lock()
		s.deltaCount++
		resync := f.ResyncEvery > 0 && s.deltaCount%f.ResyncEvery == 0
		refused := f.RefuseLinkEvery > 0 && s.deltaCount%f.RefuseLinkEvery == 0
		s.mu.Unlock()
		t.mu.Lock()
		t.purgeLocked()
		stale := st.Generation != t.generation
		expired := t.nowLocked().Unix()-st.Issued > int64(deltaTokenLifetime.Seconds())
		if !stale && !expired && !resync {
			p = t.buildPlanWithLocked(st, planOptions{minimal: minimal, replay: uint64(f.ReplayEvents), membersPerItem: perItem,
				lag: uint64(f.LagEvents), interleave: f.InterleaveItems})
		}
		t.mu.Unlock()
		switch {
		case stale || resync:
			s.gone(w, r, k, st.Select)
			return
		case expired || refused:
			// Graph names no one code for an expired token ("a 40X-series
			// error with error codes such as syncStateNotFound").
			code := f.ExpiredLinkCode
			if code == "" {
				code = "syncStateNotFound"
			}
			writeError(w, &apiError{status: 400, code: code, msg: "The delta token is expired or invalid and data must be synchronized again."})
			return
		}
	default:
		sel, err := s.tenant.validateSelect(k, api, q.Get("$select"))
		if err != nil {
			writeError(w, err)
			return
		}
		ids, err := parseIDFilter(q.Get("$filter"))
		if err != nil {
			writeError(w, err)
			return
		}
		t.mu.Lock()
		t.purgeLocked()
		p = t.buildPlanWithLocked(deltaState{Generation: t.generation, Kind: k, API: api, Select: sel, Filter: ids},
			planOptions{membersPerItem: perItem, initialRemovals: f.InitialRemovals, interleave: f.InterleaveItems})
		t.mu.Unlock()
	}
	if planID == "" {
		planID = s.keepPlan(p)
	}
	start := pageNo * pageSize
	if start > len(p.items) {
		start = len(p.items)
	}
	end := min(start+pageSize, len(p.items))
	next := ""
	if end < len(p.items) {
		next = planID + "." + strconv.Itoa(pageNo+1)
	}
	if s.Faults().EndlessPages && end >= len(p.items) && len(p.items) > 0 {
		// Reported with members selected: the last page again, with a
		// fresh next link, for ever.
		start, end = max(0, len(p.items)-pageSize), len(p.items)
		next = planID + "." + strconv.Itoa(pageNo+1)
	}
	s.writeDeltaPage(w, r, k, p.items[start:end], next, p.next)
}

func (s *Server) writeDeltaPage(w http.ResponseWriter, r *http.Request, k kind, items []map[string]any, skip string, st deltaState) {
	base := s.base(r) + "/" + st.API + "/" + string(k) + "/delta"
	body := map[string]any{"@odata.context": s.base(r) + "/" + st.API + "/$metadata#" + string(k)}
	if items == nil {
		items = []map[string]any{}
	}
	if s.Faults().RemovedWithoutReason {
		// The docs say @removed "might" carry a reason: leave it out.
		bare := make([]map[string]any, len(items))
		for i, it := range items {
			if _, ok := it["@removed"]; ok {
				it = map[string]any{"id": it["id"], "@removed": map[string]any{}}
			}
			bare[i] = it
		}
		items = bare
	}
	body["value"] = items
	if skip != "" {
		body["@odata.nextLink"] = base + "?$skiptoken=" + url.QueryEscape(skip)
	} else {
		body["@odata.deltaLink"] = base + "?$deltatoken=" + st.encode()
	}
	writeJSON(w, 200, body)
}

// gone answers 410 with the Location of a fresh initial delta query.
func (s *Server) gone(w http.ResponseWriter, r *http.Request, k kind, sel []string) {
	s.mu.Lock()
	s.stats.Resyncs++
	s.mu.Unlock()
	loc := s.base(r) + "/" + r.PathValue("api") + "/" + string(k) + "/delta?$deltatoken="
	if len(sel) > 0 {
		loc += "&$select=" + strings.Join(sel, ",")
	}
	writeError(w, &apiError{status: 410, code: "resyncRequired", msg: "Resync required: replace any local state with a full synchronization.",
		headers: map[string]string{"Location": loc}})
}
