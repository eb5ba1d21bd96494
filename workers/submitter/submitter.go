package submitter

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/bank"
	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers"
	"github.com/isogate/isogate/workers/archive"
	"github.com/isogate/isogate/workers/state"
	"github.com/isogate/isogate/xmlcodec"
)

// Name is the worker's name: its consumer, log label and dlq.submitter.
const Name = "submitter"

// Crash points passed to [Config.Crash].
const (
	CrashAfterCAS     = "after-cas"
	CrashAfterUpload  = "after-upload"
	CrashAfterInDoubt = "after-in-doubt"
	CrashBeforeAck    = "before-ack"
)

// Reasons recorded in the batch history.
const (
	reasonUploading     = "uploading"
	reasonUploaded      = "uploaded: the bank sent a receipt"
	reasonFoundByStatus = "status query: the bank has the file"
	reasonUnknownToBank = "status query: unknown to the bank; re-sending the same bytes"
	reasonDuplicate     = "duplicate: the bank already has this MsgId"
	reasonFoundInFlight = "found submitting after the upload lease: the outcome of that upload is unknown"
)

// Defaults.
const (
	DefaultAckWait       = 30 * time.Second
	DefaultMaxDeliver    = 20
	DefaultConcurrency   = 4
	DefaultFetchBatch    = 1
	DefaultUploadTimeout = 60 * time.Second
	DefaultStatusTimeout = 30 * time.Second
	DefaultClockSkew     = 5 * time.Second
	// maxUploadsPerDelivery bounds the re-sends one delivery makes when the
	// bank keeps losing answers; the next delivery goes on.
	maxUploadsPerDelivery = 3
)

// Config configures the submitter.
type Config struct {
	// Channel names the bank channel adapter in pay.batch.submitted, such
	// as "h2h" or "filedrop". Default: "h2h".
	Channel string
	// AckWait is the consumer's ack wait; heartbeats every AckWait/3 keep a
	// long upload's message. Default: 30s.
	AckWait time.Duration
	// MaxDeliver is how many deliveries a message gets before the dead
	// letter queue. Default: 20 (with the default backoff about 15 minutes).
	MaxDeliver int
	// Backoff is the redelivery delay after each failed delivery (the last
	// repeats), waited on the server. Default: [workers.DefaultBackoff].
	Backoff []time.Duration
	// Concurrency is how many batches one process handles at once.
	// Default: 4.
	Concurrency int
	// FetchBatch is how many messages one pull asks for. Default: 1.
	FetchBatch int
	// UploadTimeout bounds one upload from the compare-and-set to
	// submitting: it is the lease other workers wait out before they treat
	// a submitting batch as in doubt. Default: 60s.
	UploadTimeout time.Duration
	// StatusTimeout bounds one status query. Default: 30s.
	StatusTimeout time.Duration
	// ClockSkew is added to another worker's lease for the difference
	// between the clocks of the processes. Default: 5s.
	ClockSkew time.Duration
	// Crash, when set, is called at the named crash points (see the package
	// documentation); tests block in it to simulate a crash.
	Crash func(point string)
}

