// Package publish feeds payment intents from files into the gateway: each
// valid intent goes to its own subject pay.intent.<id> with Nats-Msg-Id =
// id, and JetStream is asked to store it only if that subject is empty, so
// an id is accepted once however late a second copy comes.
package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/messages"
)

// LineError is one problem with one input line.
type LineError struct {
	Line   int    `json:"line"`
	Field  string `json:"field"` // JSON path of the field, "json" or "csv"
	Reason string `json:"reason"`
}

func (e LineError) String() string { return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Reason) }

// Stats counts lines by outcome.
type Stats struct {
	Lines      int `json:"lines"`
	Published  int `json:"published"`
	Duplicates int `json:"duplicates"`
	Invalid    int `json:"invalid"`
	// Conflicts are duplicates whose content differs from the intent already
	// accepted under that id (also counted in Duplicates). They were ignored:
	// the first intent stands.
	Conflicts int `json:"conflicts"`
}

// Result is the outcome of a whole run.
type Result struct {
	Stats
	// Errors lists every problem, ordered by line: invalid lines, and
	// conflicting duplicates (field "id").
	Errors []LineError `json:"errors"`
}

// Options tune a run.
type Options struct {
	// InFlight bounds intents awaiting their acknowledgement. Default: 256.
	InFlight int
	// AckTimeout bounds the wait for one acknowledgement. Default: 10s.
	AckTimeout time.Duration
	// Progress, when set, is called about every ProgressEvery while the run
	// lasts, and once at the end.
	Progress      func(Stats)
	ProgressEvery time.Duration
}

// Publisher publishes intents to the PAYMENTS stream.
type Publisher struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	opts   Options
}

// New checks that the PAYMENTS stream exists and returns a publisher. The
// connection nc is used for asynchronous publishing with bounded pending
// acknowledgements.
func New(ctx context.Context, nc *nats.Conn, opts Options) (*Publisher, error) {
	if opts.InFlight <= 0 {
		opts.InFlight = 256
	}
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = 10 * time.Second
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = time.Second
	}
	// The run's own queue bounds what is in flight (InFlight, plus one per
	// acker); the library's limit sits above it so it never stalls a publish.
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(2*(opts.InFlight+ackers)),
		jetstream.WithPublishAsyncTimeout(opts.AckTimeout))
	if err != nil {
		return nil, fmt.Errorf("opening JetStream: %w", err)
	}
	s, err := js.Stream(ctx, "PAYMENTS")
	if err != nil {
		return nil, fmt.Errorf("stream PAYMENTS: %w (is `isogate serve` running and provisioned?)", err)
	}
	return &Publisher{js: js, stream: s, opts: opts}, nil
}

// pending is one publish awaiting its acknowledgement.
type pending struct {
	line int
	id   string
	msg  *nats.Msg
	fut  jetstream.PubAckFuture
}

// run holds a run's shared counters.
type run struct {
	mu    sync.Mutex
	stats Stats
	errs  []LineError
	fatal error
}

func (r *run) add(f func(*Stats)) {
	r.mu.Lock()
	f(&r.stats)
	r.mu.Unlock()
}

func (r *run) fail(err error) {
	r.mu.Lock()
	if r.fatal == nil {
		r.fatal = err
	}
	r.mu.Unlock()
}

func (r *run) failed() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fatal
}

func (r *run) snapshot() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// ackers wait for acknowledgements concurrently, so a slow conflict check
// does not hold up the pipeline.
const ackers = 8

// Publish reads intents from src in format f and publishes every valid one.
// Invalid lines are reported in the result and do not stop the run. It
// returns an error only when the run could not go on (the stream vanished,
// the context ended, the input could not be read); the result then counts
// what was done before.
func (p *Publisher) Publish(ctx context.Context, src io.Reader, f Format) (Result, error) {
	r := &run{}
	queue := make(chan *pending, p.opts.InFlight)
	var wg sync.WaitGroup
	for range ackers {
		wg.Go(func() {
			for pe := range queue {
				p.settle(ctx, r, pe)
			}
		})
	}
	stopProgress := p.progress(r)

	var readErr error
	for rec, err := range Records(src, f) {
		if err != nil {
			readErr = err
			break
		}
		if err := r.failed(); err != nil {
			break
		}
		if ctx.Err() != nil {
			readErr = ctx.Err()
			break
		}
		r.add(func(s *Stats) { s.Lines++ })
		if rec.Err != nil {
			r.invalid(*rec.Err)
			continue
		}
		intent, err := messages.ParseIntent(rec.JSON)
		if err != nil {
			r.invalid(lineErrors(rec.Line, err)...)
			continue
		}
		pe, err := p.send(intent, rec.Line)
		if err != nil {
			r.fail(err)
			break
		}
		queue <- pe
	}
	close(queue)
	wg.Wait()
	stopProgress()

	res := Result{Stats: r.stats, Errors: r.errs}
	slices.SortStableFunc(res.Errors, func(a, b LineError) int { return a.Line - b.Line })
	return res, errors.Join(readErr, r.fatal)
}

func (r *run) invalid(errs ...LineError) {
	r.mu.Lock()
	r.stats.Invalid++
	r.errs = append(r.errs, errs...)
	r.mu.Unlock()
}

