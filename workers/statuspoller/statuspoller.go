package statuspoller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/isogate/isogate/bank"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers"
	"github.com/isogate/isogate/workers/archive"
	"github.com/isogate/isogate/workers/state"
)

// Name is the worker's name: its consumer, log label and dlq.statuspoller.
const Name = "statuspoller"

// Crash points passed to [Config.Crash].
const (
	// CrashBeforePublish: an intent's change is decided — from the event
	// this process knows as its last, or from the last event on its status
	// subject read — and the publish is next.
	CrashBeforePublish = "before-publish"
	// CrashAfterPublish: a pay.status event is stored, and this process
	// has not yet noted it as the intent's last.
	CrashAfterPublish = "after-publish"
)

// Defaults.
const (
	DefaultFirstDelay       = 2 * time.Second
	DefaultInterval         = 2 * time.Second
	DefaultMaxInterval      = 5 * time.Minute
	DefaultMultiplier       = 2
	DefaultListInterval     = 30 * time.Second
	DefaultConcurrency      = 4
	DefaultApplyConcurrency = 16
	DefaultStatusTimeout    = 30 * time.Second
	DefaultAckWait          = 30 * time.Second
	DefaultMaxDeliver       = 10
)

// A Schedule says when a batch's status is asked for: FirstDelay after the
// batch became submitted, then every Interval while the bank's pain.002
// changes; each poll that brings no new document (or fails) multiplies the
// interval by Multiplier, up to MaxInterval. A new document resets it to
// Interval.
// Zero fields take the defaults.
type Schedule struct {
	FirstDelay  time.Duration // default 2s; negative: poll at once
	Interval    time.Duration // default 2s
	MaxInterval time.Duration // default 5m
	Multiplier  int           // default 2; 1 polls at a fixed Interval
}

func (s Schedule) or(d Schedule) Schedule {
	if s.FirstDelay == 0 {
		s.FirstDelay = d.FirstDelay
	}
	if s.Interval == 0 {
		s.Interval = d.Interval
	}
	if s.MaxInterval == 0 {
		s.MaxInterval = d.MaxInterval
	}
	if s.Multiplier == 0 {
		s.Multiplier = d.Multiplier
	}
	return s
}

func (s Schedule) validate(name string) error {
	var errs []error
	if s.Interval <= 0 || s.MaxInterval < s.Interval || s.Multiplier < 1 {
		errs = append(errs, fmt.Errorf("schedule %s: want interval > 0, max interval ≥ interval, multiplier ≥ 1; have %+v", name, s))
	}
	return errors.Join(errs...)
}

// Config configures the status poller.
type Config struct {
	// Schedule is the polling schedule of batches whose profile has none
	// in Profiles. Zero fields take the defaults.
	Schedule Schedule
	// Profiles are per bank profile schedules (batch record's profile,
	// such as "ekase"); zero fields take Schedule's.
	Profiles map[string]Schedule
	// ListInterval is how often [Handler.Run] re-lists the submitted
	// batches from KV, which finds batches whose pay.batch.submitted it did
	// not see (restarts, other processes) and forgets those moved on
	// elsewhere. Default: 30s.
	ListInterval time.Duration
	// Concurrency is how many batches one process polls at once. Default: 4.
	Concurrency int
	// ApplyConcurrency is how many intents of one report are published at
	// once. Default: 16.
	ApplyConcurrency int
	// AtomicStatuses publishes the statuses of one report that need no
	// read of their subject as one atomic batch publish, when PAYMENTS
	// allows it: one fsync for the batch where the server fsyncs every
	// write (config nats.atomic_batches). A batch not stored whole is
	// published one intent at a time.
	AtomicStatuses bool
	// StatusTimeout bounds one status query. Default: 30s.
	StatusTimeout time.Duration
	// AckWait, MaxDeliver and Backoff configure the pay.batch.submitted
	// consumer (see [workers.ConsumerSpec]). Defaults: 30s, 10, the
	// runtime's backoff.
	AckWait    time.Duration
	MaxDeliver int
	Backoff    []time.Duration
	// Crash, when set, is called at [CrashBeforePublish] and
	// [CrashAfterPublish]; tests block in it to simulate a crash or to line
	// two pollers up.
	Crash func(point string)
}