func (c *Config) setDefaults() {
	if c.Channel == "" {
		c.Channel = "h2h"
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
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.FetchBatch == 0 {
		c.FetchBatch = DefaultFetchBatch
	}
	if c.UploadTimeout == 0 {
		c.UploadTimeout = DefaultUploadTimeout
	}
	if c.StatusTimeout == 0 {
		c.StatusTimeout = DefaultStatusTimeout
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = DefaultClockSkew
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.UploadTimeout < 0 || c.StatusTimeout < 0 || c.ClockSkew < 0 {
		errs = append(errs, errors.New("timeouts and clock skew must not be negative"))
	}
	if c.MaxDeliver < 0 || c.Concurrency < 0 || c.FetchBatch < 0 {
		errs = append(errs, errors.New("max deliver, concurrency and fetch batch must not be negative"))
	}
	if err := c.spec().Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("submitter: config: %w", err)
	}
	return nil
}

func (c Config) spec() workers.ConsumerSpec {
	return workers.ConsumerSpec{
		Name:           Name,
		Stream:         messages.StreamPayments,
		FilterSubjects: []string{messages.SubjectBatchesEncoded},
		AckWait:        c.AckWait,
		MaxDeliver:     c.MaxDeliver,
		Backoff:        c.Backoff,
		Concurrency:    c.Concurrency,
		FetchBatch:     c.FetchBatch,
	}
}

// Deps are what the submitter works with.
type Deps struct {
	JS        jetstream.JetStream // required: reads the last in_doubt event before publishing it again
	Publisher *workers.Publisher  // required
	Batches   *state.Batches      // required; history entries are written as "submitter"
	Archive   *archive.Archive    // required
	Channel   bank.Channel        // required; a bank.Preparer has its prepared bytes archived
	Logger    *slog.Logger        // for Recover; handlers log through the router. Default: discard
	Now       func() time.Time    // default time.Now
}

// Handler is the submitter. Create it with [New].
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
	uploads map[string]*upload // batch id → the latest upload this process made
}

// upload is one upload made by this process; done closes once its outcome
// is recorded (or the handler gave up).
type upload struct {
	attempt int
	done    chan struct{}
}

