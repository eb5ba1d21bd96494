package encoder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers"
	"github.com/isogate/isogate/workers/archive"
	"github.com/isogate/isogate/workers/state"
	"github.com/isogate/isogate/xmlcodec"
)

// Name is the worker's name: its consumer, log label and dlq.encoder.
const Name = "encoder"

// Defaults.
const (
	DefaultWait             = 2 * time.Second
	DefaultProfile          = "ekase"
	DefaultFetchBatch       = 256
	DefaultClaimParallelism = 16
	// DefaultMaxConcurrency caps the default Concurrency (the largest
	// profile file limit): a profile allowing bigger files still gets its
	// batches closed by Wait.
	DefaultMaxConcurrency = 10000
)

// Downstream is the submitter's durable consumer on PAYMENTS: its
// undelivered pay.batch.encoded events are the backlog that holds a batch
// ([Config.MaxHold]). It is the submitter package's Name, spelled here
// because workers do not import each other (internal/app checks the two
// agree).
const Downstream = "submitter"

// subjectIntentsNested is what the encoder reads besides
// [messages.SubjectIntents]: the rejections it acks at once, and intents
// published on a subject of more than one token after pay.intent, which it
// dead-letters.
const subjectIntentsNested = "pay.intent.*.>"

// maxIDToken bounds the subject token of an intent id the encoder uses in
// subjects and keys: far above any valid id (35 characters, a token of at
// most 188 bytes), far below the 4 KiB NATS control line.
const maxIDToken = 1024

// Crash points passed to [Config.Crash], in flush order.
const (
	CrashCreated      = "created"      // batch record stored, open
	CrashClaimed      = "claimed"      // every intent claimed for it
	CrashArchived     = "archived"     // pain.001 in the archive
	CrashTransitioned = "transitioned" // batch moved to encoded
	CrashPublished    = "published"    // pay.batch.encoded stored
	CrashAcking       = "acking"       // about to let the handlers return nil
)

// Config configures the encoder. The zero value is usable.
type Config struct {
	// DefaultProfile is the profile of an intent without one. Default: ekase.
	DefaultProfile string
	// Wait closes a batch this long after its first intent, when it has not
	// reached its profile's Limits.MaxTxPerFile before. Default: 2s.
	Wait time.Duration
	// MaxHold is the longest a batch keeps collecting, from its first
	// intent, while the submitter is behind. When Wait is up and the
	// submitter's consumer ([Downstream]) has pay.batch.encoded events it
	// has not been delivered yet, a file closed now would only queue
	// behind them: the batch stays open and is looked at again every
	// Wait/4 (10 ms to 1 s), until that consumer has none waiting, the
	// batch is full, the encoder has no room for another pull of intents
	// (Concurrency), or MaxHold is up. Under a backlog the encoder so writes fewer, larger
	// files, and a file costs the same few stored writes and fsyncs
	// whatever its size. Without a backlog nothing changes. Default:
	// 10×Wait. A value not above Wait turns holding off.
	MaxHold time.Duration
	// AckWait of the consumer (heartbeats keep a waiting intent alive).
	// Default: [workers.DefaultAckWait] (30s). Must exceed Wait.
	AckWait time.Duration
	// StaleAfter is the age from which an open batch is taken for
	// abandoned by a dead encoder: a live flush creates its record and
	// encodes it within milliseconds. Default: 2×Wait + AckWait.
	StaleAfter time.Duration
	// Concurrency is how many intents may wait for their batch at once (the
	// consumer's handler slots). Default: the largest Limits.MaxTxPerFile
	// of the known profiles, at most DefaultMaxConcurrency.
	Concurrency int
	// FetchBatch caps one pull request. Default: 256.
	FetchBatch int
	// MaxDeliver and Backoff are passed to the consumer (runtime defaults
	// when zero or nil).
	MaxDeliver int
	Backoff    []time.Duration
	// ClaimParallelism bounds the concurrent KV claims of one flush.
	// Default: 16.
	ClaimParallelism int
	// FlushTimeout bounds one flush. Default: AckWait.
	FlushTimeout time.Duration
	// DrainTimeout bounds how long Run waits, once its context ended, for
	// the batches it closed to be flushed. Default:
	// [workers.DefaultDrainTimeout].
	DrainTimeout time.Duration
	// PollWait bounds one pull request while no intent is waiting.
	// Default: [workers.DefaultPollWait].
	PollWait time.Duration
	// Crash, when set, is called at each crash point of a flush (Crash*
	// constants). Tests use it to stop a flush where a kill -9 could.
	Crash func(point string)
	// Closed, when set, is called as a batch stops collecting, with the id
	// of its first intent, when that intent joined it, and whether the
	// batch was held past Wait. isogate bench uses it to take each batch's
	// collecting time out of the latency it reports. It runs under the
	// encoder's lock: keep it short.
	Closed func(firstID string, opened time.Time, held bool)
}

