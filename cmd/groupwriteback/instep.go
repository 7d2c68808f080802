package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/alert"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/wiring"
)

// maxInStepEvents is the most in-step events one cycle sends, one a group;
// the rest are told in one more event (the audit trail lists each). A
// cycle that changes 10,000 groups must not post 10,000 times.
const maxInStepEvents = 100

// inStep tells, for each group the cycle's writes brought in step, that
// AD now matches the cloud: the change-to-AD latency metric and, with
// alerts.in_step, an event to the alert webhook (the engine wrote its
// audit entry). The change was noticed when its notification came, or,
// without one, when the cycle began (its delta read found it).
func (r *cycleRun) inStep(ctx context.Context) {
	if r.res == nil || len(r.res.Matched) == 0 || r.staged {
		return
	}
	c := r.c
	for _, m := range r.res.Matched {
		c.metrics.ObserveChangeToAD(m.Written.Sub(m.Noticed))
	}
	if !r.cfg.Alerts.InStep {
		return
	}
	events := wiring.Alerts(r.cfg, c.st, c.logger)
	ctx = context.WithoutCancel(ctx)
	for _, ev := range inStepEvents(r.res.RunID, r.res.Matched, maxInStepEvents) {
		if err := events.Event(ctx, ev); err != nil {
			c.logger.Error("the in-step event was not sent", "details", ev.Details, "error", err)
		}
	}
}

// inStepEvents are the events of the groups a cycle brought in step: one
// a group, up to most, and one that counts the rest.
func inStepEvents(runID int64, matched []engine.Matched, most int) []alert.Alert {
	out := make([]alert.Alert, 0, min(len(matched), most)+1)
	for i, m := range matched {
		if i == most {
			out = append(out, alert.Alert{Kind: alert.GroupInStep, Severity: "info",
				Summary: fmt.Sprintf("AD now matches the cloud for %d more groups of run %d (the audit trail, `groupwriteback audit --run %d`, lists each)", len(matched)-most, runID, runID),
				Details: map[string]any{"more": len(matched) - most, "runId": runID}})
			break
		}
		took := m.Written.Sub(m.Noticed)
		out = append(out, alert.Alert{Kind: alert.GroupInStep, Severity: "info",
			Summary: fmt.Sprintf("AD now matches the cloud for %q: %s (noticed by %s %s, written %s later)", m.Name, strings.Join(m.Changes, ", "), m.NoticedBy,
				m.Noticed.UTC().Format(time.RFC3339), took.Round(time.Millisecond)),
			Details: map[string]any{"cloudId": m.CloudID, "name": m.Name, "dn": m.DN, "deleted": m.Deleted, "changes": m.Changes,
				"noticed": m.Noticed.UTC(), "noticedBy": m.NoticedBy, "written": m.Written.UTC(), "seconds": took.Seconds(), "runId": runID}})
	}
	return out
}
