package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/alert"
	"github.com/groupwriteback/groupwriteback/internal/wiring"
)

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
	var events *alert.Notifier
	if r.cfg.Alerts.InStep {
		events = wiring.Alerts(r.cfg, c.st, c.logger)
	}
	ctx = context.WithoutCancel(ctx)
	for _, m := range r.res.Matched {
		took := m.Written.Sub(m.Noticed)
		c.metrics.ObserveChangeToAD(took)
		if events == nil {
			continue
		}
		ev := alert.Alert{Kind: alert.GroupInStep, Severity: "info",
			Summary: fmt.Sprintf("AD now matches the cloud for %q: %s (noticed by %s %s, written %s later)", m.Name, strings.Join(m.Changes, ", "), m.NoticedBy,
				m.Noticed.UTC().Format(time.RFC3339), took.Round(time.Millisecond)),
			Details: map[string]any{"cloudId": m.CloudID, "name": m.Name, "dn": m.DN, "deleted": m.Deleted, "changes": m.Changes,
				"noticed": m.Noticed.UTC(), "noticedBy": m.NoticedBy, "written": m.Written.UTC(), "seconds": took.Seconds(), "runId": r.res.RunID}}
		if err := events.Event(ctx, ev); err != nil {
			c.logger.Error("the in-step event was not sent", "cloud_id", m.CloudID, "error", err)
		}
	}
}
