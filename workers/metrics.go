package workers

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/isogate/isogate/messages"
)

// metrics are the per-worker Prometheus series:
//
//	isogate_worker_processed_total{worker}     deliveries handled and acked
//	isogate_worker_failed_total{worker}        deliveries whose handler failed
//	isogate_worker_retried_total{worker}       failures redelivered after a backoff
//	isogate_worker_dead_lettered_total{worker} messages put on dlq.<worker>
//	isogate_worker_handle_seconds{worker}      handler duration (histogram)
//	isogate_worker_dlq_depth{worker}           messages on dlq.<worker> now
type metrics struct {
	processed, failed, retried, deadLettered *prometheus.CounterVec
	handle                                   *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, js jetstream.JetStream, workers []string) (*metrics, error) {
	m := &metrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "isogate_worker_processed_total", Help: "Messages a worker handled and acknowledged.",
		}, []string{"worker"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "isogate_worker_failed_total", Help: "Deliveries whose handler returned an error or panicked.",
		}, []string{"worker"}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "isogate_worker_retried_total", Help: "Failed deliveries handed back to JetStream for a delayed redelivery.",
		}, []string{"worker"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "isogate_worker_dead_lettered_total", Help: "Messages a worker gave up on and put on dlq.<worker>.",
		}, []string{"worker"}),
		handle: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "isogate_worker_handle_seconds",
			Help:    "Time a worker's handler took for one delivery.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"worker"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.processed, err = registerVec(reg, m.processed)
	if err != nil {
		return nil, err
	}
	if m.failed, err = registerVec(reg, m.failed); err != nil {
		return nil, err
	}
	if m.retried, err = registerVec(reg, m.retried); err != nil {
		return nil, err
	}
	if m.deadLettered, err = registerVec(reg, m.deadLettered); err != nil {
		return nil, err
	}
	if m.handle, err = registerVec(reg, m.handle); err != nil {
		return nil, err
	}
	for _, w := range workers {
		if err := register(reg, dlqDepth(js, w)); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// registerVec registers c, or returns the collector already registered
// under its name (a second router in the same process).
func registerVec[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

func register(reg prometheus.Registerer, c prometheus.Collector) error {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return err
		}
	}
	return nil
}

// dlqDepth is a gauge read at scrape time: the number of messages on
// dlq.<worker> in the DLQ stream, from stream info with a subject filter.
// It reports NaN when JetStream does not answer within 2 seconds.
func dlqDepth(js jetstream.JetStream, worker string) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "isogate_worker_dlq_depth",
		Help:        "Messages on the worker's dead-letter subject dlq.<worker>.",
		ConstLabels: prometheus.Labels{"worker": worker},
	}, func() float64 {
		n, err := DLQDepth(context.Background(), js, worker, 2*time.Second)
		if err != nil {
			return math.NaN()
		}
		return float64(n)
	})
}

// DLQDepth returns the number of dead letters of worker in the DLQ stream.
func DLQDepth(ctx context.Context, js jetstream.JetStream, worker string, timeout time.Duration) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	subject := messages.DeadLetterSubject(worker)
	s, err := js.Stream(ctx, messages.StreamDLQ)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return 0, err
	}
	return info.State.Subjects[subject], nil
}

// middleware counts each delivery by the outcome the dead-letter
// middleware inside it decided.
func (m *metrics) middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		d, ok := DeliveryFrom(msg.Context())
		if !ok {
			return h(msg)
		}
		start := time.Now()
		out, err := h(msg)
		m.handle.WithLabelValues(d.Worker).Observe(time.Since(start).Seconds())
		switch o := d.getOutcome(); {
		case o.kind == outcomeDeadLettered:
			m.failed.WithLabelValues(d.Worker).Inc()
			m.deadLettered.WithLabelValues(d.Worker).Inc()
		case o.kind == outcomeAbandoned:
		case err != nil:
			m.failed.WithLabelValues(d.Worker).Inc()
			m.retried.WithLabelValues(d.Worker).Inc()
		default:
			m.processed.WithLabelValues(d.Worker).Inc()
		}
		return out, err
	}
}
