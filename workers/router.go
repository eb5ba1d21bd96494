package workers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/isogate/isogate/messages"
)

// A Worker is one handler with the consumer it reads.
type Worker struct {
	// Name names the worker: "encoder", "submitter", ... It is the log and
	// metrics label and the dead-letter subject dlq.<name>, and the default
	// consumer name. Letters, digits, '_' and '-' only.
	Name string
	// Consumer is the durable consumer the worker reads; Name defaults to
	// the worker's name.
	Consumer ConsumerSpec
	// Handler handles one message. See the package documentation for the
	// contract: return nil only once everything produced is durably
	// stored; wrap errors no retry can fix with [Permanent].
	Handler message.NoPublishHandlerFunc
}

// RouterConfig configures [NewRouter].
type RouterConfig struct {
	// JS is the JetStream context of the gateway's connection. Required.
	JS jetstream.JetStream
	// Workers are the handlers to run. At least one is required.
	Workers []Worker
	// Logger receives one line per failure, dead letter and (at debug)
	// success. Default: discard.
	Logger *slog.Logger
	// Registerer receives the worker metrics. Default: none.
	Registerer prometheus.Registerer
	// DrainTimeout bounds a graceful stop: handlers still running after it
	// are cancelled and their messages redelivered after AckWait. The
	// router's CloseTimeout is DrainTimeout plus 5s. Default: 30s.
	DrainTimeout time.Duration
	// PollWait bounds one pull request while no message is waiting.
	// Default: 5s.
	PollWait time.Duration
	// PublishTimeout bounds the publish of one dead letter. Default: 10s.
	PublishTimeout time.Duration
	// Now is the clock of dead-letter times. Default: time.Now.
	Now func() time.Time
}

func (c *RouterConfig) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.PollWait == 0 {
		c.PollWait = DefaultPollWait
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	for i := range c.Workers {
		if c.Workers[i].Consumer.Name == "" {
			c.Workers[i].Consumer.Name = c.Workers[i].Name
		}
		c.Workers[i].Consumer.setDefaults()
	}
}

