package statuspoller

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the status poller's own series, beside the runtime's
// per-worker ones (which count only the pay.batch.submitted handler; the
// poll loop runs outside the router):
//
//	isogate_statuspoller_polls_total{outcome}        status queries: new (a new pain.002 applied), same, failed
//	isogate_statuspoller_status_events_total{status} pay.status events published
//	isogate_statuspoller_atomic_batches_total{outcome} atomic batches of statuses: stored, or refused (then published one by one)
//	isogate_statuspoller_batches_finished_total{state} batches moved to accepted, partially_accepted or rejected
//	isogate_statuspoller_tracked_batches             batches this process is polling
type metrics struct {
	polls    *prometheus.CounterVec
	events   *prometheus.CounterVec
	atomic   *prometheus.CounterVec
	finished *prometheus.CounterVec
	tracked  prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer, tracked func() float64) (*metrics, error) {
	m := &metrics{
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "isogate_statuspoller_polls_total", Help: "pain.002 status queries by outcome: new, same, failed.",
		}, []string{"outcome"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "isogate_statuspoller_status_events_total", Help: "pay.status events published, by status code.",
		}, []string{"status"}),
		atomic: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "isogate_statuspoller_atomic_batches_total",
			Help: "Atomic batch publishes of one report's statuses, by outcome: stored, or refused (then published one by one).",
		}, []string{"outcome"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "isogate_statuspoller_batches_finished_total", Help: "Batches whose every transaction became final, by the state they moved to.",
		}, []string{"state"}),
		tracked: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "isogate_statuspoller_tracked_batches", Help: "Submitted batches this process is polling.",
		}, tracked),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	for _, c := range []**prometheus.CounterVec{&m.polls, &m.events, &m.atomic, &m.finished} {
		if *c, err = register(reg, *c); err != nil {
			return nil, err
		}
	}
	// A second poller in one process keeps the first one's gauge.
	if _, err := register(reg, m.tracked); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector already registered under
// its name.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}
