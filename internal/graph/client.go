// Package graph reads the tenant from Microsoft Graph: groups with their
// members, owners and writeback configuration, and the users that are
// members, fully or by delta query. It moves data and decides nothing; the
// same code talks to graph.microsoft.com and to the graphsim emulator.
package graph

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/groupwriteback/groupwriteback/internal/engine"
)

// RetryPolicy bounds how a request is retried after throttling (429),
// service errors (500, 502, 503, 504) and network errors.
type RetryPolicy struct {
	// MaxAttempts is the most tries of one request, the first included.
	MaxAttempts int
	// BaseDelay is the first backoff when Graph gives no Retry-After;
	// it doubles each time, with jitter, up to MaxDelay.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// MaxRetryAfter caps each wait Graph asks for with Retry-After: a
	// throttled request is tried again after at most this long.
	MaxRetryAfter time.Duration
	// MaxTotalWait bounds the waiting for one request, all attempts
	// together; past it the request fails, naming what it waited for.
	MaxTotalWait time.Duration
}

// DefaultRetryPolicy suits a background sync: patient with throttling,
// bounded overall: no wait longer than two minutes, and no more than ten
// minutes of waiting for one request.
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 10, BaseDelay: time.Second, MaxDelay: time.Minute,
	MaxRetryAfter: 2 * time.Minute, MaxTotalWait: 10 * time.Minute}

// Client is a Microsoft Graph client for one tenant.
type Client struct {
	base   *url.URL
	http   *http.Client
	cred   azcore.TokenCredential
	scope  string
	logger *slog.Logger
	retry  RetryPolicy
	// sleep waits between attempts; tests replace it to run without waiting.
	sleep func(context.Context, time.Duration) error

	requests  atomic.Int64
	throttled atomic.Int64
	retries   atomic.Int64
	// progress, when set, hears of every page a delta round reads.
	progress func(what string, items int)
	// maxPages bounds one delta round (defaultMaxPages).
	maxPages int
	// groupExtensions are extension properties read with every group.
	groupExtensions []string
}

// SelectGroupExtensions asks every groups round to read these extension
// properties too (placement rules match on them): extensionAttribute1 to
// extensionAttribute15, from the group's onPremisesExtensionAttributes,
// and directory extensions, extension_<appId without hyphens>_<name>.
// Call it before the first read.
func (c *Client) SelectGroupExtensions(names []string) { c.groupExtensions = names }

// OnProgress asks to be told, after each page of a delta round, how many
// items of what ("groups", "users") the round has read so far.
func (c *Client) OnProgress(f func(what string, items int)) { c.progress = f }

// Options configure a Client. GraphURL and Credential are required.
type Options struct {
	// GraphURL is Graph's base URL, https://graph.microsoft.com by default.
	GraphURL string
	// Credential obtains access tokens, e.g. an azidentity credential.
	Credential azcore.TokenCredential
	// HTTPClient carries requests; its transport decides TLS trust.
	HTTPClient *http.Client
	Logger     *slog.Logger
	Retry      RetryPolicy
	// Sleep replaces the wait between attempts (tests).
	Sleep func(context.Context, time.Duration) error
}

