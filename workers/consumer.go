package workers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Consumer defaults.
const (
	DefaultAckWait       = 30 * time.Second
	DefaultMaxDeliver    = 10
	DefaultMaxAckPending = 1000
	DefaultConcurrency   = 8
	DefaultFetchBatch    = 8
)

// DefaultBackoff is the redelivery delay after the 1st, 2nd, ... failed
// delivery; the last value repeats. With [DefaultMaxDeliver] a message is
// tried for about four minutes before it is dead-lettered.
var DefaultBackoff = []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute}

// A ConsumerSpec describes the durable JetStream pull consumer a worker
// reads from. [Subscriber] creates it, or updates it to match, when it
// subscribes; running the same spec twice changes nothing.
type ConsumerSpec struct {
	// Name is the durable consumer name, such as "encoder". Required.
	Name string
	// Stream holds the messages, such as messages.StreamPayments. Required.
	Stream string
	// FilterSubjects select the messages, such as messages.SubjectIntents.
	// At least one is required.
	FilterSubjects []string
	// AckWait is how long the server waits for an ack before it redelivers.
	// Handlers that run longer are kept alive by InProgress heartbeats every
	// AckWait/3, so it bounds how long a crashed worker holds a message, not
	// how long a handler may take. Default: 30s.
	AckWait time.Duration
	// MaxDeliver is how many deliveries a message gets before it is
	// dead-lettered. The runtime enforces it, not the server: the consumer is
	// created with no server-side limit, so a message whose last attempt
	// crashed is delivered once more and then dead-lettered without running
	// the handler, instead of being dropped silently by the server.
	// Default: 10.
	MaxDeliver int
	// MaxAckPending bounds the messages delivered and not yet acked,
	// including those waiting for a delayed redelivery. Default: 1000, or
	// Concurrency when that is larger.
	MaxAckPending int
	// Backoff is the redelivery delay after the 1st, 2nd, ... failed
	// delivery (the last value repeats), applied by NakWithDelay, so retries
	// wait on the server and survive restarts. It is not set on the consumer
	// itself, where it would replace AckWait. Default: [DefaultBackoff].
	Backoff []time.Duration
	// Concurrency is how many messages of this consumer are handled at once
	// by one subscriber. Messages are fetched only for free handler slots,
	// so no fetched message waits in a buffer while its AckWait runs.
	// Default: 8.
	Concurrency int
	// FetchBatch caps the messages asked for in one pull request.
	// Default: 8, and never more than Concurrency.
	FetchBatch int
}

func (c *ConsumerSpec) setDefaults() {
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = max(DefaultMaxAckPending, c.Concurrency)
	}
	if c.Backoff == nil {
		c.Backoff = DefaultBackoff
	}
	if c.FetchBatch == 0 {
		c.FetchBatch = DefaultFetchBatch
	}
	c.FetchBatch = min(c.FetchBatch, c.Concurrency)
}

// Validate reports every problem with the spec at once.
func (c ConsumerSpec) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name is required"))
	}
	if c.Stream == "" {
		errs = append(errs, errors.New("stream is required"))
	}
	if len(c.FilterSubjects) == 0 {
		errs = append(errs, errors.New("at least one filter subject is required"))
	}
	if c.AckWait < 0 || (c.AckWait > 0 && c.AckWait < 100*time.Millisecond) {
		errs = append(errs, fmt.Errorf("ack wait %s: want at least 100ms", c.AckWait))
	}
	if c.MaxDeliver < 0 {
		errs = append(errs, fmt.Errorf("max deliver %d: want at least 1", c.MaxDeliver))
	}
	if c.MaxAckPending < 0 {
		errs = append(errs, fmt.Errorf("max ack pending %d: want at least 1", c.MaxAckPending))
	}
	if c.Concurrency < 0 {
		errs = append(errs, fmt.Errorf("concurrency %d: want at least 1", c.Concurrency))
	}
	if c.FetchBatch < 0 {
		errs = append(errs, fmt.Errorf("fetch batch %d: want at least 1", c.FetchBatch))
	}
	if c.MaxAckPending > 0 && c.Concurrency > c.MaxAckPending {
		errs = append(errs, fmt.Errorf("concurrency %d exceeds max ack pending %d", c.Concurrency, c.MaxAckPending))
	}
	if c.Backoff != nil && len(c.Backoff) == 0 {
		errs = append(errs, errors.New("backoff is empty: leave it nil for the default"))
	}
	for i, d := range c.Backoff {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("backoff[%d] is %s: want a positive duration", i, d))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("workers: consumer %q: %w", c.Name, err)
	}
	return nil
}

// RetryDelay is the delay before redelivery after the given failed delivery
// (1 for the first).
func (c ConsumerSpec) RetryDelay(delivery int) time.Duration {
	b := c.Backoff
	if len(b) == 0 {
		b = DefaultBackoff
	}
	return b[min(max(delivery, 1), len(b))-1]
}

// config is the server-side consumer configuration for the spec.
func (c ConsumerSpec) config() jetstream.ConsumerConfig {
	cfg := jetstream.ConsumerConfig{
		Durable:       c.Name,
		Description:   "isogate worker " + c.Name,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		// MaxDeliver is enforced by the runtime (see ConsumerSpec.MaxDeliver).
		MaxDeliver:    -1,
		MaxAckPending: c.MaxAckPending,
		ReplayPolicy:  jetstream.ReplayInstantPolicy,
	}
	if len(c.FilterSubjects) == 1 {
		cfg.FilterSubject = c.FilterSubjects[0]
	} else {
		cfg.FilterSubjects = slices.Clone(c.FilterSubjects)
	}
	return cfg
}

// ensure creates the consumer or updates it to match the spec.
func (c ConsumerSpec) ensure(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error) {
	cons, err := js.CreateOrUpdateConsumer(ctx, c.Stream, c.config())
	if err != nil {
		return nil, fmt.Errorf("workers: creating consumer %s on stream %s: %w", c.Name, c.Stream, err)
	}
	return cons, nil
}