// lineErrors turns a ParseIntent error into one LineError per problem.
func lineErrors(line int, err error) []LineError {
	var verrs messages.ValidationErrors
	if errors.As(err, &verrs) {
		out := make([]LineError, 0, len(verrs))
		for _, fe := range verrs {
			out = append(out, LineError{Line: line, Field: fe.Field, Reason: fe.Reason})
		}
		return out
	}
	var jerr *messages.JSONError
	if errors.As(err, &jerr) {
		field, reason, ok := bytes.Cut([]byte(jerr.Error()), []byte(": "))
		if ok {
			return []LineError{{Line: line, Field: string(field), Reason: string(reason)}}
		}
	}
	return []LineError{{Line: line, Field: "json", Reason: err.Error()}}
}

// message builds the JetStream message for an intent: its canonical JSON on
// its own subject, with the expectations that make the stream refuse a
// second intent with the same id.
func message(intent messages.PaymentIntent) (*nats.Msg, error) {
	intent.Type, intent.Version = messages.TypePaymentIntent, messages.Version1
	data, err := json.Marshal(intent)
	if err != nil {
		return nil, err
	}
	return &nats.Msg{Subject: messages.IntentSubject(intent.ID), Data: data, Header: nats.Header{}}, nil
}

func publishOpts(id string) []jetstream.PublishOpt {
	return []jetstream.PublishOpt{
		jetstream.WithMsgID(id),
		jetstream.WithExpectStream("PAYMENTS"),
		jetstream.WithExpectLastSequencePerSubject(0),
		jetstream.WithStallWait(time.Second),
	}
}

func (p *Publisher) send(intent messages.PaymentIntent, line int) (*pending, error) {
	msg, err := message(intent)
	if err != nil {
		return nil, fmt.Errorf("line %d: encoding intent: %w", line, err)
	}
	fut, err := p.js.PublishMsgAsync(msg, publishOpts(intent.ID)...)
	if err != nil {
		return nil, fmt.Errorf("line %d: publishing %s: %w", line, intent.ID, err)
	}
	return &pending{line: line, id: intent.ID, msg: msg, fut: fut}, nil
}

// maxRetries bounds re-sends after a lost acknowledgement. A re-send is safe:
// the stream stores an id at most once.
const maxRetries = 3

// settle waits for one acknowledgement and counts the outcome.
func (p *Publisher) settle(ctx context.Context, r *run, pe *pending) {
	var err error
	select {
	case ack := <-pe.fut.Ok():
		if ack.Duplicate {
			p.duplicate(ctx, r, pe)
		} else {
			r.add(func(s *Stats) { s.Published++ })
		}
		return
	case err = <-pe.fut.Err():
	}
	for attempt := 1; ; attempt++ {
		if isWrongLastSequence(err) {
			p.duplicate(ctx, r, pe)
			return
		}
		if !errors.Is(err, jetstream.ErrAsyncPublishTimeout) && !errors.Is(err, context.DeadlineExceeded) &&
			!errors.Is(err, nats.ErrTimeout) || attempt > maxRetries || ctx.Err() != nil {
			r.fail(fmt.Errorf("line %d: publishing %s: %w", pe.line, pe.id, err))
			return
		}
		// The acknowledgement was lost; the intent may or may not be stored.
		// Re-send: within the duplicate window the server answers duplicate,
		// after it the subject expectation refuses a second copy.
		actx, cancel := context.WithTimeout(ctx, p.opts.AckTimeout)
		msg := &nats.Msg{Subject: pe.msg.Subject, Data: pe.msg.Data, Header: nats.Header{}}
		var ack *jetstream.PubAck
		ack, err = p.js.PublishMsg(actx, msg, publishOpts(pe.id)...)
		cancel()
		if err == nil {
			if ack.Duplicate {
				p.duplicate(ctx, r, pe)
			} else {
				r.add(func(s *Stats) { s.Published++ })
			}
			return
		}
	}
}

// duplicate counts an intent whose id the stream already holds, and reports
// it when the stored intent differs from this one.
func (p *Publisher) duplicate(ctx context.Context, r *run, pe *pending) {
	gctx, cancel := context.WithTimeout(ctx, p.opts.AckTimeout)
	defer cancel()
	stored, err := p.stream.GetLastMsgForSubject(gctx, pe.msg.Subject)
	if err != nil {
		r.fail(fmt.Errorf("line %d: reading the stored intent %s: %w", pe.line, pe.id, err))
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Duplicates++
	if !bytes.Equal(stored.Data, pe.msg.Data) {
		r.stats.Conflicts++
		r.errs = append(r.errs, LineError{Line: pe.line, Field: "id", Reason: fmt.Sprintf(
			"%s was already accepted (stream sequence %d) with different content; this line was ignored", pe.id, stored.Sequence)})
	}
}

func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// progress reports counts every ProgressEvery until the returned stop is
// called, which reports once more.
func (p *Publisher) progress(r *run) (stop func()) {
	if p.opts.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(p.opts.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.opts.Progress(r.snapshot())
			case <-done:
				return
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		p.opts.Progress(r.snapshot())
	}
}
