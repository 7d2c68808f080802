package console

import (
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/advice"
	"github.com/groupwriteback/groupwriteback/internal/ha"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// healthView is the health page's data.
type healthView struct {
	Enablement state.Enablement
	LastRun    *runRow
	NotInStep  int
	// Reasons are the members not written, by reason code, each with the
	// number of groups they are in (the inventory lists those groups).
	Reasons []reasonCount
	HA      *ha.View
	HAError string
}

type reasonCount struct {
	Code            string
	Members, Groups int
}

// health is the status page's content in the console: whether writeback
// is on, the last run, the groups not in step, the members not written by
// reason (each linked to the groups behind it) and the instances.
func (c *Console) health(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	fail := func(err error) {
		c.render(w, r, http.StatusInternalServerError, "health.html", view{Title: "Health", Error: advice.For(err).Line()})
	}
	var v healthView
	var err error
	if v.Enablement, err = c.state.Enablement(ctx); err != nil {
		fail(err)
		return
	}
	runs, err := c.state.Runs(ctx, 1)
	if err != nil {
		fail(err)
		return
	}
	if len(runs) > 0 {
		row := saidOf(runs[0])
		v.LastRun = &row
	}
	all, err := c.state.Statuses(ctx)
	if err != nil {
		fail(err)
		return
	}
	byCode := map[string]*reasonCount{}
	for _, st := range all {
		for _, ns := range state.NotInStep {
			if st.State == ns {
				v.NotInStep++
			}
		}
		for code, n := range st.MembersNotWritten {
			rc := byCode[code]
			if rc == nil {
				rc = &reasonCount{Code: code}
				byCode[code] = rc
			}
			rc.Members += n
			rc.Groups++
		}
	}
	for _, rc := range byCode {
		v.Reasons = append(v.Reasons, *rc)
	}
	sort.Slice(v.Reasons, func(i, j int) bool {
		return v.Reasons[i].Members > v.Reasons[j].Members || (v.Reasons[i].Members == v.Reasons[j].Members && v.Reasons[i].Code < v.Reasons[j].Code)
	})
	if c.cfg.Election != nil {
		if hv, err := c.cfg.Election.View(ctx); err != nil {
			v.HAError = advice.For(err).Line()
		} else {
			v.HA = &hv
		}
	}
	c.render(w, r, http.StatusOK, "health.html", view{Title: "Health", Data: v})
}

// stagedView is the staged plan's page.
type stagedView struct {
	At  time.Time
	Ops []reconcile.Op
	// Groups counts the groups the operations touch.
	Groups int
}

// staged shows the plan a staging instance, or a standby, would apply:
// each operation with its values old and new.
func (c *Console) staged(w http.ResponseWriter, r *http.Request, s *session) {
	raw, at, err := c.state.PendingPlan(r.Context())
	if err != nil {
		c.render(w, r, http.StatusInternalServerError, "staged.html", view{Title: "Staged plan", Error: advice.For(err).Line()})
		return
	}
	v := stagedView{At: at}
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &v.Ops); err != nil {
			c.render(w, r, http.StatusInternalServerError, "staged.html", view{Title: "Staged plan", Error: "the staged plan cannot be read: " + err.Error()})
			return
		}
	}
	seen := map[string]bool{}
	for _, op := range v.Ops {
		if !seen[op.CloudID] {
			seen[op.CloudID] = true
			v.Groups++
		}
	}
	c.render(w, r, http.StatusOK, "staged.html", view{Title: "Staged plan", Data: v})
}
