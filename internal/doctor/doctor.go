// Package doctor checks every prerequisite of writeback, in order, and says
// for each what is wrong and how to fix it: the configuration, Graph (token,
// permissions), the domain controller (reachable, TLS, bind), the OUs and
// the rights on them, and the schema.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/groupwriteback/groupwriteback/internal/config"
	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/graph"
	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/store"
)

// Status of one check.
type Status string

// Statuses. Only fail makes doctor exit non-zero.
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Check is the outcome of one check.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Report is every check, in order.
type Report struct {
	Checks []Check `json:"checks"`
	// Schema is what the schema probe found, when it ran.
	Schema *directory.Schema `json:"-"`
}

// OK reports whether no check failed.
func (r *Report) OK() bool {
	for _, c := range r.Checks {
		if c.Status == Fail {
			return false
		}
	}
	return true
}

func (r *Report) add(name string, s Status, detail, fix string) {
	r.Checks = append(r.Checks, Check{Name: name, Status: s, Detail: detail, Fix: fix})
}

// Options tune the checks.
type Options struct {
	// WithoutExchange: Microsoft 365 groups are to be written without mail
	// attributes, so a missing Exchange schema is a warning.
	WithoutExchange bool
	Logger          *slog.Logger
}

// Run checks everything the configuration at path needs. cfg is nil when
// the configuration did not load; err says why.
func Run(ctx context.Context, cfg *config.Config, cfgErr error, o Options) *Report {
	r := &Report{}
	if cfgErr != nil {
		r.add("config", Fail, cfgErr.Error(), "correct the keys named above (examples/config.yaml explains each)")
		return r
	}
	r.add("config", Pass, "the configuration is valid", "")
	var exposure, other []string
	for _, w := range cfg.Warnings() {
		if strings.HasPrefix(w, "server.") {
			exposure = append(exposure, w)
		} else {
			other = append(other, w)
		}
	}
	if len(exposure) > 0 {
		r.add("server: exposure", Warn, strings.Join(exposure, "; "), "keep server.listen on loopback, or give it TLS and a token or client certificates (examples/config.yaml, server)")
	}
	for _, w := range other {
		key, _, _ := strings.Cut(w, ":")
		r.add("config: "+key, Warn, w, "see "+key+" in examples/config.yaml")
	}
	checkPaths(r, cfg)
	checkGraph(ctx, r, cfg, o)
	checkDirectory(ctx, r, cfg, o)
	if cfg.State.Shared() {
		checkSharedState(ctx, r, cfg)
	}
	return r
}

// checkSharedState checks a PostgreSQL state (state.url) without writing
// to it: reachable and signed in to, its schema, and who holds the writer
// lease.
func checkSharedState(ctx context.Context, r *Report, cfg *config.Config) {
	p, err := store.ProbePostgres(ctx, cfg.State.URL.Reveal())
	if p == nil || p.ServerVersion == "" {
		r.add("state: PostgreSQL", Fail, err.Error(), "check state.url (host, port, database, sslmode), the password (PGPASSWORD or ~/.pgpass of the service account), "+
			"and that the server's pg_hba.conf lets this host in")
		return
	}
	r.add("state: PostgreSQL", Pass, fmt.Sprintf("connected to %s (PostgreSQL %s)", p.Where, p.ServerVersion), "")
	switch {
	case err != nil:
		r.add("state: schema", Fail, err.Error(), "")
	case p.Schema > p.Known:
		r.add("state: schema", Fail, fmt.Sprintf("version %d, newer than this groupwriteback knows (%d)", p.Schema, p.Known),
			"run the same groupwriteback version as the other instances sharing the state")
	case p.Schema == 0 && !p.MayCreate:
		r.add("state: schema", Fail, "the database is empty, and the role may not create tables in it",
			"make the role the database's owner (ALTER DATABASE … OWNER TO …), or grant it CREATE on the database and on schema public")
	case p.Schema == 0:
		r.add("state: schema", Pass, "the database is empty: the first instance that opens it makes the schema", "")
	case p.Schema < p.Known:
		r.add("state: schema", Pass, fmt.Sprintf("version %d; the first instance of this version that opens it migrates it to %d (the others must be upgraded too)", p.Schema, p.Known), "")
	default:
		r.add("state: schema", Pass, fmt.Sprintf("version %d, as this groupwriteback writes it", p.Schema), "")
	}
	switch l := p.Lease; {
	case l == nil:
	case l.Held():
		r.add("state: writer lease", Pass, fmt.Sprintf("held by %s since %s (token %d): an instance started here stands by until it runs out",
			state.HolderName(l.Holder), l.Acquired.UTC().Format(time.RFC3339), l.Token), "")
	default:
		r.add("state: writer lease", Pass, "free: the first instance to start takes it and writes", "")
	}
}

