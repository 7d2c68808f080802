package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/groupwriteback/groupwriteback/internal/config"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/ha"
	"github.com/groupwriteback/groupwriteback/internal/notify"
	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/store"
	"github.com/groupwriteback/groupwriteback/internal/wiring"
)

// statusOptions are status's.
type statusOptions struct {
	configured
	output
}

func newStatusCmd(g *globals) *cobra.Command {
	o := &statusOptions{configured: configured{globals: g}}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show whether writeback is on, the last runs, and every group not in step",
		Long: `status reads the state file: whether writeback is on, the last runs, and every
group not in step with its reason. Exit status: 0 when every group in scope is in
step (or nothing has run yet), 2 when some are not.`,
		Args: cobra.NoArgs,
		RunE: runs(o),
	}
	o.output.flag(cmd)
	return cmd
}

func (o *statusOptions) complete(*cobra.Command, []string) error { return o.loadConfig() }

func (o *statusOptions) validate() error { return o.output.validate() }

func (o *statusOptions) run(ctx context.Context) error {
	st, err := wiring.OpenStore(ctx, o.cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	view, err := readStatus(ctx, o.cfg, st)
	if err != nil {
		return err
	}
	if o.json() {
		if err := writeJSON(o.stdout, view.json()); err != nil {
			return err
		}
	} else {
		printStatus(o.stdout, view, time.Local)
	}
	if len(view.NotInStep) > 0 {
		return exitError{exitPartial} // scripts and monitors read the exit status
	}
	return nil
}

// readStatus reads what status shows from the state.
func readStatus(ctx context.Context, cfg *config.Config, st *store.Store) (statusView, error) {
	en, err := st.Enablement(ctx)
	if err != nil {
		return statusView{}, err
	}
	runs, err := st.Runs(ctx, 10)
	if err != nil {
		return statusView{}, err
	}
	bad, err := st.Statuses(ctx, state.NotInStep...)
	if err != nil {
		return statusView{}, err
	}
	def, known, err := st.TenantWritebackDefault(ctx)
	if err != nil {
		return statusView{}, err
	}
	view := statusView{Enablement: en, Runs: runs, NotInStep: bad, TenantDefault: def, TenantDefaultKnown: known}
	if cfg.Notifications.On() {
		doc, err := st.NotifyStatus(ctx)
		if err != nil {
			return statusView{}, err
		}
		view.Notifications = &notifyStatus{URL: cfg.Notifications.PublicURL, Held: []notify.Held{}}
		if doc != nil && json.Unmarshal(doc, view.Notifications) != nil {
			view.Notifications.LastError = "the state's record of the subscriptions cannot be read"
		}
	}
	if cfg.State.Shared() {
		v, err := ha.Describe(ctx, st, cfg.HA.Lease)
		if err != nil {
			return statusView{}, err
		}
		view.HA = &v
	}
	return view, nil
}

// statusView is what status prints.
type statusView struct {
	Enablement         state.Enablement
	Runs               []state.Run
	NotInStep          []state.GroupStatus
	TenantDefault      bool
	TenantDefaultKnown bool
	// HA is the election, when instances share the state.
	HA *ha.View
	// Notifications are what the service keeping the change notification
	// subscriptions last recorded, when notifications are on.
	Notifications *notifyStatus
}

// printStatus prints status as text, times in loc.
func printStatus(w io.Writer, v statusView, loc *time.Location) {
	en := v.Enablement
	switch {
	case en.Enabled:
		fmt.Fprintf(w, "writeback is enabled (since %s)\n", en.Changed.In(loc).Format("2006-01-02 15:04"))
	case en.Changed.IsZero():
		fmt.Fprintln(w, "writeback has never been enabled (groupwriteback enable)")
	default:
		fmt.Fprintf(w, "writeback is disabled (since %s)\n", en.Changed.In(loc).Format("2006-01-02 15:04"))
	}
	if v.HA != nil {
		printHA(w, *v.HA, loc)
	}
	if n := v.Notifications; n != nil {
		printNotifications(w, *n, loc)
	}
	if v.TenantDefaultKnown {
		fmt.Fprintf(w, "tenant NewUnifiedGroupWritebackDefault: %v (Entra stamps it on new Microsoft 365 groups' isEnabled; each group's isEnabled decides)\n", v.TenantDefault)
	}
	if len(v.Runs) == 0 && len(v.NotInStep) == 0 {
		// Nothing is known yet: "every group is in step" would be a guess.
		fmt.Fprintln(w, "no cycle has run yet (groupwriteback plan shows what the first would do)")
		return
	}
	fmt.Fprintln(w, "last runs:")
	for _, r := range v.Runs {
		quiet := ""
		switch {
		case r.Quiet > 1:
			quiet = fmt.Sprintf(": %d quiet cycles, the last ended %s", r.Quiet, r.Finished.In(loc).Format("2006-01-02 15:04:05"))
		case r.Quiet == 1:
			quiet = ": a quiet cycle"
		}
		fmt.Fprintf(w, "  #%d %s %s %s%s%s\n", r.ID, r.Started.In(loc).Format("2006-01-02 15:04:05"), r.Mode, r.Outcome, quiet, runSummary(r.Summary))
	}
	if len(v.NotInStep) == 0 {
		fmt.Fprintln(w, "every group in scope is in step")
		return
	}
	fmt.Fprintln(w, "not in step:")
	for _, b := range v.NotInStep {
		fmt.Fprintf(w, "  %s %q: %s: %s\n", b.CloudID, b.Name, b.State, b.Message)
		if b.DN != "" {
			fmt.Fprintf(w, "    %s\n", b.DN)
		}
	}
}

// printNotifications prints what the service keeping the change
// notification subscriptions last recorded.
func printNotifications(w io.Writer, n notifyStatus, loc *time.Location) {
	at := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.In(loc).Format("2006-01-02 15:04:05")
	}
	fmt.Fprintf(w, "change notifications to %s:", n.URL)
	if len(n.Held) == 0 {
		fmt.Fprint(w, " no subscription held")
	}
	for i, h := range n.Held {
		sep := ","
		if i == 0 {
			sep = ""
		}
		fmt.Fprintf(w, "%s %s until %s", sep, h.Resource, at(h.Expires))
	}
	if n.Instance != "" {
		fmt.Fprintf(w, " (kept by %s)", n.Instance)
	}
	fmt.Fprintf(w, "; last checked %s; last notification %s\n", at(n.LastCheck), at(n.Last))
	if n.LastError != "" {
		fmt.Fprintf(w, "  last check failed: %s\n", n.LastError)
	}
}

