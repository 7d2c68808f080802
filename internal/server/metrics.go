package server

import (
	"context"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/groupwriteback/groupwriteback/internal/engine"
	"github.com/groupwriteback/groupwriteback/internal/ha"
	"github.com/groupwriteback/groupwriteback/internal/state"
)

// Metrics are the service's Prometheus metrics, in their own registry.
type Metrics struct {
	Registry          *prometheus.Registry
	cycles            *prometheus.CounterVec
	cycleSeconds      prometheus.Histogram
	operations        *prometheus.CounterVec
	groupsInScope     prometheus.Gauge
	membersNotWritten *prometheus.GaugeVec
	lastSuccess       prometheus.Gauge
	graphRequests     prometheus.Counter
	graphThrottled    prometheus.Counter
	ldapOperations    *prometheus.HistogramVec
	failovers         prometheus.Counter
	fenced            *prometheus.CounterVec
	notifications     *prometheus.CounterVec
	changeToAD        prometheus.Histogram
	// scrape gives the state reads of one scrape one deadline between
	// them: the registry reads its gauges one after another.
	scrape budget
}

// budget is one deadline shared by reads made close together (one scrape).
type budget struct {
	mu       sync.Mutex
	deadline time.Time
}

// ctx is a context ending at the current scrape's deadline: a read more
// than half a second after the last deadline starts a new scrape.
func (b *budget) ctx() (context.Context, context.CancelFunc) {
	b.mu.Lock()
	now := time.Now()
	if now.After(b.deadline.Add(500 * time.Millisecond)) {
		b.deadline = now.Add(StateReadTimeout)
	}
	d := b.deadline
	b.mu.Unlock()
	return context.WithDeadline(context.Background(), d)
}

// NewMetrics registers the metrics.
func NewMetrics() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.Registry.MustRegister(c) }
	m.cycles = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "groupwriteback_cycles_total", Help: "Cycles run, by mode and outcome (ok, partial, failed, interrupted, staged; with a shared state, standby, or fenced: the writer lease was lost during the cycle)."}, []string{"mode", "outcome"})
	m.cycleSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "groupwriteback_cycle_duration_seconds", Help: "How long cycles take.",
		Buckets: prometheus.ExponentialBuckets(0.5, 2, 14)})
	m.operations = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "groupwriteback_operations_total", Help: "LDAP operations planned, by action and outcome (applied, failed, held_back, staged)."}, []string{"action", "outcome"})
	m.groupsInScope = prometheus.NewGauge(prometheus.GaugeOpts{Name: "groupwriteback_groups_in_scope", Help: "Cloud groups in scope in the last cycle's work set."})
	m.membersNotWritten = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "groupwriteback_members_not_written", Help: "Members not written in the last cycle, by reason."}, []string{"reason"})
	m.lastSuccess = prometheus.NewGauge(prometheus.GaugeOpts{Name: "groupwriteback_last_success_timestamp_seconds", Help: "When the last cycle that succeeded ended."})
	m.graphRequests = prometheus.NewCounter(prometheus.CounterOpts{Name: "groupwriteback_graph_requests_total", Help: "Requests made to Microsoft Graph."})
	m.graphThrottled = prometheus.NewCounter(prometheus.CounterOpts{Name: "groupwriteback_graph_throttled_total", Help: "Graph requests answered 429 (throttled)."})
	m.ldapOperations = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "groupwriteback_ldap_operation_duration_seconds",
		Help:    "LDAP operations and how long they took, by kind (search, add, modify, modrdn, delete) and outcome.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"op", "outcome"})
	m.failovers = prometheus.NewCounter(prometheus.CounterOpts{Name: "groupwriteback_dc_failovers_total", Help: "Moves to another domain controller after the one in use was lost."})
	m.fenced = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "groupwriteback_fenced_writes_total",
		Help: "Writes refused because this instance no longer held the writer lease, by target (ad: refused before it left; state: refused by the database)."}, []string{"target"})
	m.notifications = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "groupwriteback_notifications_total",
		Help: "Posts on the change notification URL, by result: accepted (a change: a delta cycle soon), lifecycle, validation (Graph's handshake), bad_client_state (not from this service's subscriptions: ignored), other_tenant, malformed."}, []string{"result"})
	for _, r := range []string{"accepted", "lifecycle", "validation", "bad_client_state", "other_tenant", "malformed"} {
		m.notifications.WithLabelValues(r)
	}
	m.changeToAD = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "groupwriteback_change_to_ad_seconds",
		Help:    "From when a cloud change was noticed (its notification, or the delta cycle that read it) to the write that brought its group in step in AD.",
		Buckets: []float64{0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 900, 1800, 3600}})
	m.fenced.WithLabelValues("ad")
	m.fenced.WithLabelValues("state")
	for _, c := range []prometheus.Collector{m.notifications, m.changeToAD, m.fenced, m.failovers, m.cycles, m.cycleSeconds, m.operations, m.groupsInScope, m.membersNotWritten,
		m.lastSuccess, m.graphRequests, m.graphThrottled, m.ldapOperations, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	return m
}

