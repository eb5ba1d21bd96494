package encoder

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the encoder's own series, beside the runtime's per-worker
// ones:
//
//	isogate_encoder_batch_size                   intents per encoded batch (histogram)
//	isogate_encoder_rejected_total               pay.intent.rejected published
//	isogate_encoder_duplicates_total             intents acked as duplicates of a known id
//	isogate_encoder_batches_abandoned_total      open batches given up (failed flush, stale)
//	isogate_encoder_encoded_republished_total    pay.batch.encoded published again because it was missing
//	isogate_encoder_batches_held_total           batches kept collecting past the wait while the submitter was behind
type metrics struct {
	batchSize   prometheus.Histogram
	rejected    prometheus.Counter
	duplicates  prometheus.Counter
	abandoned   prometheus.Counter
	republished prometheus.Counter
	held        prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "isogate_encoder_batch_size",
			Help:    "Intents per encoded pain.001 batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8), // 1 … 16384
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "isogate_encoder_rejected_total", Help: "Intents rejected by the encoder (pay.intent.rejected published).",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "isogate_encoder_duplicates_total", Help: "Intents acked without work: their id was already batched or rejected.",
		}),
		abandoned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "isogate_encoder_batches_abandoned_total", Help: "Open batches abandoned (failed flush or stale) and their intents released.",
		}),
		republished: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "isogate_encoder_encoded_republished_total", Help: "pay.batch.encoded events published again because they were missing.",
		}),
		held: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "isogate_encoder_batches_held_total", Help: "Batches kept collecting past the wait because the submitter had encoded batches it had not taken yet.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.batchSize, err = register(reg, m.batchSize); err != nil {
		return nil, err
	}
	for _, c := range []*prometheus.Counter{&m.rejected, &m.duplicates, &m.abandoned, &m.republished, &m.held} {
		if *c, err = register(reg, *c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// register registers c, or returns the collector already registered under
// its name (a second encoder in one process shares the series).
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
