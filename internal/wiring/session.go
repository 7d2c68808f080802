// Package wiring is the one wiring path from a configuration to a working
// engine: it decodes the configuration into the engine's typed values once
// and opens the state store, the Graph client and the directory client that
// every command and the service run on. Commands hold flags and printers;
// what they run on is built here.
package wiring

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/groupwriteback/groupwriteback/internal/alert"
	"github.com/groupwriteback/groupwriteback/internal/audit"
	"github.com/groupwriteback/groupwriteback/internal/config"
	"github.com/groupwriteback/groupwriteback/internal/directory"
	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/gate"
	"github.com/groupwriteback/groupwriteback/internal/graph"
	"github.com/groupwriteback/groupwriteback/internal/ha"
	"github.com/groupwriteback/groupwriteback/internal/policy"
	"github.com/groupwriteback/groupwriteback/internal/reconcile"
	"github.com/groupwriteback/groupwriteback/internal/state"
	"github.com/groupwriteback/groupwriteback/internal/store"
)

// Session is a configuration opened: what a cycle reads, decides and
// writes with. Close releases it.
type Session struct {
	Config *config.Config
	Store  *store.Store
	Graph  *graph.Client
	// Dir is nil when Options.DirectoryOptional let a failed connection
	// pass; DirErr then says why.
	Dir    *directory.Client
	DirErr error
	Engine *engine.Engine
	// Audit is the audit trail, nil when audit.file is off.
	Audit *audit.Log

	ownStore bool
	logger   *slog.Logger
	// fence, when set, is the HA fence the write gate asks before every
	// request to AD (the elector of the service, or of a command's lease).
	fence atomic.Pointer[gate.Fence]
}

// Options are what a caller adds to the configuration.
type Options struct {
	Logger *slog.Logger
	// Progress hears how far a cycle's writes are; GraphProgress how many
	// items each delta round has read.
	Progress      func(phase string, done, total int)
	GraphProgress func(what string, items int)
	// OnLDAP hears of every LDAP operation (metrics, the crash suite).
	OnLDAP func(op string, d time.Duration, err error)
	// DirectoryOptional opens the session when the DC cannot be reached:
	// the engine's AD reads then fail with DirErr (show explains a group
	// from the state file alone).
	DirectoryOptional bool
	// ReadOnly is a session that never writes to AD (plan, show): it opens
	// no audit trail, so that reading commands do not prune it.
	ReadOnly bool
	// Store is a state already open (the service's, shared with its
	// elector and fenced by it): the session uses it and leaves it open.
	Store *store.Store
	// Fence is asked before every request to AD, and refuses it with an
	// error wrapping state.ErrFenced when this instance may not write; it
	// names the lease each write is sent under (ha.Elector).
	Fence gate.Fence
}

// Open opens the store, the Graph client and the directory client the
// configuration names, and builds the engine on them.
func Open(ctx context.Context, cfg *config.Config, o Options) (*Session, error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	st, own := o.Store, false
	if st == nil {
		var err error
		if st, err = OpenStore(ctx, cfg); err != nil {
			return nil, err
		}
		own = true
	}
	s := &Session{Config: cfg, Store: st, ownStore: own, logger: logger}
	s.setFence(o.Fence)
	var err error
	if s.Graph, err = cfg.Cloud.Open(ctx, logger); err != nil {
		s.Close()
		return nil, err
	}
	s.Graph.SelectGroupExtensions(cfg.GroupExtensions())
	if o.GraphProgress != nil {
		s.Graph.OnProgress(o.GraphProgress)
	}
	var reader engine.DirectoryReader
	var writer gate.Target
	var schema directory.Schema
	switch s.Dir, err = cfg.Directory.Open(ctx, logger); {
	case err == nil:
		if o.OnLDAP != nil {
			s.Dir.OnOperation(o.OnLDAP)
		}
		reader, writer, schema = s.Dir, s.Dir, s.Dir.Schema()
	case o.DirectoryOptional:
		s.Dir, s.DirErr = nil, err
		reader, writer = unreachable{err}, unreachable{err}
	default:
		s.Close()
		return nil, err
	}
	ecfg := EngineConfig(cfg, schema)
	ecfg.Progress = o.Progress
	ecfg.Fence = sessionFence{s}
	if !o.ReadOnly {
		if s.Audit, err = OpenAudit(ctx, cfg, st, logger); err != nil {
			s.Close()
			return nil, err
		}
		if s.Audit != nil {
			ecfg.Audit = s.Audit
		}
	}
	s.Engine = engine.New(s.Graph, reader, writer, st, ecfg, logger)
	return s, nil
}

