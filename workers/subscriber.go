package workers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Metadata keys the [Subscriber] sets on every message besides the NATS
// headers (each header under its own name, first value). The [Publisher]
// never turns keys with [MetaPrefix] into headers.
const (
	MetaPrefix       = "jetstream."
	MetaSubject      = "jetstream.subject"       // the subject the message was published to
	MetaStream       = "jetstream.stream"        // the stream holding it
	MetaStreamSeq    = "jetstream.stream_seq"    // its stream sequence, decimal
	MetaNumDelivered = "jetstream.num_delivered" // 1 on the first delivery, decimal
	MetaConsumer     = "jetstream.consumer"      // the durable consumer name
)

// Subscriber defaults.
const (
	DefaultPollWait     = 5 * time.Second
	DefaultDrainTimeout = 30 * time.Second
	DefaultAckTimeout   = 10 * time.Second
)

// SubscriberConfig configures a [Subscriber].
type SubscriberConfig struct {
	// Consumer is the durable pull consumer to read. Required.
	Consumer ConsumerSpec
	// Worker names the worker in logs, metrics and dead letters. Default:
	// Consumer.Name.
	Worker string
	// PollWait bounds one pull request when no message is waiting.
	// Default: 5s.
	PollWait time.Duration
	// DrainTimeout bounds Close: handlers still running after it get their
	// context cancelled and their messages are left to JetStream, which
	// redelivers them after AckWait. Default: 30s.
	DrainTimeout time.Duration
	// AckTimeout bounds the consumer set-up of SubscribeInitialize.
	// (Acks are plain Acks, not confirmed: see deliver.) Default: 10s.
	AckTimeout time.Duration
	// Logger receives fetch, ack and nack failures. Default: discard.
	Logger *slog.Logger
}

func (c *SubscriberConfig) setDefaults() {
	c.Consumer.setDefaults()
	if c.Worker == "" {
		c.Worker = c.Consumer.Name
	}
	if c.PollWait == 0 {
		c.PollWait = DefaultPollWait
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = DefaultAckTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Subscriber is a Watermill [message.Subscriber] over one durable JetStream
// pull consumer. The topic given to Subscribe is the consumer's name.
//
// A message the handler acks (the router acks when the handler chain
// returned nil) is acknowledged with a plain Ack (a lost one means a
// redelivery, which handlers are idempotent against); a nack becomes NakWithDelay with the consumer's backoff for
// that delivery; while a handler runs, InProgress heartbeats every
// AckWait/3 keep the server from redelivering. Messages are fetched in small
// batches and only for free handler slots. Close stops fetching and waits
// for the handlers still running, up to DrainTimeout.
type Subscriber struct {
	js  jetstream.JetStream
	cfg SubscriberConfig
	log *slog.Logger

	// hard is cancelled when the drain deadline passes: handlers still
	// running are told to stop and their messages are left to AckWait.
	hard       context.Context
	hardCancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	subs    sync.WaitGroup
	// inflight counts messages between fetch and ack/nack, over all
	// subscriptions.
	inflight sync.WaitGroup
}

// NewSubscriber returns a subscriber for cfg.Consumer. It does not talk to
// the server until Subscribe.
func NewSubscriber(js jetstream.JetStream, cfg SubscriberConfig) (*Subscriber, error) {
	if js == nil {
		return nil, errors.New("workers: NewSubscriber: nil JetStream")
	}
	cfg.setDefaults()
	if err := cfg.Consumer.Validate(); err != nil {
		return nil, err
	}
	hard, cancel := context.WithCancel(context.Background())
	return &Subscriber{
		js: js, cfg: cfg,
		log:  cfg.Logger.With(slog.String("worker", cfg.Worker), slog.String("consumer", cfg.Consumer.Name)),
		hard: hard, hardCancel: cancel,
		closing: make(chan struct{}),
	}, nil
}

// Subscribe creates or updates the consumer and starts fetching from it.
// topic must be the consumer's name. The channel closes after Close, or
// when ctx ends, once the messages in flight are acked, nacked or
// abandoned.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if topic != s.cfg.Consumer.Name {
		return nil, fmt.Errorf("workers: subscriber of consumer %s asked for topic %q", s.cfg.Consumer.Name, topic)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("workers: subscriber is closed")
	}
	cons, err := s.cfg.Consumer.ensure(ctx, s.js)
	if err != nil {
		return nil, err
	}
	out := make(chan *message.Message)
	s.subs.Add(1)
	go s.run(ctx, cons, out)
	return out, nil
}

