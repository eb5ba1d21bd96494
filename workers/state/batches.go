package state

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/isogate/isogate/messages"
	"github.com/isogate/isogate/workers"
)

// State is the state of a batch.
type State string

// The batch states, in the order a batch normally goes through them.
const (
	// Open: intents are being collected; nothing is encoded yet.
	Open State = "open"
	// Encoded: the pain.001 is archived; it may be uploaded.
	Encoded State = "encoded"
	// Submitting: a submitter took the batch and is uploading it. Found
	// after a restart, it is treated as in doubt.
	Submitting State = "submitting"
	// InDoubt: the upload's outcome is unknown; a status query decides.
	InDoubt State = "in_doubt"
	// Submitted: the bank has the file.
	Submitted State = "submitted"
	// Accepted: pain.002 group status accepted the whole batch.
	Accepted State = "accepted"
	// PartiallyAccepted: some transactions were accepted (PART).
	PartiallyAccepted State = "partially_accepted"
	// Rejected: the bank rejected the whole batch. Terminal: nothing to settle.
	Rejected State = "rejected"
	// Settled: every accepted payment was booked. Terminal.
	Settled State = "settled"
	// Failed: a permanent error before the bank took the file. Terminal.
	Failed State = "failed"
)

// States lists every batch state.
var States = []State{Open, Encoded, Submitting, InDoubt, Submitted, Accepted, PartiallyAccepted, Rejected, Settled, Failed}

// transitions are the moves each state allows. Failed is reachable only
// while the bank cannot have the file: a batch in in_doubt or beyond may be
// paid, so it never becomes failed.
var transitions = map[State][]State{
	Open:              {Encoded, Failed},
	Encoded:           {Submitting, Failed},
	Submitting:        {Submitted, InDoubt, Failed},
	InDoubt:           {Submitted, Encoded},
	Submitted:         {Accepted, PartiallyAccepted, Rejected},
	Accepted:          {Settled},
	PartiallyAccepted: {Settled},
}

// Next returns the states s may move to; none for a terminal state.
func (s State) Next() []State { return slices.Clone(transitions[s]) }

// CanMove reports whether a batch in s may move to next.
func (s State) CanMove(next State) bool { return slices.Contains(transitions[s], next) }

// Terminal reports whether no transition leaves s: rejected, settled, failed.
func (s State) Terminal() bool { return s.Valid() && len(transitions[s]) == 0 }

// Valid reports whether s is one of [States].
func (s State) Valid() bool { return slices.Contains(States, s) }

// A PmtInf is one payment-information block of a batch's pain.001: its
// PmtInfId and how many transactions it holds (the same fields as
// xmlcodec.PmtInfRef, which converts to it).
type PmtInf struct {
	ID    string `json:"id"`
	Count int    `json:"count"`
}

// Object names a file in the archive object store.
type Object struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Receipt is the bank's acknowledgement of an upload.
type Receipt struct {
	ReceivedAt time.Time `json:"received_at"`
	SHA256     string    `json:"sha256,omitempty" doc:"SHA-256 of the receipt document, when the bank sends one"`
	BankRef    string    `json:"bank_ref,omitempty"`
}

