package encoder

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers/state"
)

// settleClaim decides about an intent claimed by batch batchID, which may
// be another batch than the caller's. It returns free when the claim was
// released (the batch failed before it was encoded, or was open and stale
// and is now abandoned): the intent may be claimed again. Otherwise the
// intent stays with that batch: nil when the batch took it for good
// (encoded or later, its pay.batch.encoded made sure of), an error while
// the batch is open and fresh — another encoder is flushing it — so the
// intent is retried later.
func (h *Handler) settleClaim(ctx context.Context, intentID, batchID string) (free bool, err error) {
	for range 4 {
		b, err := h.batches.Get(ctx, batchID)
		if errors.Is(err, state.ErrNotFound) {
			// A claim is made only after its batch record exists, so this
			// is a record lost or deleted by hand. Abandon writes a failed
			// record (create-only), so the id can never be encoded.
			b, err = h.batches.Abandon(ctx, batchID, "intent claim without a batch record")
			if errors.Is(err, state.ErrIllegalTransition) {
				continue // created meanwhile: decide on it
			}
		}
		if err != nil {
			return false, err
		}
		switch {
		case b.Releasable():
			// Failed before encoding: no file of it exists or ever will.
			if err := h.intents.Release(ctx, intentID, b); err != nil {
				return false, err
			}
			return true, nil
		case b.State == state.Open:
			age := h.now().Sub(b.CreatedAt)
			if age < h.cfg.StaleAfter {
				return false, fmt.Errorf("encoder: intent %s is claimed by batch %s, open for %s: retrying until it is encoded or stale (%s)",
					intentID, batchID, age.Round(1e6), h.cfg.StaleAfter)
			}
			// Its encoder died mid-flush. Abandon is a compare-and-set
			// against that encoder's open → encoded: if it wins the batch
			// can never be encoded; if it loses, the batch is encoded and
			// the next round sees it.
			if _, err := h.batches.Abandon(ctx, b.ID, fmt.Sprintf("stale: open for %s", age.Round(1e6))); err != nil {
				if errors.Is(err, state.ErrIllegalTransition) {
					continue
				}
				return false, err
			}
			h.m.abandoned.Inc()
			h.log.WarnContext(ctx, "abandoned a stale open batch", "batch_id", b.ID, "intent_id", intentID, "age", age)
			continue
		case b.State == state.Encoded:
			_, err := h.ensureEncoded(ctx, b)
			return false, err
		default:
			// Submitting or later, or failed after encoding: the intent's
			// fate is that batch's, reported by the workers after this one.
			return false, nil
		}
	}
	return false, fmt.Errorf("encoder: intent %s: batch %s keeps changing: %w", intentID, batchID, state.ErrConflict)
}

// ensureEncoded makes sure the pay.batch.encoded event of encoded batch b
// is in the stream, publishing it from the record when it is not. It
// reads the stream first, so that a missing event is published once even
// after the duplicate window; within the window two encoders racing here
// publish the same Nats-Msg-Id (the batch id) and the stream keeps one.
func (h *Handler) ensureEncoded(ctx context.Context, b *state.Batch) (published bool, err error) {
	if h.isAnnounced(b.ID) {
		return false, nil
	}
	ok, err := h.stored(ctx, messages.BatchEncodedSubject(b.ID))
	if err != nil {
		return false, err
	}
	if !ok {
		if _, err := h.pub.PublishEvent(ctx, h.encodedEvent(b), b.ID); err != nil {
			return false, err
		}
		h.m.republished.Inc()
		h.log.InfoContext(ctx, "published a missing pay.batch.encoded", "batch_id", b.ID)
	}
	h.announce(b.ID)
	return !ok, nil
}

// encodedEvent is the pay.batch.encoded of b, built from the record alone,
// so that publishing it again gives the same event.
func (h *Handler) encodedEvent(b *state.Batch) messages.BatchEncoded {
	ev := messages.BatchEncoded{
		BatchID:    b.ID,
		Profile:    b.Profile,
		Message:    b.Message,
		CreatedAt:  b.CreatedAt, // the pain.001 CreDtTm: flush encodes with the record's creation time
		DebtorIBAN: b.DebtorIBAN,
		Currency:   b.Currency,
		NbOfTxs:    b.NbOfTxs,
		CtrlSum:    b.CtrlSum,
		IntentIDs:  b.IntentIDs,
	}
	if p, ok := h.profiles[b.Profile]; ok {
		ev.DebtorBIC = p.Debtor.BIC // filled in by the profile when it requires one
	}
	if b.Archive != nil {
		ev.ArchiveObject, ev.ArchiveSHA256, ev.ArchiveSize = b.Archive.Name, b.Archive.SHA256, b.Archive.Size
	}
	return ev
}

