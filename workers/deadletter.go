package workers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"

	"github.com/isogate/isogate/messages"
)

// maxErrorLen caps the error text of a dead letter (a panic's stack can be
// long).
const maxErrorLen = 16 << 10

// DeadLetterMsgID is the Nats-Msg-Id of the dead letter of the message at
// stream sequence seq of stream, given up on by worker:
// "<stream>:<seq>:<worker>". A crash between publishing the dead letter and
// acking the original republishes it with the same id, which the DLQ stream
// drops within its duplicate window.
func DeadLetterMsgID(stream string, seq uint64, worker string) string {
	return stream + ":" + strconv.FormatUint(seq, 10) + ":" + worker
}

// deadLetterer is the middleware that decides, after the handler returned,
// between ack, redelivery and the dead-letter queue.
type deadLetterer struct {
	pub     *Publisher
	now     func() time.Time
	timeout time.Duration
	seen    *failureTracker
}

func (dl *deadLetterer) middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		d, ok := DeliveryFrom(msg.Context())
		if !ok {
			return h(msg)
		}
		key := DeadLetterMsgID(d.Stream, d.StreamSeq, d.Worker)
		if d.NumDelivered > d.MaxDeliver {
			// The last allowed attempt never reported back: the worker
			// crashed or stopped, its ack was lost, or the dead letter could
			// not be stored. Do not run the handler again.
			err := fmt.Errorf("workers: delivery %d exceeds max deliver %d: the last attempt did not finish (crash, shutdown or lost ack)", d.NumDelivered, d.MaxDeliver)
			if prev := dl.seen.lastError(key); prev != "" {
				err = fmt.Errorf("%w; last error: %s", err, prev)
			}
			return nil, dl.giveUp(msg, d, key, err)
		}
		out, err := h(msg)
		if err == nil {
			dl.seen.forget(key)
			d.setOutcome(outcomeAcked, nil)
			return out, nil
		}
		if msg.Context().Err() != nil {
			// Shutdown cancelled the handler: neither its fault nor final.
			d.setOutcome(outcomeAbandoned, err)
			return nil, err
		}
		dl.seen.record(key, dl.now(), err)
		if IsPermanent(err) || d.LastAttempt() {
			return nil, dl.giveUp(msg, d, key, err)
		}
		d.setOutcome(outcomeRetry, err)
		return nil, err
	}
}

// giveUp stores the dead letter and returns nil so the original is acked,
// or, when the dead letter could not be stored, an error so the original
// is redelivered and the next delivery tries again.
func (dl *deadLetterer) giveUp(msg *message.Message, d *Delivery, key string, cause error) error {
	now := dl.now()
	first := dl.seen.first(key, d.Stored)
	intentID, batchID := correlationIDs(msg.Metadata, d.Subject)
	text := cause.Error()
	if len(text) > maxErrorLen {
		text = text[:maxErrorLen] + "…"
	}
	ev := messages.DeadLetter{
		Worker:        d.Worker,
		IntentID:      intentID,
		BatchID:       batchID,
		Subject:       d.Subject,
		Headers:       maps.Clone(map[string][]string(d.Headers)),
		Data:          d.Data,
		Error:         text,
		Attempts:      d.NumDelivered,
		FirstFailedAt: first,
		FailedAt:      now,
		Stream:        d.Stream,
		StreamSeq:     d.StreamSeq,
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(msg.Context()), dl.timeout)
	defer cancel()
	_, err := dl.pub.PublishEvent(ctx, ev, key)
	if errors.Is(err, nats.ErrMaxPayload) {
		// A message near max_payload does not fit in its dead letter (base64
		// adds a third): without this, it would be redelivered until
		// MaxDeliver and then sit unacked, in no queue. Its data (and, if
		// need be, its headers) stay in its stream, where Stream and
		// StreamSeq point.
		ev.Error += fmt.Sprintf(" (the message's %d bytes are too large to copy into this dead letter: read them from stream %s, sequence %d)",
			len(d.Data), d.Stream, d.StreamSeq)
		ev.Data = nil
		if _, err = dl.pub.PublishEvent(ctx, ev, key); errors.Is(err, nats.ErrMaxPayload) {
			ev.Headers = nil
			_, err = dl.pub.PublishEvent(ctx, ev, key)
		}
	}
	if err != nil {
		err = fmt.Errorf("%w (and dead-lettering failed: %w)", cause, err)
		d.setOutcome(outcomeRetry, err)
		return err
	}
	dl.seen.forget(key)
	d.setOutcome(outcomeDeadLettered, cause)
	return nil
}