// A Transition is one entry of a batch's history. From is empty for the
// entry that created the batch.
type Transition struct {
	From   State     `json:"from,omitempty"`
	To     State     `json:"to"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
	Worker string    `json:"worker,omitempty"`
}

// Batch is the record of one batch (one pain.001 file) in bucket "batches".
type Batch struct {
	ID            string   `json:"id"` // pain.001 GrpHdr/MsgId
	State         State    `json:"state"`
	Profile       string   `json:"profile,omitempty"`
	Message       string   `json:"message,omitempty"` // message version, such as pain.001.001.03
	DebtorIBAN    string   `json:"debtor_iban,omitempty"`
	Currency      string   `json:"currency,omitempty"`
	ExecutionDate string   `json:"execution_date,omitempty"` // YYYY-MM-DD
	IntentIDs     []string `json:"intent_ids,omitempty"`     // in file order
	NbOfTxs       int      `json:"nb_of_txs,omitempty"`
	CtrlSum       string   `json:"ctrl_sum,omitempty"` // decimal string
	// PmtInfs are the payment-information blocks in file order; their
	// counts sum to len(IntentIDs): block i holds the next PmtInfs[i].Count
	// of IntentIDs. Empty for batches recorded without them (the status
	// poller then reads the blocks from the archived pain.001).
	PmtInfs []PmtInf `json:"pmt_infs,omitempty"`
	// Archive is the pain.001 file in the archive object store.
	Archive *Object `json:"archive,omitempty"`
	// Receipt is the bank's answer to the accepted upload.
	Receipt *Receipt `json:"receipt,omitempty"`
	// Upload is the file exactly as uploaded when the channel prepares
	// files before sending them (signs them, say): the submitter archives
	// and records it before the first upload, and every upload sends these
	// bytes. Nil means Archive is uploaded as it is.
	Upload *Object `json:"upload,omitempty"`
	// Attempts counts the uploads tried: the times the batch entered
	// submitting. Transition keeps it.
	Attempts int `json:"attempts"`
	// InDoubtReason says why the last upload's outcome is unknown; set on
	// entering in_doubt, cleared on leaving it (the history keeps it).
	InDoubtReason string            `json:"in_doubt_reason,omitempty"`
	GroupStatus   messages.TxStatus `json:"group_status,omitempty"` // pain.002 GrpSts
	// History holds the latest transitions, oldest first; HistoryDropped
	// counts the older ones no longer kept.
	History        []Transition `json:"history"`
	HistoryDropped int          `json:"history_dropped,omitempty"`
	// EncodedAt is when the batch first became encoded; it is never cleared,
	// so a zero EncodedAt proves no file of this batch was ever sent.
	EncodedAt time.Time `json:"encoded_at,omitzero"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	// Revision is the KV revision the record was read at or written as.
	Revision uint64 `json:"-"`
}

// Since returns when the batch entered its current state.
func (b *Batch) Since() time.Time {
	if n := len(b.History); n > 0 {
		return b.History[n-1].At
	}
	return b.UpdatedAt
}

// Releasable reports whether the intents of b may be given to another
// batch: b is failed and was never encoded, so no file of it exists and it
// can never be sent. See [Batches.Abandon] and [Intents.Release].
func (b *Batch) Releasable() bool { return b.State == Failed && b.EncodedAt.IsZero() }

