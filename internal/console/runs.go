package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/groupwriteback/groupwriteback/internal/advice"
	"github.com/groupwriteback/groupwriteback/internal/audit"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// runRow is a run as the runs page lists it.
type runRow struct {
	state.Run
	// Said is its summary in words: its counts, or its error and fix.
	Said string
	// Error and Fix are a failed run's.
	Error, Fix string
	// Actor is who asked for the run: service (the schedule), service:
	// on demand, cli:USER, console:USER.
	Actor string
}

// saidOf reads a run's summary: counts, or the error that stopped it.
func saidOf(r state.Run) runRow {
	row := runRow{Run: r}
	var m map[string]any
	if json.Unmarshal(r.Summary, &m) != nil {
		return row
	}
	row.Actor, _ = m["actor"].(string)
	if e, _ := m["error"].(string); e != "" {
		row.Error, _ = m["error"].(string)
		row.Fix, _ = m["fix"].(string)
		return row
	}
	var parts []string
	for k, v := range m {
		if n, ok := v.(float64); ok && n != 0 {
			parts = append(parts, strconv.FormatFloat(n, 'f', -1, 64)+" "+k)
		}
	}
	sort.Strings(parts)
	row.Said = strings.Join(parts, ", ")
	switch {
	case r.Quiet > 1:
		row.Said = strconv.FormatInt(r.Quiet, 10) + " quiet cycles: Graph said nothing changed, nothing was written"
	case r.Quiet == 1:
		row.Said = "a quiet cycle: Graph said nothing changed, nothing was written"
	case row.Said == "":
		row.Said = "no change"
	}
	return row
}

// runs lists the last runs.
func (c *Console) runs(w http.ResponseWriter, r *http.Request, s *session) {
	rs, err := c.state.Runs(r.Context(), 100)
	if err != nil {
		c.render(w, r, http.StatusInternalServerError, "runs.html", view{Title: "Runs", Error: advice.For(err).Line()})
		return
	}
	rows := make([]runRow, len(rs))
	for i, run := range rs {
		rows[i] = saidOf(run)
	}
	c.render(w, r, http.StatusOK, "runs.html", view{Title: "Runs", Data: rows})
}

// runView is one run's page.
type runView struct {
	Run        runRow
	Operations []state.Operation
	// Entries are the audit trail's: who, old and new values, member DNs.
	Entries   []audit.Entry
	AuditNote string
}

// change is an attribute's change as the page shows it.
func change(c reconcile.AttrChange) string {
	was, now := strings.Join(c.Old, "; "), strings.Join(c.New, "; ")
	if was == "" {
		was = "(none)"
	}
	if now == "" {
		now = "(none)"
	}
	return c.Name + ": " + was + " → " + now
}

// run shows one run: its outcome, its operations, and its audit entries.
func (c *Console) run(w http.ResponseWriter, r *http.Request, s *session) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		c.render(w, r, http.StatusNotFound, "run.html", view{Title: "Run", Error: "no run " + r.PathValue("id")})
		return
	}
	ctx := r.Context()
	rs, err := c.state.Runs(ctx, 1000)
	if err != nil {
		c.render(w, r, http.StatusInternalServerError, "run.html", view{Title: "Run", Error: advice.For(err).Line()})
		return
	}
	v := runView{}
	found := false
	for _, run := range rs {
		if run.ID == id {
			v.Run, found = saidOf(run), true
		}
	}
	if !found {
		c.render(w, r, http.StatusNotFound, "run.html", view{Title: "Run", Error: "no run " + r.PathValue("id") + " among the last 1000"})
		return
	}
	if v.Operations, err = c.state.RunOperations(ctx, id, 10000); err != nil {
		c.render(w, r, http.StatusInternalServerError, "run.html", view{Title: "Run", Error: advice.For(err).Line()})
		return
	}
	switch entries, err := c.auditEntries(id); {
	case c.cfg.AuditFile == "":
		v.AuditNote = "no audit trail is kept (audit.file is off)"
	case err != nil:
		v.AuditNote = "the audit trail cannot be read: " + advice.For(err).Line()
		v.Entries = entries
	default:
		v.Entries = entries
	}
	c.render(w, r, http.StatusOK, "run.html", view{Title: "Run " + strconv.FormatInt(id, 10), Data: v})
}

// auditEntries are the run's outcomes in the audit trail (intents left out).
func (c *Console) auditEntries(id int64) ([]audit.Entry, error) {
	if c.cfg.AuditFile == "" {
		return nil, nil
	}
	entries, err := audit.Read(c.cfg.AuditFile, audit.Filter{Run: id})
	var damaged *audit.DamagedError
	if errors.As(err, &damaged) {
		return entries, nil // the entries around a damaged line are read
	}
	return entries, err
}