func (c *Config) setDefaults() {
	c.Schedule = c.Schedule.or(Schedule{FirstDelay: DefaultFirstDelay, Interval: DefaultInterval,
		MaxInterval: DefaultMaxInterval, Multiplier: DefaultMultiplier})
	if c.Schedule.MaxInterval < c.Schedule.Interval {
		c.Schedule.MaxInterval = c.Schedule.Interval
	}
	if c.ListInterval == 0 {
		c.ListInterval = DefaultListInterval
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.ApplyConcurrency == 0 {
		c.ApplyConcurrency = DefaultApplyConcurrency
	}
	if c.StatusTimeout == 0 {
		c.StatusTimeout = DefaultStatusTimeout
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if c.Backoff == nil {
		c.Backoff = workers.DefaultBackoff
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if err := c.Schedule.validate("default"); err != nil {
		errs = append(errs, err)
	}
	for name, s := range c.Profiles {
		if err := s.or(c.Schedule).validate(name); err != nil {
			errs = append(errs, err)
		}
	}
	if c.ListInterval < 0 || c.StatusTimeout < 0 || c.Concurrency < 0 || c.ApplyConcurrency < 0 {
		errs = append(errs, errors.New("list interval, status timeout and concurrencies must not be negative"))
	}
	if err := c.spec().Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("statuspoller: config: %w", err)
	}
	return nil
}

func (c Config) spec() workers.ConsumerSpec {
	return workers.ConsumerSpec{
		Name:           Name,
		Stream:         messages.StreamPayments,
		FilterSubjects: []string{messages.SubjectBatchesSubmitted},
		AckWait:        c.AckWait,
		MaxDeliver:     c.MaxDeliver,
		Backoff:        c.Backoff,
		Concurrency:    c.Concurrency,
		FetchBatch:     c.Concurrency,
	}
}

func (c Config) schedule(profile string) Schedule {
	if s, ok := c.Profiles[profile]; ok {
		return s.or(c.Schedule)
	}
	return c.Schedule
}

// Deps are what the status poller works with.
type Deps struct {
	JS        jetstream.JetStream // required: reads an intent's last pay.status when a publish is refused
	Publisher *workers.Publisher  // required
	Batches   *state.Batches      // required; history entries are written as "statuspoller"
	Archive   *archive.Archive    // required
	Channel   bank.Channel        // required
	Logger    *slog.Logger        // for Run and Recover; handlers log through the router. Default: discard
	Now       func() time.Time    // default time.Now
	// Registerer receives isogate_statuspoller_* metrics. Default: none.
	Registerer prometheus.Registerer
}

// Handler is the status poller. Create it with [New].
type Handler struct {
	cfg     Config
	js      jetstream.JetStream
	pub     *workers.Publisher
	batches *state.Batches
	arch    *archive.Archive
	ch      bank.Channel
	log     *slog.Logger
	now     func() time.Time

	mu      sync.Mutex
	tracked map[string]*tracked
	wake    chan struct{}
	stream  jetstream.Stream
	atomic  *workers.AtomicStream // PAYMENTS, for Config.AtomicStatuses
	metrics *metrics
}

// tracked is a submitted batch this process polls.
type tracked struct {
	id       string
	sched    Schedule
	due      time.Time
	interval time.Duration
	busy     bool   // a poll runs (guarded by Handler.mu)
	digest   string // SHA-256 of the last pain.002 applied in full
	txs      []txRef

	mu    sync.Mutex
	known map[string]known // intent → its last pay.status, as this process stored or read it
}

// applied is the part of an intent's status a report decides.
type applied struct {
	Status  messages.TxStatus
	Final   bool
	Reasons string
}

// known is an intent's last pay.status event as this process stored it or
// read it from the stream: its status, its stream sequence and its report
// time (received_at). The message at Seq is that event: a sequence, once
// acknowledged, never names another message.
type known struct {
	applied
	Seq uint64
	At  time.Time
}

func (t *tracked) get(id string) (known, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k, ok := t.known[id]
	return k, ok
}

func (t *tracked) set(id string, k known) {
	t.mu.Lock()
	t.known[id] = k
	t.mu.Unlock()
}

// New returns the status poller.
func New(cfg Config, deps Deps) (*Handler, error) {
	cfg.setDefaults()
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if deps.JS == nil || deps.Publisher == nil || deps.Batches == nil || deps.Archive == nil || deps.Channel == nil {
		errs = append(errs, errors.New("statuspoller: JS, publisher, batches, archive and channel are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	h := &Handler{
		cfg: cfg, js: deps.JS, pub: deps.Publisher, batches: deps.Batches.WithWorker(Name),
		arch: deps.Archive, ch: deps.Channel, log: deps.Logger.With(slog.String("worker", Name)), now: deps.Now,
		tracked: map[string]*tracked{}, wake: make(chan struct{}, 1),
		atomic: workers.NewAtomicStream(deps.JS, messages.StreamPayments, cfg.AtomicStatuses),
	}
	m, err := newMetrics(deps.Registerer, func() float64 { return float64(len(h.Tracked())) })
	if err != nil {
		return nil, fmt.Errorf("statuspoller: registering metrics: %w", err)
	}
	h.metrics = m
	return h, nil
}

// Worker returns the worker for [workers.NewRouter].
func (h *Handler) Worker() workers.Worker {
	return workers.Worker{Name: Name, Consumer: h.cfg.spec(), Handler: h.Handle}
}

// Handle handles one pay.batch.submitted message: it starts tracking the
// batch and, when its first delay has passed, polls it once. It returns nil
// once the batch is tracked (a poll the bank failed is retried by
// [Handler.Run] on the schedule, not by redelivery, so a slow bank never
// uses up MaxDeliver); an error when NATS failed (redelivered); a
// [workers.Permanent] error for a batch the gateway has no record of.
func (h *Handler) Handle(msg *message.Message) error {
	ev, err := workers.Decode[messages.BatchSubmitted](msg)
	if err != nil {
		return err
	}
	b, err := h.batches.ForEvent(msg, Name, "pay.batch.submitted", ev.BatchID)
	if err != nil {
		return err
	}
	ctx := msg.Context()
	if b.State != state.Submitted {
		return nil // moved on (or, impossibly, not yet submitted): nothing to poll
	}
	t := h.track(b)
	h.signal()
	if h.now().Before(t.due) {
		return nil // Run polls it when due
	}
	err = h.poll(ctx, b.ID)
	var be *bank.Error
	if errors.As(err, &be) || errors.Is(err, errBadReport) {
		workers.Logger(ctx).WarnContext(ctx, "first status poll failed; polling again on schedule", slog.String("error", err.Error()))
		return nil
	}
	return err
}

// isTracked reports whether batch id is on the schedule.
func (h *Handler) isTracked(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.tracked[id]
	return ok
}

// track starts tracking b (submitted) unless it is tracked.
func (h *Handler) track(b *state.Batch) *tracked {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t, ok := h.tracked[b.ID]; ok {
		return t
	}
	s := h.cfg.schedule(b.Profile)
	t := &tracked{id: b.ID, sched: s, due: b.Since().Add(max(s.FirstDelay, 0)), interval: s.Interval, known: map[string]known{}}
	h.tracked[b.ID] = t
	return t
}

func (h *Handler) untrack(id string) {
	h.mu.Lock()
	delete(h.tracked, id)
	h.mu.Unlock()
}

// acquire marks a tracked batch busy; nil when it is not tracked or busy.
func (h *Handler) acquire(id string) *tracked {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.tracked[id]
	if t == nil || t.busy {
		return nil
	}
	t.busy = true
	return t
}

// release ends a poll and schedules the next one.
func (h *Handler) release(t *tracked, changed bool) {
	h.mu.Lock()
	if changed {
		t.interval = t.sched.Interval
	} else {
		t.interval = min(t.interval*time.Duration(t.sched.Multiplier), t.sched.MaxInterval)
	}
	t.due = h.now().Add(t.interval)
	t.busy = false
	h.mu.Unlock()
	h.signal()
}

func (h *Handler) signal() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Tracked returns the ids of the batches this process is polling.
func (h *Handler) Tracked() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.tracked))
	for id := range h.tracked {
		out = append(out, id)
	}
	return out
}

// Run polls every tracked batch when it is due, re-listing the submitted
// batches from KV at start and every ListInterval, until ctx ends; then it
// waits for the polls in flight and returns nil. Failures are logged and
// retried on the schedule. Run it once per process beside the router.
func (h *Handler) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, h.cfg.Concurrency)
	var nextList time.Time
	for {
		now := h.now()
		if !now.Before(nextList) {
			nextList = now.Add(h.cfg.ListInterval)
			if err := h.relist(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				h.log.WarnContext(ctx, "listing submitted batches failed", slog.String("error", err.Error()))
				nextList = now.Add(min(h.cfg.ListInterval, time.Second))
			}
		}
		next := nextList
		for _, t := range h.due(now, &next) {
			select {
			case slots <- struct{}{}:
			default:
				h.mu.Lock()
				t.busy = false // no free slot: next round
				h.mu.Unlock()
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots; h.signal() }()
				if err := h.pollAcquired(ctx, t); err != nil && ctx.Err() == nil {
					h.log.WarnContext(ctx, "status poll failed", slog.String("batch_id", t.id), slog.String("error", err.Error()))
				}
			}()
		}
		timer := time.NewTimer(max(next.Sub(h.now()), 10*time.Millisecond))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		case <-h.wake:
			timer.Stop()
		}
	}
}

