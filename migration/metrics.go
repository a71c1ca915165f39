package migration

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are registered once per process on prometheus.DefaultRegisterer, shared by engines.
type metrics struct {
	rowsCopied *prometheus.CounterVec
	rowsTotal  *prometheus.GaugeVec
	copyRate   *prometheus.GaugeVec
	lag        *prometheus.GaugeVec
	events     *prometheus.CounterVec
	txns       *prometheus.CounterVec
	errors     *prometheus.CounterVec
	phase      *prometheus.GaugeVec
}

var (
	metricsOnce sync.Once
	theMetrics  *metrics
)

func defaultMetrics() *metrics {
	metricsOnce.Do(func() {
		const ns = "vtgate_lite_migration_"
		m := &metrics{
			rowsCopied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "rows_copied_total", Help: "Rows copied from the source snapshot, per workflow and table."}, []string{"workflow", "table"}),
			rowsTotal:  prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "rows_total", Help: "Rows to copy per table (exact or InnoDB estimate)."}, []string{"workflow", "table"}),
			copyRate:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "copy_rows_per_second", Help: "Current copy rate per table."}, []string{"workflow", "table"}),
			lag:        prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "lag_seconds", Help: "Stream lag: age of the last applied source transaction, 0 when caught up."}, []string{"workflow"}),
			events:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "events_applied_total", Help: "Row changes applied to the target by the stream."}, []string{"workflow"}),
			txns:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "transactions_applied_total", Help: "Source transactions applied by the stream."}, []string{"workflow"}),
			errors:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "errors_total", Help: "Workflow errors (each retry counts)."}, []string{"workflow"}),
			phase:      prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "workflow_state", Help: "1 for the workflow's current state."}, []string{"workflow", "state"}),
		}
		for _, c := range []prometheus.Collector{m.rowsCopied, m.rowsTotal, m.copyRate, m.lag, m.events, m.txns, m.errors, m.phase} {
			if err := prometheus.DefaultRegisterer.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					panic(err)
				}
			}
		}
		theMetrics = m
	})
	return theMetrics
}

func (m *metrics) state(ref WorkflowRef, p Phase) {
	for _, ph := range []Phase{Copying, Running, Stopped, Error, Completed} {
		v := 0.0
		if ph == p {
			v = 1
		}
		m.phase.WithLabelValues(ref.String(), string(ph)).Set(v)
	}
}

func (m *metrics) forget(ref WorkflowRef) {
	l := prometheus.Labels{"workflow": ref.String()}
	m.phase.DeletePartialMatch(l)
	m.lag.DeletePartialMatch(l)
	m.copyRate.DeletePartialMatch(l)
	m.rowsTotal.DeletePartialMatch(l)
}
