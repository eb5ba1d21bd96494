package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// DeferredConfig configures [RunDeferred]: a worker whose messages are
// settled when the worker has decided them, not when a handler returns.
type DeferredConfig struct {
	// JS is the JetStream context of the gateway's connection. Required.
	JS jetstream.JetStream
	// Name names the worker as [Worker.Name] does (logs, metrics,
	// dlq.<name>); Consumer is its durable consumer (Name defaults to it).
	// Consumer.Concurrency bounds the messages taken and not yet settled.
	Name     string
	Consumer ConsumerSpec
	// Take receives each delivered message, from up to TakeParallelism
	// goroutines at once. It must return soon (it runs on the fetch path)
	// and see to it that [Pending.Settle] is called exactly once, now or
	// later, from any goroutine. Required.
	Take func(*Pending)
	// Stopping is called once when ctx ends, after fetching stopped: the
	// worker should settle what it holds (the run waits up to
	// DrainTimeout). Optional.
	Stopping func()
	// TakeParallelism is how many goroutines call Take. Default:
	// GOMAXPROCS.
	TakeParallelism int
	// Logger, Registerer, DrainTimeout, PollWait, PublishTimeout and Now
	// mean what they mean in [RouterConfig], with the same defaults.
	Logger         *slog.Logger
	Registerer     prometheus.Registerer
	DrainTimeout   time.Duration
	PollWait       time.Duration
	PublishTimeout time.Duration
	Now            func() time.Time
}

// A Pending is one delivery a deferred worker holds until it settles it.
type Pending struct {
	// Delivery describes the delivery; Msg carries its body and metadata
	// as a router handler sees them ([SetIDs] works on it) and a context
	// that ends at the drain deadline.
	Delivery *Delivery
	Msg      *message.Message

	m       jetstream.Msg
	run     *deferredRun
	settled bool // under run.mu
}

// Settle ends the delivery with the outcome a router handler returning err
// would get — the same logging, metrics and dead-lettering: nil acks, an
// error nacks it for redelivery after the consumer's backoff (dead-lettered
// on the last attempt), [Permanent] dead-letters it. Calls after the first,
// and calls after the run gave the message up at its drain deadline, do
// nothing (JetStream redelivers it after AckWait).
func (p *Pending) Settle(err error) {
	r := p.run
	r.mu.Lock()
	if p.settled || r.abandoned {
		r.mu.Unlock()
		return
	}
	p.settled = true
	delete(r.pending, p)
	r.mu.Unlock()
	defer r.done(p)
	_, herr := r.chain(func(*message.Message) ([]*message.Message, error) { return nil, err })(p.Msg)
	switch o := p.Delivery.getOutcome(); {
	case herr == nil:
		// A plain Ack, as [Subscriber] sends (see deliver for why).
		if err := p.m.Ack(); err != nil {
			r.log.Warn("acknowledging (the message will be redelivered)", slog.Uint64("stream_seq", p.Delivery.StreamSeq), slog.String("error", err.Error()))
		}
	case o.kind == outcomeAbandoned:
		// Shutdown: send nothing, as a crash would.
	default:
		if err := p.m.NakWithDelay(p.Delivery.RetryDelay()); err != nil {
			r.log.Warn("nacking (the message will be redelivered after AckWait)", slog.Uint64("stream_seq", p.Delivery.StreamSeq), slog.String("error", err.Error()))
		}
	}
}

type deferredRun struct {
	cfg   DeferredConfig
	log   *slog.Logger
	chain func(message.HandlerFunc) message.HandlerFunc
	slots chan struct{}
	hard  context.Context

	mu        sync.Mutex
	pending   map[*Pending]struct{}
	abandoned bool
	unsettled sync.WaitGroup
}

func (r *deferredRun) done(*Pending) {
	<-r.slots
	r.unsettled.Done()
}

