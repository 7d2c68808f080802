package graph

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/cloud"
)

// ErrResyncRequired reports that Graph no longer accepts a delta link and the
// round must start again from a full read: 410 Gone, or the error codes
// syncStateNotFound, syncStateInvalid and resyncRequired.
var ErrResyncRequired = errors.New("graph: delta state expired, full resync required")

// refusedLink reports whether err is Graph refusing a next or delta link
// it issued: a 4xx other than the authorisation and throttling answers.
// Graph documents expiry only as "a 40X-series error with error codes such
// as syncStateNotFound"; Directory_ExpiredPageToken has been seen too.
func refusedLink(err error) bool {
	var gerr *Error
	if !errors.As(err, &gerr) {
		return false
	}
	switch s := gerr.StatusCode; {
	case s == http.StatusUnauthorized, s == http.StatusForbidden, s == http.StatusTooManyRequests:
		return false
	default:
		return s >= 400 && s < 500
	}
}

// resyncCodes are the error codes that mean "start delta again".
var resyncCodes = []string{"syncStateNotFound", "syncStateInvalid", "resyncRequired"}

// Error is an error answer from Microsoft Graph. It keeps the HTTP status,
// Graph's error code (and the codes of nested inner errors) and message.
type Error struct {
	Method     string
	Path       string
	StatusCode int
	Code       string
	Message    string
	InnerCodes []string
	RequestID  string
	Date       string
	RetryAfter time.Duration
	// Location is the Location header of a 410 Gone: where to start again.
	Location string
}

// WaitBeforeRetry is how long Graph asked to wait (Retry-After) before
// asking again; 0 when it did not say. The scheduler waits at least that
// long before its next cycle after a cycle Graph throttled to failure.
func (e *Error) WaitBeforeRetry() time.Duration { return e.RetryAfter }

func (e *Error) Error() string {
	msg := fmt.Sprintf("graph: %s %s: %d", e.Method, e.Path, e.StatusCode)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.RequestID != "" {
		msg += " (request-id " + e.RequestID + ")"
	}
	return msg
}

// Is makes errors.Is(err, ErrResyncRequired) true for Graph's resync
// answers, and errors.Is(err, cloud.ErrForbidden) for a 403.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrResyncRequired:
		return e.StatusCode == http.StatusGone || slices.ContainsFunc(resyncCodes, e.HasCode)
	case cloud.ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	}
	return false
}

// HasCode reports whether code is the error's code or one of its inner
// errors' codes, as Graph's documentation asks clients to check.
func (e *Error) HasCode(code string) bool {
	return strings.EqualFold(e.Code, code) || slices.ContainsFunc(e.InnerCodes, func(c string) bool { return strings.EqualFold(c, code) })
}

// errorBody is Graph's JSON error shape.
type errorBody struct {
	Error *odataError `json:"error"`
}

type odataError struct {
	Code       string      `json:"code"`
	Message    string      `json:"message"`
	InnerError *innerError `json:"innerError"`
	// Some services spell it in lower case.
	InnerErrorLower *innerError `json:"innererror"`
}

type innerError struct {
	Code       string      `json:"code"`
	RequestID  string      `json:"request-id"`
	Date       string      `json:"date"`
	InnerError *innerError `json:"innerError"`
	Lower      *innerError `json:"innererror"`
}

// parseError builds an *Error from an answer that is not a success.
func parseError(method, path string, status int, header http.Header, body []byte) *Error {
	e := &Error{Method: method, Path: path, StatusCode: status, RequestID: header.Get("request-id"), Location: header.Get("Location")}
	e.RetryAfter = retryAfter(header, time.Now())
	var b errorBody
	if json.Unmarshal(body, &b) == nil && b.Error != nil {
		e.Code, e.Message = b.Error.Code, b.Error.Message
		inner := b.Error.InnerError
		if inner == nil {
			inner = b.Error.InnerErrorLower
		}
		for depth := 0; inner != nil && depth < 16; depth++ {
			if inner.Code != "" {
				e.InnerCodes = append(e.InnerCodes, inner.Code)
			}
			if inner.RequestID != "" && e.RequestID == "" {
				e.RequestID = inner.RequestID
			}
			if inner.Date != "" && e.Date == "" {
				e.Date = inner.Date
			}
			next := inner.InnerError
			if next == nil {
				next = inner.Lower
			}
			inner = next
		}
	} else {
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "…"
		}
	}
	return e
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var secs int
	if _, err := fmt.Sscanf(v, "%d", &secs); err == nil && fmt.Sprint(secs) == v {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