// SubscribeInitialize creates or updates the consumer without consuming.
func (s *Subscriber) SubscribeInitialize(topic string) error {
	if topic != s.cfg.Consumer.Name {
		return fmt.Errorf("workers: subscriber of consumer %s asked for topic %q", s.cfg.Consumer.Name, topic)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.AckTimeout)
	defer cancel()
	_, err := s.cfg.Consumer.ensure(ctx, s.js)
	return err
}

// Close stops fetching, waits up to DrainTimeout for the messages in flight
// to be acked or nacked, then cancels the handlers still running and leaves
// their messages to JetStream's redelivery. It returns an error if it had
// to. Close is idempotent.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.subs.Wait()
		return nil
	}
	s.closed = true
	close(s.closing)
	s.mu.Unlock()

	drained := make(chan struct{})
	go func() { s.inflight.Wait(); close(drained) }()
	var err error
	select {
	case <-drained:
	case <-time.After(s.cfg.DrainTimeout):
		err = fmt.Errorf("workers: %s: handlers still running after the drain timeout (%s); their messages are redelivered after AckWait", s.cfg.Worker, s.cfg.DrainTimeout)
		s.log.Warn("drain timeout: abandoning messages in flight", slog.Duration("drain_timeout", s.cfg.DrainTimeout))
	}
	s.hardCancel()
	s.subs.Wait()
	return err
}

// run fetches messages for free handler slots until ctx ends or Close is
// called, then waits for its messages in flight and closes out.
func (s *Subscriber) run(ctx context.Context, cons jetstream.Consumer, out chan *message.Message) {
	defer s.subs.Done()
	var mine sync.WaitGroup
	defer func() {
		// Subscription over: wait for our deliveries (each one returns at the
		// latest when the drain deadline cancels s.hard), then close out.
		if ctx.Err() != nil {
			s.drainAlone(&mine)
		}
		mine.Wait()
		close(out)
	}()
	stop := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-s.closing:
		}
		close(stop)
	}()
	fetchCtx, cancelFetch := context.WithCancel(context.Background())
	defer cancelFetch()
	go func() { <-stop; cancelFetch() }()

	spec := s.cfg.Consumer
	slots := make(chan struct{}, spec.Concurrency)
	pull(fetchCtx, stop, cons, spec.FetchBatch, s.cfg.PollWait, slots, s.log, func(m jetstream.Msg) bool {
		// Add to inflight only while not closed, under the lock Close
		// takes to set closed: then every Add happens before Close's Wait
		// (a WaitGroup must not grow from zero while it is waited on). A
		// message fetched after Close goes back to the server at once.
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = m.Nak()
			return false
		}
		mine.Add(1)
		s.inflight.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.inflight.Done()
			defer mine.Done()
			defer func() { <-slots }()
			s.deliver(m, out, stop)
		}()
		return true
	})
}

// pull fetches messages for free slots until stop is closed: it takes a
// slot (waiting for one), then as many more as are free up to fetchBatch,
// asks for that many messages within pollWait, hands each to take — which
// reports whether it kept the message, and then owns its slot — and gives
// back the slots of messages not received or not kept. Fetch failures
// (not an empty poll) are logged and retried after a growing pause, at
// most 5 s. fetchCtx must end when stop is closed.
func pull(fetchCtx context.Context, stop <-chan struct{}, cons jetstream.Consumer, fetchBatch int, pollWait time.Duration,
	slots chan struct{}, log *slog.Logger, take func(jetstream.Msg) bool) {
	failures := 0
	for {
		select {
		case slots <- struct{}{}:
		case <-stop:
			return
		}
		n := 1
	more:
		for n < fetchBatch {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break more
			}
		}
		pctx, cancel := context.WithTimeout(fetchCtx, pollWait)
		batch, err := cons.Fetch(n, jetstream.FetchContext(pctx))
		kept := 0
		if err == nil {
			for m := range batch.Messages() {
				if take(m) {
					kept++
				}
			}
			err = batch.Error()
		}
		cancel()
		for range n - kept {
			<-slots
		}
		if err != nil && fetchCtx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, jetstream.ErrNoMessages) {
			failures++
			log.Warn("fetching messages", slog.String("error", err.Error()), slog.Int("failures", failures))
			select {
			case <-stop:
				return
			case <-time.After(retryPause(failures)):
			}
			continue
		}
		failures = 0
	}
}

