package console

import (
	"encoding/csv"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/advice"
	"github.com/groupwriteback/groupwriteback/internal/audit"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// view is what every page is given.
type view struct {
	Title, Error, Notice, Next string
	User, CSRF                 string
	Operator                   bool
	Data                       any
}

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"reason": policy.MemberReasonText,
	"change": change,
}

// render writes page, the session's user and CSRF token in the view.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	if s := c.sessions.of(r); s != nil {
		v.User, v.CSRF, v.Operator = s.id.Username, s.csrf, s.may(RoleOperator)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := c.pages.ExecuteTemplate(w, page, v); err != nil {
		c.logger.Error("console page", "page", page, "error", err)
	}
}

// pageSize is the inventory's rows a page.
const pageSize = 100

// inventoryView is the inventory page's data.
type inventoryView struct {
	Query, State    string
	Reason, OU      string
	Kind            string
	Kinds           []string
	States          []string
	Rows            []state.GroupStatus
	Total, Page, Of int
	Prev, NextPage  string
	CSV             string
}

// inventory lists every group the state knows, searched by name, cloud
// id or DN, filtered by state, a page at a time: the database answers
// each page, so a tenant of 100,000 groups costs what a page costs.
func (c *Console) inventory(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	v := inventoryView{Query: strings.TrimSpace(q.Get("q")), State: q.Get("state"), Reason: q.Get("reason"), OU: strings.TrimSpace(q.Get("ou")), Kind: q.Get("kind"), States: allStates, Kinds: allKinds}
	v.Page, _ = strconv.Atoi(q.Get("page"))
	v.Page = max(v.Page, 1)
	rows, total, err := c.state.Inventory(r.Context(), state.InventoryQuery{Text: v.Query, State: v.State, Reason: v.Reason, OU: v.OU, Kind: v.Kind, Offset: (v.Page - 1) * pageSize, Limit: pageSize})
	if err != nil {
		c.render(w, r, http.StatusInternalServerError, "inventory.html", view{Title: "Groups", Error: advice.For(err).Line()})
		return
	}
	v.Rows, v.Total = rows, total
	v.Of = max(1, (v.Total+pageSize-1)/pageSize)
	link := func(p int) string {
		return "?" + (urlValues{"q": v.Query, "state": v.State, "reason": v.Reason, "ou": v.OU, "kind": v.Kind, "page": strconv.Itoa(p)}).encode()
	}
	if v.Page > 1 {
		v.Prev = link(min(v.Page-1, v.Of))
	}
	if v.Page < v.Of {
		v.NextPage = link(v.Page + 1)
	}
	v.CSV = "/console/groups.csv?" + (urlValues{"q": v.Query, "state": v.State, "reason": v.Reason, "ou": v.OU, "kind": v.Kind}).encode()
	c.render(w, r, http.StatusOK, "inventory.html", view{Title: "Groups", Data: v})
}

// allKinds are the kinds of group the inventory filters by.
var allKinds = []string{string(policy.KindMicrosoft365), string(policy.KindSecurity), string(policy.KindMailEnabledSecurity), string(policy.KindDistribution),
	string(policy.KindSyncedFromAD), string(policy.KindFromADCloudManaged)}

// allStates are the states the inventory filters by.
var allStates = []string{state.InStep, state.Failed, state.Held, state.NotWritable, state.Pending, state.OutOfScope, state.Quarantined, state.Deleted}

// inventoryCSV is the search's every row as CSV, read a page at a time.
func (c *Console) inventoryCSV(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="groups.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"cloudId", "name", "kind", "state", "dn", "message", "updated"})
	const page = 1000
	for off := 0; ; off += page {
		rows, _, err := c.state.Inventory(r.Context(), state.InventoryQuery{Text: strings.TrimSpace(q.Get("q")), State: q.Get("state"), Reason: q.Get("reason"), OU: strings.TrimSpace(q.Get("ou")), Kind: q.Get("kind"), Offset: off, Limit: page})
		if err != nil {
			c.logger.Error("console: groups.csv", "error", err)
			return
		}
		for _, st := range rows {
			_ = cw.Write([]string{st.CloudID, csvCell(st.Name), st.Kind, st.State, csvCell(st.DN), csvCell(st.Message), st.Updated.UTC().Format(time.RFC3339)})
		}
		if len(rows) < page {
			break
		}
	}
	cw.Flush()
}

// csvCell neutralises a cell a spreadsheet would read as a formula
// (OWASP's CSV injection advice): names come from the tenant.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// urlValues encodes the non-empty values of a query.
type urlValues map[string]string

