package console

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// sessionCookie holds the session id: Secure, HttpOnly, SameSite=Strict,
// scoped to /console/.
const sessionCookie = "gwb_console"

// csrfField is the hidden field every form of the console carries.
const csrfField = "csrf"

// session is one signed-in user.
type session struct {
	id      identity
	sid     string
	csrf    string
	expires time.Time

	mu sync.Mutex
	// pending is the saved plan this session checked and has not yet
	// approved (one at a time).
	pending *pendingPlan
}

func (s *session) setPending(p *pendingPlan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = p
}

func (s *session) getPending() *pendingPlan {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// sessions are kept in memory: a restart signs everyone out, and no
// session can be forged from a file.
type sessions struct {
	mu       sync.Mutex
	m        map[string]*session
	now      func() time.Time
	lifetime time.Duration
}

func newSessions(now func() time.Time, lifetime time.Duration) *sessions {
	return &sessions{m: map[string]*session{}, now: now, lifetime: lifetime}
}

func (ss *sessions) create(id identity) *session {
	s := &session{id: id, sid: randomString(), csrf: randomString(), expires: ss.now().Add(ss.lifetime)}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for k, old := range ss.m {
		if ss.now().After(old.expires) {
			delete(ss.m, k)
		}
	}
	ss.m[s.sid] = s
	return s
}

// of is the request's session, or nil.
func (ss *sessions) of(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[c.Value]
	if s == nil || ss.now().After(s.expires) {
		return nil
	}
	return s
}

func (ss *sessions) end(sid string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, sid)
}

// csrfOK checks a form's token against the session's.
func (s *session) csrfOK(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.csrf)) == 1
}

// actor is the session's user as the audit trail names it.
func (s *session) actor() string { return "console:" + s.id.Username }

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