// retryPause is the pause after the nth failure in a row to reach NATS
// (fetching, creating a consumer): 200 ms more each time, at most 5 s.
func retryPause(failures int) time.Duration {
	return min(time.Duration(failures)*200*time.Millisecond, 5*time.Second)
}

// drainAlone applies the drain timeout to one subscription whose context
// ended without Close being called.
func (s *Subscriber) drainAlone(mine *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { mine.Wait(); close(done) }()
	select {
	case <-done:
	case <-s.closing: // Close applies the deadline itself
	case <-time.After(s.cfg.DrainTimeout):
		s.log.Warn("drain timeout: abandoning messages in flight", slog.Duration("drain_timeout", s.cfg.DrainTimeout))
		s.hardCancel()
	}
}

// A Delivery describes one delivery of a JetStream message to a handler.
// [DeliveryFrom] returns it from the message's context.
type Delivery struct {
	Worker       string
	Consumer     string
	Stream       string
	Subject      string
	StreamSeq    uint64
	NumDelivered int // 1 on the first delivery
	MaxDeliver   int
	Stored       time.Time   // when the stream stored the message
	Received     time.Time   // when this delivery arrived
	Headers      nats.Header // the message's headers, as published; do not modify
	Data         []byte      // the message's body, as published; do not modify

	spec ConsumerSpec
	// outcome is what the dead-letter middleware decided, for the logging
	// and metrics middlewares around it.
	mu      sync.Mutex
	outcome outcome
}

// RetryDelay is the delay before the next delivery if this one fails.
func (d *Delivery) RetryDelay() time.Duration { return d.spec.RetryDelay(d.NumDelivered) }

// LastAttempt reports whether a failure of this delivery dead-letters the
// message.
func (d *Delivery) LastAttempt() bool { return d.NumDelivered >= d.MaxDeliver }

type outcomeKind int

const (
	outcomeNone outcomeKind = iota
	outcomeAcked
	outcomeRetry
	outcomeDeadLettered
	outcomeAbandoned
)

type outcome struct {
	kind outcomeKind
	err  error // the handler's error, for retry and dead-lettered
}

func (d *Delivery) setOutcome(kind outcomeKind, err error) {
	d.mu.Lock()
	d.outcome = outcome{kind: kind, err: err}
	d.mu.Unlock()
}

func (d *Delivery) getOutcome() outcome {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.outcome
}

type deliveryKey struct{}

// DeliveryFrom returns the delivery of the message whose context is ctx,
// for messages from a [Subscriber].
func DeliveryFrom(ctx context.Context) (*Delivery, bool) {
	d, ok := ctx.Value(deliveryKey{}).(*Delivery)
	return d, ok
}