// New returns a client.
func New(o Options) (*Client, error) {
	if o.GraphURL == "" {
		o.GraphURL = "https://graph.microsoft.com"
	}
	base, err := url.Parse(strings.TrimRight(o.GraphURL, "/"))
	if err != nil || base.Scheme != "https" || base.Host == "" {
		return nil, fmt.Errorf("graph: graph URL %q must be an https:// URL", o.GraphURL)
	}
	if o.Credential == nil {
		return nil, errors.New("graph: a credential is required")
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 2 * time.Minute}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Retry.MaxAttempts <= 0 {
		o.Retry = DefaultRetryPolicy
	}
	if o.Retry.MaxRetryAfter <= 0 {
		o.Retry.MaxRetryAfter = DefaultRetryPolicy.MaxRetryAfter
	}
	if o.Retry.MaxTotalWait <= 0 {
		o.Retry.MaxTotalWait = DefaultRetryPolicy.MaxTotalWait
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	return &Client{base: base, http: o.HTTPClient, cred: o.Credential, scope: Scope(o.GraphURL),
		logger: o.Logger, retry: o.Retry, sleep: o.Sleep, maxPages: defaultMaxPages}, nil
}

// Scope is the token scope for the Graph at graphURL: every national
// cloud's Graph is its own resource ("Any permission scope value …that
// contains the Microsoft Graph domain MUST use the domain of the … national
// cloud", https://learn.microsoft.com/graph/sdks/national-clouds):
// https://graph.microsoft.us/.default for GCC High,
// https://dod-graph.microsoft.us/.default for DoD,
// https://microsoftgraph.chinacloudapi.cn/.default for 21Vianet.
func Scope(graphURL string) string {
	u, err := url.Parse(strings.TrimRight(graphURL, "/"))
	if err != nil || u.Host == "" {
		return "https://graph.microsoft.com/.default"
	}
	return u.Scheme + "://" + u.Host + "/.default"
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Counters are what the client has done, for metrics.
type Counters struct {
	Requests, Throttled, Retries int64
}

// Counters returns the request counters.
func (c *Client) Counters() Counters {
	return Counters{Requests: c.requests.Load(), Throttled: c.throttled.Load(), Retries: c.retries.Load()}
}

// endpoint builds an absolute URL on the Graph base from a path and query.
func (c *Client) endpoint(path string, q url.Values) string {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = strings.ReplaceAll(q.Encode(), "%24", "$")
	u.RawQuery = strings.ReplaceAll(u.RawQuery, "%2C", ",")
	return u.String()
}

// checkLink refuses to follow a next or delta link to another host: the
// client's token must never leave Graph.
func (c *Client) checkLink(link string) error {
	u, err := url.Parse(link)
	if err != nil {
		return fmt.Errorf("graph: bad link %q: %w", link, err)
	}
	if u.Scheme != c.base.Scheme || !strings.EqualFold(u.Host, c.base.Host) {
		// Never print the link whole: its query carries a skip or delta token.
		return fmt.Errorf("graph: a next or delta link points at %s://%s%s, not at %s: refusing to follow it (the access token must not leave Graph). "+
			"If the state file comes from a configuration with another cloud.graph_url, run `groupwriteback sync --full`", u.Scheme, u.Host, u.Path, c.base.Host)
	}
	return nil
}

// get fetches a URL and decodes its JSON body into out, retrying as the
// policy allows.
func (c *Client) get(ctx context.Context, link string, header http.Header, out any) error {
	body, err := c.do(ctx, http.MethodGet, link, header, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("graph: GET %s: decode: %w", pathOf(link), err)
	}
	return nil
}

func pathOf(link string) string {
	u, err := url.Parse(link)
	if err != nil {
		return link
	}
	return u.Path
}

// do sends one request with retries: it honours Retry-After, backs off with
// jitter on service and network errors, and fetches a fresh token once when
// Graph says the current one is no longer valid.
func (c *Client) do(ctx context.Context, method, link string, header http.Header, payload []byte) ([]byte, error) {
	refreshToken := false
	var lastErr error
	var waited time.Duration
	for attempt := 1; ; attempt++ {
		tok, err := c.token(ctx, refreshToken)
		if err != nil {
			return nil, err
		}
		var reqBody io.Reader
		if payload != nil {
			reqBody = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, method, link, reqBody)
		if err != nil {
			return nil, fmt.Errorf("graph: %s %s: %w", method, pathOf(link), err)
		}
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		for k, v := range header {
			req.Header[k] = v
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", "groupwriteback")
		c.requests.Add(1)
		start := time.Now()
		resp, err := c.http.Do(req)
		var body []byte
		if err == nil {
			body, err = io.ReadAll(io.LimitReader(resp.Body, 256<<20))
			resp.Body.Close()
		}
		var wait time.Duration
		why := "a network error"
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil:
			lastErr = fmt.Errorf("graph: %s %s: %w", method, pathOf(link), err)
			if rerr := reachError(method+" "+pathOf(link), err); rerr != nil {
				lastErr = rerr
			}
			if !retryableNetErr(err) {
				return nil, lastErr
			}
			wait = c.backoff(attempt)
		case resp.StatusCode < 300:
			c.logger.Debug("graph request", "method", method, "path", pathOf(link), "status", resp.StatusCode, "duration", time.Since(start))
			return body, nil
		default:
			gerr := parseError(method, pathOf(link), resp.StatusCode, resp.Header, body)
			lastErr = gerr
			switch resp.StatusCode {
			case http.StatusUnauthorized:
				if refreshToken || !gerr.HasCode("InvalidAuthenticationToken") {
					return nil, gerr
				}
				refreshToken = true
				c.logger.Info("graph rejected the access token; getting a new one", "code", gerr.Code, "message", gerr.Message)
				attempt-- // a token refresh is not a retry
				continue
			case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusGatewayTimeout,
				http.StatusInternalServerError, http.StatusBadGateway:
				why = fmt.Sprintf("Graph answered %d", resp.StatusCode)
				if resp.StatusCode == http.StatusTooManyRequests {
					c.throttled.Add(1)
					why = "Graph is throttling this app (429)"
				}
				wait = gerr.RetryAfter
				if wait > c.retry.MaxRetryAfter {
					c.logger.Warn("graph asks to wait longer than the cap; waiting the cap", "retry_after_seconds", wait.Seconds(),
						"cap_seconds", c.retry.MaxRetryAfter.Seconds(), "path", pathOf(link))
					wait = c.retry.MaxRetryAfter
				}
				if wait <= 0 {
					wait = c.backoff(attempt)
				}
			default:
				return nil, gerr
			}
		}
		if attempt >= c.retry.MaxAttempts {
			return nil, fmt.Errorf("graph: giving up after %d attempts (%s): %w", attempt, why, lastErr)
		}
		if waited+wait > c.retry.MaxTotalWait {
			return nil, fmt.Errorf("graph: giving up after waiting %s over %d attempts, the most one request may wait (%s): %w",
				waited.Round(time.Second), attempt, why, lastErr)
		}
		waited += wait
		c.retries.Add(1)
		c.logger.Warn("waiting to retry a graph request", "reason", why, "method", method, "path", pathOf(link), "attempt", attempt,
			"wait_seconds", wait.Seconds(), "error", lastErr)
		if err := c.sleep(ctx, wait); err != nil {
			return nil, err
		}
		refreshToken = false
	}
}

// backoff is the exponential wait before attempt+1, with full jitter in
// its upper half so that many clients do not retry in step.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.retry.BaseDelay << min(attempt-1, 16)
	if d > c.retry.MaxDelay || d <= 0 {
		d = c.retry.MaxDelay
	}
	return d/2 + rand.N(d/2+1)
}

// retryableNetErr reports whether a transport error may succeed on retry:
// resets, unexpected EOFs, timeouts. Certificate failures never do.
func retryableNetErr(err error) bool {
	var verr *tls.CertificateVerificationError
	var uaerr x509.UnknownAuthorityError
	var herr x509.HostnameError
	var ierr x509.CertificateInvalidError
	if errors.As(err, &verr) || errors.As(err, &uaerr) || errors.As(err, &herr) || errors.As(err, &ierr) {
		return false
	}
	var nerr net.Error
	return errors.As(err, &nerr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}

// token gets an access token. With refresh it asks for one issued from now
// on, which bypasses the credential's cache (the same way a claims challenge
// from continuous access evaluation does).
func (c *Client) token(ctx context.Context, refresh bool) (string, error) {
	opts := policy.TokenRequestOptions{Scopes: []string{c.scope}}
	if refresh {
		opts.Claims = fmt.Sprintf(`{"access_token":{"nbf":{"essential":true,"value":"%d"}}}`, time.Now().Unix())
	}
	tok, err := c.cred.GetToken(ctx, opts)
	if err != nil {
		if rerr := reachError("get token", err); rerr != nil {
			return "", rerr
		}
		return "", fmt.Errorf("graph: get token: %w", err)
	}
	return tok.Token, nil
}

// The engine reads the tenant through this client.
var _ engine.Cloud = (*Client)(nil)
