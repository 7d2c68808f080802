package console

import (
	"net/http"
	"sort"

	"github.com/groupwriteback/groupwriteback/internal/advice"
	"github.com/groupwriteback/groupwriteback/internal/ha"
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