// Watch adds the metrics read from the state file at each scrape, so that
// they say what the status page says: the groups not in step, whether
// writeback is enabled, staging, and the build.
func (m *Metrics) Watch(h History, staging func() bool, version string) {
	read := func(f func(ctx context.Context) (float64, error)) func() float64 {
		return func() float64 {
			ctx, cancel := m.scrape.ctx()
			defer cancel()
			v, err := f(ctx)
			if err != nil {
				return math.NaN()
			}
			return v
		}
	}
	gauge := func(name, help string, f func() float64) {
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	gauge("groupwriteback_groups_not_in_step", "Groups not in step now (failed, held, not writable, pending), as status and the status page list them.",
		read(func(ctx context.Context) (float64, error) {
			sts, err := h.Statuses(ctx, state.NotInStep...)
			return float64(len(sts)), err
		}))
	gauge("groupwriteback_writeback_enabled", "1 when writeback is enabled, 0 when disabled (nothing is written).",
		read(func(ctx context.Context) (float64, error) {
			en, err := h.Enablement(ctx)
			if en.Enabled {
				return 1, err
			}
			return 0, err
		}))
	gauge("groupwriteback_staging", "1 when this instance is in staging mode (it plans and writes nothing).", func() float64 {
		if staging() {
			return 1
		}
		return 0
	})
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "groupwriteback_build_info", Help: "The running build (always 1).",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()}})
	info.Set(1)
	m.Registry.MustRegister(info)
}

// ObserveNotification counts a post on the notification URL.
func (m *Metrics) ObserveNotification(result string) { m.notifications.WithLabelValues(result).Inc() }

// ObserveChangeToAD records how long a noticed cloud change took to reach
// AD.
func (m *Metrics) ObserveChangeToAD(d time.Duration) { m.changeToAD.Observe(d.Seconds()) }

// WatchNotifications adds what the change notifications hold, read at
// each scrape: the subscriptions this instance holds, when the first of
// them expires, and when the last notification came.
func (m *Metrics) WatchNotifications(view func() NotificationView) {
	gauge := func(name, help string, f func(v NotificationView) float64) {
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(view()) }))
	}
	gauge("groupwriteback_notification_subscriptions", "Change notification subscriptions this instance holds (the active one holds one per watched resource; 0 on a standby).",
		func(v NotificationView) float64 { return float64(len(v.Held)) })
	gauge("groupwriteback_notification_subscription_expiry_timestamp_seconds", "When the first of the subscriptions this instance holds expires unless renewed (0: none held).",
		func(v NotificationView) float64 {
			var first time.Time
			for _, h := range v.Held {
				if first.IsZero() || h.Expires.Before(first) {
					first = h.Expires
				}
			}
			if first.IsZero() {
				return 0
			}
			return float64(first.Unix())
		})
	gauge("groupwriteback_notification_last_timestamp_seconds", "When the last change notification was accepted (0: none yet).",
		func(v NotificationView) float64 {
			if v.Last.IsZero() {
				return 0
			}
			return float64(v.Last.Unix())
		})
}

