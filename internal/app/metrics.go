package app

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers/state"
)

// pipelineCollector reports, at scrape time, how many batches are in each
// state (in_doubt among them) and how long the oldest intent has waited for
// the encoder. Each scrape reads JetStream, bounded by scrapeTimeout; a
// figure it could not read is left out of that scrape rather than guessed.
type pipelineCollector struct {
	js      jetstream.JetStream
	batches *state.Batches
	now     func() time.Time
}

const scrapeTimeout = 2 * time.Second

var (
	batchesDesc = prometheus.NewDesc("isogate_batches",
		"Batches per state in KV batches; in_doubt counts uploads whose outcome a status query is settling.",
		[]string{"state"}, nil)
	oldestIntentDesc = prometheus.NewDesc("isogate_oldest_pending_intent_seconds",
		"Age of the oldest intent on pay.intent.* the encoder has not acknowledged yet; 0 when none waits.",
		nil, nil)
)

func (c *pipelineCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- batchesDesc
	ch <- oldestIntentDesc
}

func (c *pipelineCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	if list, err := c.batches.ListRefs(ctx); err == nil {
		counts := make(map[state.State]int, len(state.States))
		for _, b := range list {
			counts[b.State]++
		}
		for _, s := range state.States {
			ch <- prometheus.MustNewConstMetric(batchesDesc, prometheus.GaugeValue, float64(counts[s]), string(s))
		}
	}
	if age, ok := c.oldestPendingIntent(ctx); ok {
		ch <- prometheus.MustNewConstMetric(oldestIntentDesc, prometheus.GaugeValue, age.Seconds())
	}
}

// oldestPendingIntent is the age of the first intent after the encoder's
// ack floor. With no encoder consumer yet (a gateway that runs other
// workers only) it reports nothing.
func (c *pipelineCollector) oldestPendingIntent(ctx context.Context) (time.Duration, bool) {
	cons, err := c.js.Consumer(ctx, "PAYMENTS", "encoder")
	if err != nil {
		return 0, false
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, false
	}
	if info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0 {
		return 0, true
	}
	stream, err := c.js.Stream(ctx, "PAYMENTS")
	if err != nil {
		return 0, false
	}
	msg, err := stream.GetMsg(ctx, info.AckFloor.Stream+1, jetstream.WithGetMsgSubject(messages.SubjectIntents))
	if err != nil {
		return 0, false
	}
	return max(0, c.now().Sub(msg.Time)), true
}