func (c *Config) setDefaults() {
	if c.DefaultProfile == "" {
		c.DefaultProfile = DefaultProfile
	}
	if c.Wait == 0 {
		c.Wait = DefaultWait
	}
	if c.MaxHold == 0 {
		c.MaxHold = 10 * c.Wait
	}
	if c.AckWait == 0 {
		c.AckWait = workers.DefaultAckWait
	}
	if c.StaleAfter == 0 {
		c.StaleAfter = 2*c.Wait + c.AckWait
	}
	if c.FetchBatch == 0 {
		c.FetchBatch = DefaultFetchBatch
	}
	if c.ClaimParallelism == 0 {
		c.ClaimParallelism = DefaultClaimParallelism
	}
	if c.FlushTimeout == 0 {
		c.FlushTimeout = c.AckWait
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = workers.DefaultDrainTimeout
	}
	if c.PollWait == 0 {
		c.PollWait = workers.DefaultPollWait
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Wait < 0 || c.MaxHold < 0 || c.AckWait < 0 || c.StaleAfter < 0 || c.FlushTimeout < 0 || c.DrainTimeout < 0 || c.PollWait < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	if c.AckWait > 0 && c.Wait >= c.AckWait {
		errs = append(errs, fmt.Errorf("wait %s must be shorter than ack wait %s", c.Wait, c.AckWait))
	}
	if c.StaleAfter > 0 && c.StaleAfter < c.Wait+c.AckWait {
		errs = append(errs, fmt.Errorf("stale after %s must be at least wait + ack wait (%s)", c.StaleAfter, c.Wait+c.AckWait))
	}
	if c.Concurrency < 0 || c.FetchBatch < 0 || c.ClaimParallelism < 0 || c.MaxDeliver < 0 {
		errs = append(errs, errors.New("counts must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("encoder: config: %w", err)
	}
	return nil
}

// Deps are what the encoder works with.
type Deps struct {
	JS        jetstream.JetStream // required
	Publisher *workers.Publisher  // default: workers.NewPublisher(JS, 0)
	Batches   *state.Batches      // required
	Intents   *state.Intents      // required
	Archive   *archive.Archive    // required
	// Profiles resolves profile names. Default: the built-in profiles.
	Profiles *xmlcodec.ProfileSet
	// Logger for flush outcomes (handler errors are logged by the router).
	// Default: discard.
	Logger *slog.Logger
	// Registerer receives isogate_encoder_* metrics. Default: none.
	Registerer prometheus.Registerer
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// Handler is the encoder. Create it with [New], call [Handler.Recover],
// then [Handler.Run] until shutdown, and [Handler.Close] after Run returned.
type Handler struct {
	cfg      Config
	js       jetstream.JetStream
	pub      *workers.Publisher
	batches  *state.Batches
	intents  *state.Intents
	archive  *archive.Archive
	profiles map[string]*xmlcodec.Profile
	names    []string
	log      *slog.Logger
	runLog   *slog.Logger // the runtime's: deps.Logger as given
	reg      prometheus.Registerer
	now      func() time.Time
	m        *metrics

	// base is the context of every flush; Close cancels it.
	base   context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	groups   map[groupKey]*pending // batches collecting intents
	inflight map[string]*item      // intent id → its item, collecting or flushing
	ids      idLocks               // serialise Handle's decision per intent id
	flushes  sync.WaitGroup

	streamMu sync.Mutex
	stream   jetstream.Stream
	// announced remembers batches whose pay.batch.encoded is known to be
	// stored, so a burst of redeliveries reads the stream once per batch.
	announced announcedSet
	// backlog reads whether the submitter is behind (Config.MaxHold).
	backlog backlog
}

// New returns an encoder. It resolves every profile of deps.Profiles now,
// so a broken profile fails here, not mid-payment.
func New(cfg Config, deps Deps) (*Handler, error) {
	cfg.setDefaults()
	var errs []error
	if deps.JS == nil {
		errs = append(errs, errors.New("deps: JS is required"))
	}
	if deps.Batches == nil || deps.Intents == nil {
		errs = append(errs, errors.New("deps: Batches and Intents are required"))
	}
	if deps.Archive == nil {
		errs = append(errs, errors.New("deps: Archive is required"))
	}
	if deps.Profiles == nil {
		ps, err := xmlcodec.NewProfileSet("")
		if err != nil {
			errs = append(errs, err)
		}
		deps.Profiles = ps
	}
	profiles := map[string]*xmlcodec.Profile{}
	largest := 0
	if deps.Profiles != nil {
		for _, name := range deps.Profiles.Names() {
			p, err := deps.Profiles.Lookup(name)
			if err != nil {
				errs = append(errs, fmt.Errorf("profile %s: %w", name, err))
				continue
			}
			profiles[name] = p
			largest = max(largest, p.Limits.MaxTxPerFile)
		}
	}
	if _, ok := profiles[cfg.DefaultProfile]; !ok && len(profiles) > 0 {
		errs = append(errs, fmt.Errorf("default profile %q is unknown", cfg.DefaultProfile))
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = min(max(largest, 1), DefaultMaxConcurrency)
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("encoder: %w", err)
	}
	if deps.Publisher == nil {
		deps.Publisher = workers.NewPublisher(deps.JS, 0)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, fmt.Errorf("encoder: registering metrics: %w", err)
	}
	names := make([]string, 0, len(profiles))
	for n := range profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	base, cancel := context.WithCancel(context.Background())
	return &Handler{
		cfg: cfg, js: deps.JS, pub: deps.Publisher,
		batches: deps.Batches.WithWorker(Name), intents: deps.Intents, archive: deps.Archive,
		profiles: profiles, names: names,
		log: deps.Logger.With(slog.String("worker", Name)), runLog: deps.Logger, reg: deps.Registerer, now: deps.Now, m: m,
		base: base, cancel: cancel,
		groups: map[groupKey]*pending{}, inflight: map[string]*item{},
		backlog: backlog{js: deps.JS, ttl: recheck(cfg.Wait) / 2},
	}, nil
}

// Spec is the encoder's consumer. The worker holds each intent until its
// batch is encoded, so a batch of n intents needs n messages delivered and
// unacked at once: Concurrency (messages held) is the largest profile file
// limit (capped), and MaxAckPending leaves room above it for intents
// waiting for a delayed redelivery, which also count as pending. FetchBatch
// is large so a burst fills a batch in few pull requests. AckWait only
// bounds how long a dead encoder holds its intents: the runtime's
// InProgress heartbeats keep a held intent from being redelivered.
func (h *Handler) Spec() workers.ConsumerSpec {
	return workers.ConsumerSpec{
		Name:           Name,
		Stream:         messages.StreamPayments,
		FilterSubjects: []string{messages.SubjectIntents, subjectIntentsNested},
		AckWait:        h.cfg.AckWait,
		MaxDeliver:     h.cfg.MaxDeliver,
		MaxAckPending:  h.cfg.Concurrency + max(h.cfg.Concurrency/10, 100),
		Backoff:        h.cfg.Backoff,
		Concurrency:    h.cfg.Concurrency,
		FetchBatch:     h.cfg.FetchBatch,
	}
}

// Run consumes pay.intent.* until ctx ends ([workers.RunDeferred]): each
// intent is read and decided as it arrives, and held — as a value, not a
// waiting goroutine — until its batch's flush settles it. When ctx ends,
// every batch still collecting is closed and flushed, and Run waits up to
// the drain timeout for them. Call [Handler.Recover] before and
// [Handler.Close] after.
func (h *Handler) Run(ctx context.Context) error {
	return workers.RunDeferred(ctx, workers.DeferredConfig{
		JS: h.js, Name: Name, Consumer: h.Spec(), Take: h.take, Stopping: h.closeAll,
		Logger: h.runLog, Registerer: h.reg, DrainTimeout: h.cfg.DrainTimeout, PollWait: h.cfg.PollWait,
	})
}

// Close cancels the flushes still running (after the router stopped, only
// those it abandoned at its drain timeout) and waits for them. Their
// intents are redelivered and find the half-made batch (see Recover).
func (h *Handler) Close() error {
	h.cancel()
	h.flushes.Wait()
	return nil
}

// profile returns the profile called name ("" for the default).
func (h *Handler) profile(name string) (*xmlcodec.Profile, string, bool) {
	if name == "" {
		name = h.cfg.DefaultProfile
	}
	p, ok := h.profiles[name]
	return p, name, ok
}

func (h *Handler) crash(point string) {
	if h.cfg.Crash != nil {
		h.cfg.Crash(point)
	}
}

// A reading is one pay.intent message read and validated: the intent, its
// payment normalised by its profile, and its field errors (reasons).
type reading struct {
	in       messages.PaymentIntent
	pay      xmlcodec.Payment
	prof     *xmlcodec.Profile
	profName string
	reasons  []messages.FieldError
}

// read reads and validates one pay.intent message. done reports that the
// message needs no decision: err is then its outcome (nil for a rejection
// event read through pay.intent.*.>, else a permanent failure: it is no
// intent this gateway can decide on).
func (h *Handler) read(msg *message.Message) (r reading, done bool, err error) {
	subject := msg.Metadata.Get(workers.MetaSubject)
	if strings.Count(subject, ".") > 2 {
		// The consumer also reads pay.intent.*.>, where a producer that
		// put an id with dots in the subject as it is would otherwise
		// leave its intent unread forever.
		if rest, ok := strings.CutPrefix(subject, "pay.intent.rejected."); ok && !strings.Contains(rest, ".") {
			return r, true, nil // a rejection event: not an intent, nothing to do
		}
		return r, true, workers.Permanent(fmt.Errorf("encoder: message on %s: an intent is published on pay.intent.<token>, a single token: write an id with dots as = and its unpadded base64url (messages.SubjectToken)", subject))
	}
	in, perr := messages.ParseIntent(msg.Payload)
	r.in = in
	var jerr *messages.JSONError
	if errors.As(perr, &jerr) {
		return r, true, workers.Permanent(fmt.Errorf("encoder: intent on %s: %w", subject, perr))
	}
	reasons := messages.RejectionErrors(perr)
	if in.ID == "" {
		return r, true, workers.Permanent(fmt.Errorf("encoder: intent on %s has no readable id: %w", subject, perr))
	}
	if n := len(messages.SubjectToken(in.ID)); n > maxIDToken {
		// Its rejection subject and its key in the intents bucket would be
		// too long for a NATS control line (4 KiB): the server would close
		// the gateway's connection.
		return r, true, workers.Permanent(fmt.Errorf("encoder: intent on %s: its id of %d bytes is too long to name a subject (token of %d bytes, at most %d); ids have at most %d characters",
			subject, len(in.ID), n, maxIDToken, messages.MaxIDLength))
	}
	workers.SetIDs(msg, in.ID, "")
	for _, fe := range reasons {
		if fe.Field == "type" || fe.Field == "version" {
			return r, true, workers.Permanent(fmt.Errorf("encoder: intent %s on %s is not a pay.intent this gateway reads: %w", in.ID, subject, perr))
		}
	}
	if subject != "" {
		if id, err := messages.LastToken(subject); err != nil || id != in.ID {
			return r, true, workers.Permanent(fmt.Errorf("encoder: intent %q published on %s: the subject must be %s", in.ID, subject, messages.IntentSubject(in.ID)))
		}
	}
	prof, profName, ok := h.profile(in.Profile)
	r.prof, r.profName = prof, profName
	switch {
	case !ok:
		reasons = append(reasons, messages.FieldError{Field: "profile",
			Reason: fmt.Sprintf("unknown profile %q (known: %s)", profName, strings.Join(h.names, ", "))})
	default:
		var err error
		r.pay, err = validate(prof, in)
		reasons = mergeReasons(reasons, err)
	}
	r.reasons = reasons
	return r, false, nil
}

// take decides one delivered pay.intent; see the package documentation for
// the outcomes. The delivery is settled (acked) only once the intent is in
// an encoded batch whose pay.batch.encoded is stored, or its rejection is
// stored, or it is a duplicate of an id that is; until then it is held.
//
// A first delivery of a valid intent goes straight into a batch: the flush
// claims each intent create-only, and a claim that finds the id taken — by
// another batch, or by a rejection ([state.Intents.Reject]) — settles the
// copy as a duplicate. Redeliveries and replays are looked up first
// ([Handler.known]), so an id already batched is acked at once instead of
// waiting for a batch.
func (h *Handler) take(p *workers.Pending) {
	msg := p.Msg
	r, done, err := h.read(msg)
	if done {
		p.Settle(err)
		return
	}
	in, reasons := r.in, r.reasons
	ctx := msg.Context()
	// Copies of one id delivered at once decide one after the other, so
	// that an invalid copy and a valid one cannot both see the id as new:
	// one would be rejected and the other paid, two terminal events.
	unlock := h.ids.lock(in.ID)
	// A copy of this id already held here shares its outcome: an invalid
	// copy too, as it would once the id is claimed.
	if h.attach(in.ID, p, len(reasons) > 0) {
		unlock()
		return
	}
	if len(reasons) > 0 {
		go func() {
			defer unlock()
			p.Settle(h.reject(ctx, in.ID, msg.Payload, reasons))
		}()
		return
	}
	if p.Delivery.NumDelivered > 1 || msg.Metadata.Get(workers.HeaderReplayOf) != "" {
		go func() {
			known, err := h.known(ctx, in.ID)
			if err != nil || known {
				unlock()
				if known {
					h.m.duplicates.Inc()
				}
				p.Settle(err)
				return
			}
			h.add(r, msg.Payload, p)
			unlock()
		}()
		return
	}
	h.add(r, msg.Payload, p)
	unlock()
}

// known reports whether intent id needs no batch: it is claimed by a batch
// that took it for good (encoded or later; its pay.batch.encoded is made
// sure of), or it was rejected before. A claim by a stale or failed batch
// is released here and the intent is new again; a claim by a batch another
// encoder is still flushing is an error, so the intent comes back later.
func (h *Handler) known(ctx context.Context, id string) (bool, error) {
	rec, err := h.intents.Get(ctx, id)
	switch {
	case errors.Is(err, state.ErrNotFound):
	case err != nil:
		return false, err
	case rec.Rejected:
		return true, nil
	default:
		free, err := h.settleClaim(ctx, id, rec.BatchID)
		if err != nil || !free {
			return !free && err == nil, err
		}
	}
	rejected, err := h.stored(ctx, messages.IntentRejectedSubject(id))
	if err != nil {
		return false, err
	}
	return rejected, nil
}