func (b *Batch) clone() *Batch {
	c := *b
	c.IntentIDs = slices.Clone(b.IntentIDs)
	c.PmtInfs = slices.Clone(b.PmtInfs)
	c.History = slices.Clone(b.History)
	if b.Archive != nil {
		a := *b.Archive
		c.Archive = &a
	}
	if b.Receipt != nil {
		r := *b.Receipt
		c.Receipt = &r
	}
	if b.Upload != nil {
		u := *b.Upload
		c.Upload = &u
	}
	return &c
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// check reports what b lacks for its state, every problem at once.
func (b *Batch) check() error {
	var errs []error
	if b.ID == "" || utf8.RuneCountInString(b.ID) > 35 {
		errs = append(errs, fmt.Errorf("id %q: want 1 to 35 characters (pain.001 MsgId)", b.ID))
	}
	if !b.State.Valid() {
		errs = append(errs, fmt.Errorf("state %q is not a batch state", b.State))
	}
	if b.State == Encoded {
		switch {
		case b.Archive == nil:
			errs = append(errs, errors.New("archive: an encoded batch needs its archived pain.001"))
		case b.Archive.Name == "" || !sha256Hex.MatchString(b.Archive.SHA256) || b.Archive.Size <= 0:
			errs = append(errs, fmt.Errorf("archive: want an object name, a lower-case hex sha256 and a size > 0, have %+v", *b.Archive))
		}
		if len(b.IntentIDs) == 0 {
			errs = append(errs, errors.New("intent_ids: an encoded batch holds at least one intent"))
		}
		if b.NbOfTxs != len(b.IntentIDs) {
			errs = append(errs, fmt.Errorf("nb_of_txs: %d, but %d intent ids", b.NbOfTxs, len(b.IntentIDs)))
		}
		if b.CtrlSum == "" {
			errs = append(errs, errors.New("ctrl_sum: required once encoded"))
		}
	}
	if len(b.PmtInfs) > 0 {
		sum := 0
		for i, pi := range b.PmtInfs {
			if pi.ID == "" || utf8.RuneCountInString(pi.ID) > 35 || pi.Count < 1 {
				errs = append(errs, fmt.Errorf("pmt_infs[%d]: want an id of 1 to 35 characters and a count ≥ 1, have %+v", i, pi))
			}
			sum += pi.Count
		}
		if sum != len(b.IntentIDs) {
			errs = append(errs, fmt.Errorf("pmt_infs: counts sum to %d, but %d intent ids", sum, len(b.IntentIDs)))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w %s: %w", ErrInvalidBatch, b.ID, errors.Join(errs...))
}

// Options configure [Batches] and [Intents].
type Options struct {
	// Worker names the writer in the batch history ("submitter"). Default: none.
	Worker string
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// MaxHistory bounds the transitions a batch record keeps. Default: 20.
	MaxHistory int
	// MaxAttempts bounds the compare-and-set retries of one call before it
	// gives up with [ErrConflict]. Default: 64.
	MaxAttempts int
	// AtomicClaims makes [Intents.ClaimAll] write a batch's claims as one
	// atomic batch publish when the intents bucket allows it (provisioning
	// sets allow_atomic; NATS 2.12 and later): stored all together or not
	// at all, and fsynced once under sync_interval always instead of once
	// per claim. Off: one asynchronous publish per claim.
	AtomicClaims bool
}

func (o *Options) setDefaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxHistory <= 0 {
		o.MaxHistory = 20
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 64
	}
}

// Batches is the batch state machine over the "batches" bucket. It is safe
// for concurrent use, and any number of processes may share the bucket.
type Batches struct {
	kv   jetstream.KeyValue
	opts Options
}

// NewBatches returns the state machine over kv, the "batches" bucket.
func NewBatches(kv jetstream.KeyValue, opts Options) *Batches {
	opts.setDefaults()
	return &Batches{kv: kv, opts: opts}
}

// WithWorker returns a copy of b that records worker in the history.
func (b *Batches) WithWorker(worker string) *Batches {
	c := *b
	c.opts.Worker = worker
	return &c
}

// New binds the "batches" and "intents" buckets, which provisioning
// creates (isogate serve does it at every start).
func New(ctx context.Context, js jetstream.JetStream, opts Options) (*Batches, *Intents, error) {
	bkv, err := bucket(ctx, js, messages.BucketBatches)
	if err != nil {
		return nil, nil, err
	}
	ikv, err := bucket(ctx, js, messages.BucketIntents)
	if err != nil {
		return nil, nil, err
	}
	return NewBatches(bkv, opts), NewIntents(ikv, opts), nil
}

func bucket(ctx context.Context, js jetstream.JetStream, name string) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("state: key-value bucket %q not found (start `isogate serve` once to create it): %w", name, err)
	}
	if err != nil {
		return nil, fmt.Errorf("state: opening key-value bucket %q: %w", name, err)
	}
	return kv, nil
}

// Create stores a new batch, in state open or encoded (an encoder may record
// a batch only once its file is archived); an empty state means open. The
// write is create-only: when the id exists it returns an [*ExistsError]
// holding the stored record, and changes nothing. Create sets the history,
// times and revision; it returns the stored record.
func (b *Batches) Create(ctx context.Context, batch Batch) (*Batch, error) {
	rec := batch.clone()
	if rec.State == "" {
		rec.State = Open
	}
	if rec.State != Open && rec.State != Encoded {
		return nil, fmt.Errorf("%w %s: a batch is created open or encoded, not %s", ErrInvalidBatch, rec.ID, rec.State)
	}
	return b.create(ctx, rec, "created")
}

