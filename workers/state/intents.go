package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers"
)

// Intent is the record of one intent in bucket "intents": the batch that
// took it, or its rejection. It is written once, create-only. The
// intent's payment status is not here: it is the last event on
// pay.status.<intent> ([workers.LastStatus]), which the status poller
// publishes.
type Intent struct {
	ID      string `json:"intent_id"`
	BatchID string `json:"batch_id"`
	// Rejected marks an intent refused by the encoder before any batch
	// claimed it ([Intents.Reject]): BatchID is empty, and no batch can
	// ever claim the id.
	Rejected  bool      `json:"rejected,omitempty"`
	ClaimedAt time.Time `json:"claimed_at"`

	// Revision is the KV revision the record was read at or written as.
	Revision uint64 `json:"-"`
}

// marshal encodes r as encoding/json does, without reflection for what
// every claim writes (TestIntentMarshalMatchesJSON): one record an intent.
func (r *Intent) marshal() ([]byte, error) {
	b := make([]byte, 0, 128)
	b = append(b, `{"intent_id":`...)
	b = messages.AppendJSONString(b, r.ID)
	b = append(b, `,"batch_id":`...)
	b = messages.AppendJSONString(b, r.BatchID)
	if r.Rejected {
		b = append(b, `,"rejected":true`...)
	}
	b = append(b, `,"claimed_at":`...)
	b, ok := messages.AppendJSONTime(b, r.ClaimedAt)
	if !ok {
		return json.Marshal(r) // its error names what is wrong with the time
	}
	return append(b, '}'), nil
}

// Intents is the intent registry over the "intents" bucket. It is safe for
// concurrent use, and any number of processes may share the bucket.
type Intents struct {
	kv   jetstream.KeyValue
	opts Options
	// atomicClaims, when on, takes ClaimAll's claims as atomic batches
	// (Options.AtomicClaims); bound to the bucket's stream at the first
	// ClaimAll, which brings the JetStream context.
	atomicOnce   sync.Once
	atomicClaims *workers.AtomicStream
	commits      atomic.Int64 // atomic claim batches the server confirmed
}

// NewIntents returns the registry over kv, the "intents" bucket.
func NewIntents(kv jetstream.KeyValue, opts Options) *Intents {
	opts.setDefaults()
	return &Intents{kv: kv, opts: opts}
}

// Claim gives intent intentID to batch batchID with a create-only write, so
// that of any number of concurrent or late claims exactly one wins, for
// good. It returns the record and whether the intent belongs to batchID:
// true when this call claimed it, or an earlier claim by the same batch did
// (a redelivery); false when another batch has it, and the caller must
// leave the intent out (and may ack it: it is batched already). When that
// other batch never got encoded (its worker died), see [Batches.Abandon].
func (in *Intents) Claim(ctx context.Context, intentID, batchID string) (*Intent, bool, error) {
	if err := checkIDs(intentID, batchID); err != nil {
		return nil, false, err
	}
	rec, created, err := in.create(ctx, intentID, Intent{BatchID: batchID}, "claiming intent "+intentID+" for batch "+batchID)
	if err != nil {
		return nil, false, err
	}
	return rec, created || rec.BatchID == batchID, nil
}

// Reject records that intent intentID was refused, with a create-only
// write, so that a later copy of the id can never be claimed by a batch:
// one terminal event per intent, even for copies a producer stored without
// the expected-sequence header. It returns the record and whether this
// call wrote it; a record that exists already — an earlier rejection, or a
// batch's claim (the id is being paid) — is returned as it is.
func (in *Intents) Reject(ctx context.Context, intentID string) (*Intent, bool, error) {
	// Any id may be rejected, one too long to be an intent id (35
	// characters) too; the caller bounds its subject token.
	if intentID == "" {
		return nil, false, errors.New("state: rejecting an intent without an id")
	}
	return in.create(ctx, intentID, Intent{Rejected: true}, "recording the rejection of intent "+intentID)
}

// create writes the record of intentID (rec with its id and times set)
// create-only. It returns the stored record and true when it wrote it, or
// the record that exists and false; a record deleted between the two
// (released by a failed batch) is created again.
func (in *Intents) create(ctx context.Context, intentID string, rec Intent, what string) (*Intent, bool, error) {
	key := messages.SubjectToken(intentID)
	for range in.opts.MaxAttempts {
		now := in.opts.Now().UTC()
		rec.ID, rec.ClaimedAt = intentID, now
		data, err := rec.marshal()
		if err != nil {
			return nil, false, fmt.Errorf("state: encoding intent %s: %w", intentID, err)
		}
		rev, err := in.kv.Create(ctx, key, data)
		if err == nil {
			rec.Revision = rev
			return &rec, true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, false, fmt.Errorf("state: %s: %w", what, err)
		}
		have, err := in.Get(ctx, intentID)
		if errors.Is(err, ErrNotFound) {
			continue // released meanwhile: try again
		}
		if err != nil {
			return nil, false, err
		}
		return have, false, nil
	}
	return nil, false, fmt.Errorf("state: intent %s: %w", intentID, ErrConflict)
}

func checkIDs(intentID, batchID string) error {
	var errs []error
	if intentID == "" || utf8.RuneCountInString(intentID) > 35 {
		errs = append(errs, fmt.Errorf("intent id %q: want 1 to 35 characters", intentID))
	}
	if batchID == "" || utf8.RuneCountInString(batchID) > 35 {
		errs = append(errs, fmt.Errorf("batch id %q: want 1 to 35 characters", batchID))
	}
	if len(errs) > 0 {
		return fmt.Errorf("state: %w", errors.Join(errs...))
	}
	return nil
}

// Get returns the intent's record, or an error matching [ErrNotFound] when
// no batch has claimed it.
func (in *Intents) Get(ctx context.Context, intentID string) (*Intent, error) {
	e, err := in.kv.Get(ctx, messages.SubjectToken(intentID))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, fmt.Errorf("state: intent %s: %w", intentID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("state: reading intent %s: %w", intentID, err)
	}
	var rec Intent
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return nil, fmt.Errorf("state: decoding intent record %s (revision %d): %w", e.Key(), e.Revision(), err)
	}
	rec.Revision = e.Revision()
	return &rec, nil
}

// Release takes intent intentID away from batch so that another batch may
// claim it. It is safe only when that batch can never be sent, and
// Release checks the proof: batch must be failed and never encoded
// ([Batch.Releasable], which [Batches.Abandon] returns), otherwise the
// error matches [ErrNotReleasable]. Nothing is done when the intent is not
// (or no longer) with batch, so calling Release again is harmless. The
// delete is a compare-and-set on the claim's revision.
func (in *Intents) Release(ctx context.Context, intentID string, batch *Batch) error {
	if batch == nil || !batch.Releasable() {
		st := State("unknown")
		if batch != nil {
			st = batch.State
		}
		return fmt.Errorf("state: releasing intent %s: %w: its batch is %s, not failed before encoding", intentID, ErrNotReleasable, st)
	}
	for range in.opts.MaxAttempts {
		rec, err := in.Get(ctx, intentID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if rec.BatchID != batch.ID {
			return nil
		}
		err = in.kv.Delete(ctx, messages.SubjectToken(intentID), jetstream.LastRevision(rec.Revision))
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return fmt.Errorf("state: releasing intent %s from batch %s: %w", intentID, batch.ID, err)
		}
		return nil
	}
	return fmt.Errorf("state: intent %s: %w", intentID, ErrConflict)
}