func (u urlValues) encode() string {
	keys := make([]string, 0, len(u))
	for k, v := range u {
		if v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + urlQueryEscape(u[k])
	}
	return strings.Join(parts, "&")
}

// groupView is the group page's data.
type groupView struct {
	Status     *state.GroupStatus
	Operations []state.Operation
	Release    *state.Release
	// Shown is the cloud and AD side by side, the policy's decision and
	// the placement (nil, with ShownError, when the DC cannot say now).
	Shown      *engine.Explanation
	ShownError string
	// Result is what provision now or plan this group did, Planned
	// whether it was a plan.
	Result  *engine.Result
	Planned bool
	// History is the group's audit trail, newest first (the last 50).
	History []audit.Entry
}

// group shows one group: its status, its last operations, a standing
// release, and (for an operator) the button that provisions it now.
func (c *Console) group(w http.ResponseWriter, r *http.Request, s *session) {
	c.renderGroup(w, r, r.PathValue("id"), nil, "")
}

func (c *Console) renderGroup(w http.ResponseWriter, r *http.Request, id string, res *engine.Result, notice string) {
	c.renderGroupAs(w, r, id, res, false, notice)
}

// planGroup plans one group, writing nothing, and shows what a cycle
// would do to it.
func (c *Console) planGroup(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if c.onDemand == nil {
		http.Error(w, "this instance cannot plan a group now", http.StatusNotImplemented)
		return
	}
	res, err := c.onDemand.PlanGroup(r.Context(), id)
	notice := "Planned: nothing was written."
	if err != nil {
		notice = "Not planned: " + advice.For(err).Line()
	}
	c.renderGroupAs(w, r, id, res, true, notice)
}

func (c *Console) renderGroupAs(w http.ResponseWriter, r *http.Request, id string, res *engine.Result, planned bool, notice string) {
	ctx := r.Context()
	// One group's status, read by its id: not every group's.
	found, err := c.state.StatusesOf(ctx, []string{strings.ToLower(id)})
	if err != nil {
		c.render(w, r, http.StatusInternalServerError, "group.html", view{Title: "Group", Error: advice.For(err).Line()})
		return
	}
	v := groupView{Result: res, Planned: planned}
	if len(found) == 1 {
		v.Status = &found[0]
	}
	if v.Status == nil {
		c.render(w, r, http.StatusNotFound, "group.html", view{Title: "Group", Error: "no group with the cloud id " + id})
		return
	}
	if v.Operations, err = c.state.Operations(ctx, v.Status.CloudID, 20); err != nil {
		c.render(w, r, http.StatusInternalServerError, "group.html", view{Title: "Group", Error: advice.For(err).Line()})
		return
	}
	rs, err := c.state.Releases(ctx)
	if err == nil {
		for i := range rs {
			if rs[i].CloudID == v.Status.CloudID {
				v.Release = &rs[i]
			}
		}
	}
	if c.cfg.AuditFile != "" {
		entries, err := audit.Read(c.cfg.AuditFile, audit.Filter{Group: v.Status.CloudID})
		var damaged *audit.DamagedError
		if err == nil || errors.As(err, &damaged) {
			for i := len(entries) - 1; i >= 0 && len(v.History) < 50; i-- {
				v.History = append(v.History, entries[i])
			}
		}
	}
	if c.onDemand != nil {
		if v.Shown, err = c.onDemand.Explain(ctx, v.Status.CloudID); err != nil {
			v.ShownError = advice.For(err).Line()
		}
	}
	c.render(w, r, http.StatusOK, "group.html", view{Title: v.Status.Name, Notice: notice, Data: v})
}

// provision runs the on-demand cycle of one group, its actor the
// signed-in user, and shows the group with what the cycle did.
func (c *Console) provision(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if c.onDemand == nil {
		http.Error(w, "this instance cannot provision a group now", http.StatusNotImplemented)
		return
	}
	c.logger.Info("console: provision now", "user", s.id.Username, "cloud_id", id)
	res, err := c.onDemand.SyncGroup(engine.WithActor(r.Context(), s.actor()), id)
	notice := "Provisioned now."
	if err != nil {
		notice = "Not provisioned: " + advice.For(err).Line()
	} else if len(res.Failures) > 0 {
		notice = "Provisioned; the group is not in step: " + res.Failures[0].Message
	}
	c.renderGroup(w, r, id, res, notice)
}

// heldView is the held deletes page's data.
type heldView struct {
	Held     []heldRow
	Released int
}

type heldRow struct {
	state.GroupStatus
	Release *state.Release
}