func (b *Batches) create(ctx context.Context, rec *Batch, reason string) (*Batch, error) {
	if err := rec.check(); err != nil {
		return nil, err
	}
	now := b.opts.Now().UTC()
	rec.CreatedAt, rec.UpdatedAt = now, now
	rec.Attempts, rec.HistoryDropped = 0, 0
	rec.History = []Transition{{To: rec.State, At: now, Reason: reason, Worker: b.opts.Worker}}
	if rec.State == Encoded {
		rec.EncodedAt = now
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("state: encoding batch %s: %w", rec.ID, err)
	}
	rev, err := b.kv.Create(ctx, messages.SubjectToken(rec.ID), data)
	if errors.Is(err, jetstream.ErrKeyExists) {
		have, gerr := b.Get(ctx, rec.ID)
		if gerr != nil {
			return nil, fmt.Errorf("state: batch %s exists, reading it: %w", rec.ID, gerr)
		}
		return nil, &ExistsError{Batch: have}
	}
	if err != nil {
		return nil, fmt.Errorf("state: creating batch %s: %w", rec.ID, err)
	}
	rec.Revision = rev
	return rec, nil
}

// Get returns the batch with its revision, or an error matching [ErrNotFound].
func (b *Batches) Get(ctx context.Context, id string) (*Batch, error) {
	e, err := b.kv.Get(ctx, messages.SubjectToken(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, fmt.Errorf("state: batch %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("state: reading batch %s: %w", id, err)
	}
	return decodeBatch(e)
}

func decodeBatch(e jetstream.KeyValueEntry) (*Batch, error) {
	var rec Batch
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return nil, fmt.Errorf("state: decoding batch record %s (revision %d): %w", e.Key(), e.Revision(), err)
	}
	rec.Revision = e.Revision()
	return &rec, nil
}

// Transition moves batch id to state to, recording reason and the worker in
// the history. It reads the record, checks that its current state allows
// the move, applies mutate (nil for none) to a copy, and writes it with a
// compare-and-set on the revision read. When another writer got there
// first it reads again and checks again, so the outcome is always decided
// on the latest record and nothing another writer stored is overwritten.
// mutate may therefore run more than once and must depend only on the
// record it is given; it may not change ID, State, History, Attempts or the
// times, and an error from it aborts the transition with nothing written.
//
// Errors: [ErrNotFound]; a [*TransitionError] matching [ErrIllegalTransition]
// when the current state does not allow the move (a second submitter finds
// the batch already submitting); a [*TransitionError] matching
// [ErrAlreadyInState] when the batch is already in state to with the same
// reason (a redelivery: ack it), returned with the current record;
// [ErrInvalidBatch] when the result lacks what state to requires (encoded
// needs its archive); [ErrConflict].
//
// Besides the history, Transition keeps Attempts (one more on entering
// submitting), InDoubtReason, EncodedAt and UpdatedAt.
func (b *Batches) Transition(ctx context.Context, id string, to State, reason string, mutate func(*Batch) error) (*Batch, error) {
	if !to.Valid() {
		return nil, fmt.Errorf("state: batch %s: unknown state %q", id, to)
	}
	return b.update(ctx, id, func(cur *Batch) (*Batch, error) {
		if err := refuse(cur, to, reason); err != nil {
			return nil, err
		}
		return b.move(cur, to, reason, mutate)
	})
}

// refuse returns the error for a move from cur's state to to that is not
// allowed, or nil.
func refuse(cur *Batch, to State, reason string) error {
	if cur.State == to {
		te := &TransitionError{BatchID: cur.ID, Current: cur.State, Wanted: to, Reason: reason, Batch: cur}
		if n := len(cur.History); n > 0 {
			last := cur.History[n-1]
			te.already = last.To == to && last.Reason == reason
		}
		return te
	}
	if !cur.State.CanMove(to) {
		return &TransitionError{BatchID: cur.ID, Current: cur.State, Wanted: to, Reason: reason, Batch: cur}
	}
	return nil
}

// move returns a copy of cur moved to state to.
func (b *Batches) move(cur *Batch, to State, reason string, mutate func(*Batch) error) (*Batch, error) {
	next := cur.clone()
	if err := apply(next, mutate); err != nil {
		return nil, err
	}
	now := b.opts.Now().UTC()
	next.State = to
	switch to {
	case Submitting:
		next.Attempts++
	case InDoubt:
		next.InDoubtReason = reason
	case Encoded:
		if next.EncodedAt.IsZero() {
			next.EncodedAt = now
		}
	}
	if cur.State == InDoubt {
		next.InDoubtReason = ""
	}
	next.History = append(next.History, Transition{From: cur.State, To: to, At: now, Reason: reason, Worker: b.opts.Worker})
	if over := len(next.History) - b.opts.MaxHistory; over > 0 {
		next.History = slices.Delete(next.History, 0, over)
		next.HistoryDropped += over
	}
	next.UpdatedAt = now
	return next, nil
}

// Update changes batch id without changing its state (a group status, a
// receipt), with the same compare-and-set and re-read as [Batches.Transition]
// and the same rules for mutate. It adds no history entry.
func (b *Batches) Update(ctx context.Context, id string, mutate func(*Batch) error) (*Batch, error) {
	return b.update(ctx, id, func(cur *Batch) (*Batch, error) {
		next := cur.clone()
		if err := apply(next, mutate); err != nil {
			return nil, err
		}
		next.UpdatedAt = b.opts.Now().UTC()
		return next, nil
	})
}

// apply runs mutate on rec and refuses changes to what Transition owns.
func apply(rec *Batch, mutate func(*Batch) error) error {
	if mutate == nil {
		return nil
	}
	id, st, hist, dropped, attempts, enc, created := rec.ID, rec.State, len(rec.History), rec.HistoryDropped, rec.Attempts, rec.EncodedAt, rec.CreatedAt
	if err := mutate(rec); err != nil {
		return fmt.Errorf("state: batch %s: %w", id, err)
	}
	if rec.ID != id || rec.State != st {
		return fmt.Errorf("state: batch %s: mutate changed the id or state; use Transition", id)
	}
	if len(rec.History) != hist || rec.HistoryDropped != dropped || rec.Attempts != attempts || !rec.EncodedAt.Equal(enc) || !rec.CreatedAt.Equal(created) {
		return fmt.Errorf("state: batch %s: mutate changed the history, attempts or times, which Transition keeps", id)
	}
	return nil
}

// errKeep tells update to return the current record without writing.
var errKeep = errors.New("keep")

// update is the compare-and-set loop: read, decide with step, write at the
// revision read; on a revision conflict, start again from the read.
func (b *Batches) update(ctx context.Context, id string, step func(cur *Batch) (*Batch, error)) (*Batch, error) {
	key := messages.SubjectToken(id)
	for range b.opts.MaxAttempts {
		cur, err := b.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		next, err := step(cur)
		if errors.Is(err, errKeep) {
			return cur, nil
		}
		if errors.Is(err, ErrAlreadyInState) {
			return cur, err
		}
		if err != nil {
			return nil, err
		}
		if err := next.check(); err != nil {
			return nil, err
		}
		data, err := json.Marshal(next)
		if err != nil {
			return nil, fmt.Errorf("state: encoding batch %s: %w", id, err)
		}
		rev, err := b.kv.Update(ctx, key, data, cur.Revision)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue // someone else wrote: decide again on what they wrote
		}
		if err != nil {
			return nil, fmt.Errorf("state: writing batch %s: %w", id, err)
		}
		next.Revision = rev
		return next, nil
	}
	return nil, fmt.Errorf("state: batch %s: %w (%d compare-and-set attempts)", id, ErrConflict, b.opts.MaxAttempts)
}

