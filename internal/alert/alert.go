// Package alert tells people when writeback needs them: a webhook called
// on a failed cycle, on deletes the threshold holds back, on writeback
// disabled, on a staging service left on, and when a failure clears. Each
// kind of alert is sent at most once per repeat period, remembered in the
// state store so that cron runs and restarts do not repeat it either.
// Payloads are a generic JSON document, or what Slack and Microsoft Teams
// incoming webhooks take.
package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"
)

// Kinds of alert.
const (
	CycleFailed       = "cycle_failed"
	CycleRecovered    = "cycle_recovered"
	DeletesHeldBack   = "deletes_held_back"
	WritebackDisabled = "writeback_disabled"
	StagingLeftOn     = "staging_left_on"
	// GroupInStep is an event, not an alert: a cycle brought a changed
	// group in step (Event).
	GroupInStep = "group_in_step"
)

// Formats of payload.
const (
	FormatJSON  = "json"
	FormatSlack = "slack"
	FormatTeams = "teams"
)

// Alert is one thing to tell.
type Alert struct {
	Kind string `json:"alert"`
	// Severity is error, warning or info.
	Severity string         `json:"severity"`
	Summary  string         `json:"summary"`
	Details  map[string]any `json:"details,omitempty"`
}

// Memory remembers when each kind was last sent (the state store's
// metadata).
type Memory interface {
	Meta(ctx context.Context, key string) (string, error)
	SetMeta(ctx context.Context, key, value string) error
}

// Config configures a Notifier.
type Config struct {
	URL    string
	Format string
	// Repeat is the least time between two alerts of one kind.
	Repeat time.Duration
	// Instance names this instance in every alert (the host name when
	// empty).
	Instance string
	Client   *http.Client
	Memory   Memory
	Logger   *slog.Logger
	Now      func() time.Time
}

// Notifier sends alerts.
type Notifier struct {
	cfg Config
	// sent is when each kind went out from this process: what limits
	// repeats when the state cannot be read.
	mu   sync.Mutex
	sent map[string]time.Time
}

// New returns a notifier; a nil one sends nothing.
func New(cfg Config) *Notifier {
	if cfg.URL == "" {
		return nil
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	// A webhook URL is a secret (whoever holds it may post): a redirect
	// would carry the body, and the URL in Referer, to another host. A
	// 3xx is an answer like any other that is not 2xx.
	client := *cfg.Client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cfg.Client = &client
	if cfg.Format == "" {
		cfg.Format = FormatJSON
	}
	if cfg.Instance == "" {
		cfg.Instance, _ = os.Hostname() // unknown, the alert names no instance: it still goes out
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Notifier{cfg: cfg, sent: map[string]time.Time{}}
}

// Redact is a webhook URL as it may be shown: its scheme and host. The
// rest (path, query) is the secret that lets anyone post to it.
func Redact(webhook string) string {
	u, err := url.Parse(webhook)
	if err != nil || u.Host == "" {
		return "(an unparsable URL)"
	}
	return u.Scheme + "://" + u.Host
}

func sentKey(kind string) string { return "alert.sent." + kind }

// Send sends a unless one of its kind went out within the repeat period;
// it reports whether it sent. A webhook that fails is an error: the alert
// is not remembered as sent, so the next occasion tries again.
func (n *Notifier) Send(ctx context.Context, a Alert) (bool, error) {
	if n == nil {
		return false, nil
	}
	now := n.cfg.Now()
	last, merr := n.cfg.Memory.Meta(ctx, sentKey(a.Kind))
	if merr != nil {
		// The state cannot say when this kind was last sent (the
		// database may be what failed): the alert goes out, once per
		// repeat period of this process, not once per cycle.
		n.mu.Lock()
		t, ok := n.sent[a.Kind]
		n.mu.Unlock()
		if ok && now.Sub(t) < n.cfg.Repeat {
			return false, fmt.Errorf("alert: when %s was last sent cannot be read: %w", a.Kind, merr)
		}
		last = ""
	}
	if last != "" {
		if t, err := time.Parse(time.RFC3339, last); err == nil && now.Sub(t) < n.cfg.Repeat {
			n.cfg.Logger.Debug("alert not repeated within alerts.repeat_after", "alert", a.Kind, "last", t)
			return false, nil
		}
	}
	if err := n.post(ctx, a, now); err != nil {
		return false, err
	}
	n.mu.Lock()
	n.sent[a.Kind] = now
	n.mu.Unlock()
	if err := n.cfg.Memory.SetMeta(ctx, sentKey(a.Kind), now.UTC().Format(time.RFC3339)); err != nil {
		return true, errors.Join(err, merr)
	}
	n.cfg.Logger.Info("alert sent", "alert", a.Kind, "summary", a.Summary)
	return true, nil
}

// Event sends a at once, whatever was sent before: an event (a group in
// step) is news each time, where an alert repeats a condition.
func (n *Notifier) Event(ctx context.Context, a Alert) error {
	if n == nil {
		return nil
	}
	return n.post(ctx, a, n.cfg.Now())
}

// Sent reports whether an alert of kind went out and has not been cleared
// (Clear): a failure whose recovery is worth telling.
func (n *Notifier) Sent(ctx context.Context, kind string) bool {
	if n == nil {
		return false
	}
	// Unread, the failure is taken as not sent: no recovery is told for
	// a failure that may never have been.
	v, err := n.cfg.Memory.Meta(ctx, sentKey(kind))
	return err == nil && v != ""
}

// Clear forgets that an alert of kind was sent: the condition is over, and
// its next occurrence is told at once.
func (n *Notifier) Clear(ctx context.Context, kind string) error {
	if n == nil {
		return nil
	}
	return n.cfg.Memory.SetMeta(ctx, sentKey(kind), "")
}

// kindOf is what a JSON payload calls a: an event (news each time) or an
// alert (a condition).
func kindOf(a Alert) string {
	if a.Kind == GroupInStep {
		return "event"
	}
	return "alert"
}

// post posts a to the webhook.
func (n *Notifier) post(ctx context.Context, a Alert, now time.Time) error {
	body, err := n.payload(a, now)
	if err != nil {
		return err
	}
	where := Redact(n.cfg.URL)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("alert: webhook %s: the URL does not parse", where)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.cfg.Client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // its URL is the secret one
		}
		return fmt.Errorf("alert: webhook %s: %w", where, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512)) // what the receiver said, if it can be read
		if resp.StatusCode/100 == 3 {
			return fmt.Errorf("alert: webhook %s answered %s, a redirect, which is not followed: set alerts.webhook_url to where it points", where, resp.Status)
		}
		return fmt.Errorf("alert: webhook %s answered %s: %s", where, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// payload is the alert in the configured format.
func (n *Notifier) payload(a Alert, now time.Time) ([]byte, error) {
	text := fmt.Sprintf("groupwriteback on %s: %s", n.cfg.Instance, a.Summary)
	switch n.cfg.Format {
	case FormatSlack:
		return json.Marshal(map[string]string{"text": text})
	case FormatTeams:
		color := map[string]string{"error": "D13438", "warning": "FFB900", "info": "107C10"}[a.Severity]
		return json.Marshal(map[string]any{"@type": "MessageCard", "@context": "https://schema.org/extensions",
			"summary": text, "themeColor": color, "title": "groupwriteback: " + a.Kind, "text": text})
	}
	return json.Marshal(struct {
		Version  int       `json:"version"`
		Kind     string    `json:"kind"`
		Time     time.Time `json:"time"`
		Instance string    `json:"instance"`
		Alert
	}{1, kindOf(a), now.UTC(), n.cfg.Instance, a})
}