var workerName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Validate reports every problem at once.
func (c RouterConfig) Validate() error {
	var errs []error
	if c.JS == nil {
		errs = append(errs, errors.New("JS is required"))
	}
	if len(c.Workers) == 0 {
		errs = append(errs, errors.New("at least one worker is required"))
	}
	seen := map[string]bool{}
	for i, w := range c.Workers {
		switch {
		case !workerName.MatchString(w.Name):
			errs = append(errs, fmt.Errorf("worker %d: name %q: use letters, digits, '_' and '-'", i, w.Name))
		case seen[w.Name]:
			errs = append(errs, fmt.Errorf("worker %q: listed twice", w.Name))
		}
		seen[w.Name] = true
		if w.Handler == nil {
			errs = append(errs, fmt.Errorf("worker %q: no handler", w.Name))
		}
		if err := w.Consumer.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.DrainTimeout < 0 || c.PollWait < 0 || c.PublishTimeout < 0 {
		errs = append(errs, errors.New("timeouts must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("workers: router: %w", err)
	}
	return nil
}

// NewRouter returns a Watermill router running each worker's handler on its
// own JetStream consumer ([Subscriber]), through this middleware chain,
// outermost first:
//
//  1. logging: a logger with worker, subject, stream_seq, attempt and, when
//     known, intent_id and batch_id in the message context ([Logger]), and
//     one line per outcome: debug on success, warn on a retry, error on a
//     dead letter;
//  2. metrics on cfg.Registerer (see the package documentation);
//  3. dead-lettering: an error wrapping [ErrPermanent], or any error on the
//     delivery that reaches the consumer's MaxDeliver, puts a
//     [messages.DeadLetter] on dlq.<worker> — synchronously, with
//     Nats-Msg-Id [DeadLetterMsgID] — and only then lets the original be
//     acked; other errors nack it for redelivery after the backoff;
//  4. a recoverer that turns a panic into an error.
//
// There is no in-delivery retry: JetStream's delayed redelivery is the
// retry. Run it with router.Run(ctx); router.Close (or the end of ctx)
// drains within cfg.DrainTimeout.
func NewRouter(cfg RouterConfig) (*message.Router, error) {
	cfg.Workers = append([]Worker(nil), cfg.Workers...)
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	names := make([]string, len(cfg.Workers))
	for i, w := range cfg.Workers {
		names[i] = w.Name
	}
	m, err := newMetrics(cfg.Registerer, cfg.JS, names)
	if err != nil {
		return nil, fmt.Errorf("workers: registering metrics: %w", err)
	}
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.DrainTimeout + 5*time.Second}, quietLogger{watermill.NewSlogLogger(cfg.Logger)})
	if err != nil {
		return nil, err
	}
	dl := &deadLetterer{pub: NewPublisher(cfg.JS, cfg.PublishTimeout), now: cfg.Now, timeout: cfg.PublishTimeout, seen: newFailureTracker()}
	r.AddMiddleware(logging(cfg.Logger), m.middleware, dl.middleware, recoverer)
	for _, w := range cfg.Workers {
		sub, err := NewSubscriber(cfg.JS, SubscriberConfig{
			Consumer:     w.Consumer,
			Worker:       w.Name,
			PollWait:     cfg.PollWait,
			DrainTimeout: cfg.DrainTimeout,
			Logger:       cfg.Logger,
		})
		if err != nil {
			return nil, err
		}
		r.AddConsumerHandler(w.Name, w.Consumer.Name, sub, w.Handler)
	}
	return r, nil
}

type loggerKey struct{}

// Logger returns the logger the router put in a message's context, with
// the worker, subject, stream_seq, attempt, intent_id and batch_id
// attributes; [slog.Default] outside a router.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// logging is the outermost middleware: correlation attributes in the
// context and one log line per delivery outcome. Handlers return errors
// without logging them; this logs each one once.
func logging(base *slog.Logger) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			d, ok := DeliveryFrom(msg.Context())
			if !ok {
				return h(msg)
			}
			attrs := []slog.Attr{slog.String("worker", d.Worker), slog.String("subject", d.Subject),
				slog.Uint64("stream_seq", d.StreamSeq), slog.Int("attempt", d.NumDelivered)}
			intentID, batchID := correlationIDs(msg.Metadata, d.Subject)
			if intentID != "" {
				attrs = append(attrs, slog.String("intent_id", intentID))
			}
			if batchID != "" {
				attrs = append(attrs, slog.String("batch_id", batchID))
			}
			log := deliveryLogger(base, attrs)
			msg.SetContext(context.WithValue(msg.Context(), loggerKey{}, log))
			start := time.Now()
			out, err := h(msg)
			took := slog.Duration("took", time.Since(start))
			// The handler may have learned the ids from the body (SetIDs).
			if i, b := correlationIDs(msg.Metadata, d.Subject); (i != intentID && i != "") || (b != batchID && b != "") {
				attrs = slices.Clip(attrs[:4]) // the first logger keeps its own
				if i != "" {
					attrs = append(attrs, slog.String("intent_id", i))
				}
				if b != "" {
					attrs = append(attrs, slog.String("batch_id", b))
				}
				log = deliveryLogger(base, attrs)
			}
			ctx := msg.Context()
			switch o := d.getOutcome(); {
			case o.kind == outcomeDeadLettered:
				log.ErrorContext(ctx, "dead-lettered", slog.String("error", o.err.Error()),
					slog.String("dlq_subject", messages.DeadLetterSubject(d.Worker)), took)
			case o.kind == outcomeAbandoned:
				log.WarnContext(ctx, "abandoned at shutdown; JetStream will redeliver", slog.String("error", o.err.Error()), took)
			case err != nil:
				log.WarnContext(ctx, "handling failed; will retry", slog.String("error", err.Error()),
					slog.Duration("retry_in", d.RetryDelay()), slog.Int("max_deliver", d.MaxDeliver), took)
			default:
				log.DebugContext(ctx, "handled", took)
			}
			return out, err
		}
	}
}

// deliveryLogger returns base with attrs added to every record it logs.
// Unlike base.With, it formats nothing up front: most deliveries log
// nothing above debug, and With made each of them pay for a formatted
// prefix.
func deliveryLogger(base *slog.Logger, attrs []slog.Attr) *slog.Logger {
	return slog.New(&attrsHandler{next: base.Handler(), attrs: attrs})
}

// attrsHandler adds attrs to each record before the record's own
// attributes, as [slog.Handler.WithAttrs] would, when the record is
// handled rather than when the handler is made.
type attrsHandler struct {
	next  slog.Handler
	attrs []slog.Attr
}

func (h *attrsHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *attrsHandler) Handle(ctx context.Context, r slog.Record) error {
	nr := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	nr.AddAttrs(h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(a)
		return true
	})
	return h.next.Handle(ctx, nr)
}

func (h *attrsHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &attrsHandler{next: h.next, attrs: append(slices.Clip(h.attrs), as...)}
}

// WithGroup puts the delivery's attributes outside the group, as With
// followed by WithGroup would.
func (h *attrsHandler) WithGroup(name string) slog.Handler {
	return h.next.WithAttrs(h.attrs).WithGroup(name)
}

// quietLogger passes Watermill's own log to slog with its info lines
// (handler added, router started...) at debug, and drops its per-message
// "Handler returned error", which the logging middleware already reported.
type quietLogger struct{ watermill.LoggerAdapter }

func (q quietLogger) Error(msg string, err error, fields watermill.LogFields) {
	if msg == "Handler returned error" {
		return
	}
	q.LoggerAdapter.Error(msg, err, fields)
}

func (q quietLogger) Info(msg string, fields watermill.LogFields) { q.LoggerAdapter.Debug(msg, fields) }

func (q quietLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return quietLogger{q.LoggerAdapter.With(fields)}
}