// Abandon makes sure batch id can never be encoded, so that its intents may
// be released ([Intents.Release]) and batched again: an open batch moves to
// failed; an id with no record gets a failed record (create-only, so an
// encoder creating the batch at the same moment either loses or wins and
// Abandon refuses). It returns the failed, never-encoded batch
// ([Batch.Releasable]); calling it again returns the same. A batch in any
// other state is refused with a [*TransitionError] matching
// [ErrIllegalTransition]: it is encoded, or was, and its file may reach the
// bank, so its intents stay with it.
func (b *Batches) Abandon(ctx context.Context, id, reason string) (*Batch, error) {
	for range b.opts.MaxAttempts {
		rec, err := b.update(ctx, id, func(cur *Batch) (*Batch, error) {
			if cur.Releasable() {
				return nil, errKeep
			}
			if cur.State != Open {
				return nil, &TransitionError{BatchID: id, Current: cur.State, Wanted: Failed, Reason: reason, Batch: cur}
			}
			return b.move(cur, Failed, reason, nil)
		})
		if !errors.Is(err, ErrNotFound) {
			return rec, err
		}
		rec, err = b.create(ctx, &Batch{ID: id, State: Failed}, reason)
		if !errors.Is(err, ErrExists) {
			return rec, err
		}
		// Created meanwhile: decide again on that record.
	}
	return nil, fmt.Errorf("state: batch %s: %w", id, ErrConflict)
}