// printHA prints which instance is active, the last take-over, and the
// instances sharing the state.
func printHA(w io.Writer, v ha.View, loc *time.Location) {
	at := func(t time.Time) string { return t.In(loc).Format("2006-01-02 15:04:05") }
	if v.Active == "" {
		fmt.Fprintln(w, "active instance: none holds the writer lease: nothing is written to AD")
	} else {
		fmt.Fprintf(w, "active instance: %s (since %s, fencing token %d)\n", v.Active, at(v.ActiveSince), v.Token)
	}
	if tk := v.LastTakeover; tk != nil {
		from := "nobody"
		if tk.Previous != "" {
			from = tk.Previous
		}
		fmt.Fprintf(w, "last take-over: %s from %s at %s (token %d)\n", tk.Holder, from, at(tk.At), tk.Token)
	}
	fmt.Fprintln(w, "instances:")
	if len(v.Instances) == 0 {
		fmt.Fprintln(w, "  none reported lately")
	}
	for _, in := range v.Instances {
		fmt.Fprintf(w, "  %s %s on %s (pid %d, %s), started %s, last seen %s", in.Name, in.Role, in.Host, in.PID, in.Version, at(in.Started), at(in.Seen))
		if in.Detail != "" {
			fmt.Fprintf(w, ": %s", in.Detail)
		}
		fmt.Fprintln(w)
	}
}

// statusVersion is the version of status's JSON document.
const statusVersion = 1

// statusJSON is the documented JSON of `status -o json` (docs/json-formats.md).
type statusJSON struct {
	Version    int              `json:"version"`
	Kind       string           `json:"kind"`
	Enablement state.Enablement `json:"enablement"`
	// TenantWritebackDefault is null before the first cycle read it.
	TenantWritebackDefault *bool               `json:"tenantWritebackDefault"`
	InStep                 bool                `json:"inStep"`
	Runs                   []state.Run         `json:"runs"`
	NotInStep              []state.GroupStatus `json:"notInStep"`
	// HA is the election among instances sharing the state (absent with a
	// state of one instance's own).
	HA *ha.View `json:"ha,omitempty"`
	// Notifications are the change notification subscriptions the service
	// holds (absent when notifications are off).
	Notifications *notifyStatus `json:"notifications,omitempty"`
}

// json is the view as `status -o json` prints it.
func (v statusView) json() statusJSON {
	out := statusJSON{Version: statusVersion, Kind: "status", Enablement: v.Enablement, Runs: v.Runs, NotInStep: v.NotInStep, InStep: len(v.NotInStep) == 0, HA: v.HA,
		Notifications: v.Notifications}
	if out.Runs == nil {
		out.Runs = []state.Run{}
	}
	if out.NotInStep == nil {
		out.NotInStep = []state.GroupStatus{}
	}
	if v.TenantDefaultKnown {
		def := v.TenantDefault
		out.TenantWritebackDefault = &def
	}
	return out
}

// runSummary is a run's counts in words ("" when it recorded none).
func runSummary(raw []byte) (said string) {
	// A run records its counts, or the error that stopped it.
	var s struct {
		engine.Counts
		Error string `json:"error"`
		Fix   string `json:"fix"`
		Actor string `json:"actor"`
	}
	if len(raw) == 0 || string(raw) == "null" || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	if s.Actor != "" {
		defer func() { said += " (asked by " + s.Actor + ")" }()
	}
	if s.Error != "" && s.Fix != "" {
		return ": " + s.Error + ". Fix: " + s.Fix
	}
	if s.Error != "" {
		return ": " + s.Error
	}
	c := s.Counts
	parts := []string{}
	for _, p := range []struct {
		n    int
		what string
	}{{c.Created, "created"}, {c.Updated, "updated"}, {c.Deleted, "deleted"}, {c.Quarantined, "quarantined"}, {c.Failed, "failed"}, {c.NotWritable, "not writable"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	if len(parts) == 0 {
		return ": no change"
	}
	return ": " + strings.Join(parts, ", ")
}
