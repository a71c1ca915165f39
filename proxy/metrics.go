package proxy

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vtgate-lite/vtgate-lite/planner"
)

// metrics are the proxy's Prometheus series (prefix vtgate_lite_). Per-plan handles are
// resolved once when a plan is cached, so the hot path does no label lookups.
type metrics struct {
	queries     *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	errors      *prometheus.CounterVec
	clients     prometheus.Gauge
	openTx      prometheus.Gauge
	authFail    prometheus.Counter
	planCache   *prometheus.CounterVec
	held        prometheus.Gauge
	pool        *poolMetrics
	panics      prometheus.Counter
	heldTotal   prometheus.Counter
	holdSeconds prometheus.Histogram
	unparsed    *prometheus.CounterVec

	// denied counts statements refused to non-admins, by reason (planner.Reason); each
	// reason's counter is resolved here, once.
	denied   *prometheus.CounterVec
	deniedBy [planner.NumReasons]prometheus.Counter

	errMu    sync.Mutex
	errCache map[uint16]prometheus.Counter
}

// poolMetrics reports pool gauges at scrape time, so getting and returning a
// connection costs no metric updates on the hot path.
type poolMetrics struct {
	pools                      func() []*pool
	open, idle, waiters, waits *prometheus.Desc
}

func (pm *poolMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- pm.open
	ch <- pm.idle
	ch <- pm.waiters
	ch <- pm.waits
}

func (pm *poolMetrics) Collect(ch chan<- prometheus.Metric) {
	if pm.pools == nil {
		return
	}
	// A server has a pool per backend account and CLIENT_FOUND_ROWS flag: the flag's two
	// pools are summed (one series may be reported once only).
	type series struct{ keyspace, server, user string }
	type sums struct{ open, idle, waiters, waits float64 }
	all := map[series]*sums{}
	var order []series
	for _, p := range pm.pools() {
		k := series{p.keyspace, p.addr, p.opts.User}
		t := all[k]
		if t == nil {
			t = &sums{}
			all[k] = t
			order = append(order, k)
		}
		open, idle, waiters := p.stats()
		t.open += float64(open)
		t.idle += float64(idle)
		t.waiters += float64(waiters)
		t.waits += float64(p.waits.Load())
	}
	for _, k := range order {
		t := all[k]
		ch <- prometheus.MustNewConstMetric(pm.open, prometheus.GaugeValue, t.open, k.keyspace, k.server, k.user)
		ch <- prometheus.MustNewConstMetric(pm.idle, prometheus.GaugeValue, t.idle, k.keyspace, k.server, k.user)
		ch <- prometheus.MustNewConstMetric(pm.waiters, prometheus.GaugeValue, t.waiters, k.keyspace, k.server, k.user)
		ch <- prometheus.MustNewConstMetric(pm.waits, prometheus.CounterValue, t.waits, k.keyspace, k.server, k.user)
	}
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vtgate_lite_queries_total",
			Help: "Statements executed, by keyspace, tablet type and statement type."}, []string{"keyspace", "tablet_type", "statement"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vtgate_lite_query_duration_seconds",
			Help:    "Statement latency as seen by the proxy, by keyspace and statement type.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}},
			[]string{"keyspace", "statement"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vtgate_lite_errors_total",
			Help: "Errors returned to clients, by MySQL error code."}, []string{"code"}),
		clients: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vtgate_lite_client_connections", Help: "Open client connections."}),
		openTx:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "vtgate_lite_open_transactions", Help: "Client sessions inside a transaction."}),
		authFail: prometheus.NewCounter(prometheus.CounterOpts{Name: "vtgate_lite_auth_failures_total",
			Help: "Failed client logins."}),
		planCache: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vtgate_lite_plan_cache_total",
			Help: "Plan lookups by result: hit (same text), digest_hit (same text but for its literal values: not parsed), miss (parsed)."}, []string{"result"}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vtgate_lite_switch_held_statements",
			Help: "Statements currently held by a traffic switch."}),
		heldTotal: prometheus.NewCounter(prometheus.CounterOpts{Name: "vtgate_lite_switch_held_statements_total",
			Help: "Statements held by traffic switches."}),
		holdSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vtgate_lite_switch_hold_seconds",
			Help: "How long held statements waited during traffic switches.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{Name: "vtgate_lite_handler_panics_total",
			Help: "Client handlers that panicked (the client was disconnected)."}),
		unparsed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vtgate_lite_unparsed_statements_total",
			Help: "Statements the parser could not read: sent unchanged to the session keyspace's primary (sent), or refused because they may name a table routed elsewhere (refused)."}, []string{"result"}),
		pool: &poolMetrics{
			open:    prometheus.NewDesc("vtgate_lite_pool_connections", "Backend connections open, by server and backend account.", []string{"keyspace", "server", "backend_user"}, nil),
			idle:    prometheus.NewDesc("vtgate_lite_pool_idle_connections", "Idle backend connections, by server and backend account.", []string{"keyspace", "server", "backend_user"}, nil),
			waiters: prometheus.NewDesc("vtgate_lite_pool_waiters", "Sessions waiting for a backend connection, by server and backend account.", []string{"keyspace", "server", "backend_user"}, nil),
			waits:   prometheus.NewDesc("vtgate_lite_pool_waits_total", "Times a session had to wait for a backend connection.", []string{"keyspace", "server", "backend_user"}, nil),
		},
		errCache: map[uint16]prometheus.Counter{},
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vtgate_lite_denied_statements_total",
			Help: "Statements refused to users without admin (server-wide statements, files, the mysql and _vt_lite schemas, vtgate-lite's own variables), by reason."}, []string{"reason"}),
	}
	for r := range planner.NumReasons {
		m.deniedBy[r] = m.denied.WithLabelValues(r.String())
	}
	if reg != nil {
		reg.MustRegister(m.queries, m.latency, m.errors, m.clients, m.openTx, m.authFail, m.planCache, m.held,
			m.heldTotal, m.holdSeconds, m.panics, m.pool, m.unparsed, m.denied)
	}
	return m
}

func (m *metrics) errorCode(code uint16) {
	m.errMu.Lock()
	c, ok := m.errCache[code]
	if !ok {
		c = m.errors.WithLabelValues(strconv.Itoa(int(code)))
		m.errCache[code] = c
	}
	m.errMu.Unlock()
	c.Inc()
}