func checkGraph(ctx context.Context, r *Report, cfg *config.Config, o Options) {
	hc, err := cfg.Cloud.HTTPClient()
	if err != nil {
		r.add("graph: token", Fail, err.Error(), "fix cloud.ca_file")
		return
	}
	cred, err := cfg.Cloud.TokenCredential(hc)
	if err != nil {
		r.add("graph: token", Fail, err.Error(), "fix cloud.certificate_file or the credential keys")
		return
	}
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := cred.GetToken(tctx, policy.TokenRequestOptions{Scopes: []string{graph.Scope(cfg.Cloud.GraphURL)}}); err != nil {
		if c := graph.Explain(err); c.Kind == "tls" || c.Kind == "network" {
			r.add("graph: token", Fail, "cannot reach "+cfg.Cloud.AuthorityURL+": "+c.Detail, c.Fix)
			return
		}
		r.add("graph: token", Fail, tokenError(err),
			"check cloud.tenant_id, cloud.client_id and the secret or certificate of the app registration; AADSTS codes are explained at https://login.microsoftonline.com/error")
		return
	}
	r.add("graph: token", Pass, fmt.Sprintf("signed in to tenant %s as app %s at %s", cfg.Cloud.TenantID, cfg.Cloud.ClientID, cfg.Cloud.AuthorityURL), "")
	client, err := cfg.Cloud.Client(hc, cred, o.Logger, graph.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Second, MaxDelay: 5 * time.Second})
	if err != nil {
		r.add("graph: read", Fail, err.Error(), "fix cloud.graph_url")
		return
	}
	client.SelectGroupExtensions(cfg.GroupExtensions()) // the probes ask what sync asks
	for _, p := range graph.ReadProbes() {
		if err := client.Probe(ctx, p.Path, p.Query); err != nil {
			detail, fix := firstLine(err.Error()), "check that "+cfg.Cloud.GraphURL+" is reachable from here"
			if c := graph.Explain(err); c.Kind == "tls" || c.Kind == "network" {
				detail, fix = "cannot reach "+cfg.Cloud.GraphURL+": "+c.Detail, c.Fix
			}
			if isStatus(err, 403) {
				fix = "grant the app the Microsoft Graph application permission " + p.Permission + " and give admin consent"
			}
			r.add(p.Name, Fail, detail, fix)
			continue
		}
		r.add(p.Name, Pass, "allowed", "")
	}
	for _, p := range client.DeltaProbes() {
		name := "graph: " + p.Name + " delta, as sync reads it"
		switch err := client.ProbeDelta(ctx, p); {
		case err == nil:
			r.add(name, Pass, "Graph answers the sync's first request ("+strings.SplitN(p.URL, "?", 2)[0]+" with its $select)", "")
		case isStatus(err, 403):
			r.add(name, Fail, firstLine(err.Error()), "grant the app the Microsoft Graph application permissions Group.Read.All and User.Read.All and give admin consent")
		case isStatus(err, 400) && strings.Contains(err.Error(), "extension_"):
			r.add(name, Fail, "Graph refuses the request every sync starts with: "+firstLine(err.Error()),
				"a writeback.placement extension is no directory extension defined for groups in this tenant: check its name "+
					"(extension_<appId of the app that defines it, without hyphens>_<name>) and that its targetObjects include Group")
		case isStatus(err, 400):
			r.add(name, Fail, "Graph refuses the request every sync starts with: "+firstLine(err.Error()),
				"Graph changed under groupwriteback (a property of its $select, or the beta endpoint); upgrade groupwriteback, or report this message")
		default:
			detail, fix := firstLine(err.Error()), "check that "+cfg.Cloud.GraphURL+" is reachable from here"
			if c := graph.Explain(err); c.Kind == "tls" || c.Kind == "network" {
				detail, fix = "cannot reach "+cfg.Cloud.GraphURL+": "+c.Detail, c.Fix
			}
			r.add(name, Fail, detail, fix)
		}
	}
	if cfg.Notifications.On() {
		checkNotifications(ctx, r, cfg, client, hc)
	}
	unset := "Microsoft 365 groups whose writebackConfiguration.isEnabled is unset are written back, as Connect does"
	if d := cfg.Cloud.UnifiedWritebackDefault; d != nil && !*d {
		unset = "Microsoft 365 groups whose writebackConfiguration.isEnabled is unset are left out (cloud.unified_writeback_default: false)"
	}
	switch v, set, err := client.UnifiedWritebackDefault(ctx); {
	case err != nil && isStatus(err, 403):
		r.add("graph: tenant writeback default", Warn, "the app may not read the Group.Unified setting, so it cannot be shown (it decides nothing here); "+unset,
			"optional: grant GroupSettings.Read.All (Group.Read.All also reads it)")
	case err != nil:
		r.add("graph: tenant writeback default", Warn, firstLine(err.Error()), "")
	case !set:
		r.add("graph: tenant writeback default", Pass, "NewUnifiedGroupWritebackDefault is not set; "+unset, "")
	default:
		r.add("graph: tenant writeback default", Pass, fmt.Sprintf("NewUnifiedGroupWritebackDefault = %v: Entra stamps writebackConfiguration.isEnabled = %v "+
			"on Microsoft 365 groups created from when it was set, and groupwriteback follows each group's isEnabled; %s", v, v, unset), "")
	}
}