// List returns the batches in any of states (every batch when none is
// given), in key order. The submitter calls List(ctx, Submitting) at start:
// those batches are in doubt.
func (b *Batches) List(ctx context.Context, states ...State) ([]*Batch, error) {
	var out []*Batch
	err := b.walk(ctx, func(e jetstream.KeyValueEntry) error {
		rec, err := decodeBatch(e)
		if err != nil {
			return err
		}
		if len(states) == 0 || slices.Contains(states, rec.State) {
			out = append(out, rec)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(x, y *Batch) int { return cmp.Compare(x.ID, y.ID) })
	return out, nil
}

// A BatchRef is a batch's id and state, as [Batches.ListRefs] reads them.
type BatchRef struct {
	ID    string `json:"id"`
	State State  `json:"state"`
}

// ListRefs is [Batches.List] reading only each record's id and state, not
// its intents and history: a periodic listing of every batch ever
// recorded then costs a scan of the records, not their decoding. Sorted
// by id.
func (b *Batches) ListRefs(ctx context.Context, states ...State) ([]BatchRef, error) {
	var out []BatchRef
	err := b.walk(ctx, func(e jetstream.KeyValueEntry) error {
		var r BatchRef
		if err := json.Unmarshal(e.Value(), &r); err != nil {
			return fmt.Errorf("state: decoding batch record %s (revision %d): %w", e.Key(), e.Revision(), err)
		}
		if len(states) == 0 || slices.Contains(states, r.State) {
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(x, y BatchRef) int { return cmp.Compare(x.ID, y.ID) })
	return out, nil
}

// walk calls f with the current value of every batch record.
func (b *Batches) walk(ctx context.Context, f func(jetstream.KeyValueEntry) error) error {
	w, err := b.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("state: listing batches: %w", err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("state: listing batches: %w", ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("state: listing batches: watcher closed")
			}
			if e == nil { // every current value delivered
				return nil
			}
			if err := f(e); err != nil {
				return err
			}
		}
	}
}

// ForEvent loads the batch a batch event names, for the worker handling
// it, and marks msg with the batch id (logs, metrics, dead letters). A
// missing batch id or a batch with no record is a [workers.Permanent]
// error, so the message goes to the DLQ; any other error is returned for
// redelivery.
func (b *Batches) ForEvent(msg *message.Message, worker, event, batchID string) (*Batch, error) {
	if batchID == "" {
		return nil, workers.Permanent(fmt.Errorf("%s: %s without batch_id", worker, event))
	}
	workers.SetIDs(msg, "", batchID)
	batch, err := b.Get(msg.Context(), batchID)
	if errors.Is(err, ErrNotFound) {
		return nil, workers.Permanent(fmt.Errorf("%s: batch %s has no record: %w", worker, batchID, err))
	}
	return batch, err
}