// held lists the groups whose delete or quarantine the threshold holds
// back, each with its standing release.
func (c *Console) held(w http.ResponseWriter, r *http.Request, s *session) {
	c.renderHeld(w, r, "", "")
}

func (c *Console) renderHeld(w http.ResponseWriter, r *http.Request, notice, problem string) {
	ctx := r.Context()
	held, err := c.state.Statuses(ctx, state.Held)
	if err != nil {
		c.render(w, r, http.StatusInternalServerError, "held.html", view{Title: "Held deletes", Error: advice.For(err).Line()})
		return
	}
	rs, err := c.state.Releases(ctx)
	if err != nil {
		c.render(w, r, http.StatusInternalServerError, "held.html", view{Title: "Held deletes", Error: advice.For(err).Line()})
		return
	}
	byID := map[string]*state.Release{}
	for i := range rs {
		byID[rs[i].CloudID] = &rs[i]
	}
	v := heldView{}
	for _, h := range held {
		row := heldRow{GroupStatus: h, Release: byID[h.CloudID]}
		if row.Release != nil && row.Release.Action != state.ActionKeep {
			v.Released++
		}
		v.Held = append(v.Held, row)
	}
	status := http.StatusOK
	if problem != "" {
		status = http.StatusBadRequest
	}
	c.render(w, r, status, "held.html", view{Title: "Held deletes", Notice: notice, Error: problem, Data: v})
}

// decideHeld approves (releases) or keeps the groups selected. Approving
// takes a reason and a typed confirmation ("release N"); the release
// names the signed-in user, and the audit entry of each removal carries
// it.
func (c *Console) decideHeld(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	ids := r.PostForm["group"]
	if len(ids) == 0 {
		c.renderHeld(w, r, "", "select the groups first")
		return
	}
	held, err := c.state.Statuses(ctx, state.Held)
	if err != nil {
		c.renderHeld(w, r, "", advice.For(err).Line())
		return
	}
	byID := map[string]state.GroupStatus{}
	for _, h := range held {
		byID[h.CloudID] = h
	}
	for _, id := range ids {
		if _, ok := byID[id]; !ok {
			c.renderHeld(w, r, "", fmt.Sprintf("%s is not held (any more): nothing was changed", id))
			return
		}
	}
	switch r.PostFormValue("decision") {
	case "keep":
		// Kept: a standing release is withdrawn, and the decision is
		// recorded (the next cycle writes it to the audit trail).
		now := c.cfg.Now().UTC()
		var rs []state.Release
		for _, id := range ids {
			rs = append(rs, state.ReleaseOf(byID[id], true, s.actor(), r.PostFormValue("reason"), now, c.cfg.ReleaseFor))
		}
		if err := c.state.AddReleases(ctx, rs); err != nil {
			c.renderHeld(w, r, "", advice.For(err).Line())
			return
		}
		c.logger.Info("console: held deletes kept", "user", s.id.Username, "groups", strings.Join(ids, ","))
		c.renderHeld(w, r, fmt.Sprintf("%d kept: they stay held, and no release stands for them (the next cycle records the decision in the audit trail).", len(ids)), "")
	case "release":
		reason := strings.TrimSpace(r.PostFormValue("reason"))
		want := fmt.Sprintf("release %d", len(ids))
		switch {
		case reason == "":
			c.renderHeld(w, r, "", "say why these groups may go: the reason is recorded with each removal")
			return
		case len(reason) > 1000:
			c.renderHeld(w, r, "", "the reason is longer than 1000 characters")
			return
		case strings.TrimSpace(r.PostFormValue("confirm")) != want:
			c.renderHeld(w, r, "", fmt.Sprintf("type %q to confirm: nothing was released", want))
			return
		}
		now := c.cfg.Now().UTC()
		var rs []state.Release
		for _, id := range ids {
			rs = append(rs, state.ReleaseOf(byID[id], false, s.actor(), reason, now, c.cfg.ReleaseFor))
		}
		if err := c.state.AddReleases(ctx, rs); err != nil {
			c.renderHeld(w, r, "", advice.For(err).Line())
			return
		}
		c.logger.Info("console: held deletes released", "user", s.id.Username, "groups", strings.Join(ids, ","), "reason", reason)
		c.renderHeld(w, r, fmt.Sprintf("%d released by %s: the next cycle carries them out (the approval expires %s).", len(ids), s.id.Username,
			now.Add(c.cfg.ReleaseFor).Format("2006-01-02 15:04 UTC")), "")
	default:
		c.renderHeld(w, r, "", "choose release or keep")
	}
}