// Close closes what Open opened. The audit trail's head is kept in the
// state, so that `audit verify` finds a trail cut short too.
func (s *Session) Close() {
	if s.Audit != nil {
		if err := s.Audit.Close(); err != nil {
			s.logger.Error("cannot close the audit trail", "error", err)
		}
		if err := SaveAuditHead(context.Background(), s.Config, s.Store, s.Audit); err != nil {
			s.logger.Warn("cannot keep the audit trail's head in the state", "error", err)
		}
	}
	if s.Dir != nil {
		s.Dir.Close()
	}
	if s.Store != nil && s.ownStore {
		s.Store.Close()
	}
}

// sessionFence is the session's fence as it is at each write: a command
// takes its lease (LockForCommand) after the engine is built.
type sessionFence struct{ s *Session }

func (f sessionFence) Permit() (gate.Lease, time.Time, error) {
	if p := f.s.fence.Load(); p != nil && *p != nil {
		return (*p).Permit()
	}
	return gate.Lease{}, time.Time{}, nil
}

func (s *Session) setFence(f gate.Fence) {
	if f == nil {
		s.fence.Store(nil)
		return
	}
	s.fence.Store(&f)
}

// Alerts is the configuration's alert webhook, remembering what it sent
// in st (nil when alerts.webhook_url is unset).
func Alerts(cfg *config.Config, st alert.Memory, logger *slog.Logger) *alert.Notifier {
	a := cfg.Alerts
	return alert.New(alert.Config{URL: a.WebhookURL.Reveal(), Format: a.Format, Repeat: a.RepeatAfter, Memory: st, Logger: logger})
}

// EventSource is the name the Windows event log knows the service by.
const EventSource = "groupwriteback"

// OpenAudit opens the configuration's audit trail (nil when audit.file is
// off), chained with the state's audit key, with the Windows event log
// beside it when audit.event_log asks and the service registered its
// source.
func OpenAudit(ctx context.Context, cfg *config.Config, st *store.Store, logger *slog.Logger) (*audit.Log, error) {
	if cfg.Audit.Off() {
		return nil, nil
	}
	key, err := st.Secret(ctx, state.AuditKey)
	if err != nil {
		return nil, fmt.Errorf("audit.file: %w", err)
	}
	var events audit.EventSink
	if *cfg.Audit.EventLog {
		if events, err = audit.OpenEventLog(EventSource); err != nil {
			logger.Warn("the audit trail goes to its file only: the event log cannot be opened (run `groupwriteback service install` to register the source)", "error", err)
			events = nil
		}
	}
	l, err := audit.Open(cfg.Audit.File, audit.Options{Retention: time.Duration(*cfg.Audit.RetentionDays) * 24 * time.Hour, Events: events, Key: key})
	if err != nil {
		return nil, fmt.Errorf("audit.file: %w", err)
	}
	return l, nil
}

// AuditHeadKey is the state's meta key for the head of this instance's
// audit trail: each instance sharing a state keeps a trail of its own.
func AuditHeadKey(cfg *config.Config) string { return "audit_head:" + cfg.HA.Name() }

// SaveAuditHead keeps the trail's last sequence number and chain value in
// the state (when they moved).
func SaveAuditHead(ctx context.Context, cfg *config.Config, st *store.Store, l *audit.Log) error {
	seq, chain := l.Head()
	if seq == 0 {
		return nil
	}
	head := fmt.Sprintf("%d:%s", seq, chain)
	if was, err := st.Meta(ctx, AuditHeadKey(cfg)); err == nil && was == head {
		return nil
	}
	return st.SetMeta(ctx, AuditHeadKey(cfg), head)
}

// LockForCommand takes, for a command that writes, the cycle lock (as
// LockCycleFile: never two cycles at once on one state file, the
// service's or a command's). On a shared state it also takes the
// writer lease for the command, as an instance of its own, and keeps it
// renewed until unlock: a command writes only while no service is active
// on the state, and is fenced like one.
func (s *Session) LockForCommand(command string) (unlock func(), err error) {
	release, el, err := LockState(s.Config, s.Store, command)
	if err != nil {
		return nil, err
	}
	if el != nil {
		s.setFence(el)
	}
	return func() {
		s.setFence(nil)
		release()
	}, nil
}