// newDelivery describes message m of worker's consumer and copies it into
// the Watermill message handlers see: body, headers as metadata (first
// value) and the Meta* keys. It fails only for a message without JetStream
// metadata.
func newDelivery(m jetstream.Msg, worker string, spec ConsumerSpec) (*Delivery, *message.Message, error) {
	meta, err := m.Metadata()
	if err != nil {
		return nil, nil, err
	}
	d := &Delivery{
		Worker:       worker,
		Consumer:     meta.Consumer,
		Stream:       meta.Stream,
		Subject:      m.Subject(),
		StreamSeq:    meta.Sequence.Stream,
		NumDelivered: int(meta.NumDelivered),
		MaxDeliver:   spec.MaxDeliver,
		Stored:       meta.Timestamp,
		Received:     time.Now(),
		Headers:      m.Headers(),
		Data:         m.Data(),
		spec:         spec,
	}
	uuid := m.Headers().Get(jetstream.MsgIDHeader)
	if uuid == "" {
		uuid = d.Stream + ":" + strconv.FormatUint(d.StreamSeq, 10)
	}
	payload := append([]byte(nil), m.Data()...)
	wm := message.NewMessage(uuid, payload)
	for k, v := range m.Headers() {
		if len(v) > 0 {
			wm.Metadata.Set(k, v[0])
		}
	}
	wm.Metadata.Set(MetaSubject, d.Subject)
	wm.Metadata.Set(MetaStream, d.Stream)
	wm.Metadata.Set(MetaStreamSeq, strconv.FormatUint(d.StreamSeq, 10))
	wm.Metadata.Set(MetaNumDelivered, strconv.Itoa(d.NumDelivered))
	wm.Metadata.Set(MetaConsumer, d.Consumer)
	return d, wm, nil
}

// deliver hands one message to the router and settles it with JetStream
// once the handler chain acked or nacked it.
func (s *Subscriber) deliver(m jetstream.Msg, out chan<- *message.Message, stop <-chan struct{}) {
	spec := s.cfg.Consumer
	d, wm, err := newDelivery(m, s.cfg.Worker, spec)
	if err != nil {
		s.log.Error("message without JetStream metadata", slog.String("subject", m.Subject()), slog.String("error", err.Error()))
		_ = m.Term()
		return
	}
	ctx, cancel := context.WithCancel(context.WithValue(s.hard, deliveryKey{}, d))
	defer cancel()
	wm.SetContext(ctx)

	log := s.log.With(slog.String("subject", d.Subject), slog.Uint64("stream_seq", d.StreamSeq), slog.Int("attempt", d.NumDelivered))
	// Heartbeats run from receipt: the server's AckWait started when it
	// delivered the message.
	hbDone := make(chan struct{})
	var stopHB sync.Once
	stopHeartbeats := func() { stopHB.Do(func() { close(hbDone) }) }
	defer stopHeartbeats()
	go func() {
		t := time.NewTicker(spec.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-hbDone:
				return
			case <-t.C:
				if err := m.InProgress(); err != nil {
					log.Warn("sending in-progress heartbeat", slog.String("error", err.Error()))
				}
			}
		}
	}()

	select {
	case out <- wm:
	case <-stop:
		// Never handed over: give it back at once.
		if err := m.Nak(); err != nil {
			log.Warn("returning an unhandled message", slog.String("error", err.Error()))
		}
		return
	}
	select {
	case <-wm.Acked():
		stopHeartbeats()
		// A plain Ack, not DoubleAck: a lost ack is harmless for every
		// worker, so waiting for the server to confirm one buys nothing but
		// a round trip per message. Seen from the server, a lost ack is a
		// crash between the handler's work and its ack: the message comes
		// back after AckWait (n+1) and the handler contract (doc.go) already
		// requires that second run to find its work done — KV
		// compare-and-set, events republished under the same Nats-Msg-Id or
		// to a one-message subject, so nothing is stored or paid twice. The
		// crash tests prove it per worker (encoder CrashAcking, submitter
		// CrashBeforeAck, statuspoller TestRestart,
		// TestCrashBetweenPublishAndAck here); a dead letter is republished
		// under its stable DeadLetterMsgID and dropped as a duplicate. A
		// failed DoubleAck was only ever logged, never acted on. Acknowledge-after-persist is unchanged:
		// the ack is still sent only after the handler returned nil, that is
		// after everything it produced is stored. Pending acks leave with
		// the connection's Drain or Close, which flush them.
		if err := m.Ack(); err != nil {
			log.Warn("acknowledging (the message will be redelivered)", slog.String("error", err.Error()))
		}
	case <-wm.Nacked():
		stopHeartbeats()
		if err := m.NakWithDelay(d.RetryDelay()); err != nil {
			log.Warn("nacking (the message will be redelivered after AckWait)", slog.String("error", err.Error()))
		}
	case <-s.hard.Done():
		// Drain deadline passed: send nothing, as a crash would.
	}
}