// New returns the submitter.
func New(cfg Config, deps Deps) (*Handler, error) {
	cfg.setDefaults()
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if deps.JS == nil || deps.Publisher == nil || deps.Batches == nil || deps.Archive == nil || deps.Channel == nil {
		errs = append(errs, errors.New("submitter: JS, publisher, batches, archive and channel are required"))
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
	return &Handler{
		cfg: cfg, js: deps.JS, pub: deps.Publisher, batches: deps.Batches.WithWorker(Name), arch: deps.Archive,
		ch: deps.Channel, log: deps.Logger.With(slog.String("worker", Name)), now: deps.Now,
		uploads: map[string]*upload{},
	}, nil
}

// Worker returns the worker for [workers.NewRouter].
func (h *Handler) Worker() workers.Worker {
	return workers.Worker{Name: Name, Consumer: h.cfg.spec(), Handler: h.Handle}
}

// Handle handles one pay.batch.encoded message (see the decision table in
// the package documentation). It returns nil once the batch is submitted
// and pay.batch.submitted is stored; a [workers.Permanent] error when the
// batch failed (its pay.batch.failed is stored) or the message is not a
// batch the gateway knows; any other error to be redelivered.
func (h *Handler) Handle(msg *message.Message) error {
	ev, err := workers.Decode[messages.BatchEncoded](msg)
	if err != nil {
		return err
	}
	b, err := h.batches.ForEvent(msg, Name, "pay.batch.encoded", ev.BatchID)
	if err != nil {
		return err
	}
	ctx := msg.Context()
	if err := h.drive(ctx, b); err != nil {
		return err
	}
	return h.crash(ctx, CrashBeforeAck)
}

// drive moves b on until it is submitted (nil), failed (a Permanent error)
// or cannot go further in this call (another error).
func (h *Handler) drive(ctx context.Context, b *state.Batch) error {
	uploads := 0
	for {
		var err error
		switch b.State {
		case state.Encoded:
			if uploads == maxUploadsPerDelivery {
				return fmt.Errorf("submitter: batch %s: %d uploads in one go without a clear answer; trying again later", b.ID, uploads)
			}
			uploads++
			b, err = h.upload(ctx, b)
		case state.Submitting:
			b, err = h.takeOver(ctx, b)
		case state.InDoubt:
			b, err = h.resolve(ctx, b)
		case state.Submitted, state.Accepted, state.PartiallyAccepted, state.Rejected, state.Settled:
			h.forget(b.ID)
			return h.publishSubmitted(ctx, b)
		case state.Failed:
			h.forget(b.ID)
			if err := h.publishFailed(ctx, b, lastReason(b)); err != nil {
				return err
			}
			return workers.Permanent(fmt.Errorf("submitter: batch %s failed: %s", b.ID, lastReason(b)))
		case state.Open:
			return fmt.Errorf("submitter: batch %s is still open: not encoded yet", b.ID)
		default:
			return workers.Permanent(fmt.Errorf("submitter: batch %s in unknown state %q", b.ID, b.State))
		}
		if err != nil {
			return err
		}
	}
}

// upload sends an encoded batch: the bytes first (prepared and recorded when
// the channel prepares), then the compare-and-set to submitting, then Submit.
// It returns the batch as it is afterwards for drive to go on with.
func (h *Handler) upload(ctx context.Context, b *state.Batch) (*state.Batch, error) {
	b, data, err := h.bytesFor(ctx, b)
	if err != nil || b.State != state.Encoded {
		return b, err
	}
	next, err := h.batches.Transition(ctx, b.ID, state.Submitting, reasonUploading, nil)
	if err != nil {
		return h.current(ctx, b.ID, err)
	}
	b = next
	u := &upload{attempt: b.Attempts, done: make(chan struct{})}
	h.mu.Lock()
	h.uploads[b.ID] = u
	h.mu.Unlock()
	defer close(u.done)

	if err := h.crash(ctx, CrashAfterCAS); err != nil {
		return nil, err
	}
	// The lease: no upload of this attempt runs past Since()+UploadTimeout.
	sctx, cancel := context.WithDeadline(ctx, b.Since().Add(h.cfg.UploadTimeout))
	rcpt, err := h.ch.Submit(sctx, bank.File{MsgID: b.ID, Data: data})
	cancel()
	if cerr := h.crash(ctx, CrashAfterUpload); cerr != nil {
		return nil, cerr
	}
	switch {
	case err == nil:
		next, terr := h.batches.Transition(ctx, b.ID, state.Submitted, reasonUploaded, sameAttempt(b.Attempts, func(nb *state.Batch) {
			nb.Receipt = receiptOf(rcpt)
		}))
		if terr != nil {
			return h.current(ctx, b.ID, terr)
		}
		h.forget(b.ID)
		return next, nil
	case errors.Is(err, bank.ErrTransient):
		// Nothing reached the bank (bank package class table), but the batch
		// stays submitting: the redelivery settles it by a status query.
		return nil, fmt.Errorf("submitter: uploading %s (attempt %d): %w", b.ID, b.Attempts, err)
	case errors.Is(err, bank.ErrPermanent):
		reason := "refused by the bank: " + refusal(err)
		// Only if no later attempt has started meanwhile (a pause past the
		// upload lease): that one may be at the bank.
		next, terr := h.batches.Transition(ctx, b.ID, state.Failed, reason, sameAttempt(b.Attempts, nil))
		if terr != nil {
			return h.current(ctx, b.ID, terr)
		}
		h.forget(b.ID)
		return next, nil // drive publishes pay.batch.failed
	case errors.Is(err, bank.ErrDuplicate):
		return h.toInDoubt(ctx, b, reasonDuplicate+": "+err.Error())
	default: // ErrOutcomeUnknown, or an error the channel did not classify
		return h.toInDoubt(ctx, b, "upload outcome unknown: "+err.Error())
	}
}

// bytesFor returns the exact bytes to upload for b: the prepared file
// recorded on b, or the archived pain.001 prepared now, archived and
// recorded before its first upload, or the archived pain.001 itself when the
// channel does not prepare. The batch returned may be newer than b.
func (h *Handler) bytesFor(ctx context.Context, b *state.Batch) (*state.Batch, []byte, error) {
	if b.Upload != nil {
		data, err := h.arch.Get(ctx, b.Upload.Name)
		return b, data, err
	}
	if b.Archive == nil {
		return b, nil, workers.Permanent(fmt.Errorf("submitter: batch %s has no archived file", b.ID))
	}
	raw, err := h.arch.Get(ctx, b.Archive.Name)
	if err != nil {
		return b, nil, err
	}
	p, ok := h.ch.(bank.Preparer)
	if !ok {
		return b, raw, nil
	}
	f, err := p.Prepare(ctx, bank.File{MsgID: b.ID, Data: raw})
	if errors.Is(err, bank.ErrPermanent) {
		// Nothing was sent: the batch can fail from encoded.
		next, terr := h.batches.Transition(ctx, b.ID, state.Failed, "cannot prepare the file: "+err.Error(), sameAttempt(b.Attempts, nil))
		if terr != nil {
			next, terr = h.current(ctx, b.ID, terr)
		}
		return next, nil, terr
	}
	if err != nil {
		return b, nil, fmt.Errorf("submitter: preparing %s: %w", b.ID, err)
	}
	if name, _ := archive.NameOf(f.Data); name == b.Archive.Name {
		return b, raw, nil // prepared is the file itself (no signing): Upload stays nil
	}
	obj, err := h.arch.PutAndKeep(ctx, f.Data, map[string]string{archive.MetaKind: "pain.001", archive.MetaBatchID: b.ID,
		archive.MetaMsgID: b.ID, "prepared": "true"})
	if err != nil {
		return b, nil, err
	}
	next, err := h.batches.Update(ctx, b.ID, func(nb *state.Batch) error {
		if nb.Upload == nil { // the first recorded wins: re-sends use those bytes
			nb.Upload = &state.Object{Name: obj.Name, SHA256: obj.SHA256, Size: obj.Size}
		}
		return nil
	})
	if err != nil {
		return b, nil, err
	}
	if next.Upload.Name != obj.Name {
		data, err := h.arch.Get(ctx, next.Upload.Name)
		return next, data, err
	}
	return next, f.Data, nil
}

// takeOver handles a batch found in submitting: once no upload of it can
// still be running, it goes to in_doubt.
func (h *Handler) takeOver(ctx context.Context, b *state.Batch) (*state.Batch, error) {
	h.mu.Lock()
	u := h.uploads[b.ID]
	h.mu.Unlock()
	if u != nil && u.attempt == b.Attempts {
		select { // our own upload: wait for its outcome
		case <-u.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	} else if wait := time.Until(b.Since().Add(h.cfg.UploadTimeout + h.cfg.ClockSkew)); wait > 0 {
		// Another process's upload may still be running: wait its lease out
		// (heartbeats keep the message meanwhile).
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	cur, err := h.batches.Get(ctx, b.ID)
	if err != nil || cur.State != state.Submitting || cur.Attempts != b.Attempts {
		return cur, err // moved on meanwhile: decide again
	}
	return h.toInDoubt(ctx, cur, reasonFoundInFlight)
}

// toInDoubt moves b from submitting to in_doubt and publishes
// pay.batch.in_doubt.
func (h *Handler) toInDoubt(ctx context.Context, b *state.Batch, reason string) (*state.Batch, error) {
	next, err := h.batches.Transition(ctx, b.ID, state.InDoubt, reason, sameAttempt(b.Attempts, nil))
	if err != nil {
		return h.current(ctx, b.ID, err)
	}
	h.forget(b.ID)
	if err := h.publishInDoubt(ctx, next); err != nil {
		return nil, err
	}
	if err := h.crash(ctx, CrashAfterInDoubt); err != nil {
		return nil, err
	}
	return next, nil
}

// resolve settles an in_doubt batch with a status query.
func (h *Handler) resolve(ctx context.Context, b *state.Batch) (*state.Batch, error) {
	// A crash after in_doubt was written may have lost the event.
	if err := h.ensureInDoubt(ctx, b); err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, h.cfg.StatusTimeout)
	doc, err := h.ch.Status(sctx, b.ID)
	cancel()
	switch {
	case err == nil:
		next, terr := h.batches.Transition(ctx, b.ID, state.Submitted, reasonFoundByStatus, sameAttempt(b.Attempts, func(nb *state.Batch) {
			if nb.Receipt == nil {
				sum := sha256.Sum256(doc.Data)
				nb.Receipt = &state.Receipt{ReceivedAt: h.now().UTC(), SHA256: hex.EncodeToString(sum[:])}
			}
		}))
		if terr != nil {
			return h.current(ctx, b.ID, terr)
		}
		return next, nil
	case errors.Is(err, bank.ErrUnknownToBank):
		if strings.HasPrefix(b.InDoubtReason, reasonDuplicate) {
			// The bank said it has this MsgId; never send it again.
			return nil, fmt.Errorf("submitter: batch %s: the bank reported a duplicate MsgId but its status query finds nothing; not re-sending (%w)", b.ID, err)
		}
		next, terr := h.batches.Transition(ctx, b.ID, state.Encoded, reasonUnknownToBank, sameAttempt(b.Attempts, nil))
		if terr != nil {
			return h.current(ctx, b.ID, terr)
		}
		return next, nil
	default:
		return nil, fmt.Errorf("submitter: status query for in-doubt batch %s: %w", b.ID, err)
	}
}

func (h *Handler) forget(id string) {
	h.mu.Lock()
	delete(h.uploads, id)
	h.mu.Unlock()
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
		return fmt.Errorf("submitter: stopped at %s: %w", point, ctx.Err())
	}
}

// errStale aborts a transition decided on an earlier attempt than the
// batch's current one (another worker re-sent it meanwhile).
var errStale = errors.New("the batch moved on to another upload attempt")

// sameAttempt is a Transition mutate that refuses to write when the batch
// is no longer at upload attempt n: a status answer about attempt n says
// nothing about attempt n+1.
func sameAttempt(n int, then func(*state.Batch)) func(*state.Batch) error {
	return func(nb *state.Batch) error {
		if nb.Attempts != n {
			return errStale
		}
		if then != nil {
			then(nb)
		}
		return nil
	}
}

// current returns the batch a refused or stale transition found, so drive
// decides again on it, or the error when it is neither.
func (h *Handler) current(ctx context.Context, id string, err error) (*state.Batch, error) {
	var te *state.TransitionError
	if errors.As(err, &te) && te.Batch != nil {
		return te.Batch, nil
	}
	if errors.Is(err, errStale) {
		return h.batches.Get(ctx, id)
	}
	return nil, err
}

func (h *Handler) publishInDoubt(ctx context.Context, b *state.Batch) error {
	ev := messages.BatchInDoubt{BatchID: b.ID, Since: b.Since(), Reason: b.InDoubtReason}
	if ev.Reason == "" {
		ev.Reason = "upload outcome unknown"
	}
	_, err := h.pub.PublishEvent(ctx, ev, fmt.Sprintf("in_doubt:%s:%d", b.ID, b.Attempts))
	return err
}

// ensureInDoubt publishes pay.batch.in_doubt for b's attempt unless it is
// the last message on the batch's in_doubt subject: a redelivery after the
// duplicate window publishes no second copy.
func (h *Handler) ensureInDoubt(ctx context.Context, b *state.Batch) error {
	id := fmt.Sprintf("in_doubt:%s:%d", b.ID, b.Attempts)
	s, err := h.js.Stream(ctx, messages.StreamPayments)
	if err != nil {
		return fmt.Errorf("submitter: reading stream %s: %w", messages.StreamPayments, err)
	}
	last, err := s.GetLastMsgForSubject(ctx, messages.BatchInDoubtSubject(b.ID))
	switch {
	case err == nil && last.Header.Get(jetstream.MsgIDHeader) == id:
		return nil
	case err != nil && !errors.Is(err, jetstream.ErrMsgNotFound):
		return fmt.Errorf("submitter: reading the last in_doubt event of %s: %w", b.ID, err)
	}
	return h.publishInDoubt(ctx, b)
}

func (h *Handler) publishSubmitted(ctx context.Context, b *state.Batch) error {
	ev := messages.BatchSubmitted{BatchID: b.ID, SubmittedAt: b.UpdatedAt, Channel: h.cfg.Channel,
		Attempt: max(b.Attempts, 1)}
	if b.Receipt != nil {
		ev.SubmittedAt, ev.BankRef = b.Receipt.ReceivedAt, b.Receipt.BankRef
	}
	switch {
	case b.Upload != nil:
		ev.ArchiveSHA256 = b.Upload.SHA256
	case b.Archive != nil:
		ev.ArchiveSHA256 = b.Archive.SHA256
	}
	return h.publishOnce(ctx, ev, "submitted:"+b.ID)
}

func (h *Handler) publishFailed(ctx context.Context, b *state.Batch, reason string) error {
	ev := messages.BatchFailed{BatchID: b.ID, FailedAt: b.Since(), Reason: reason, Permanent: true, IntentIDs: b.IntentIDs}
	if ev.IntentIDs == nil {
		ev.IntentIDs = []string{}
	}
	return h.publishOnce(ctx, ev, "failed:"+b.ID)
}

// publishOnce publishes an event that exists once per batch: its subject
// must be empty, so a copy published after the duplicate window is refused
// too, and that refusal is success.
func (h *Handler) publishOnce(ctx context.Context, ev messages.Event, msgID string) error {
	m, err := workers.NewEventMessage(ev, msgID)
	if err != nil {
		return err
	}
	m.Metadata.Set(workers.MetaExpectedLastSubjectSeq, "0")
	if _, err := h.pub.PublishMessage(ctx, ev.EventSubject(), m); err != nil && !workers.IsWrongLastSequence(err) {
		return err
	}
	return nil
}

func receiptOf(r bank.Receipt) *state.Receipt {
	out := &state.Receipt{ReceivedAt: r.ReceivedAt.UTC()}
	if len(r.Raw) > 0 {
		sum := sha256.Sum256(r.Raw)
		out.SHA256 = hex.EncodeToString(sum[:])
	}
	return out
}

// refusal describes a permanent bank error with the reasons of the bank's
// pain.002 when it sent one.
func refusal(err error) string {
	var be *bank.Error
	if !errors.As(err, &be) || len(be.Body) == 0 {
		return err.Error()
	}
	_, recs, derr := xmlcodec.DecodeAll(bytes.NewReader(be.Body), xmlcodec.Limits{})
	if derr != nil {
		return err.Error()
	}
	var reasons []string
	seen := map[string]bool{}
	add := func(prefix string, rs []xmlcodec.Reason) {
		for _, r := range rs {
			s := prefix + r.Code + r.Proprietary
			if r.Info != "" {
				s += " " + r.Info
			}
			if !seen[s] {
				seen[s] = true
				reasons = append(reasons, s)
			}
		}
	}
	for _, rec := range recs {
		s, ok := rec.(*xmlcodec.Status)
		if !ok {
			continue
		}
		add("group: ", s.GroupReasons)
		if s.EndToEndID != "" {
			add(s.EndToEndID+": ", s.Reasons)
		} else {
			add("", s.Reasons)
		}
	}
	if len(reasons) == 0 {
		return err.Error()
	}
	return err.Error() + "; bank reasons: " + strings.Join(reasons, "; ")
}

// lastReason is the reason of the transition into the batch's current state.
func lastReason(b *state.Batch) string {
	if n := len(b.History); n > 0 && b.History[n-1].Reason != "" {
		return b.History[n-1].Reason
	}
	return string(b.State)
}
