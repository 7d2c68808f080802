// Package notify turns Graph's change notifications into delta cycles
// started within seconds: it answers Graph's posts on the public
// notification URL (Handler), and keeps the subscriptions that make Graph
// send them (Manager). A notification is only a trigger: the delta link
// stays the one truth of what changed, so a notification lost, late,
// doubled or forged costs at most a cycle, never a wrong write, and the
// schedule's delta cycles stay as the safety net.
package notify

import (
	"crypto/subtle"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
	"github.com/groupwriteback/groupwriteback/internal/graph"
)

// Trigger is what a notification sets off: a delta cycle soon (the
// scheduler's Nudge), or, on a standby, a word to the active instance.
type Trigger interface {
	Nudge()
}

// TriggerFunc is a func as a Trigger.
type TriggerFunc func()

// Nudge calls f.
func (f TriggerFunc) Nudge() { f() }

// Lifecycle acts on a lifecycle notification (the Manager).
type Lifecycle interface {
	Lifecycle(n cloud.Notification)
}

// Observer counts what the handler received, by result: accepted,
// lifecycle, bad_client_state, other_tenant, malformed, validation.
type Observer interface {
	ObserveNotification(result string)
}

// maxBody is the most a notification post may carry: Graph batches
// notifications, each a few hundred bytes.
const maxBody = 1 << 20

// maxToken is the longest validation token echoed.
const maxToken = 1024

// Handler answers Graph on the notification URLs: the validation
// handshake, change notifications and lifecycle notifications. It
// answers at once (Graph allows 3 seconds) and acts after.
type Handler struct {
	// ClientState returns the secret every subscription was made with;
	// an item without it is not Graph's and is dropped.
	ClientState func() string
	// TenantID, when set, is the only tenant whose notifications count.
	TenantID  string
	Trigger   Trigger
	Lifecycle Lifecycle
	Observer  Observer
	Logger    *slog.Logger
	// Now is the clock (time.Now).
	Now func() time.Time

	mu   sync.Mutex
	last time.Time
	// noticed are the objects notifications named since Noticed last
	// took them, with when the first came.
	noticed map[string]time.Time
}

func (h *Handler) observe(result string) {
	if h.Observer != nil {
		h.Observer.ObserveNotification(result)
	}
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

func (h *Handler) now() time.Time {
	if h.Now == nil {
		return time.Now()
	}
	return h.Now()
}

// Last is when the last accepted notification came (zero: none yet).
func (h *Handler) Last() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// Noticed returns, and forgets, the objects notifications named since the
// last call, with when each was first named: the cycle that reads them
// says how long they took to reach AD.
func (h *Handler) Noticed() map[string]time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.noticed
	h.noticed = nil
	return out
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Graph posts notifications here", http.StatusMethodNotAllowed)
		return
	}
	// The handshake: Graph posts ?validationToken= when it makes a
	// subscription, and wants it back as text within 10 seconds.
	if r.URL.Query().Has("validationToken") {
		tok := r.URL.Query().Get("validationToken")
		if tok == "" || len(tok) > maxToken {
			http.Error(w, "a validation token of 1 to 1024 characters", http.StatusBadRequest)
			return
		}
		h.observe("validation")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, tok)
		return
	}
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		h.observe("malformed")
		http.Error(w, "a notification is application/json", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		h.observe("malformed")
		http.Error(w, "a notification of at most 1 MiB", http.StatusRequestEntityTooLarge)
		return
	}
	items, err := graph.ParseNotifications(body)
	if err != nil {
		h.observe("malformed")
		h.logger().Warn("a post on the notification URL is not a Graph notification; ignored", "remote", r.RemoteAddr, "error", err)
		http.Error(w, "not a changeNotificationCollection", http.StatusBadRequest)
		return
	}
	want := ""
	if h.ClientState != nil {
		want = h.ClientState()
	}
	var changes []cloud.Notification
	var events []cloud.Notification
	for _, n := range items {
		switch {
		case want == "" || subtle.ConstantTimeCompare([]byte(n.ClientState), []byte(want)) != 1:
			// Not Graph's, or a subscription this service did not make:
			// said, never acted on.
			h.observe("bad_client_state")
			h.logger().Warn("a notification with a wrong clientState was ignored: it is not from a subscription this service made (a forged post, or a subscription made elsewhere with this URL)",
				"subscription", n.SubscriptionID, "remote", r.RemoteAddr)
		case h.TenantID != "" && !strings.EqualFold(n.TenantID, h.TenantID):
			h.observe("other_tenant")
			h.logger().Warn("a notification for another tenant was ignored", "tenant", n.TenantID, "subscription", n.SubscriptionID)
		case n.LifecycleEvent != "":
			h.observe("lifecycle")
			events = append(events, n)
		default:
			h.observe("accepted")
			changes = append(changes, n)
		}
	}
	// Acknowledged before anything is done: Graph waits 3 seconds at most,
	// and a notification is only a trigger.
	w.WriteHeader(http.StatusAccepted)
	if len(changes) > 0 {
		now := h.now()
		h.mu.Lock()
		h.last = now
		if h.noticed == nil {
			h.noticed = map[string]time.Time{}
		}
		for _, n := range changes {
			if _, ok := h.noticed[n.ResourceID]; !ok && n.ResourceID != "" {
				h.noticed[n.ResourceID] = now
			}
		}
		h.mu.Unlock()
		h.logger().Debug("change notifications", "count", len(changes), "first", changes[0].Resource)
		if h.Trigger != nil {
			h.Trigger.Nudge()
		}
	}
	for _, n := range events {
		if h.Lifecycle != nil {
			go h.Lifecycle.Lifecycle(n)
		}
	}
}