// due acquires the batches due at now and lowers next to the earliest due
// time of the others.
func (h *Handler) due(now time.Time, next *time.Time) []*tracked {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*tracked
	for _, t := range h.tracked {
		switch {
		case t.busy:
		case !now.Before(t.due):
			t.busy = true
			out = append(out, t)
		case t.due.Before(*next):
			*next = t.due
		}
	}
	return out
}

// relist tracks every submitted batch and forgets the tracked ones that
// are no longer submitted.
func (h *Handler) relist(ctx context.Context) error {
	// Ids and states only: the bucket holds every batch ever recorded,
	// and only the ones not tracked yet need their whole record.
	refs, err := h.batches.ListRefs(ctx, state.Submitted)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(refs))
	for _, r := range refs {
		seen[r.ID] = true
		if h.isTracked(r.ID) {
			continue
		}
		b, err := h.batches.Get(ctx, r.ID)
		if errors.Is(err, state.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if b.State == state.Submitted {
			h.track(b)
		}
	}
	h.mu.Lock()
	for id, t := range h.tracked {
		if !seen[id] && !t.busy {
			delete(h.tracked, id)
		}
	}
	h.mu.Unlock()
	return nil
}

// crash calls the crash hook and gives up when ctx ends before it returns.
func (h *Handler) crash(ctx context.Context, point string) error {
	if h.cfg.Crash == nil {
		return nil
	}
	done := make(chan struct{})
	go func() { defer close(done); h.cfg.Crash(point) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("statuspoller: stopped at %s: %w", point, ctx.Err())
	}
}