// checkNotifications says which change notification subscriptions Graph
// holds for the URL, and whether the URL answers a validation request as
// Graph sends it (from here: Graph comes from the internet).
func checkNotifications(ctx context.Context, r *Report, cfg *config.Config, client *graph.Client, hc *http.Client) {
	url := cfg.Notifications.PublicURL
	switch subs, err := client.Subscriptions(ctx); {
	case err != nil:
		r.add("notifications: subscriptions", Fail, firstLine(err.Error()), "check that "+cfg.Cloud.GraphURL+" is reachable; listing needs the app's own read permissions")
	default:
		var held []string
		for _, s := range subs {
			if s.NotificationURL == url {
				held = append(held, fmt.Sprintf("%s until %s", strings.ToLower(s.Resource), s.Expires.UTC().Format(time.RFC3339)))
			}
		}
		slices.Sort(held)
		if len(held) == 0 {
			r.add("notifications: subscriptions", Warn, "Graph holds no subscription for "+url+
				" (for groups, Graph may drop one without a word; the running service makes them again at its next check)",
				"start the service with writeback enabled: the active instance subscribes; its log and status page say why it cannot")
		} else {
			r.add("notifications: subscriptions", Pass, "Graph holds "+strings.Join(held, "; ")+" for "+url, "")
		}
	}
	token := "doctor-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"?validationToken="+token, nil)
	if err != nil {
		r.add("notifications: endpoint", Fail, err.Error(), "fix notifications.public_url")
		return
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	c := *hc
	c.Timeout = 10 * time.Second // what Graph allows
	resp, err := c.Do(req)
	if err != nil {
		r.add("notifications: endpoint", Warn, "no answer from "+url+" here: "+firstLine(err.Error()),
			"is the service running? Graph must reach this URL over HTTPS from the internet, through a proxy that publishes the notification path (docs/operating.md, Change notifications)")
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || string(body) != token {
		r.add("notifications: endpoint", Fail, fmt.Sprintf("%s answered a validation request %d without its token: Graph would refuse to subscribe", url, resp.StatusCode),
			"the URL must lead to this service's notification path (the proxy's route, and its path, must match notifications.public_url)")
		return
	}
	r.add("notifications: endpoint", Pass, url+" answers Graph's validation request from here (Graph comes from the internet: its reach is shown by the subscriptions)", "")
}

func isStatus(err error, code int) bool {
	var gerr *graph.Error
	return errors.As(err, &gerr) && gerr.StatusCode == code
}

// tokenError keeps the part of an azidentity error that says what is wrong:
// the AADSTS code and its sentence, else the first line.
func tokenError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "AADSTS"); i >= 0 {
		end := strings.IndexAny(msg[i:], "\n\"")
		if end < 0 {
			end = len(msg) - i
		}
		return strings.TrimSpace(msg[i : i+end])
	}
	return firstLine(msg)
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}
