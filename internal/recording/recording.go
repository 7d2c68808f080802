// Package recording keeps Microsoft Graph traffic as a file: what
// `groupwriteback cloud record` writes from a real tenant and
// `graphsim -replay` serves back, so that a Graph behaviour the emulator
// does not know can be handed to the developers and replayed against the
// unchanged client. It holds Graph's answers only: never a request header,
// a token, a secret, or anything from the identity platform.
package recording

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// FileName is the recording's file in its directory.
const FileName = "recording.json"

// GraphPlaceholder stands for Graph's base URL in recorded paths and
// bodies (next and delta links), so that a replay serves them from its own.
const GraphPlaceholder = "{graph}"

// Recording is the traffic of one or more rounds, in order.
type Recording struct {
	// Version of the format, 1.
	Version int `json:"version"`
	// TenantID and ClientID are those the recording was made with (after
	// pseudonymisation, if asked): a replay signs in the same app.
	TenantID string `json:"tenantId"`
	ClientID string `json:"clientId"`
	// Pseudonymised says names and ids were replaced consistently.
	Pseudonymised bool       `json:"pseudonymised"`
	Exchanges     []Exchange `json:"exchanges"`
}

// Exchange is one request and Graph's answer.
type Exchange struct {
	Method string `json:"method"`
	// Target is the request's path and query, as sent (RequestURI).
	Target string `json:"target"`
	Status int    `json:"status"`
	// Header keeps only what a client acts on: Content-Type, Retry-After,
	// Location.
	Header map[string]string `json:"header,omitempty"`
	// Body is the answer, JSON as Graph sent it (links rewritten to
	// GraphPlaceholder).
	Body json.RawMessage `json:"body,omitempty"`
}

var keptHeaders = []string{"Content-Type", "Retry-After", "Location"}

// Load reads the recording in dir.
func Load(dir string) (*Recording, error) {
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	var r Recording
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("recording: %s: %w", filepath.Join(dir, FileName), err)
	}
	if r.Version != 1 {
		return nil, fmt.Errorf("recording: %s: version %d is not 1", filepath.Join(dir, FileName), r.Version)
	}
	return &r, nil
}

// Save writes the recording to dir, readable by its owner only (it holds
// the tenant's group and user data).
func (r *Recording) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	b, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, FileName), append(b, '\n'), 0o600)
}

// Recorder is an http.RoundTripper that records the answers of Graph (the
// host of graphURL) and passes everything else, the identity platform's
// token requests included, through unrecorded.
type Recorder struct {
	next  http.RoundTripper
	graph *url.URL
	pseud *pseudonymiser

	mu  sync.Mutex
	rec Recording
}

// NewRecorder records Graph's answers at graphURL. With pseudonymise,
// names, addresses, identifiers and ids are replaced by stand-ins, the same
// value always by the same stand-in, so that the recording still holds
// together (a member id is the id of a user in it).
func NewRecorder(next http.RoundTripper, graphURL, tenantID, clientID string, pseudonymise bool) (*Recorder, error) {
	u, err := url.Parse(strings.TrimRight(graphURL, "/"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("recording: graph URL %q", graphURL)
	}
	if next == nil {
		next = http.DefaultTransport
	}
	r := &Recorder{next: next, graph: u, rec: Recording{Version: 1, TenantID: tenantID, ClientID: clientID, Pseudonymised: pseudonymise}}
	if pseudonymise {
		r.pseud = newPseudonymiser()
		r.rec.TenantID, r.rec.ClientID = r.pseud.id(tenantID), r.pseud.id(clientID)
	}
	return r, nil
}

// identity reports whether a request goes to the identity platform (the
// token endpoint, discovery): never recorded, whatever its host.
func identity(path string) bool {
	return strings.Contains(path, "/oauth2/") || strings.Contains(path, "/.well-known/") ||
		strings.HasPrefix(path, "/common/discovery") || strings.HasPrefix(path, "/msi/")
}

// RoundTrip passes the request on and records Graph's answer.
func (r *Recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil || !strings.EqualFold(req.URL.Host, r.graph.Host) || identity(req.URL.Path) {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	ex := Exchange{Method: req.Method, Target: req.URL.RequestURI(), Status: resp.StatusCode, Header: map[string]string{}}
	for _, h := range keptHeaders {
		if v := resp.Header.Get(h); v != "" {
			ex.Header[h] = r.links(v)
		}
	}
	if len(body) > 0 {
		stored := []byte(r.links(string(body)))
		if r.pseud != nil {
			stored = r.pseud.body(stored)
		}
		if json.Valid(stored) {
			ex.Body = stored
		} else {
			ex.Body, _ = json.Marshal(string(stored))
		}
	}
	if r.pseud != nil {
		ex.Target = r.pseud.text(ex.Target)
	}
	r.mu.Lock()
	r.rec.Exchanges = append(r.rec.Exchanges, ex)
	r.mu.Unlock()
	return resp, nil
}

// links replaces Graph's base URL with GraphPlaceholder.
func (r *Recorder) links(s string) string {
	base := r.graph.Scheme + "://" + r.graph.Host
	s = strings.ReplaceAll(s, base, GraphPlaceholder)
	return strings.ReplaceAll(s, strings.ReplaceAll(base, "/", `\/`), GraphPlaceholder)
}

// Recording returns what was recorded so far.
func (r *Recorder) Recording() *Recording {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.rec
	out.Exchanges = append([]Exchange(nil), r.rec.Exchanges...)
	return &out
}

// Player answers requests from a recording: each recorded answer once, in
// order, for its method and target; the last one again when they run out.
type Player struct {
	mu   sync.Mutex
	next map[string][]Exchange
	last map[string]Exchange
}

// NewPlayer prepares a recording for replay.
func NewPlayer(r *Recording) *Player {
	p := &Player{next: map[string][]Exchange{}, last: map[string]Exchange{}}
	for _, ex := range r.Exchanges {
		k := ex.Method + " " + ex.Target
		p.next[k] = append(p.next[k], ex)
	}
	return p
}

// Answer finds the answer to a request for target (path and query, links
// already in GraphPlaceholder form); ok is false when none was recorded.
func (p *Player) Answer(method, target string) (Exchange, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := method + " " + target
	if q := p.next[k]; len(q) > 0 {
		p.next[k], p.last[k] = q[1:], q[0]
		return q[0], true
	}
	ex, ok := p.last[k]
	return ex, ok
}