// reject records that intent id is rejected and publishes its
// pay.intent.rejected — unless the id is claimed by a batch (it is being
// paid: this copy is a duplicate, acked). The record comes first, written
// create-only in KV intents ([state.Intents.Reject]), so no copy of the id
// can be claimed by a batch afterwards, even one stored later without the
// expected-sequence header; then the event, unless the stream holds it
// already (a redelivery after a crash between the two, or after the
// duplicate window).
func (h *Handler) reject(ctx context.Context, id string, raw []byte, reasons []messages.FieldError) error {
	for attempt := 0; ; attempt++ {
		if attempt == 4 {
			return fmt.Errorf("encoder: rejecting intent %s: its claim keeps changing: %w", id, state.ErrConflict)
		}
		rec, _, err := h.intents.Reject(ctx, id)
		if err != nil {
			return err
		}
		if rec.Rejected {
			break
		}
		// Settled like any claim: an encoded batch gets its event, a fresh
		// open one is waited for, a dead one releases the id — which then
		// has no batch and is rejected on the next round, so it still ends
		// in exactly one terminal event.
		free, err := h.settleClaim(ctx, id, rec.BatchID)
		if err != nil {
			return err
		}
		if !free {
			h.m.duplicates.Inc()
			h.log.WarnContext(ctx, "invalid copy of an intent id already batched: acked, not rejected", "intent_id", id, "batch_id", rec.BatchID)
			return nil
		}
	}
	done, err := h.stored(ctx, messages.IntentRejectedSubject(id))
	if err != nil || done {
		return err
	}
	ev := messages.IntentRejected{
		IntentID:   id,
		RejectedAt: h.now().UTC(),
		Source:     messages.SourceEncoder,
		Errors:     reasons,
		Intent:     messages.RawJSON(raw),
	}
	if _, err := h.pub.PublishEvent(ctx, ev, "rejected:"+id); err != nil {
		return err
	}
	h.m.rejected.Inc()
	return nil
}

// stored reports whether the PAYMENTS stream holds a message on subject.
func (h *Handler) stored(ctx context.Context, subject string) (bool, error) {
	s, err := h.paymentsStream(ctx)
	if err != nil {
		return false, err
	}
	_, err = s.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("encoder: looking up %s: %w", subject, err)
	}
	return true, nil
}

func (h *Handler) paymentsStream(ctx context.Context) (jetstream.Stream, error) {
	h.streamMu.Lock()
	defer h.streamMu.Unlock()
	if h.stream != nil {
		return h.stream, nil
	}
	s, err := h.js.Stream(ctx, messages.StreamPayments)
	if err != nil {
		return nil, fmt.Errorf("encoder: stream %s: %w", messages.StreamPayments, err)
	}
	h.stream = s
	return s, nil
}

// maxAnnounced bounds the memory of batches known to be announced.
const maxAnnounced = 4096

type announcedSet struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (h *Handler) isAnnounced(id string) bool {
	h.announced.mu.Lock()
	defer h.announced.mu.Unlock()
	return h.announced.ids[id]
}

func (h *Handler) announce(id string) {
	h.announced.mu.Lock()
	defer h.announced.mu.Unlock()
	if h.announced.ids == nil || len(h.announced.ids) >= maxAnnounced {
		h.announced.ids = map[string]bool{}
	}
	h.announced.ids[id] = true
}

// idLocks is a mutex per intent id, held while a delivery of the id is
// decided (Handler.take): from the first look at the id until the intent
// is rejected or added to a batch. The zero
// value is ready to use.
type idLocks struct {
	mu sync.Mutex
	m  map[string]*idLock
}

type idLock struct {
	mu      sync.Mutex
	holders int // goroutines holding or waiting for mu
}

// lock locks id and returns its unlock.
func (l *idLocks) lock(id string) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*idLock{}
	}
	k := l.m[id]
	if k == nil {
		k = &idLock{}
		l.m[id] = k
	}
	k.holders++
	l.mu.Unlock()
	k.mu.Lock()
	return func() {
		k.mu.Unlock()
		l.mu.Lock()
		if k.holders--; k.holders == 0 {
			delete(l.m, id)
		}
		l.mu.Unlock()
	}
}