// failureTracker remembers, per message, when this process first saw it
// fail and its last error. It is bounded: past maxTracked entries it drops
// arbitrary ones, whose dead letters then fall back to the time the message
// was stored.
type failureTracker struct {
	mu sync.Mutex
	m  map[string]failure
}

type failure struct {
	first   time.Time
	lastErr string
}

const maxTracked = 10000

func newFailureTracker() *failureTracker { return &failureTracker{m: map[string]failure{}} }

func (t *failureTracker) record(key string, at time.Time, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.m[key]
	if !ok {
		for k := range t.m {
			if len(t.m) < maxTracked {
				break
			}
			delete(t.m, k)
		}
		f.first = at
	}
	f.lastErr = err.Error()
	t.m[key] = f
}

// first returns when the message first failed here, or stored when this
// process did not see its first failure.
func (t *failureTracker) first(key string, stored time.Time) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f, ok := t.m[key]; ok {
		return f.first
	}
	return stored
}

func (t *failureTracker) lastError(key string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[key].lastErr
}

func (t *failureTracker) forget(key string) {
	t.mu.Lock()
	delete(t.m, key)
	t.mu.Unlock()
}

// correlationIDs returns the intent and batch ids a message concerns: from
// the [HeaderIntentID] and [HeaderBatchID] metadata (headers, or what the
// handler set with [SetIDs]), else from the subject of the families that
// end in one (pay.intent.<id>, pay.intent.rejected.<id>, pay.status.<id>,
// pay.settled.<id>, pay.batch.<kind>.<id>).
func correlationIDs(meta message.Metadata, subject string) (intentID, batchID string) {
	intentID, batchID = meta.Get(HeaderIntentID), meta.Get(HeaderBatchID)
	if intentID != "" || batchID != "" {
		return intentID, batchID
	}
	tok := strings.Split(subject, ".")
	if len(tok) < 3 || tok[0] != "pay" {
		return "", ""
	}
	id, err := messages.ParseSubjectToken(tok[len(tok)-1])
	if err != nil {
		return "", ""
	}
	switch {
	case len(tok) == 3 && (tok[1] == "intent" || tok[1] == "status" || tok[1] == "settled"):
		return id, ""
	case len(tok) == 4 && tok[1] == "intent" && tok[2] == "rejected":
		return id, ""
	case len(tok) == 4 && tok[1] == "batch":
		return "", id
	}
	return "", ""
}

// SetIDs records on a received message the intent and batch ids the handler
// learned from its body, so that logs and a dead letter name them. Empty
// values are left alone.
func SetIDs(msg *message.Message, intentID, batchID string) {
	if intentID != "" {
		msg.Metadata.Set(HeaderIntentID, intentID)
	}
	if batchID != "" {
		msg.Metadata.Set(HeaderBatchID, batchID)
	}
}

// recoverer turns a panic in the handler into an error carrying the panic
// value and the stack, so the message is retried and eventually
// dead-lettered instead of crashing the worker.
func recoverer(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) (out []*message.Message, err error) {
		defer func() {
			if r := recover(); r != nil {
				out, err = nil, fmt.Errorf("workers: handler panicked: %v\n%s", r, debug.Stack())
			}
		}()
		return h(msg)
	}
}