// WatchHA adds the election's metrics, read at each scrape: whether this
// instance is active and since when, the lease's fencing token, and when
// the lease last changed hands.
func (m *Metrics) WatchHA(e Election) {
	// Its own role is known without the database: it says, while the
	// database is down, that this instance stopped writing.
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "groupwriteback_ha_active",
		Help: "1 when this instance holds the writer lease (it writes), 0 when it stands by."}, func() float64 {
		if e.Role() == ha.Active {
			return 1
		}
		return 0
	}))
	m.Registry.MustRegister(&electionCollector{e: e, budget: &m.scrape, gauges: []electionGauge{
		{prometheus.NewDesc("groupwriteback_ha_active_instance_since_timestamp_seconds", "When the active instance (this one or another) took the writer lease; 0 when none holds it.", nil, nil),
			func(v ha.View) float64 { return unixOrZero(v.ActiveSince) }},
		{prometheus.NewDesc("groupwriteback_ha_lease_token", "The writer lease's fencing token: it grows each time the lease changes hands.", nil, nil),
			func(v ha.View) float64 { return float64(v.Token) }},
		{prometheus.NewDesc("groupwriteback_ha_last_takeover_timestamp_seconds", "When the writer lease last changed hands; 0 never.", nil, nil),
			func(v ha.View) float64 {
				if v.LastTakeover == nil {
					return 0
				}
				return unixOrZero(v.LastTakeover.At)
			}},
	}})
}

// electionCollector reads the election from the shared state once a
// scrape, for all the gauges that come from it (NaN when it cannot).
type electionCollector struct {
	e      Election
	budget *budget
	gauges []electionGauge
}

type electionGauge struct {
	desc  *prometheus.Desc
	value func(v ha.View) float64
}

func (c *electionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, g := range c.gauges {
		ch <- g.desc
	}
}

func (c *electionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := c.budget.ctx()
	defer cancel()
	v, err := c.e.View(ctx)
	for _, g := range c.gauges {
		val := math.NaN()
		if err == nil {
			val = g.value(v)
		}
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, val)
	}
}

func unixOrZero(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.Unix())
}

// ObserveFenced counts a write refused by the fence (target ad or state).
func (m *Metrics) ObserveFenced(target string) { m.fenced.WithLabelValues(target).Inc() }

// CycleReport is what one cycle tells the metrics.
type CycleReport struct {
	Mode      string
	Outcome   state.Outcome
	Duration  time.Duration
	End       time.Time
	Result    *engine.Result
	Staged    bool
	GraphReqs int64
	Throttled int64
}

// ObserveFailover records a move to another domain controller
// (directory.Client.OnFailover).
func (m *Metrics) ObserveFailover(from, to string) { m.failovers.Inc() }

// ObserveLDAP records one LDAP operation (directory.Client.OnOperation).
func (m *Metrics) ObserveLDAP(op string, d time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.ldapOperations.WithLabelValues(op, outcome).Observe(d.Seconds())
}

// Observe records a cycle.
func (m *Metrics) Observe(r CycleReport) {
	m.cycles.WithLabelValues(r.Mode, string(r.Outcome)).Inc()
	m.cycleSeconds.Observe(r.Duration.Seconds())
	m.graphRequests.Add(float64(r.GraphReqs))
	m.graphThrottled.Add(float64(r.Throttled))
	if r.Outcome.Succeeded() {
		m.lastSuccess.Set(float64(r.End.Unix()))
	}
	res := r.Result
	if res == nil {
		return
	}
	m.groupsInScope.Set(float64(res.Counts.InScope))
	m.membersNotWritten.Reset()
	for reason, n := range res.Counts.MembersNotWritten {
		m.membersNotWritten.WithLabelValues(reason).Set(float64(n))
	}
	failedGroups := map[string]bool{}
	for _, f := range res.Failures {
		failedGroups[f.CloudID] = true
	}
	for op := range res.Kept() {
		outcome := "applied"
		switch {
		case r.Staged:
			outcome = "staged"
		case failedGroups[op.CloudID]:
			outcome = "failed"
		}
		m.operations.WithLabelValues(string(op.Action), outcome).Inc()
	}
	for _, op := range res.Plan.HeldBack {
		m.operations.WithLabelValues(string(op.Action), "held_back").Inc()
	}
}
