package console

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/advice"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
)

// MaxPlanUpload bounds a saved plan sent to the console (a plan of 100,000
// groups of 20 members is about 40 MB).
const MaxPlanUpload = 128 << 20

// stagedView is the staged plan's page: the pending plan of a staging
// instance or a standby, and, on an active instance, a saved plan an
// operator sent to apply.
type stagedView struct {
	At  time.Time
	Ops []reconcile.Op
	// Groups counts the groups the operations touch.
	Groups int
	// Saved is a saved plan sent to this page, checked and waiting for
	// its approval; Applied is what applying one did.
	Saved   *savedView
	Applied *engine.Result
}

// savedView is a saved plan shown before it is approved.
type savedView struct {
	ID, File string
	Made     time.Time
	Mode     string
	// AllowDeletes is what the plan was made with (--allow-deletes).
	AllowDeletes int
	Ops          []reconcile.Op
	Groups       int
	HeldBack     int
	// Confirm is the text the operator types to approve it.
	Confirm string
}

// pendingPlan is a checked saved plan waiting for its approval, held in
// the operator's session (never on disk).
type pendingPlan struct {
	plan *engine.Plan
	file string
}

// groupsOf counts the groups ops touch.
func groupsOf(ops []reconcile.Op) int {
	seen := map[string]bool{}
	for _, op := range ops {
		seen[op.CloudID] = true
	}
	return len(seen)
}

// staged shows the plan a staging instance, or a standby, would apply:
// each operation with its values old and new; and to an operator, the
// form that sends a saved plan to apply here.
func (c *Console) staged(w http.ResponseWriter, r *http.Request, s *session) {
	c.renderStaged(w, r, s, stagedView{}, http.StatusOK, "", "")
}

func (c *Console) renderStaged(w http.ResponseWriter, r *http.Request, s *session, v stagedView, status int, notice, problem string) {
	raw, at, err := c.state.PendingPlan(r.Context())
	switch {
	case err != nil:
		problem = advice.For(err).Line()
	case len(raw) > 0 && string(raw) != "null":
		if err := json.Unmarshal(raw, &v.Ops); err != nil {
			problem = "the staged plan cannot be read: " + err.Error()
		}
		v.At = at
	}
	v.Groups = groupsOf(v.Ops)
	if status == http.StatusOK && problem != "" && v.Saved == nil && v.Applied == nil {
		status = http.StatusInternalServerError
	}
	c.render(w, r, status, "staged.html", view{Title: "Staged plan", Data: v, Notice: notice, Error: problem})
}

// checkSaved reads a saved plan an operator sends (untrusted input: read
// whole, checked as apply checks it: its MAC, tenant, domain, OUs and
// age), and shows it for approval. Nothing is written.
func (c *Console) checkSaved(w http.ResponseWriter, r *http.Request, s *session) {
	if c.onDemand == nil {
		http.Error(w, "this instance cannot apply a plan", http.StatusNotImplemented)
		return
	}
	f, hdr, err := r.FormFile("plan")
	if err != nil {
		c.renderStaged(w, r, s, stagedView{}, http.StatusBadRequest, "", "choose the plan file (staged-plan.json, or plan --out's) first")
		return
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		c.renderStaged(w, r, s, stagedView{}, http.StatusBadRequest, "", "the plan file could not be read: "+err.Error())
		return
	}
	name := hdr.Filename
	p, err := engine.ReadPlan(b, name)
	if err == nil {
		err = c.onDemand.CheckSaved(r.Context(), p)
	}
	if err != nil {
		c.logger.Warn("console: a saved plan was refused", "user", s.id.Username, "file", name, "error", err)
		c.renderStaged(w, r, s, stagedView{}, http.StatusUnprocessableEntity, "", "this plan is refused: "+advice.For(err).Line())
		return
	}
	s.setPending(&pendingPlan{plan: p, file: name})
	c.renderStaged(w, r, s, stagedView{Saved: savedOf(p, name)}, http.StatusOK, "", "")
}

// savedOf is a checked saved plan as the page shows it.
func savedOf(p *engine.Plan, file string) *savedView {
	v := &savedView{ID: p.ID(), File: file, Made: p.Created, Mode: p.Mode, AllowDeletes: p.Options.AllowDeletes}
	if p.Result != nil {
		v.Ops, v.HeldBack = p.Result.Plan.Ops, len(p.Result.Plan.HeldBack)
	}
	v.Groups = groupsOf(v.Ops)
	v.Confirm = fmt.Sprintf("apply %d", len(v.Ops))
	return v
}

// applySaved applies the saved plan this session checked, once the
// operator approved it with a reason and the typed confirmation: as
// `apply` does, through the one write gate, the operator and the reason
// recorded with every write in the audit trail.
func (c *Console) applySaved(w http.ResponseWriter, r *http.Request, s *session) {
	pp := s.getPending()
	if pp == nil || r.PostFormValue("plan") != pp.plan.ID() {
		c.renderStaged(w, r, s, stagedView{}, http.StatusConflict, "", "this plan is no longer the one waiting for approval here: send it again")
		return
	}
	sv := savedOf(pp.plan, pp.file)
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	switch {
	case reason == "":
		c.renderStaged(w, r, s, stagedView{Saved: sv}, http.StatusBadRequest, "", "say why this plan may be applied: the reason is recorded with each write")
		return
	case len(reason) > 1000:
		c.renderStaged(w, r, s, stagedView{Saved: sv}, http.StatusBadRequest, "", "the reason is longer than 1000 characters")
		return
	case strings.TrimSpace(r.PostFormValue("confirm")) != sv.Confirm:
		c.renderStaged(w, r, s, stagedView{Saved: sv}, http.StatusBadRequest, "", fmt.Sprintf("type %q to confirm: nothing was applied", sv.Confirm))
		return
	}
	s.setPending(nil) // an approval is for one apply
	ctx := engine.WithActor(r.Context(), s.actor())
	ctx = engine.WithApproval(ctx, engine.Approval{By: s.actor(), Reason: reason, Plan: sv.ID, Made: sv.Made})
	c.logger.Info("console: saved plan approved", "user", s.id.Username, "plan", sv.ID, "file", sv.File, "reason", reason)
	res, err := c.onDemand.ApplySaved(ctx, pp.plan)
	v := stagedView{Applied: res}
	switch {
	case err != nil:
		c.renderStaged(w, r, s, v, http.StatusOK, "", "not applied: "+advice.For(err).Line())
	case len(res.Failures) > 0:
		c.renderStaged(w, r, s, v, http.StatusOK, fmt.Sprintf("Applied as run %d; %d groups are not in step.", res.RunID, len(res.Failures)), "")
	default:
		c.renderStaged(w, r, s, v, http.StatusOK, fmt.Sprintf("Applied as run %d.", res.RunID), "")
	}
}