// RunDeferred runs a deferred worker until ctx ends: it creates or updates
// its consumer (retrying while NATS is unreachable), fetches messages
// for free slots (Consumer.Concurrency), hands each to cfg.Take, sends
// InProgress heartbeats for every message held longer than AckWait/3, and
// settles each as [Pending.Settle] says. When ctx ends it stops fetching,
// calls cfg.Stopping and waits up to DrainTimeout for the messages held to
// be settled; those still held are left to JetStream, which redelivers
// them after AckWait, and an error says how many.
//
// The worker gives up the router's one goroutine per message in flight:
// a worker that holds thousands of messages at once (the encoder, whose
// intents wait for their batch) holds them as values.
func RunDeferred(ctx context.Context, cfg DeferredConfig) error {
	rc := RouterConfig{JS: cfg.JS, Logger: cfg.Logger, Registerer: cfg.Registerer, DrainTimeout: cfg.DrainTimeout,
		PollWait: cfg.PollWait, PublishTimeout: cfg.PublishTimeout, Now: cfg.Now,
		Workers: []Worker{{Name: cfg.Name, Consumer: cfg.Consumer, Handler: func(*message.Message) error { return nil }}}}
	rc.setDefaults()
	if err := rc.Validate(); err != nil {
		return err
	}
	if cfg.Take == nil {
		return fmt.Errorf("workers: deferred worker %q: no Take", cfg.Name)
	}
	if cfg.TakeParallelism <= 0 {
		cfg.TakeParallelism = runtime.GOMAXPROCS(0)
	}
	spec := rc.Workers[0].Consumer
	m, err := newMetrics(rc.Registerer, rc.JS, []string{cfg.Name})
	if err != nil {
		return fmt.Errorf("workers: registering metrics: %w", err)
	}
	dl := &deadLetterer{pub: NewPublisher(rc.JS, rc.PublishTimeout), now: rc.Now, timeout: rc.PublishTimeout, seen: newFailureTracker()}
	mws := []message.HandlerMiddleware{logging(rc.Logger), m.middleware, dl.middleware, recoverer}
	log := rc.Logger.With(slog.String("worker", cfg.Name), slog.String("consumer", spec.Name))
	// The consumer is created or updated before the first fetch; while
	// NATS is unreachable (a cluster restarting) that is retried with
	// backoff until ctx ends, as the fetch loop retries its pulls.
	var cons jetstream.Consumer
	for failures := 1; ; failures++ {
		actx, cancel := context.WithTimeout(ctx, rc.PollWait)
		cons, err = spec.ensure(actx, rc.JS)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil // stopped before it started: nothing held
		}
		log.Warn("creating the consumer (retrying)", slog.String("error", err.Error()), slog.Int("failures", failures))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retryPause(failures)):
		}
	}
	hard, hardCancel := context.WithCancel(context.Background())
	defer hardCancel()
	r := &deferredRun{
		cfg: cfg, log: log,
		chain: func(h message.HandlerFunc) message.HandlerFunc {
			for i := len(mws) - 1; i >= 0; i-- {
				h = mws[i](h)
			}
			return h
		},
		slots: make(chan struct{}, spec.Concurrency), hard: hard, pending: map[*Pending]struct{}{},
	}

	takes := make(chan *Pending)
	var takers sync.WaitGroup
	for range cfg.TakeParallelism {
		takers.Go(func() {
			for p := range takes {
				r.take(p)
			}
		})
	}
	hbStop := make(chan struct{})
	var hb sync.WaitGroup
	hb.Go(func() { r.heartbeats(spec.AckWait/3, hbStop) })

	pull(ctx, ctx.Done(), cons, spec.FetchBatch, rc.PollWait, r.slots, r.log, func(m jetstream.Msg) bool {
		d, wm, err := newDelivery(m, cfg.Name, spec)
		if err != nil {
			r.log.Error("message without JetStream metadata", slog.String("subject", m.Subject()), slog.String("error", err.Error()))
			_ = m.Term()
			return false
		}
		wm.SetContext(context.WithValue(r.hard, deliveryKey{}, d))
		p := &Pending{Delivery: d, Msg: wm, m: m, run: r}
		r.mu.Lock()
		r.pending[p] = struct{}{}
		r.mu.Unlock()
		r.unsettled.Add(1)
		takes <- p
		return true
	})
	close(takes)
	takers.Wait()
	if cfg.Stopping != nil {
		cfg.Stopping()
	}
	drained := make(chan struct{})
	go func() { r.unsettled.Wait(); close(drained) }()
	var runErr error
	select {
	case <-drained:
	case <-time.After(rc.DrainTimeout):
		r.mu.Lock()
		r.abandoned = true
		n := len(r.pending)
		r.mu.Unlock()
		hardCancel()
		runErr = fmt.Errorf("workers: %s: %d messages not settled within the drain timeout (%s); JetStream redelivers them after AckWait", cfg.Name, n, rc.DrainTimeout)
		r.log.Warn("drain timeout: abandoning messages held", slog.Int("held", n), slog.Duration("drain_timeout", rc.DrainTimeout))
	}
	close(hbStop)
	hb.Wait()
	return runErr
}

// take hands one message to the worker, or dead-letters it unread when its
// last allowed attempt never reported back (as the router does).
func (r *deferredRun) take(p *Pending) {
	if p.Delivery.NumDelivered > p.Delivery.MaxDeliver {
		p.Settle(errors.New("not run")) // the dead-letter middleware does not call the handler
		return
	}
	func() {
		defer func() {
			if v := recover(); v != nil {
				p.Settle(fmt.Errorf("workers: panic taking a message: %v", v))
			}
		}()
		r.cfg.Take(p)
	}()
}

// heartbeats sends InProgress for every message held longer than every,
// every that often, so a batch that waits does not see its messages
// redelivered; a dead worker's messages come back after AckWait.
func (r *deferredRun) heartbeats(every time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			r.mu.Lock()
			var due []jetstream.Msg
			for p := range r.pending {
				if now.Sub(p.Delivery.Received) >= every {
					due = append(due, p.m)
				}
			}
			r.mu.Unlock()
			for _, m := range due {
				if err := m.InProgress(); err != nil {
					r.log.Warn("sending in-progress heartbeat", slog.String("error", err.Error()))
					break
				}
			}
		}
	}
}
