package alert

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/advice"
)

// Cycle is how a cycle ended, as alerts see it.
type Cycle struct {
	// Err is the error that made the cycle fail (nil: it ran).
	Err error
	// Disabled: writeback is disabled, so the cycle wrote nothing.
	Disabled bool
	// Staging: the instance plans and writes nothing (mode: staging).
	Staging bool
	// HeldBack names the groups whose delete or quarantine the threshold
	// held back, and Threshold is its message.
	HeldBack  []string
	Threshold string
}

const stagingSinceKey = "alert.staging_since"

// AfterCycle sends the alerts a cycle calls for and clears the conditions
// it shows are over: a failure, then its recovery; deletes held back;
// writeback disabled; staging left on longer than stagingAfter. Errors of
// the webhook are joined and returned; the cycle's outcome stands.
func (n *Notifier) AfterCycle(ctx context.Context, c Cycle, stagingAfter time.Duration) error {
	if n == nil {
		return nil
	}
	var errs []error
	send := func(a Alert) {
		if _, err := n.Send(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	clear := func(kind string) { errs = append(errs, n.Clear(ctx, kind)) }
	switch {
	case c.Err != nil:
		a := advice.For(c.Err)
		send(Alert{Kind: CycleFailed, Severity: "error", Summary: "the cycle failed: " + a.Summary,
			Details: map[string]any{"error": a.Summary, "fix": a.Fix, "detail": a.Detail}})
	case n.Sent(ctx, CycleFailed):
		send(Alert{Kind: CycleRecovered, Severity: "info", Summary: "cycles succeed again"})
		clear(CycleFailed)
		clear(CycleRecovered)
	}
	if c.Disabled {
		send(Alert{Kind: WritebackDisabled, Severity: "warning",
			Summary: "writeback is disabled: nothing is written to AD until `groupwriteback enable`"})
	} else if c.Err == nil {
		clear(WritebackDisabled)
	}
	if len(c.HeldBack) > 0 {
		shown := c.HeldBack
		if len(shown) > 20 {
			shown = shown[:20]
		}
		send(Alert{Kind: DeletesHeldBack, Severity: "warning",
			Summary: fmt.Sprintf("%d deletes or quarantines held back by the delete threshold (%s): %s", len(c.HeldBack), strings.Join(shown, ", "), c.Threshold),
			Details: map[string]any{"groups": c.HeldBack, "message": c.Threshold}})
	} else if c.Err == nil {
		clear(DeletesHeldBack)
	}
	errs = append(errs, n.staging(ctx, c.Staging, stagingAfter, send))
	return errors.Join(errs...)
}

// staging tells when this instance has been in staging longer than after:
// a staging server left on after a migration writes nothing.
func (n *Notifier) staging(ctx context.Context, on bool, after time.Duration, send func(Alert)) error {
	since, err := n.cfg.Memory.Meta(ctx, stagingSinceKey)
	if err != nil {
		// Unread, "since" is not known: it is neither reset (which would
		// restart the count) nor told.
		return fmt.Errorf("alert: when staging began cannot be read: %w", err)
	}
	if !on {
		if since == "" {
			return nil
		}
		return errors.Join(n.cfg.Memory.SetMeta(ctx, stagingSinceKey, ""), n.Clear(ctx, StagingLeftOn))
	}
	now := n.cfg.Now()
	t, err := time.Parse(time.RFC3339, since)
	if err != nil {
		return n.cfg.Memory.SetMeta(ctx, stagingSinceKey, now.UTC().Format(time.RFC3339))
	}
	if after > 0 && now.Sub(t) >= after {
		send(Alert{Kind: StagingLeftOn, Severity: "warning",
			Summary: fmt.Sprintf("this instance has been in staging mode since %s: it writes nothing to AD (set mode: normal on the server that should write)", t.Format(time.RFC3339)),
			Details: map[string]any{"since": t}})
	}
	return nil
}