// LockState takes the cycle lock of cfg's state for a command, and on a
// shared state the writer lease too, renewed until unlock, with st fenced
// by it; el holds the lease (nil when the state is not shared): its Check
// is the fence on writes to AD.
func LockState(cfg *config.Config, st *store.Store, command string) (unlock func(), el *ha.Elector, err error) {
	unlockFile, err := LockCycleFile(cfg, command)
	if err != nil || !cfg.State.Shared() {
		return unlockFile, nil, err
	}
	el = ha.New(st, HAConfig(cfg, InstanceID(cfg.HA.Name()+"-"+strings.ReplaceAll(command, " ", "-"))), nil)
	ctx, cancel := context.WithCancel(context.Background())
	el.Step(ctx)
	if el.Status().Role != ha.Active {
		cancel()
		unlockFile()
		lease, lerr := st.ReadLease(context.Background(), state.WriterLease)
		if lerr != nil {
			return nil, nil, fmt.Errorf("the shared state's writer lease cannot be taken: %w", lerr)
		}
		return nil, nil, fmt.Errorf("instance %s is active on this shared state (it holds the writer lease until %s, renewing it): "+
			"ask it for a cycle (POST /sync on its server), or stop it first", state.HolderName(lease.Holder), lease.Expires.UTC().Format(time.RFC3339))
	}
	done := make(chan struct{})
	go func() { el.Run(ctx); close(done) }()
	return func() {
		cancel()
		<-done
		unlockFile()
	}, el, nil
}

// HAConfig is the configuration's lease timing for an instance id.
func HAConfig(cfg *config.Config, id string) ha.Config {
	return ha.Config{Holder: id, Lease: cfg.HA.Lease, Renew: cfg.HA.RenewInterval}
}

// InstanceID is a new lease holder id for an instance name: the name and
// a nonce, so that an instance restarted under its name is a new holder.
func InstanceID(name string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return name + "/" + hex.EncodeToString(b[:])
}

// LockCycleFile takes the cycle lock of cfg's state file, and nothing
// else (the service's cycles hold the writer lease through their
// election; a command's through LockForCommand).
func LockCycleFile(cfg *config.Config, command string) (unlock func(), err error) {
	l, err := store.TryLock(LockPath(cfg, store.CycleLock), command)
	if err != nil {
		return nil, fmt.Errorf("a cycle is running on this state file; try again when it ends: %w", err)
	}
	return func() { l.Unlock() }, nil
}

// LockService takes the service lock: one service per state file.
func LockService(cfg *config.Config) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(cfg.State.Path), 0o700); err != nil {
		return nil, fmt.Errorf("state.path: %w", err)
	}
	l, err := store.TryLock(LockPath(cfg, store.ServiceLock), "run")
	if err != nil {
		return nil, fmt.Errorf("another service runs on this state file: %w", err)
	}
	return func() { l.Unlock() }, nil
}

// LockPath is a lock file of the kind given, beside the state file.
func LockPath(cfg *config.Config, kind string) string { return cfg.State.Path + kind }

// StagedPlanPath is where a staging service saves its last plan: beside
// its state file.
func StagedPlanPath(cfg *config.Config) string {
	return filepath.Join(filepath.Dir(cfg.State.Path), "staged-plan.json")
}

// OpenStore opens the configuration's state: the PostgreSQL database of
// state.url, else the SQLite file of state.path, making its directory.
func OpenStore(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	// With a shared state, state.path's directory still holds this
	// instance's own files (locks, audit trail, staged plan).
	if err := os.MkdirAll(filepath.Dir(cfg.State.Path), 0o700); err != nil {
		return nil, fmt.Errorf("state.path: %w", err)
	}
	if cfg.State.Shared() {
		return store.OpenPostgres(ctx, cfg.State.URL.Reveal())
	}
	return store.Open(ctx, cfg.State.Path)
}

// EngineConfig decodes the configuration into the engine's typed values:
// the one place where naming, scope, fates and thresholds become what
// sync, plan, show and the service decide with. schema is what the
// directory's probe found (zero when AD was not reached).
func EngineConfig(cfg *config.Config, schema directory.Schema) engine.Config {
	w := cfg.Writeback
	p := PolicyOptions(cfg)
	p.Exchange, p.AnchorAttribute = schema.Exchange, schema.AnchorAttribute
	return engine.Config{
		TenantID: cfg.Cloud.TenantID, Staging: cfg.Mode == "staging", BaseDN: cfg.Directory.BaseDN, TargetOU: w.TargetOU,
		UnifiedWritebackDefault: cfg.Cloud.UnifiedWritebackDefault, DeleteThreshold: *w.DeleteThreshold,
		DeleteThresholdPercent: *w.DeleteThresholdPercent, QuarantineOU: w.QuarantineOU, MoveBack: w.MoveBack, SAMFollowsName: w.SAMOnRename == config.SAMFollow, CreateAnew: !*w.RestoreDeleted, MatchBases: w.MatchUnsynced.SearchBases,
		HistoryDays: *cfg.State.HistoryDays,
		BatchSize:   w.MemberBatchSize,
		Forest:      cfg.Directory.GlobalCatalog != "",
		Fates: engine.Fates{SoftDelete: fate(w.OnSoftDelete), HardDelete: fate(w.OnHardDelete),
			WritebackOff: fate(w.OnWritebackDisabled), OutOfScope: fate(w.OnOutOfScope), Disable: fate(w.OnDisable)},
		Policy: p, PlanKey: []byte(w.PlanKey.Reveal()),
	}
}

// PolicyOptions are the policy options the configuration gives; the
// schema's and the enablement's parts are added where they are known.
func PolicyOptions(cfg *config.Config) policy.Options {
	w := cfg.Writeback
	return policy.Options{TargetOU: w.TargetOU, Placement: cfg.PlacementRules(), GroupScope: w.GroupScope, Naming: w.Naming, MemberLimit: w.MemberLimit, InPlace: w.SourceOfAuthority == "in_place",
		SkipUnsetMicrosoft365: cfg.Cloud.UnifiedWritebackDefault != nil && !*cfg.Cloud.UnifiedWritebackDefault,
		Match:                 matchRules(w.MatchUnsynced.Rules),
		Scope: policy.Scope{IncludeIDs: w.Scope.IncludeIDs, ExcludeIDs: w.Scope.ExcludeIDs, IncludeNames: w.Scope.IncludeNames,
			ExcludeNames: w.Scope.ExcludeNames, Kinds: w.Scope.Kinds}}
}

// matchRules are writeback.match_unsynced.rules as policy's.
func matchRules(rules []string) []policy.MatchRule {
	out := make([]policy.MatchRule, 0, len(rules))
	for _, r := range rules {
		out = append(out, policy.MatchRule(r))
	}
	return out
}

// fate maps a configured policy word to reconcile's.
func fate(word string) reconcile.Fate {
	if word == "delete" {
		return reconcile.DeleteIt
	}
	return reconcile.Fate(word)
}

// unreachable is the directory of a session whose DC could not be
// reached: every read and write fails with why.
type unreachable struct{ err error }

func (u unreachable) fail() error {
	return fmt.Errorf("%w: %w", reconcile.ErrDirectoryUnavailable, u.err)
}

func (u unreachable) OwnedGroups(context.Context, string, []string) ([]reconcile.ADGroup, error) {
	return nil, u.fail()
}

func (u unreachable) GroupsByAnchor(context.Context, string, []string, []string) ([]reconcile.ADGroup, error) {
	return nil, u.fail()
}

func (u unreachable) GroupAttrsByAnchor(context.Context, string, []string, []string) ([]reconcile.ADGroup, error) {
	return nil, u.fail()
}

func (u unreachable) Lookup(context.Context, reconcile.KeyKind, string, []string) (map[string]reconcile.ADObject, error) {
	return nil, u.fail()
}

func (u unreachable) CheckContainer(context.Context, string, bool) error { return u.fail() }

func (u unreachable) ReadGroup(context.Context, string, []string) (*reconcile.ADGroup, error) {
	return nil, u.fail()
}

func (u unreachable) Inspect(context.Context, string, bool) (*gate.Object, error) {
	return nil, u.fail()
}

func (u unreachable) Write(context.Context, *gate.Approved) error { return u.fail() }

// WithDeadline bounds one cycle by schedule.cycle_timeout.
func (s *Session) WithDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.Config.Schedule.CycleTimeout)
}

// DeadlineError says plainly that a cycle ran out of time, and what
// becomes of its work.
func (s *Session) DeadlineError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("the cycle did not finish within schedule.cycle_timeout (%s): what it did is recorded, "+
			"the rest is pending and the next cycle completes it: %w", s.Config.Schedule.CycleTimeout, err)
	}
	return err
}
